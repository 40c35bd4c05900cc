"""Training checkpoints: the PyTorch format, and conversion of a Torch7 `-save` folder.

A checkpoint is one dict of plain types and tensors, saved with `torch.save` and opened
with `torch.load(path, weights_only=True)`; `new_checkpoint` lists its keys. It stores
the model (architecture spec and state_dict), a `torch.optim.SGD` state_dict, the last
completed epoch, the learning rate and the original hyperparameters, so that training
resumes where it stopped.

A Torch7 folder written by the FReLU fork's `checkpoints.lua` contains `latest.t7`
(`{epoch, modelFile, optimFile}`), `model_E.t7` and `optimState_E.t7`. The optimizer
state is `optim.sgd`'s table: hyperparameters plus the momentum buffer `dfdx`, one flat
vector laid out like `model:getParameters()`. `convert_checkpoint_folder` splits that
vector back into one momentum buffer per parameter. `optim.sgd` (weight decay, then
momentum with dampening, then Nesterov) computes the same update as `torch.optim.SGD`,
so the buffers carry over unchanged.
"""

import logging
import re
import shlex
from pathlib import Path

import numpy as np
import torch

from frelu_tools.errors import FreluToolsError
from frelu_tools.port.formats import atomic_write, sha256_of, tool_version

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "frelu-tools-checkpoint"
CHECKPOINT_FORMAT_VERSION = 1

# The fork's train.lua: LR x0.1 from epoch 81 and x0.01 from epoch 122 on CIFAR, x0.1
# every 30 epochs on ImageNet.
CIFAR_SCHEDULE = {"milestones": [81, 122], "gamma": 0.1}
IMAGENET_SCHEDULE = {"step_size": 30, "gamma": 0.1}

_DEFAULT_HYPERPARAMETERS = {
    "LR": None,
    "momentum": None,
    "nesterov": None,
    "dampening": None,
    "weightDecay": None,
    "learningRateDecay": None,
    "evalCounter": None,
    "schedule": None,
    "batchSize": None,
    "nEpochs": None,
    "manualSeed": None,
}


class CheckpointFormatError(FreluToolsError):
    """A checkpoint file or Torch7 checkpoint folder that cannot be read or converted."""


def new_checkpoint(**fields) -> dict:
    """Return a checkpoint dict with every key present, unknown values None.

    Args:
        **fields: values for the keys `architecture`, `net_type`, `dataset`, `depth`,
            `state_dict`, `optimizer`, `param_names`, `epoch`, `learning_rate`,
            `best_top1_err`, `best_top5_err`, `best_epoch`, `hyperparameters` (merged
            into the Torch7-named defaults), `source` and `extra`.

    Raises:
        TypeError: a key not in that list.

    Example:
        >>> ckpt = new_checkpoint(state_dict=model.state_dict(), epoch=3, learning_rate=0.1,
        ...                       optimizer=optimizer.state_dict(),
        ...                       param_names=[name for name, _ in model.named_parameters()])
    """
    checkpoint = {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_FORMAT_VERSION,
        "tool_version": tool_version(),
        "architecture": None,
        "net_type": None,
        "dataset": None,
        "depth": None,
        "state_dict": {},
        "optimizer": None,
        "param_names": [],
        "epoch": 0,
        "learning_rate": None,
        "best_top1_err": None,
        "best_top5_err": None,
        "best_epoch": None,
        "hyperparameters": dict(_DEFAULT_HYPERPARAMETERS),
        "source": None,
        "extra": {},
    }
    unknown = sorted(set(fields) - set(checkpoint) - {"format", "format_version"})
    if unknown:
        raise TypeError(f"unknown checkpoint keys: {', '.join(unknown)}")
    hyperparameters = fields.pop("hyperparameters", None) or {}
    checkpoint.update(fields)
    checkpoint["hyperparameters"].update(hyperparameters)
    return checkpoint


def save_checkpoint(path, checkpoint: dict, *, force: bool = True) -> Path:
    """Write a checkpoint atomically (temporary file in the same folder, then rename).

    Args:
        path: output file, conventionally `latest.pt` or `model_E.pt`.
        checkpoint: a dict from `new_checkpoint` or `convert_checkpoint_folder`.
        force: replace an existing file (the default, as a trainer rewrites `latest.pt`).

    Returns:
        the path written.
    """
    if checkpoint.get("format") != CHECKPOINT_FORMAT:
        raise ValueError("not a checkpoint dict; build it with new_checkpoint()")
    log.info("writing %s", path)
    with atomic_write(path, force=force) as tmp:
        torch.save(checkpoint, tmp)
    return Path(path)


