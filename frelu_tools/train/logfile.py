"""Run logs: the fork's text format plus one JSON object per epoch.

The text lines are those `main.lua` and `train.lua` print, so the MATLAB scripts under
the fork's `draw/` and `frelu_tools.logs.read_log` read them like an original log:

    => Training epoch # 3 with LR = 0.10000
     * Epoch # 3     train-top1:  35.352  train-top5:   8.398  test-top1:  61.719  test-top5: ...
    (empty line)
     ! Best model \t61.71875\t3.125

The per-iteration ` | Epoch: [E][n/N] ...` lines are not written: they would make the
loop wait for the device at every step, and the epoch line already contains the training
error. `metrics.jsonl` gets one object per completed epoch with the columns of
`read_log`.

Both files are appended to and flushed line by line, so an interrupted run leaves
only complete lines. `truncate_metrics` drops the epochs that a resumed run repeats.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from frelu_tools.files import atomic_write

METRIC_KEYS = (
    "epoch",
    "lr",
    "train_top1_err",
    "train_top5_err",
    "train_loss",
    "test_top1_err",
    "test_top5_err",
)


def lua_number(value: float) -> str:
    """Format a number as Lua 5.1 / LuaJIT `print` does (`%.14g`)."""
    return f"{value:.14g}"


def epoch_start_line(epoch: int, lr: float) -> str:
    return f"=> Training epoch # {epoch} with LR = {lr:.5f}"


def epoch_line(epoch: int, train_top1, train_top5, test_top1, test_top5) -> str:
    return (
        f" * Epoch # {epoch}     train-top1: {train_top1:7.3f}  train-top5: {train_top5:7.3f}"
        f"  test-top1: {test_top1:7.3f}  test-top5: {test_top5:7.3f}\n"
    )


def best_line(is_best: bool, best_top1: float, best_top5: float) -> str:
    mark = "!" if is_best else "?"
    return f" {mark} Best model \t{lua_number(best_top1)}\t{lua_number(best_top5)}"


def finished_line(best_top1: float, best_top5: float) -> str:
    return f" * Finished top1: {best_top1:6.3f}  top5: {best_top5:6.3f}"


class RunLog:
    """Writer of one run's text log and `metrics.jsonl`.

    Args:
        log_path: the text log, e.g. `log/cifar10/resnet-possrelu-20-seed0.log`.
        metrics_path: the JSON-lines file.
    """

    def __init__(self, log_path: Path, metrics_path: Path):
        self.log_path = Path(log_path)
        self.metrics_path = Path(metrics_path)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.metrics_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "a", encoding="utf-8")  # noqa: SIM115

    def line(self, text: str) -> None:
        """Append `text` and a newline to the text log and flush it to the OS."""
        self._log.write(text + "\n")
        self._log.flush()

    def metrics(self, record: dict) -> None:
        """Append one epoch's record to `metrics.jsonl` and sync it to disk."""
        missing = [key for key in METRIC_KEYS if key not in record]
        if missing:
            raise ValueError(f"metrics record lacks {', '.join(missing)}")
        with open(self.metrics_path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def close(self) -> None:
        self._log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def read_metrics(path: Path) -> list[dict]:
    """Read `metrics.jsonl`; a last line cut short by a crash is ignored."""
    records = []
    if not Path(path).is_file():
        return records
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            break
    return records


def truncate_metrics(path: Path, last_epoch: int) -> None:
    """Keep only the records of epochs up to `last_epoch` (rewritten atomically)."""
    path = Path(path)
    if not path.is_file():
        return
    kept = [r for r in read_metrics(path) if r.get("epoch", 0) <= last_epoch]
    text = "".join(json.dumps(r) + "\n" for r in kept)
    with atomic_write(path, force=True) as tmp:
        tmp.write_text(text, encoding="utf-8")
