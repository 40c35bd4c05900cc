-- Run a Torch7 model on a seeded input and save the input and the output as .t7 files,
-- so that `frelu-tools convert MODEL.t7 --reference INPUT.t7 OUTPUT.t7` can check the
-- converted PyTorch model against Torch7 itself.
--
--   th dump_reference.lua MODEL.t7 [-shape 2x3x32x32] [-seed 0] [-prefix OUT]
--                         [-frelu DIR] [-backend auto|nn|cudnn] [-mode eval|train]
--
-- Writes OUT.input.t7, a torch.FloatTensor of the given shape drawn from a standard
-- normal distribution after torch.manualSeed(seed). Writes OUT.output_eval.t7, the
-- model's output in evaluation mode as a torch.FloatTensor (a table of tensors stays a
-- table). OUT defaults to MODEL without its .t7 suffix.
--
-- Written against torch7, nn, cunn and cudnn.torch as the FReLU fork used them; see
-- README.md in this folder.

require 'torch'
require 'nn'
require 'paths'

local cmd = torch.CmdLine()
cmd:text()
cmd:text('Save a seeded input and the model\'s output for frelu-tools convert --reference')
cmd:text()
cmd:argument('model', 'the Torch7 model file (.t7)')
cmd:option('-shape', '2x3x32x32', 'input size, dimensions separated by x (batch first)')
cmd:option('-seed', 0, 'torch.manualSeed for the input')
cmd:option('-prefix', '', 'output name prefix (default: the model path without .t7)')
cmd:option('-frelu', '', 'folder holding MyAdd.lua and SReLU.lua (the fork\'s models/frelu); '
   .. 'default: models/frelu under the current folder, if present')
cmd:option('-backend', 'auto', 'auto: run on the GPU if cunn loads, else on the CPU; '
   .. 'nn: CPU, cudnn modules converted to nn; cudnn: GPU')
cmd:option('-mode', 'eval', 'eval (model:evaluate()) or train (model:training(), batch '
   .. 'statistics for BN; dropout stays random)')
local opt = cmd:parse(arg)

local function fail(message)
   io.stderr:write('error: ' .. message .. '\n')
   os.exit(2)
end

local function parseShape(text)
   local sizes = {}
   for part in text:gmatch('[^x]+') do
      local n = tonumber(part)
      if not n or n < 1 or n ~= math.floor(n) then
         fail('invalid -shape ' .. text .. ': expected positive integers separated by x')
      end
      table.insert(sizes, n)
   end
   if #sizes == 0 then
      fail('invalid -shape ' .. text)
   end
   return torch.LongStorage(sizes)
end

-- nn.MyAdd and nn.SReLU are the fork's own classes; torch.load needs them registered
-- before it meets them. Each file is run only when its class is missing, because
-- torch.class raises an error when a class is defined twice.
local function loadForkClasses(folder)
   if folder == '' then
      folder = paths.concat(paths.cwd(), 'models', 'frelu')
      if not paths.dirp(folder) then
         return
      end
   elseif not paths.dirp(folder) then
      fail('-frelu ' .. folder .. ' is not a folder')
   end
   for _, class in ipairs({'MyAdd', 'SReLU'}) do
      local file = paths.concat(folder, class .. '.lua')
      if not nn[class] and paths.filep(file) then
         dofile(file)
      end
   end
end

-- GPU packages are optional: a model saved with :float() and nn classes loads
-- without them. A file with cudnn class names or CUDA tensors needs them.
local haveCunn = pcall(require, 'cunn')
local haveCudnn = haveCunn and pcall(require, 'cudnn')

loadForkClasses(opt.frelu)

if not paths.filep(opt.model) then
   fail(opt.model .. ': file not found')
end
local ok, model = pcall(torch.load, opt.model)
if not ok then
   fail(opt.model .. ': torch.load failed: ' .. tostring(model)
      .. ' (an unknown class needs -frelu, cunn or cudnn)')
end

-- checkpoints.lua never saves a DataParallelTable, but models saved by hand may hold one.
if torch.type(model) == 'nn.DataParallelTable' then
   model = model:get(1)
end

local backend = opt.backend
if backend == 'auto' then
   backend = haveCunn and 'cudnn' or 'nn'
end
if backend == 'nn' then
   if haveCudnn then
      -- cudnn modules only run on CUDA tensors; cudnn.convert swaps them for the nn
      -- classes with the same weights.
      cudnn.convert(model, nn)
   end
   model:float()
elseif backend == 'cudnn' then
   if not haveCunn then
      fail('-backend cudnn needs cunn (and a GPU)')
   end
   model:cuda()
else
   fail('invalid -backend ' .. opt.backend .. ': expected auto, nn or cudnn')
end

if opt.mode == 'eval' then
   model:evaluate()
elseif opt.mode == 'train' then
   model:training()
else
   fail('invalid -mode ' .. opt.mode .. ': expected eval or train')
end

torch.manualSeed(opt.seed)
local input = torch.FloatTensor(parseShape(opt.shape)):normal(0, 1)
local modelInput = input
if backend == 'cudnn' then
   modelInput = input:cuda()
end

local output = model:forward(modelInput)

local function toFloat(value)
   if torch.isTensor(value) then
      return value:float()
   elseif type(value) == 'table' then
      local copy = {}
      for k, v in pairs(value) do
         copy[k] = toFloat(v)
      end
      return copy
   end
   return value
end

local prefix = opt.prefix
if prefix == '' then
   prefix = opt.model:gsub('%.t7$', '')
end
local inputPath = prefix .. '.input.t7'
local outputPath = prefix .. '.output_' .. opt.mode .. '.t7'
torch.save(inputPath, input)
torch.save(outputPath, toFloat(output))

local function describe(value)
   if torch.isTensor(value) then
      return table.concat(value:size():totable(), 'x')
   end
   return torch.type(value)
end
print(string.format('input  %s: %s (seed %d)', inputPath, describe(input), opt.seed))
print(string.format('output %s: %s (%s mode, %s)', outputPath, describe(output),
   opt.mode, backend))
