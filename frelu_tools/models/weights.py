"""The initialisation that the FReLU repository's model files give a new network.

Every model file first lets each Torch7 constructor reset its module, then overrides
convolutions, BN and `nn.Linear` biases (`ConvInit`, `BNInit` and the loop over
`nn.Linear` at the end of each `createModel`). The result, per Torch7 class:

- `cudnn.SpatialConvolution`, `nn.SpatialConvolution`: weight
  normal(0, sqrt(2 / (kW*kH*nOutputPlane))); the bias, where the file keeps it, 0.
- `nn.SpatialBatchNormalization`, `nn.BatchNormalization`: weight 1, bias 0,
  running_mean 0, running_var 1.
- `nn.Linear`: weight uniform(-1/sqrt(inputSize), 1/sqrt(inputSize)) (Torch7's reset),
  bias 0.
- `nn.MyAdd` (FReLU): bias -1, the `init_val` that every model file passes or defaults to.
- `nn.SReLU`: threshold -1, the default of `ShiftedReLU()`.
- `nn.PReLU`: slope 0.25, set by Torch7's constructor.

The random draws follow the same distributions as Torch7 but not its random stream, so a
network equals a Torch7 one in distribution, not value for value.
"""

import math

import torch

from frelu_tools.models.layers import Spec

CONVOLUTIONS = ("cudnn.SpatialConvolution", "nn.SpatialConvolution")
BATCH_NORMS = ("nn.SpatialBatchNormalization", "nn.BatchNormalization")
FRELU_BIAS_INIT = -1.0
SRELU_THRESHOLD_INIT = -1.0
PRELU_SLOPE_INIT = 0.25


def walk(spec: Spec, path: str = ""):
    """Yield `(module_path, node)` for `spec` and every node below it, depth first.

    `module_path` is the name `torch.nn.Module.get_submodule` takes ("" for the root,
    "3.0.1" for a grandchild), because port.build adds children as "0", "1", ...
    """
    yield path, spec
    for index, child in enumerate(spec.get("children", [])):
        yield from walk(child, f"{path}.{index}" if path else str(index))


def _has_state(spec: Spec) -> bool:
    return any(isinstance(value, dict) and "tensor" in value for value in spec["fields"].values())


@torch.no_grad()
def _initialise_module(module: torch.nn.Module, spec: Spec, generator) -> None:
    torch_class = spec["torch_class"]
    fields = spec["fields"]

    if torch_class in CONVOLUTIONS:
        fan_out = fields["kW"] * fields["kH"] * fields["nOutputPlane"]
        module.weight.normal_(0.0, math.sqrt(2.0 / fan_out), generator=generator)
        if module.bias is not None:
            module.bias.zero_()
    elif torch_class in BATCH_NORMS:
        module.weight.fill_(1.0)
        module.bias.zero_()
        module.running_mean.zero_()
        module.running_var.fill_(1.0)
    elif torch_class == "nn.Linear":
        bound = 1.0 / math.sqrt(module.weight.shape[1])
        module.weight.uniform_(-bound, bound, generator=generator)
        module.bias.zero_()
    elif torch_class == "nn.MyAdd":
        module.bias.fill_(FRELU_BIAS_INIT)
        # Torch7 leaves biasCopy as uninitialised memory until the first forward pass of
        # a constrained layer. A copy of the bias makes it deterministic.
        module.bias_copy.copy_(module.bias)
    elif torch_class == "nn.SReLU":
        module.bias.fill_(SRELU_THRESHOLD_INIT)
    elif torch_class == "nn.PReLU":
        module.weight.fill_(PRELU_SLOPE_INIT)
    else:
        raise NotImplementedError(
            f"no initialisation rule for {torch_class}, which has state tensors; "
            "add one to frelu_tools/models/weights.py"
        )


def initialise(model: torch.nn.Module, spec: Spec, generator: torch.Generator | None = None):
    """Initialise, in place, every parameter and buffer of `model` built from `spec`.

    Args:
        model: the module that `frelu_tools.port.build(spec)` returned.
        spec: the spec it was built from.
        generator: the random generator for the convolution and `nn.Linear` weights;
            None uses torch's global one (seed it with `torch.manual_seed`).

    Returns:
        `model`.
    """
    for path, node in walk(spec):
        if _has_state(node):
            _initialise_module(model.get_submodule(path), node, generator)
    return model
