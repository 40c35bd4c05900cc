"""Torch7 layers that reshape, slice or resize, with Torch7's batch-dimension rules."""

import math

import torch
from torch import nn


class View(nn.Module):
    """Torch7 `nn.View` (`nn/View.lua`): view the input as `size`, keeping a batch dimension.

    Torch7's rule: the last `num_input_dims` dimensions of the input (all of them when it is
    None) are viewed as `size`. Their element count divided by that of `size`, times every
    dimension before them, is the batch size. A -1 in `size` takes the leftover itself, so
    the batch is then the leading dimensions only. When the batch size comes out as 1 and
    `num_input_dims` is None or not less than the input's dimension count, the output has
    no batch dimension. So `View(48)` without `num_input_dims` turns a batch of one
    1x3x4x4 image into a 48-vector, as Torch7 does.
    """

    def __init__(self, *size: int, num_input_dims: int | None = None):
        super().__init__()
        if sum(1 for dim in size if dim == -1) > 1:
            raise ValueError(f"View size {size} has more than one -1")
        if any(dim < -1 for dim in size):
            raise ValueError(f"View size {size} must be positive or -1")
        self.size = tuple(size)
        self.num_input_dims = num_input_dims
        self.num_elements = math.prod(dim for dim in size if dim >= 0)

    def _batch_size(self, input: torch.Tensor) -> int | None:
        ndim = input.dim()
        view_dims = ndim if self.num_input_dims is None else self.num_input_dims
        view_elements = math.prod(input.shape[ndim - view_dims :])
        if view_elements % self.num_elements != 0:
            raise ValueError(
                f"View of input shape {tuple(input.shape)} as {self.size} does not match"
            )

        batch = 1 if -1 in self.size else view_elements // self.num_elements
        batch *= math.prod(input.shape[: ndim - view_dims])
        no_batch_dim = self.num_input_dims is None or ndim <= self.num_input_dims
        if batch == 1 and no_batch_dim:
            return None
        return batch

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        batch = self._batch_size(input)
        if batch is None:
            return input.view(self.size)
        return input.view(batch, *self.size)

    def extra_repr(self) -> str:
        text = ", ".join(str(dim) for dim in self.size)
        if self.num_input_dims is not None:
            text += f", num_input_dims={self.num_input_dims}"
        return text


class Reshape(nn.Module):
    """Torch7 `nn.Reshape` (`nn/Reshape.lua`): reshape to `size`, with or without a batch dimension.

    With `batch_mode` None (Torch7's default) the input is taken as one sample when it has
    exactly as many elements as `size` and its first dimension is not 1; otherwise its first
    dimension is kept as the batch. True or False forces batch or single-sample mode.
    """

    def __init__(self, *size: int, batch_mode: bool | None = None):
        super().__init__()
        self.size = tuple(size)
        self.batch_mode = batch_mode
        self.num_elements = math.prod(size)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        single = self.batch_mode is False or (
            self.batch_mode is None and input.numel() == self.num_elements and input.shape[0] != 1
        )
        if single:
            return input.reshape(self.size)
        return input.reshape(input.shape[0], *self.size)

    def extra_repr(self) -> str:
        text = "x".join(str(dim) for dim in self.size)
        if self.batch_mode is not None:
            text += f", batch_mode={self.batch_mode}"
        return text


class Narrow(nn.Module):
    """Torch7 `nn.Narrow` (`nn/Narrow.lua`): `length` entries of dimension `dim` from `start`.

    `dim` and `start` are 0-based. Torch7's rules are kept. A negative `dim` counts from the
    end. A negative `length` places the end from the back, so -1 runs to the last entry and
    -2 stops one before it. A negative `start` means start 0 with `size - length` entries.
    """

    def __init__(self, dim: int, start: int, length: int = 1):
        super().__init__()
        self.dim = dim
        self.start = start
        self.length = length

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        dim = self.dim if self.dim >= 0 else input.dim() + self.dim
        size = input.shape[dim]
        start, length = self.start, self.length
        if length < 0:
            length = size - start + length + 1
        if start < 0:
            start, length = 0, size - length
        # Torch7 copies the slice, so an in-place layer after it cannot write into the input.
        return input.narrow(dim, start, length).clone()

    def extra_repr(self) -> str:
        return f"dim={self.dim}, start={self.start}, length={self.length}"


class UpsamplingNearest(nn.Upsample):
    """Nearest-neighbour upsampling of the last two dimensions (`nn/SpatialUpSamplingNearest.lua`).

    Like Torch7 it accepts a single C x H x W sample as well as a batch, where
    torch.nn.Upsample would take a 3-D input for N x C x L.
    """

    def __init__(self, scale_factor: int):
        if scale_factor < 1 or int(scale_factor) != scale_factor:
            raise ValueError(f"scale_factor must be a positive integer, got {scale_factor}")
        super().__init__(scale_factor=int(scale_factor), mode="nearest")

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if input.dim() == 3:
            return super().forward(input.unsqueeze(0)).squeeze(0)
        return super().forward(input)
