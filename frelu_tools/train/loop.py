"""One training step, one epoch and one evaluation pass, as the fork's `train.lua`.

Per step: forward in training mode, cross-entropy (batch mean), backward, one
`torch.optim.SGD` step on all parameters. The top-1/top-5 error and loss come from
the output computed *before* the update. The epoch values are their means weighted
by batch size. An epoch visits a fresh random permutation of the training
set in batches of `batch_size`, the last batch being smaller when the size does not
divide (`dataloader.lua` uses `ceil`). Evaluation runs in evaluation mode over the
whole test split in the same batch size.

Results stay on the device until the end of an epoch, so the loop does not wait on
the device at every iteration; a progress callback may ask for host values.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from frelu_tools.train.augment import Augmentation
from frelu_tools.train.data import Split
from frelu_tools.train.optim import top_errors


class TrainingInterrupted(Exception):
    """Raised between two iterations after a stop was requested (SIGINT or SIGTERM)."""


@dataclass
class StepResult:
    """Loss and errors (percent) of one batch, as 0-dim tensors on the device."""

    loss: torch.Tensor
    top1_err: torch.Tensor
    top5_err: torch.Tensor


@dataclass
class EpochResult:
    top1_err: float
    top5_err: float
    loss: float


@dataclass
class Progress:
    """State of a phase after one iteration, passed to a progress callback."""

    phase: str  # "train" or "test"
    epoch: int
    iteration: int  # 1-based
    iterations: int
    images: int  # images processed in this phase so far
    seconds: float  # wall time of this phase so far
    step: StepResult


ProgressCallback = Callable[[Progress], None]


def autocast_context(device: torch.device, dtype: torch.dtype | None):
    """Mixed-precision context for `dtype` (bfloat16), or a no-op for full precision."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def train_step(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    autocast_dtype: torch.dtype | None = None,
) -> StepResult:
    """Run one SGD step of `model` on one batch, as one iteration of `Trainer:train`.

    The model must be in training mode. `targets` are 0-based class indices.
    """
    optimizer.zero_grad(set_to_none=True)
    with autocast_context(inputs.device, autocast_dtype):
        output = model(inputs)
    output = output.float()
    loss = F.cross_entropy(output, targets)
    loss.backward()
    optimizer.step()

    top1, top5 = top_errors(output.detach(), targets)
    return StepResult(loss.detach(), top1, top5)


def _batches(size: int, batch_size: int, order: torch.Tensor):
    for start in range(0, size, batch_size):
        yield order[start : start + batch_size]


def train_epoch(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    split: Split,
    augmentation: Augmentation,
    batch_size: int,
    generator: torch.Generator,
    epoch: int,
    autocast_dtype: torch.dtype | None = None,
    progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> EpochResult:
    """Train `model` for one epoch over `split`, which lives on the training device.

    `generator` (on the same device) draws the sample order, flips and crops.

    Raises:
        TrainingInterrupted: `should_stop()` returned True after an iteration.
    """
    model.train()
    device = split.images.device
    size = len(split)
    iterations = -(-size // batch_size)
    order = torch.randperm(size, generator=generator, device=device)

    sums = torch.zeros(3, dtype=torch.float64, device=device)  # top1, top5, loss
    seen = 0
    start = time.perf_counter()
    for iteration, indices in enumerate(_batches(size, batch_size, order), start=1):
        inputs = augmentation(split.images[indices], generator)
        targets = split.labels[indices]
        step = train_step(model, optimizer, inputs, targets, autocast_dtype)

        n = len(indices)
        sums += torch.stack([step.top1_err, step.top5_err, step.loss.double()]) * n
        seen += n
        if progress is not None:
            elapsed = time.perf_counter() - start
            progress(Progress("train", epoch, iteration, iterations, seen, elapsed, step))
        if should_stop is not None and should_stop():
            raise TrainingInterrupted(f"in epoch {epoch} at iteration {iteration}")

    top1, top5, loss = (sums / seen).tolist()
    return EpochResult(top1, top5, loss)


@torch.no_grad()
def evaluate(
    model: torch.nn.Module,
    split: Split,
    augmentation: Augmentation,
    batch_size: int,
    epoch: int = 0,
    autocast_dtype: torch.dtype | None = None,
    progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> EpochResult:
    """Compute the test errors (percent) and mean loss of `model` on `split`.

    The forward pass in evaluation mode still applies FReLU's positive-bias constraint,
    as Torch7's does, so it can change constrained biases. The model is left in
    training mode afterwards, as `Trainer:test` leaves it.
    """
    model.eval()
    device = split.images.device
    size = len(split)
    iterations = -(-size // batch_size)
    order = torch.arange(size, device=device)

    sums = torch.zeros(3, dtype=torch.float64, device=device)
    seen = 0
    start = time.perf_counter()
    for iteration, indices in enumerate(_batches(size, batch_size, order), start=1):
        inputs = augmentation(split.images[indices], None)
        targets = split.labels[indices]
        with autocast_context(device, autocast_dtype):
            output = model(inputs)
        output = output.float()
        loss = F.cross_entropy(output, targets)
        top1, top5 = top_errors(output, targets)

        n = len(indices)
        sums += torch.stack([top1, top5, loss.double()]) * n
        seen += n
        if progress is not None:
            elapsed = time.perf_counter() - start
            step = StepResult(loss, top1, top5)
            progress(Progress("test", epoch, iteration, iterations, seen, elapsed, step))
        if should_stop is not None and should_stop():
            model.train()
            raise TrainingInterrupted(f"in the test pass of epoch {epoch}")

    model.train()
    top1, top5, loss = (sums / seen).tolist()
    return EpochResult(top1, top5, loss)
