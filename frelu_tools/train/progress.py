"""Progress display of a training run: a one-line bar on a terminal, log lines elsewhere."""

from __future__ import annotations

import logging
import shutil
import sys
import time

from frelu_tools.train.loop import Progress

log = logging.getLogger("frelu_tools.train")


class ProgressBar:
    """Redraw one status line per run on a terminal.

    Reading the loss and error forces the device to finish its queued work, so the bar
    redraws at most every `interval` seconds and on the last iteration of a phase.

    Args:
        label: the run's name, shown first.
        stream: a text stream attached to a terminal (stderr by default).
        interval: minimum seconds between two redraws.
    """

    def __init__(self, label: str, stream=None, interval: float = 0.5):
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.interval = interval
        self._last = 0.0

    def __call__(self, progress: Progress) -> None:
        now = time.monotonic()
        last_iteration = progress.iteration == progress.iterations
        if now - self._last < self.interval and not last_iteration:
            return
        self._last = now
        width = 20
        filled = width * progress.iteration // progress.iterations
        bar = "#" * filled + "-" * (width - filled)
        rate = progress.images / progress.seconds if progress.seconds > 0 else 0.0
        text = (
            f"{self.label} {progress.phase} epoch {progress.epoch} [{bar}] "
            f"{progress.iteration}/{progress.iterations} loss {float(progress.step.loss):.4f} "
            f"top1 {float(progress.step.top1_err):6.2f} {rate:7.1f} img/s"
        )
        columns = shutil.get_terminal_size((100, 20)).columns
        self.stream.write("\r" + text[: columns - 1].ljust(columns - 1))
        if last_iteration and progress.phase == "test":
            self.stream.write("\n")
        self.stream.flush()


class ProgressLog:
    """Log one line per finished phase (train or test) of an epoch, for non-terminals."""

    def __init__(self, label: str):
        self.label = label

    def __call__(self, progress: Progress) -> None:
        if progress.iteration != progress.iterations:
            return
        rate = progress.images / progress.seconds if progress.seconds > 0 else 0.0
        log.info(
            "%s: %s epoch %d done, %d images in %.1f s (%.1f images/s)",
            self.label,
            progress.phase,
            progress.epoch,
            progress.images,
            progress.seconds,
            rate,
        )


def progress_for(label: str, stream=None):
    """Choose a `ProgressBar` for a terminal `stream` (default stderr), else a `ProgressLog`."""
    stream = stream if stream is not None else sys.stderr
    if hasattr(stream, "isatty") and stream.isatty():
        return ProgressBar(label, stream)
    return ProgressLog(label)
