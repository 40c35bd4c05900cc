"""Batched input pipeline on the training device: normalise, flip, pad and crop.

The fork's `datasets/cifar10.lua` applies, per image and in this order,
`ColorNormalize` (subtract the channel mean, divide by the std, on 0-255 pixels),
`HorizontalFlip(0.5)` and `RandomCrop(32, 4)`. The crop pads the *normalised* image
with 4 zeros on each side and cuts a random 32x32 window from the 40x40 result, so
the padding is 0 after normalisation, not black pixels. The functions here do the same
for a whole batch with tensor operations on the device that stores the uint8 data, so
no per-sample Python work happens in the training loop.
"""

from __future__ import annotations

import torch


def normalize(images: torch.Tensor, mean, std, dtype=torch.float32) -> torch.Tensor:
    """Convert uint8 images (N, C, H, W) to `(x - mean) / std` per channel."""
    mean_t = torch.tensor(mean, dtype=dtype, device=images.device).view(1, -1, 1, 1)
    std_t = torch.tensor(std, dtype=dtype, device=images.device).view(1, -1, 1, 1)
    return (images.to(dtype) - mean_t) / std_t


def random_flip(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Mirror each image left-right with probability 0.5."""
    flip = torch.rand(images.shape[0], generator=generator, device=images.device) < 0.5
    return torch.where(flip.view(-1, 1, 1, 1), images.flip(3), images)


def random_crop(images: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """Zero-pad each image by `padding` and cut a random window of the original size.

    Window offsets are uniform in 0..2*padding on each axis, drawn per image, as
    Torch's `torch.random(0, w - size)` in `RandomCrop`.
    """
    n, c, h, w = images.shape
    device = images.device
    padded = torch.nn.functional.pad(images, (padding, padding, padding, padding))
    top = torch.randint(0, 2 * padding + 1, (n,), generator=generator, device=device)
    left = torch.randint(0, 2 * padding + 1, (n,), generator=generator, device=device)

    rows = (top.view(n, 1) + torch.arange(h, device=device)).view(n, 1, h, 1)  # (N,1,H,1)
    cols = (left.view(n, 1) + torch.arange(w, device=device)).view(n, 1, 1, w)  # (N,1,1,W)
    batch_index = torch.arange(n, device=device).view(n, 1, 1, 1)
    channel_index = torch.arange(c, device=device).view(1, c, 1, 1)
    return padded[batch_index, channel_index, rows, cols]  # (N, C, H, W)


class Augmentation:
    """The per-batch input transform of one split.

    Args:
        mean, std: per-channel normalisation constants on 0-255 pixels.
        train: when True, flip and crop after normalising (the fork's training
            transform); when False, normalise only (its "val" transform).
        padding: zero padding of the random crop; 4 for CIFAR. 0 disables flip and crop,
            as for MNIST, whose scripts use no augmentation.
        dtype: floating type of the output.
    """

    def __init__(self, mean, std, train: bool, padding: int = 4, dtype=torch.float32):
        self.mean = tuple(mean)
        self.std = tuple(std)
        self.train = train
        self.padding = padding
        self.dtype = dtype
        self._constants = {}  # device -> (mean, std) tensors, made once per device

    def __call__(self, images: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        if images.device not in self._constants:
            shape = (1, -1, 1, 1)
            self._constants[images.device] = (
                torch.tensor(self.mean, dtype=self.dtype, device=images.device).view(shape),
                torch.tensor(self.std, dtype=self.dtype, device=images.device).view(shape),
            )
        mean, std = self._constants[images.device]
        x = (images.to(self.dtype) - mean) / std
        if self.train and self.padding > 0:
            x = random_flip(x, generator)
            x = random_crop(x, self.padding, generator)
        return x
