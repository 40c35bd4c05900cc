"""FReLU's learnable bias and SReLU's learnable threshold, with Torch7 semantics."""

import torch
from torch import nn

from frelu_tools.nn.inplace import writes_in_place


class _ScaleGradient(torch.autograd.Function):
    """Identity in the forward pass; multiplies the gradient by `scale` in the backward pass."""

    @staticmethod
    def forward(ctx, tensor, scale):
        ctx.scale = scale
        return tensor.view_as(tensor)

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output * ctx.scale, None


class FReLUBias(nn.Module):
    """Learnable bias of FReLU, Torch7 `nn.MyAdd` (`models/frelu/MyAdd.lua` of frelu.torch).

    FReLU itself is `nn.Sequential(nn.ReLU(), FReLUBias(...))`, as in the Torch7 models.

    Args:
        size: 1 for one bias per layer, or the channel count for one bias per channel.
        init: initial value of every bias entry.
        grad_scale: factor on the bias gradient from the loss (Torch7 `lr_decay`); weight
            decay added by the optimizer is not scaled.
        constrained: Torch7 `isConstrained`. At the start of every forward pass, in training
            and evaluation mode alike, each positive bias entry is replaced by its value in
            `bias_copy`, and after the pass `bias_copy` is set to the bias. A positive bias
            therefore survives only from an optimizer step to the next forward pass.
        constrained_value: Torch7 `constrainedVal`, the value `constrain()` writes into positive
            entries. The forward pass never uses it, as in Torch7.
        num_input_dims: Torch7 `numInputDims`. A channel-wise bias adds along dimension 0 when
            the input has exactly this many dimensions, and along dimension 1 otherwise
            (also when it is None).
        inplace: add the bias into the input tensor, where autograd records nothing (see
            `frelu_tools.nn.inplace`).

    `bias_copy` (Torch7 `biasCopy`) is a buffer in the state_dict. Torch7 leaves it
    uninitialised until the first forward pass; here it starts equal to the bias.
    """

    def __init__(
        self,
        size: int = 1,
        init: float = -1.0,
        grad_scale: float = 1.0,
        constrained: bool = False,
        constrained_value: float = 0.0,
        num_input_dims: int | None = None,
        inplace: bool = False,
    ):
        super().__init__()
        self.size = size
        self.grad_scale = grad_scale
        self.constrained = constrained
        self.constrained_value = constrained_value
        self.num_input_dims = num_input_dims
        self.inplace = inplace
        self.bias = nn.Parameter(torch.full((size,), float(init)))
        self.register_buffer("bias_copy", torch.full((size,), float(init)))

    def _bias_shape(self, input: torch.Tensor) -> tuple[int, ...]:
        if self.size == 1:
            return (1,)
        ndim = input.dim()
        if self.num_input_dims is not None and self.num_input_dims not in (ndim, ndim - 1):
            raise ValueError(
                f"FReLUBias got a {ndim}-D input but num_input_dims is {self.num_input_dims}"
            )
        channel_dim = 0 if self.num_input_dims == ndim else 1
        if ndim <= channel_dim or input.shape[channel_dim] != self.size:
            raise ValueError(
                f"FReLUBias of size {self.size} expects {self.size} channels in dimension "
                f"{channel_dim} of its input, got shape {tuple(input.shape)}"
            )
        return (self.size,) + (1,) * (ndim - channel_dim - 1)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if self.constrained:
            with torch.no_grad():
                positive = self.bias > 0
                self.bias[positive] = self.bias_copy[positive]

        bias = self.bias
        if self.grad_scale != 1.0:
            bias = _ScaleGradient.apply(bias, self.grad_scale)
        bias = bias.reshape(self._bias_shape(input))
        if writes_in_place(self.inplace, input, self.bias):
            output = input.add_(bias)
        else:
            output = input + bias

        if self.constrained:
            with torch.no_grad():
                self.bias_copy.copy_(self.bias)
        return output

    @torch.no_grad()
    def constrain(self) -> None:
        """Set every positive bias entry to `constrained_value` (Torch7 `MyAdd:constrained`)."""
        self.bias[self.bias > 0] = self.constrained_value

    def extra_repr(self) -> str:
        text = f"size={self.size}, grad_scale={self.grad_scale}"
        if self.constrained:
            text += ", constrained=True"
        if self.num_input_dims is not None:
            text += f", num_input_dims={self.num_input_dims}"
        if self.inplace:
            text += ", inplace=True"
        return text


class SReLU(nn.Module):
    """Shifted ReLU `max(x, b)`, one learnable `b`: Torch7 `nn.SReLU` (`models/frelu/SReLU.lua`).

    Where `x <= b` the output is `b` and the gradient goes to `b`, as in Torch7.
    """

    def __init__(self, size: int = 1, init: float = -1.0, inplace: bool = False):
        super().__init__()
        if size != 1:
            raise ValueError(f"SReLU has one threshold for the whole layer, got size={size}")
        self.size = size
        self.inplace = inplace
        self.bias = nn.Parameter(torch.full((size,), float(init)))

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        below = input <= self.bias
        threshold = self.bias[0]
        if writes_in_place(self.inplace, input, self.bias):
            return input.masked_fill_(below, threshold)
        return input.masked_fill(below, threshold)

    def extra_repr(self) -> str:
        return f"size={self.size}" + (", inplace=True" if self.inplace else "")
