"""Torch7 element-wise layers whose semantics differ from their torch.nn counterparts."""

import torch
from torch import nn

from frelu_tools.nn.inplace import writes_in_place


class MulConstant(nn.Module):
    """Multiply by a constant scalar (`nn/MulConstant.lua`)."""

    def __init__(self, constant: float, inplace: bool = False):
        super().__init__()
        self.constant = constant
        self.inplace = inplace

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if writes_in_place(self.inplace, input):
            return input.mul_(self.constant)
        return input * self.constant

    def extra_repr(self) -> str:
        return f"{self.constant}" + (", inplace=True" if self.inplace else "")


class AddConstant(nn.Module):
    """Add a constant scalar (`nn/AddConstant.lua`).

    NOTE: Torch7 also accepts a tensor constant for inputs of at most 2 dimensions; only a
    scalar is supported here.
    """

    def __init__(self, constant: float, inplace: bool = False):
        super().__init__()
        self.constant = constant
        self.inplace = inplace

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if writes_in_place(self.inplace, input):
            return input.add_(self.constant)
        return input + self.constant

    def extra_repr(self) -> str:
        return f"{self.constant}" + (", inplace=True" if self.inplace else "")


class Dropout(nn.Module):
    """Torch7 `nn.Dropout` (`nn/Dropout.lua`), version 1 or 2.

    Version 2 (Torch7's default, and torch.nn.Dropout's rule) scales kept entries by
    1/(1-p) in training. Version 1 (`v1=True`) leaves training outputs unscaled and
    multiplies by 1-p in evaluation instead. `stochastic_inference` drops entries in
    evaluation mode too.
    """

    def __init__(
        self,
        p: float = 0.5,
        v1: bool = False,
        inplace: bool = False,
        stochastic_inference: bool = False,
    ):
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"Dropout probability must be in [0, 1), got {p}")
        self.p = p
        self.v1 = v1
        self.inplace = inplace
        self.stochastic_inference = stochastic_inference

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if self.p == 0:
            return input

        if self.training or self.stochastic_inference:
            keep = torch.empty_like(input).bernoulli_(1 - self.p)
            if not self.v1:
                keep.div_(1 - self.p)
            return input.mul_(keep) if writes_in_place(self.inplace, input) else input * keep

        if self.v1:
            scale = 1 - self.p
            return input.mul_(scale) if writes_in_place(self.inplace, input) else input * scale
        return input

    def extra_repr(self) -> str:
        text = f"p={self.p}, v1={self.v1}"
        if self.inplace:
            text += ", inplace=True"
        if self.stochastic_inference:
            text += ", stochastic_inference=True"
        return text


def _softmax_input(input: torch.Tensor, instance: bool) -> tuple[torch.Tensor, int]:
    # Returns the input reshaped for normalisation, and the dimension to normalise along.
    # THNN's rule: 1-D and 3-D (C x H x W) inputs along dimension 0, 2-D and 4-D (batch
    # first) along dimension 1. cudnn's instance mode: all entries of a sample at once.
    if input.dim() not in (1, 2, 3, 4):
        shape = tuple(input.shape)
        raise ValueError(f"Torch7 SoftMax expects a 1-D to 4-D input, got shape {shape}")
    batched = input.dim() in (2, 4)
    if instance:
        return (input.flatten(1), 1) if batched else (input.flatten(), 0)
    return input, 1 if batched else 0


class SoftMax(nn.Module):
    """Softmax with Torch7's dimension rule (`nn/SoftMax.lua`, THNN `SoftMax.c`).

    A 1-D or 3-D input (C x H x W) is normalised along dimension 0, a 2-D or 4-D input
    (batch first) along dimension 1. With `instance=True` every sample is normalised
    over all its entries at once, as `cudnn.SoftMax` does (CUDNN_SOFTMAX_MODE_INSTANCE).
    """

    _function = staticmethod(torch.softmax)

    def __init__(self, instance: bool = False):
        super().__init__()
        self.instance = instance

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        values, dim = _softmax_input(input, self.instance)
        return self._function(values, dim=dim).view_as(input)

    def extra_repr(self) -> str:
        return "instance=True" if self.instance else ""


class LogSoftMax(SoftMax):
    """Log-softmax with Torch7's dimension rule (`nn/LogSoftMax.lua`); see `SoftMax`.

    `instance=True` normalises every sample over all its entries, as `cudnn.LogSoftMax`.
    """

    _function = staticmethod(torch.log_softmax)
