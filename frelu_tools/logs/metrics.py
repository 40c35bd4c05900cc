"""Parse `metrics.jsonl`: one JSON object per epoch, as frelu-tools' trainer writes it.

Each line contains an object with an integer `epoch` and any of the metric columns of
`read_log` (`lr`, `train_top1_err`, `train_top5_err`, `train_loss`, `test_top1_err`,
`test_top5_err`); a missing value or `null` is NaN, and Python's `NaN` and `Infinity`
are accepted. Run-name keys (`run`, `dataset`, `net_type`, `network`, `activation`,
`depth`, `seed`, `variant`, `config`) override the names parsed from the path. An epoch
not greater than the one before starts a resumed training, as in a text log, and so
does a record whose `resumed` key is true. The trainer writes neither: it drops the
repeated epochs when it resumes, so `read_log` takes the resumes of its metrics files
from their text logs. A last line that is not valid and has no newline was cut off by a
crash and is skipped.
"""

import json
import math
from pathlib import Path

from frelu_tools.logs.errors import LogFormatError

METRIC_COLUMNS = (
    "lr",
    "train_top1_err",
    "train_top5_err",
    "train_loss",
    "test_top1_err",
    "test_top5_err",
)
NAME_KEYS = (
    "run",
    "dataset",
    "net_type",
    "network",
    "activation",
    "depth",
    "seed",
    "variant",
    "config",
)


def parse_metrics_log(path) -> tuple[list[dict], dict]:
    """Parse a `metrics.jsonl` file.

    Returns:
        `(rows, info)` as `parse_text_log` returns them; `info["names"]` contains the
        run-name keys the file sets (from its last line that sets each).

    Raises:
        LogFormatError: an empty file, a line that is not a JSON object with an integer
            `epoch`, or a metric that is not a number.
    """
    path = Path(path)
    data = path.read_bytes()
    if not data.strip():
        raise LogFormatError("empty file, not a metrics log", path)

    rows = {}
    names = {}
    resumes = []
    resumed = False
    last_epoch = None
    cut_off_line = None
    lines = data.split(b"\n")
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            record = _parse_line(path, number, raw)
        except LogFormatError:
            # A last line without its newline was cut off while being written.
            if number == len(lines) and not data.endswith(b"\n"):
                cut_off_line = number
                break
            raise
        epoch = record["epoch"]
        if last_epoch is not None and epoch <= last_epoch:
            resumed = True
            resumes.append({"line": number, "epoch": epoch})
        last_epoch = epoch

        row = {"epoch": epoch}
        for column in METRIC_COLUMNS:
            row[column] = _metric(path, number, record, column)
        row["resumed"] = resumed or bool(record.get("resumed", False))
        row["train_approx"] = bool(record.get("train_approx", False))
        rows[epoch] = row
        names.update(
            {k: _name(path, number, record, k) for k in NAME_KEYS if record.get(k) is not None}
        )

    if not rows:
        raise LogFormatError("no epoch: the file contains only blank lines", path)
    info = {
        "format": "metrics.jsonl",
        "commands": [],
        "resumes": resumes,
        "incomplete_epochs": [],
        "cut_off_line": cut_off_line,
        "names": names,
    }
    return [rows[epoch] for epoch in sorted(rows)], info


def _parse_line(path: Path, number: int, raw: bytes) -> dict:
    try:
        record = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise LogFormatError(f"invalid JSON: {error}", path, number) from None
    if not isinstance(record, dict):
        raise LogFormatError(f"expected a JSON object, found {type(record).__name__}", path, number)
    epoch = record.get("epoch")
    if isinstance(epoch, float) and epoch.is_integer():
        epoch = int(epoch)
    if not isinstance(epoch, int) or isinstance(epoch, bool):
        raise LogFormatError(f"missing or non-integer 'epoch': {epoch!r}", path, number)
    record["epoch"] = epoch
    return record


def _metric(path: Path, number: int, record: dict, column: str) -> float:
    value = record.get(column)
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise LogFormatError(f"'{column}' is not a number: {value!r}", path, number)
    return float(value)


def _name(path: Path, number: int, record: dict, key: str):
    value = record[key]
    if key in ("depth", "seed"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise LogFormatError(f"'{key}' is not an integer: {value!r}", path, number)
    elif not isinstance(value, str):
        raise LogFormatError(f"'{key}' is not a string: {value!r}", path, number)
    return value
