"""The trainer's checkpoint folder, in the format of `frelu_tools.port.checkpoint`.

After each epoch E the trainer writes `model_E.pt` (model, optimizer, progress: one
complete checkpoint), then points `latest.pt` at it and, for a new best test error,
`model_best.pt`. Each name is first written under a temporary name and renamed (or
hard-linked and renamed), so a crash or a signal at any moment leaves the previous
`latest.pt` intact.

`load_resume_checkpoint` accepts what a user can resume from: a checkpoint file, this
trainer's checkpoint folder, a Torch7 `-save` folder (converted on the fly with
`convert_checkpoint_folder`) or a `.pt` that `frelu-tools convert` wrote from one.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import torch

from frelu_tools.port.checkpoint import (
    CheckpointFormatError,
    check_param_names,
    convert_checkpoint_folder,
    load_checkpoint,
    new_checkpoint,
    save_checkpoint,
)

log = logging.getLogger(__name__)

LATEST = "latest.pt"
BEST = "model_best.pt"


def model_file(epoch: int) -> str:
    return f"model_{epoch}.pt"


def _cpu_state(tensors: dict) -> dict:
    return {key: value.detach().to("cpu", copy=True) for key, value in tensors.items()}


def _optimizer_state_cpu(optimizer: torch.optim.Optimizer) -> dict:
    state = optimizer.state_dict()
    return {
        "state": {index: _cpu_state(entry) for index, entry in state["state"].items()},
        "param_groups": state["param_groups"],
    }


def build_checkpoint(
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    architecture: dict | None,
    config,
    seed: int,
    epoch: int,
    learning_rate: float,
    best: tuple[float, float, int] | None,
) -> dict:
    """Assemble the checkpoint dict of `model` and `optimizer` after `epoch`."""
    sgd = config.sgd
    best_top1, best_top5, best_epoch = best if best is not None else (None, None, None)
    return new_checkpoint(
        architecture=architecture,
        net_type=config.net_type,
        dataset=config.dataset,
        depth=config.depth,
        state_dict=_cpu_state(model.state_dict()),
        optimizer=_optimizer_state_cpu(optimizer),
        param_names=[name for name, _ in model.named_parameters()],
        epoch=epoch,
        learning_rate=learning_rate,
        best_top1_err=best_top1,
        best_top5_err=best_top5,
        best_epoch=best_epoch,
        hyperparameters={
            "LR": sgd.lr,
            "momentum": sgd.momentum,
            "nesterov": sgd.nesterov,
            "dampening": sgd.dampening,
            "weightDecay": sgd.weight_decay,
            "learningRateDecay": 0.0,
            "evalCounter": None,
            "schedule": {"milestones": list(sgd.milestones), "gamma": sgd.gamma},
            "batchSize": config.batch_size,
            "nEpochs": config.epochs,
            "manualSeed": seed,
        },
        extra={"config": config.name, "seed": seed, "rng": "seeded per epoch"},
    )


def _link_or_copy(source: Path, target: Path) -> None:
    """Make `target` name the file `source` atomically: a hard link, else a copy."""
    descriptor, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(descriptor)
    tmp = Path(name)
    try:
        tmp.unlink()
        try:
            os.link(source, tmp)
        except OSError:
            tmp.write_bytes(source.read_bytes())
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def save_epoch(folder: Path, checkpoint: dict, is_best: bool, keep_last: int | None = None) -> Path:
    """Write `model_E.pt`, then update `latest.pt` (and `model_best.pt` when `is_best`).

    Args:
        keep_last: delete older `model_E.pt` files beyond this many (the ones that
            `latest.pt` or `model_best.pt` name stay); None keeps all, as the fork does.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    epoch = checkpoint["epoch"]
    path = save_checkpoint(folder / model_file(epoch), checkpoint)
    _link_or_copy(path, folder / LATEST)
    if is_best:
        _link_or_copy(path, folder / BEST)
    if keep_last is not None:
        _prune(folder, epoch, keep_last)
    return path


def _prune(folder: Path, epoch: int, keep_last: int) -> None:
    for candidate in folder.glob("model_*.pt"):
        stem = candidate.stem.removeprefix("model_")
        if stem.isdigit() and int(stem) <= epoch - keep_last:
            if (folder / BEST).exists() and os.path.samefile(candidate, folder / BEST):
                continue
            candidate.unlink()


def load_resume_checkpoint(path: str | Path) -> dict:
    """Read a checkpoint to resume from.

    Args:
        path: a checkpoint file (`latest.pt`, `model_E.pt`, a converted `ckpt.pt`), a
            folder that contains `latest.pt`, or a Torch7 checkpoint folder with `latest.t7`.

    Raises:
        CheckpointFormatError: nothing resumable at `path`, or a file that is not a
            frelu-tools checkpoint.
    """
    path = Path(path)
    if path.is_file():
        if path.suffix == ".t7":
            raise CheckpointFormatError(
                f"{path}: a Torch7 file, not a frelu-tools checkpoint; resume from the "
                "folder that contains latest.t7 instead"
            )
        return load_checkpoint(path)
    if (path / LATEST).is_file():
        return load_checkpoint(path / LATEST)
    if (path / "latest.t7").is_file():
        log.info("converting the Torch7 checkpoint folder %s", path)
        return convert_checkpoint_folder(path)
    raise CheckpointFormatError(
        f"{path}: nothing to resume from; expected a checkpoint file, or a folder with "
        f"{LATEST} (frelu-tools) or latest.t7 (Torch7)"
    )


def restore(model: torch.nn.Module, optimizer: torch.optim.Optimizer, checkpoint: dict) -> None:
    """Load the model weights and the optimizer state (momentum buffers) of `checkpoint`.

    Raises:
        CheckpointFormatError: the checkpoint belongs to a different architecture.
    """
    try:
        model.load_state_dict(checkpoint["state_dict"])
    except RuntimeError as error:
        raise CheckpointFormatError(
            f"the checkpoint does not fit the model of this configuration: {error}"
        ) from None
    check_param_names(model, checkpoint)
    if checkpoint.get("optimizer") is not None:
        optimizer.load_state_dict(checkpoint["optimizer"])
