"""One reproduction run: a configuration, a seed, epochs, logs and checkpoints.

Layout under the output folder, named as the fork's scripts name their logs:

    log/<dataset>/<log_name>-seed<k>.log             the fork's text log
    log/<dataset>/<log_name>-seed<k>.metrics.jsonl   one JSON object per epoch
    checkpoints/<dataset>/<log_name>-seed<k>/        model_E.pt, latest.pt, model_best.pt

Randomness: the initial weights come from `torch.manual_seed(seed)`. Every epoch then
reseeds torch's global generators (dropout) and a generator on the training device
(sample order, flips, crops) from `(seed, epoch)`. So a run resumed after epoch E draws
exactly what an uninterrupted run draws in epoch E + 1, without storing RNG states.
"""

from __future__ import annotations

import logging
import math
import re
import shutil
import signal
import threading
from dataclasses import dataclass
from pathlib import Path

import torch

from frelu_tools import __version__
from frelu_tools.errors import FreluToolsError
from frelu_tools.train import checkpoints
from frelu_tools.train.augment import Augmentation
from frelu_tools.train.configs import RunConfig
from frelu_tools.train.data import ImageDataset
from frelu_tools.train.logfile import (
    RunLog,
    best_line,
    epoch_line,
    epoch_start_line,
    finished_line,
    truncate_metrics,
)
from frelu_tools.train.loop import TrainingInterrupted, evaluate, train_epoch
from frelu_tools.train.optim import make_sgd, set_learning_rate

log = logging.getLogger(__name__)


class ResumeError(FreluToolsError):
    """A checkpoint that cannot continue the requested run."""


class DeviceError(FreluToolsError):
    """A device name that is malformed or names a device torch cannot use."""


@dataclass
class RunOptions:
    """How to run, independent of the configuration.

    Attributes:
        device: "cpu", "cuda", "cuda:N" or "auto" (see `check_device`).
        epochs: last epoch to train; None uses the configuration's (200 for CIFAR).
        bf16: run forward passes under bfloat16 autocast. This changes the numerics: the
            results no longer match Torch7's float32 training step for step.
        tf32: on a GPU, let float32 matmuls and convolutions use TF32 tensor cores
            (faster, but products keep 10 of float32's 23 mantissa bits); False keeps
            full float32 as on the CPU.
        channels_last, compile: GPU speed options (NHWC memory layout, `torch.compile`).
        keep_last: number of `model_E.pt` files to keep; None keeps every epoch.
        overwrite: let a fresh run delete the log, metrics and checkpoints that an
            earlier run of the same name left in the output folder.
    """

    device: str = "cpu"
    epochs: int | None = None
    bf16: bool = False
    tf32: bool = True
    channels_last: bool = False
    compile: bool = False
    keep_last: int | None = None
    overwrite: bool = False


@dataclass
class RunResult:
    name: str
    log_path: Path
    metrics_path: Path
    checkpoint_dir: Path
    first_epoch: int
    last_epoch: int  # last completed epoch
    best_top1_err: float | None
    best_top5_err: float | None
    interrupted: bool
    already_complete: bool = False  # True when the checkpoint was at the last epoch, so nothing ran


def epoch_seed(seed: int, epoch: int) -> int:
    """Seed of epoch `epoch` of a run with seed `seed` (distinct for seeds below 1e6)."""
    return seed * 1_000_003 + epoch


def run_paths(out_dir: Path, config: RunConfig, seed: int) -> tuple[Path, Path, Path]:
    """Return the text log, metrics file and checkpoint folder of one run."""
    name = config.run_name(seed)
    log_dir = Path(out_dir) / "log" / config.dataset
    return (
        log_dir / f"{name}.log",
        log_dir / f"{name}.metrics.jsonl",
        Path(out_dir) / "checkpoints" / config.dataset / name,
    )


class StopRequest:
    """Turn SIGINT and SIGTERM into a request that the loop honours between iterations.

    A second signal of the same kind falls back to the default action, so a run that
    does not react can still be stopped. The checkpoint on disk stays valid either way.
    """

    def __init__(self):
        self.signal_name: str | None = None
        self._previous = {}

    def __call__(self) -> bool:
        return self.signal_name is not None

    def _handle(self, signum, frame):
        if self.signal_name is not None:
            signal.signal(signum, self._previous.get(signum, signal.SIG_DFL))
            signal.raise_signal(signum)
            return
        self.signal_name = signal.Signals(signum).name
        log.warning("%s received: stopping after the current iteration", self.signal_name)

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc):
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()


_DEVICE = re.compile(r"cpu|cuda(?::(\d+))?")