def load_checkpoint(path) -> dict:
    """Read a checkpoint written by `save_checkpoint`, tensors on the CPU.

    Raises:
        CheckpointFormatError: the file cannot be read, is not a frelu-tools checkpoint
            (text, truncated, another program's pickle), or is of a newer format version.
    """
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except OSError as error:
        raise CheckpointFormatError(f"{path}: cannot read: {error.strerror or error}") from None
    except Exception:
        # torch.load's message is left out because, for a pickle of other objects, it
        # suggests weights_only=False, which runs whatever code the file contains.
        raise CheckpointFormatError(
            f"{path}: not a frelu-tools checkpoint (torch.load cannot read it: not a "
            "PyTorch file, truncated, or containing objects other than tensors and plain values)"
        ) from None
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointFormatError(f"{path}: not a frelu-tools training checkpoint")
    version = checkpoint.get("format_version")
    if not isinstance(version, int) or version > CHECKPOINT_FORMAT_VERSION:
        raise CheckpointFormatError(
            f"{path}: checkpoint format version {version} is newer than this frelu-tools "
            f"({tool_version()}) reads; upgrade frelu-tools"
        )
    return checkpoint


def check_param_names(model: torch.nn.Module, checkpoint: dict) -> None:
    """Raise `CheckpointFormatError` unless the optimizer order matches `model`'s parameters."""
    names = [name for name, _ in model.named_parameters()]
    if names != list(checkpoint["param_names"]):
        raise CheckpointFormatError(
            "the checkpoint's optimizer state is ordered for other parameters than "
            f"this model has ({len(checkpoint['param_names'])} names stored, {len(names)} "
            "in the model); build the model from the checkpoint's architecture"
        )


def learning_rate_at(hyperparameters: dict, epoch: int) -> float:
    """Return the learning rate of `epoch` (1-based) under the checkpoint's schedule.

    With no schedule the rate is the constant `LR`.
    """
    base = hyperparameters["LR"]
    schedule = hyperparameters.get("schedule")
    if schedule is None:
        return base
    if "milestones" in schedule:
        decay = sum(1 for milestone in schedule["milestones"] if epoch >= milestone)
    else:
        decay = (epoch - 1) // schedule["step_size"]
    return base * schedule["gamma"] ** decay


def schedule_for(dataset: str | None) -> dict | None:
    """Return the fork's learning-rate schedule for a `-dataset` name, or None if unknown."""
    if dataset in ("cifar10", "cifar100"):
        return dict(CIFAR_SCHEDULE)
    if dataset == "imagenet":
        return dict(IMAGENET_SCHEDULE)
    return None


# --- Torch7 flat parameter layout ----------------------------------------------------


def flat_parameter_offsets(arrays: list[np.ndarray]) -> tuple[list[int], int]:
    """Return each array's 0-based offset in `getParameters()`'s flat vector, and its length.

    Follows `nn.Module.flatten` (torch/nn Module.lua): the distinct storages of the
    parameters, in order of first use, are laid end to end, and elements that no
    parameter uses are then squeezed out. For a model that went through
    `getParameters()` there is one storage and the offsets are the storage offsets.

    Args:
        arrays: the Torch7 parameter arrays in `model:parameters()` order.
    """
    from frelu_tools.t7 import storage_of

    starts: dict[int, int] = {}
    positions = []
    total = 0
    for array in arrays:
        if not (array.flags.c_contiguous or array.size <= 1):
            raise CheckpointFormatError(
                "a parameter is not contiguous in its storage, so its slice of the "
                "flat parameter vector is not defined"
            )
        try:
            storage, offset = storage_of(array)
        except ValueError:
            raise CheckpointFormatError(
                "a parameter is not a view of a storage read from the .t7 file"
            ) from None
        key = id(storage)
        if key not in starts:
            starts[key] = total
            total += storage.size
        positions.append(starts[key] + offset)

    used = np.zeros(total, dtype=bool)
    for array, position in zip(arrays, positions, strict=True):
        used[position : position + array.size] = True
    if used.all():
        return positions, total

    compact = np.cumsum(used) - 1
    return [int(compact[position]) for position in positions], int(used.sum())


