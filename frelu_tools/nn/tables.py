"""Torch7 containers and layers that take or return a list of tensors.

Dimensions are 0-based as in PyTorch; the converter subtracts one from Torch7's 1-based
`dimension` fields.
"""

import torch
from torch import nn

from frelu_tools.nn.inplace import writes_in_place


class _Container(nn.Module):
    """Children stored as "0", "1", ... like torch.nn.Sequential, so state_dict keys match."""

    def __init__(self, *modules: nn.Module):
        super().__init__()
        for index, module in enumerate(modules):
            self.add_module(str(index), module)

    def __len__(self) -> int:
        return len(self._modules)

    def __getitem__(self, index: int) -> nn.Module:
        return list(self._modules.values())[index]

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module: nn.Module) -> "_Container":
        self.add_module(str(len(self)), module)
        return self


class ConcatTable(_Container):
    """Apply every child to the same input and return the list of outputs (`nn/ConcatTable.lua`)."""

    def forward(self, input):
        return [module(input) for module in self]


class ParallelTable(_Container):
    """Apply child i to element i of the input list (`nn/ParallelTable.lua`)."""

    def forward(self, inputs):
        if len(inputs) != len(self):
            raise ValueError(f"ParallelTable of {len(self)} modules got {len(inputs)} inputs")
        return [module(input) for module, input in zip(self, inputs, strict=True)]


class Concat(_Container):
    """Apply every child to the input and concatenate the outputs along `dim` (`nn/Concat.lua`).

    Unlike JoinTable, Torch7's Concat has no batch rule: `dim` is used as given.
    """

    def __init__(self, dim: int, *modules: nn.Module):
        super().__init__(*modules)
        self.dim = dim

    def forward(self, input):
        return torch.cat([module(input) for module in self], dim=self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class CAddTable(nn.Module):
    """Element-wise sum of a list of tensors (`nn/CAddTable.lua`); `inplace` adds into the first."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, inputs):
        first, *rest = inputs
        output = first if writes_in_place(self.inplace, *inputs) else first.clone()
        for tensor in rest:
            output = output.add_(tensor)
        return output

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class JoinTable(nn.Module):
    """Concatenate a list of tensors along `dim` (`nn/JoinTable.lua`).

    Torch7 rule: a non-negative `dim` moves one dimension to the right when the inputs have
    `num_input_dims + 1` dimensions, so the same layer works with and without a batch
    dimension. A negative `dim` counts from the end.
    """

    def __init__(self, dim: int, num_input_dims: int | None = None):
        super().__init__()
        self.dim = dim
        self.num_input_dims = num_input_dims

    def forward(self, inputs):
        dim = self.dim
        if dim >= 0 and self.num_input_dims is not None:
            if inputs[0].dim() == self.num_input_dims + 1:
                dim += 1
        return torch.cat(list(inputs), dim=dim)

    def extra_repr(self) -> str:
        text = f"dim={self.dim}"
        if self.num_input_dims is not None:
            text += f", num_input_dims={self.num_input_dims}"
        return text