def check_device(name: str) -> str:
    """Return the device that `name` selects, after checking that torch can use it.

    Args:
        name: "cpu", "cuda", "cuda:N", or "auto" for "cuda" where torch finds a GPU and
            "cpu" elsewhere.

    Raises:
        DeviceError: another form, or a GPU that torch does not find.
    """
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    match = _DEVICE.fullmatch(name)
    if match is None:
        raise DeviceError(f"invalid device {name!r}; use cpu, cuda, cuda:N (GPU number N) or auto")
    if name == "cpu":
        return name
    if not torch.cuda.is_available():
        raise DeviceError(
            f"device {name!r} requested but torch finds no CUDA GPU; use --device cpu"
        )
    count = torch.cuda.device_count()
    if match.group(1) is not None and int(match.group(1)) >= count:
        raise DeviceError(
            f"device {name!r} requested but torch finds {count} GPU(s), cuda:0 to cuda:{count - 1}"
        )
    return name


def _configure_device(options: RunOptions) -> torch.device:
    device = torch.device(check_device(options.device))
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = options.tf32
        torch.backends.cudnn.allow_tf32 = options.tf32
        # NOTE: cudnn's autotuned kernels are not deterministic, so on a GPU a resumed run
        # matches an uninterrupted one only to rounding, not bit for bit as on the CPU.
        torch.backends.cudnn.benchmark = True
    elif options.channels_last or options.compile:
        raise FreluToolsError("--channels-last and --compile are GPU options; drop them on the CPU")
    return device


def build_model(
    config: RunConfig, architecture: dict | None = None
) -> tuple[torch.nn.Module, dict]:
    """Build the network of `config` (or of a checkpoint's `architecture`) and its spec."""
    from frelu_tools import models, port

    if architecture is None:
        architecture = models.spec(config.net_type, config.dataset, config.depth)
        model = port.build(architecture)
        models.initialise(model, architecture, None)
    else:
        model = port.build(architecture)
    return model.train(), architecture


def _check_resume_matches(checkpoint: dict, config: RunConfig) -> None:
    for key, expected in (("net_type", config.net_type), ("dataset", config.dataset)):
        found = checkpoint.get(key)
        if found is not None and found != expected:
            raise ResumeError(
                f"the checkpoint is a {key} {found!r} run but configuration "
                f"{config.name} trains {expected!r}"
            )
    depth = checkpoint.get("depth")
    if depth is not None and config.depth is not None and depth != config.depth:
        raise ResumeError(
            f"the checkpoint has depth {depth} but configuration {config.name} has "
            f"depth {config.depth}"
        )


def _check_resume_model(checkpoint: dict, config: RunConfig) -> None:
    """Reject a checkpoint whose weights or module classes differ from `config`'s network.

    A converted checkpoint without its training log has no net type or depth, so only
    its contents show which network it holds.
    """
    from frelu_tools import models, port

    model = port.build(models.spec(config.net_type, config.dataset, config.depth))
    depth = f" depth {config.depth}" if config.depth is not None else ""
    network = (
        f"the {config.net_type}{depth} network of configuration {config.name} ({config.dataset})"
    )
    model_shapes = [(key, tuple(value.shape)) for key, value in model.state_dict().items()]
    state_dict = checkpoint.get("state_dict") or {}
    found_shapes = [(key, tuple(getattr(value, "shape", ()))) for key, value in state_dict.items()]
    if found_shapes != model_shapes:
        raise ResumeError(
            f"the checkpoint's weights do not fit {network}: "
            f"{_state_difference(found_shapes, model_shapes)}"
        )

    # Modules without weights (activations) only show in the architecture. Its Torch7
    # class names differ between cudnn and nn builds, so the built PyTorch classes count.
    architecture = checkpoint.get("architecture")
    if architecture is not None:
        difference = _module_difference(port.build(architecture), model)
        if difference is not None:
            raise ResumeError(f"the checkpoint's modules differ from {network}: {difference}")


def _state_difference(found: list, expected: list) -> str:
    """Describe how two lists of (state_dict key, shape) differ: sizes, first difference."""

    def size(shapes):
        return sum(math.prod(shape) for _, shape in shapes)

    summary = (
        f"the checkpoint has {len(found)} tensors of {size(found):,} values, the "
        f"configuration's model {len(expected)} of {size(expected):,}"
    )
    for index in range(max(len(found), len(expected))):
        stored = found[index] if index < len(found) else None
        built = expected[index] if index < len(expected) else None
        if stored == built:
            continue
        if stored is None:
            where = f"the model's {built[0]} {list(built[1])} is missing from the checkpoint"
        elif built is None:
            where = f"the checkpoint's {stored[0]} {list(stored[1])} is not in the model"
        else:
            where = (
                f"the checkpoint has {stored[0]} {list(stored[1])} where the model has "
                f"{built[0]} {list(built[1])}"
            )
        return f"{summary}; first difference: {where}"
    return summary