def split_flat_buffer(
    model: torch.nn.Module, sources: dict, flat: np.ndarray
) -> dict[str, torch.Tensor]:
    """Split a flat vector in `getParameters()` layout into one tensor per parameter.

    Args:
        model: the converted module.
        sources: `frelu_tools.port.named_sources` of the Torch7 model, state_dict key ->
            Torch7 array.
        flat: a 1-D array of the flat parameter vector's length (`dfdx`).

    Returns:
        state_dict key -> tensor shaped like the parameter, for every parameter of
        `model`, in `model.named_parameters()` order.

    Raises:
        CheckpointFormatError: a parameter has no Torch7 source, or the parameters do
            not cover `flat` exactly.
    """
    names = [name for name, _ in model.named_parameters()]
    missing = [name for name in names if name not in sources]
    if missing:
        raise CheckpointFormatError(
            f"no Torch7 array for parameters {', '.join(missing)}; cannot place them in "
            "the flat parameter vector"
        )

    # NOTE: a model whose parameters live in several storages is laid out in
    # named_parameters() order, which equals Torch's parameters() order only because
    # the converter keeps Torch's child order and weight-before-bias.
    arrays = [sources[name] for name in names]
    offsets, length = flat_parameter_offsets(arrays)
    if length != flat.size:
        raise CheckpointFormatError(
            f"the momentum buffer has {flat.size} elements but the model's parameters "
            f"span {length}; the optimizer state belongs to another model"
        )
    _check_tiling(names, arrays, offsets, length)

    parameters = dict(model.named_parameters())
    buffers = {}
    for name, array, offset in zip(names, arrays, offsets, strict=True):
        piece = np.ascontiguousarray(flat[offset : offset + array.size])
        buffers[name] = torch.from_numpy(piece.copy()).reshape(parameters[name].shape)
    return buffers


def _check_tiling(names, arrays, offsets, length) -> None:
    spans = sorted(zip(offsets, (array.size for array in arrays), names, strict=True))
    position = 0
    for offset, size, name in spans:
        if offset != position:
            raise CheckpointFormatError(
                f"parameter {name} starts at {offset} of the flat parameter vector, "
                f"expected {position}: parameters overlap or leave a gap"
            )
        position += size
    if position != length:
        raise CheckpointFormatError(
            f"the parameters end at {position} of the flat parameter vector of {length}"
        )


def sgd_state_dict(
    model: torch.nn.Module, momentum_buffers: dict | None, hyperparameters: dict, lr: float
) -> dict:
    """Return `torch.optim.SGD(...).state_dict()` holding the given momentum buffers.

    Raises:
        CheckpointFormatError: the Torch7 settings have no `torch.optim.SGD` equivalent.
    """
    momentum = float(hyperparameters.get("momentum") or 0.0)
    dampening = float(hyperparameters.get("dampening") or 0.0)
    nesterov = bool(hyperparameters.get("nesterov") or False)
    if nesterov and (momentum <= 0 or dampening != 0):
        raise CheckpointFormatError(
            f"Nesterov momentum with momentum={momentum} and dampening={dampening} has no "
            "torch.optim.SGD equivalent (it needs momentum > 0 and dampening 0)"
        )

    optimizer = torch.optim.SGD(
        model.parameters(),
        lr=lr,
        momentum=momentum,
        dampening=dampening,
        weight_decay=float(hyperparameters.get("weightDecay") or 0.0),
        nesterov=nesterov,
    )
    if momentum_buffers:
        for name, parameter in model.named_parameters():
            optimizer.state[parameter]["momentum_buffer"] = momentum_buffers[name]
    return optimizer.state_dict()


# --- Torch7 checkpoint folders -------------------------------------------------------


def _resolve(folder: Path, recorded, what: str) -> Path:
    # latest.t7 may record modelFile and optimFile as absolute paths of the machine that
    # trained, so a path that does not exist is looked up by its name in the folder.
    if not isinstance(recorded, str) or not recorded:
        raise CheckpointFormatError(f"{folder / 'latest.t7'}: {what} is missing or not a string")
    candidate = Path(recorded)
    if not candidate.is_absolute() and (folder / candidate).is_file():
        return folder / candidate
    by_name = folder / Path(recorded.replace("\\", "/")).name
    if by_name.is_file():
        return by_name
    raise CheckpointFormatError(
        f"{folder}: {what} {recorded!r} named in latest.t7 not found in the folder"
    )


_COMMAND = re.compile(r"^\+?\s*th\s+\S*main\.lua\b(.*)$")
# Per-epoch summary lines of the fork's main.lua and of upstream fb.resnet.torch.
_EPOCH_FORK = re.compile(
    r"^ \* Epoch # (\d+)\s+train-top1:.*test-top1:\s*(\S+)\s+test-top5:\s*(\S+)"
)
_EPOCH_UPSTREAM = re.compile(r"^ \* Finished epoch # (\d+)\s+top1:\s*(\S+)\s+top5:\s*(\S+)")


def _option_value(text: str):
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text


def read_run_log(path) -> dict:
    """Read the `th main.lua` options and per-epoch test errors from a training log.

    Returns:
        `{"options": {name: value}, "test_errors": {epoch: (top1_err, top5_err)}}`;
        options come from the last `th main.lua ...` line (the shell trace), so a
        resumed run gives the options of its last start.
    """
    options: dict = {}
    errors: dict = {}
    with open(path, encoding="utf-8", errors="replace") as file:
        for line in file:
            command = _COMMAND.match(line.rstrip("\n"))
            if command:
                words = shlex.split(command.group(1))
                options = {}
                for key, value in zip(words[::2], words[1::2], strict=False):
                    options[key.lstrip("-")] = _option_value(value)
                continue
            epoch = _EPOCH_FORK.match(line) or _EPOCH_UPSTREAM.match(line)
            if epoch:
                errors[int(epoch.group(1))] = (float(epoch.group(2)), float(epoch.group(3)))
    return {"options": options, "test_errors": errors}


def find_run_log(folder: Path) -> Path | None:
    """Find the training log of a checkpoint folder: `../log/**/*.log` next to it.

    Returns the only log there, or the one whose `-save` option names the folder, or
    None (logged) when there is none or several match.
    """
    log_root = folder.parent / "log"
    if not log_root.is_dir():
        return None
    logs = sorted(log_root.rglob("*.log"))
    if len(logs) == 1:
        return logs[0]
    matching = [
        path
        for path in logs
        if Path(str(read_run_log(path)["options"].get("save", ""))).name == folder.name
    ]
    if len(matching) == 1:
        return matching[0]
    if logs:
        log.warning(
            "%s: %d training logs, none identified as this run's; pass one", log_root, len(logs)
        )
    return None


def _best_error(test_errors: dict, last_epoch: int):
    done = {epoch: errs for epoch, errs in test_errors.items() if epoch <= last_epoch}
    if not done:
        return None, None, None
    best = min(done, key=lambda epoch: (done[epoch][0], epoch))
    return done[best][0], done[best][1], best


def convert_checkpoint_folder(folder, *, log_path=None) -> dict:
    """Convert a Torch7 checkpoint folder (`latest.t7` and what it names) to a checkpoint.

    Args:
        folder: the fork's `-save` folder.
        log_path: the run's training log, for `-netType`, `-dataset`, `-depth`, `-LR`
            and the best test error; by default `find_run_log(folder)`. Without a log
            those are None and the base LR is the optimizer's current one.

    Returns:
        a checkpoint dict (see `new_checkpoint`), ready for `save_checkpoint`.

    Raises:
        CheckpointFormatError: `latest.t7` or the files it names are missing or do not fit
            together.
        frelu_tools.port.UnknownClassError: the model has classes without a converter.

    Example:
        >>> save_checkpoint("ckpt.pt", convert_checkpoint_folder("checkpoints"))
    """
    from frelu_tools import t7

    folder = Path(folder)
    latest_path = folder / "latest.t7"
    if not latest_path.is_file():
        raise CheckpointFormatError(f"{folder}: no latest.t7, so not a Torch7 checkpoint folder")

    log.info("reading %s", latest_path)
    latest = t7.load(latest_path)
    if not isinstance(latest, dict) or not isinstance(latest.get("epoch"), int):
        raise CheckpointFormatError(f"{latest_path}: expected a table with an integer 'epoch'")
    model_path = _resolve(folder, latest.get("modelFile"), "modelFile")
    optim_path = _resolve(folder, latest.get("optimFile"), "optimFile")

    run_log = Path(log_path) if log_path is not None else find_run_log(folder)
    run = {"options": {}, "test_errors": {}}
    if run_log is not None:
        log.info("reading options from %s", run_log)
        run = read_run_log(run_log)
    else:
        log.warning(
            "%s: no training log found in %s; the net type, data set, depth, LR schedule "
            "and best error stay unknown (pass the run's .log with --log)",
            folder,
            folder.parent / "log",
        )

    checkpoint = convert_training_state(
        model_path,
        optim_path,
        epoch=latest["epoch"],
        options=run["options"],
        test_errors=run["test_errors"],
    )
    checkpoint["source"]["files"].insert(
        0, {"name": latest_path.name, "sha256": sha256_of(latest_path)}
    )
    return checkpoint