def _module_difference(found: torch.nn.Module, expected: torch.nn.Module) -> str | None:
    """Describe the first module whose name or class differs between two networks, or None."""
    stored = [(name, type(module).__name__) for name, module in found.named_modules()]
    built = [(name, type(module).__name__) for name, module in expected.named_modules()]
    for (name, kind), (other_name, other_kind) in zip(stored, built, strict=False):
        if name == other_name and kind != other_kind:
            where = f"module {name}" if name else "the top module"
            return f"{where} is {kind} in the checkpoint, {other_kind} in the configuration's model"
        if name != other_name:
            return (
                f"the checkpoint has {kind} {name} where the configuration's model has "
                f"{other_kind} {other_name}"
            )
    if len(stored) != len(built):
        return f"the checkpoint has {len(stored)} modules, the configuration's model {len(built)}"
    return None


def _clear_earlier_run(name: str, paths: tuple[Path, Path, Path], overwrite: bool) -> None:
    existing = [path for path in paths if path.exists()]
    if not existing:
        return
    if not overwrite:
        raise FreluToolsError(
            f"{name}: {existing[0]} exists from an earlier run; continue it with "
            "--resume OUT_DIR, or pass --force to start it over"
        )
    log_path, metrics_path, checkpoint_dir = paths
    log.warning("%s: deleting the earlier run's log and checkpoints", name)
    log_path.unlink(missing_ok=True)
    metrics_path.unlink(missing_ok=True)
    if checkpoint_dir.exists():
        shutil.rmtree(checkpoint_dir)


def _header(config: RunConfig, seed: int, options: RunOptions, device) -> str:
    depth = f", depth {config.depth}" if config.depth is not None else ""
    precision = "bfloat16 autocast" if options.bf16 else "float32"
    return (
        f"=> Creating model {config.net_type}{depth} for {config.dataset} "
        f"(configuration {config.name}, seed {seed}, LR {config.lr}, batch "
        f"{config.batch_size}, frelu-tools {__version__}, torch {torch.__version__}, "
        f"device {device}, {precision})"
    )