def convert_training_state(
    model_path, optim_path, *, epoch: int, options: dict | None = None, test_errors=None
) -> dict:
    """Convert a Torch7 model and its `optim.sgd` state table to a checkpoint.

    Args:
        model_path: the `.t7` model; its parameters must be laid out as
            `getParameters()` left them, as in every file `checkpoints.lua` saves.
        optim_path: the `.t7` state table of `optim.sgd` (`optimState_E.t7`).
        epoch: the last completed epoch.
        options: `th main.lua` options (`read_run_log`), or None.
        test_errors: epoch -> (top1_err, top5_err) from the log, or None.

    Returns:
        a checkpoint dict (see `new_checkpoint`).

    Raises:
        CheckpointFormatError: the optimizer state does not fit the model.
    """
    from frelu_tools import t7
    from frelu_tools.port import convert, describe, named_sources

    model_path, optim_path = Path(model_path), Path(optim_path)
    options = options or {}

    log.info("reading %s", model_path)
    model_obj = t7.load(model_path)
    if not isinstance(model_obj, t7.TorchObject):
        raise CheckpointFormatError(f"{model_path}: expected a Torch7 module")
    log.info("converting the model")
    spec = describe(model_obj)
    model = convert(model_obj)
    sources = named_sources(model_obj)

    log.info("reading %s", optim_path)
    optim_state = t7.load(optim_path)
    if isinstance(optim_state, t7.TorchObject) or not isinstance(optim_state, dict):
        raise CheckpointFormatError(f"{optim_path}: expected optim.sgd's state table")
    for key in ("learningRates", "weightDecays"):
        if optim_state.get(key) is not None:
            raise CheckpointFormatError(
                f"{optim_path}: per-parameter {key} are not supported by torch.optim.SGD "
                "param groups as converted here"
            )

    buffers = None
    dfdx = optim_state.get("dfdx")
    if dfdx is not None:
        log.info("splitting the momentum buffer (%d values) per parameter", dfdx.size)
        buffers = split_flat_buffer(model, sources, np.asarray(dfdx).reshape(-1))

    dataset = options.get("dataset")

    # 1e-3 is optim.sgd's default when the table has no learningRate.
    lr = float(optim_state.get("learningRate", 1e-3))
    hyperparameters = {
        "LR": float(options["LR"]) if "LR" in options else lr,
        "momentum": float(optim_state.get("momentum", 0.0)),
        "nesterov": bool(optim_state.get("nesterov", False)),
        "dampening": float(optim_state.get("dampening", 0.0)),
        "weightDecay": float(optim_state.get("weightDecay", 0.0)),
        "learningRateDecay": float(optim_state.get("learningRateDecay", 0.0)),
        "evalCounter": optim_state.get("evalCounter"),
        "schedule": schedule_for(dataset),
        "batchSize": options.get("batchSize"),
        "nEpochs": options.get("nEpochs"),
        "manualSeed": options.get("manualSeed"),
    }
    if hyperparameters["learningRateDecay"] != 0:
        # NOTE: optim.sgd divides the rate by (1 + evalCounter * learningRateDecay);
        # torch.optim.SGD has no such term, so a resumed run needs its own scheduler.
        log.warning(
            "%s: learningRateDecay=%g is not reproduced by torch.optim.SGD",
            optim_path,
            hyperparameters["learningRateDecay"],
        )

    best_top1, best_top5, best_epoch = _best_error(test_errors or {}, epoch)
    depth = options.get("depth")
    files = [model_path, optim_path]
    return new_checkpoint(
        architecture=spec,
        net_type=options.get("netType"),
        dataset=dataset,
        depth=depth if isinstance(depth, int) else None,
        state_dict={key: value.detach().clone() for key, value in model.state_dict().items()},
        optimizer=sgd_state_dict(model, buffers, hyperparameters, lr),
        param_names=[name for name, _ in model.named_parameters()],
        epoch=epoch,
        learning_rate=lr,
        best_top1_err=best_top1,
        best_top5_err=best_top5,
        best_epoch=best_epoch,
        hyperparameters=hyperparameters,
        source={"files": [{"name": path.name, "sha256": sha256_of(path)} for path in files]},
    )