def train_run(
    config: RunConfig,
    seed: int,
    dataset: ImageDataset,
    out_dir: str | Path,
    options: RunOptions | None = None,
    resume: str | Path | dict | None = None,
    progress=None,
    should_stop=None,
) -> RunResult:
    """Train one seed of one configuration, writing logs and checkpoints.

    Args:
        config: the configuration.
        seed: the run's seed (`-manualSeed`).
        dataset: the data, on any device; it is moved to the training device.
        out_dir: output folder (see the module docstring for the layout).
        options: device, epochs and precision options.
        resume: a checkpoint to continue from, as a path that `load_resume_checkpoint`
            accepts or as a loaded checkpoint dict. Training starts at its epoch + 1
            with its weights, momentum buffers and best error.
        progress: callback receiving a `loop.Progress` after each iteration.
        should_stop: callable polled after each iteration; when it returns True the
            run stops, leaving the last completed epoch's checkpoint.

    Returns:
        A `RunResult`; `interrupted` is True when `should_stop` ended the run, and
        `already_complete` when the checkpoint had already reached the last epoch.

    Raises:
        ResumeError: the checkpoint is of another network, or is past the last epoch.
    """
    options = options or RunOptions()
    device = _configure_device(options)
    last_epoch = options.epochs if options.epochs is not None else config.epochs
    log_path, metrics_path, checkpoint_dir = run_paths(Path(out_dir), config, seed)
    name = config.run_name(seed)

    checkpoint = None
    if resume is not None:
        checkpoint = (
            resume if isinstance(resume, dict) else checkpoints.load_resume_checkpoint(resume)
        )
        _check_resume_matches(checkpoint, config)
        _check_resume_model(checkpoint, config)
        done = checkpoint["epoch"]
        if done > last_epoch:
            requested = (
                f"--epochs {options.epochs}"
                if options.epochs is not None
                else f"the configuration's last epoch {last_epoch}"
            )
            raise ResumeError(f"{name}: trained to epoch {done} already; {requested} is earlier")
        if done == last_epoch:
            # Nothing to train, so the log, metrics and checkpoints stay as they are.
            log.info("%s: already trained to epoch %d; nothing to do", name, done)
            return RunResult(
                name,
                log_path,
                metrics_path,
                checkpoint_dir,
                done + 1,
                done,
                checkpoint.get("best_top1_err"),
                checkpoint.get("best_top5_err"),
                False,
                already_complete=True,
            )

    torch.manual_seed(seed)
    model, architecture = build_model(
        config, checkpoint.get("architecture") if checkpoint is not None else None
    )
    model.to(device)
    if options.channels_last:
        model.to(memory_format=torch.channels_last)
    optimizer = make_sgd(model, config.sgd)

    first_epoch, best = 1, None
    if checkpoint is not None:
        checkpoints.restore(model, optimizer, checkpoint)
        first_epoch = checkpoint["epoch"] + 1
        if checkpoint.get("best_top1_err") is not None:
            best = (
                checkpoint["best_top1_err"],
                checkpoint["best_top5_err"],
                checkpoint["best_epoch"],
            )
    forward_model = torch.compile(model) if options.compile else model

    data = dataset.to(device)
    padding = 0 if config.dataset == "mnist" else 4
    train_transform = Augmentation(data.mean, data.std, train=True, padding=padding)
    test_transform = Augmentation(data.mean, data.std, train=False)
    if options.channels_last:
        train_transform = _ChannelsLast(train_transform)
        test_transform = _ChannelsLast(test_transform)
    autocast_dtype = torch.bfloat16 if options.bf16 else None

    if checkpoint is None:
        _clear_earlier_run(name, (log_path, metrics_path, checkpoint_dir), options.overwrite)
    truncate_metrics(metrics_path, first_epoch - 1)
    result = RunResult(
        name,
        log_path,
        metrics_path,
        checkpoint_dir,
        first_epoch,
        first_epoch - 1,
        best[0] if best else None,
        best[1] if best else None,
        False,
    )
    with RunLog(log_path, metrics_path) as run_log:
        run_log.line(_header(config, seed, options, device))
        if checkpoint is not None:
            source = resume if not isinstance(resume, dict) else "a checkpoint"
            run_log.line(f"=> Resuming from {source} after epoch {checkpoint['epoch']}")
        log.info("%s: epochs %d to %d on %s", name, first_epoch, last_epoch, device)

        for epoch in range(first_epoch, last_epoch + 1):
            torch.manual_seed(epoch_seed(seed, epoch))
            generator = torch.Generator(device=device).manual_seed(epoch_seed(seed, epoch))
            lr = config.sgd.learning_rate(epoch)
            set_learning_rate(optimizer, lr)
            run_log.line(epoch_start_line(epoch, lr))
            try:
                train = train_epoch(
                    forward_model,
                    optimizer,
                    data.train,
                    train_transform,
                    config.batch_size,
                    generator,
                    epoch,
                    autocast_dtype,
                    progress,
                    should_stop,
                )
                test = evaluate(
                    forward_model,
                    data.test,
                    test_transform,
                    config.batch_size,
                    epoch,
                    autocast_dtype,
                    progress,
                    should_stop,
                )
            except TrainingInterrupted as stop:
                run_log.line(
                    f" ! Stopped {stop}; the checkpoint of epoch {epoch - 1} is the latest"
                    if epoch > first_epoch or checkpoint is not None
                    else f" ! Stopped {stop}; no epoch completed"
                )
                result.interrupted = True
                return result

            run_log.line(
                epoch_line(epoch, train.top1_err, train.top5_err, test.top1_err, test.top5_err)
            )
            is_best = best is None or test.top1_err < best[0]
            if is_best:
                best = (test.top1_err, test.top5_err, epoch)
            run_log.line(best_line(is_best, best[0], best[1]))

            record = {
                "epoch": epoch,
                "lr": lr,
                "train_top1_err": train.top1_err,
                "train_top5_err": train.top5_err,
                "train_loss": train.loss,
                "test_top1_err": test.top1_err,
                "test_top5_err": test.top5_err,
                "test_loss": test.loss,
                "dataset": config.dataset,
                "net_type": config.net_type,
                "depth": config.depth,
                "seed": seed,
            }
            state = checkpoints.build_checkpoint(
                model=model,
                optimizer=optimizer,
                architecture=architecture,
                config=config,
                seed=seed,
                epoch=epoch,
                learning_rate=lr,
                best=best,
            )
            # The checkpoint is written before the metrics line, so every epoch in
            # metrics.jsonl can be resumed from.
            checkpoints.save_epoch(checkpoint_dir, state, is_best, options.keep_last)
            run_log.metrics(record)
            result.last_epoch = epoch
            result.best_top1_err, result.best_top5_err = best[0], best[1]

        if best is not None and result.last_epoch == last_epoch:
            run_log.line(finished_line(best[0], best[1]))
    return result


class _ChannelsLast:
    def __init__(self, transform):
        self.transform = transform

    def __call__(self, images, generator):
        return self.transform(images, generator).contiguous(memory_format=torch.channels_last)
