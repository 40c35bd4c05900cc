"""Training logs -> pandas DataFrame, one row per epoch of each run."""

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

from frelu_tools.logs.errors import LogFormatError
from frelu_tools.logs.metrics import METRIC_COLUMNS, parse_metrics_log
from frelu_tools.logs.names import parse_run_name, split_net_type
from frelu_tools.logs.text import parse_text_log

log = logging.getLogger(__name__)

EPOCH_COLUMNS = ["epoch", *METRIC_COLUMNS, "resumed", "train_approx"]
NAME_COLUMNS = [
    "run",
    "source",
    "config",
    "dataset",
    "net_type",
    "network",
    "activation",
    "depth",
    "seed",
    "variant",
]
COLUMNS = EPOCH_COLUMNS + NAME_COLUMNS

METRICS_NAME = "metrics.jsonl"


def read_log(path, *, label: str | None = None, prefer_metrics: bool = True) -> pd.DataFrame:
    """Read one training log into a DataFrame with one row per completed epoch.

    Reads the FReLU fork's text logs, upstream fb.resnet.torch's, and frelu-tools'
    `metrics.jsonl`. For a text log `X.log` that has a metrics file (`X.metrics.jsonl`
    next to it, or `metrics.jsonl` in its folder when `X.log` is the folder's only
    `.log`), the metrics file is read instead, because it contains the unrounded values;
    pass `prefer_metrics=False` to read the text.

    Args:
        path: a `.log` text file or a `.jsonl` metrics file.
        label: the configuration name to use instead of the one parsed from the path;
            runs with the same label and data set are seeds of one configuration.
        prefer_metrics: read the text log's metrics file when it has one.

    Returns:
        Columns `epoch`, `lr` (NaN where the log does not print it), `train_top1_err`,
        `train_top5_err`, `train_loss`, `test_top1_err`, `test_top5_err` (error rates in
        percent, as logged; nan and inf kept), `resumed` (the epoch comes from a
        training started with `-resume`, or from a later training appended to the same
        file, whose epochs replace the earlier ones), `train_approx` (a training value
        is a mean of per-batch lines whose batch sizes or order are not known, see
        `frelu_tools.logs.text`), then `run`, `source` (the file read), `config`,
        `dataset`, `net_type`, `network`, `activation`, `depth`, `seed` and `variant` (see
        `frelu_tools.logs.names.parse_run_name`; None where the name does not say).
        `DataFrame.attrs` contains the format, the `th main.lua` options, the line and
        first epoch of each resume, the epochs that started and never finished, and the
        line of a record cut off mid-line.

        The trainer's `metrics.jsonl` does not mark a resume: on resuming it drops the
        epochs it repeats, so its epochs always rise. When a metrics file belongs to a
        text log (see `metrics_for`), the resumes come from the text log, and
        `resumed` is True from the first epoch of its first resume on, as in the text
        log; its entries in `attrs["resumes"]` then also give the text log's `path`.
        Without a text log (or when that one cannot be read, which is logged as a
        warning) only a falling epoch or a record's own `resumed` key marks a resume.

    Raises:
        LogFormatError: the file cannot be read as a log (the message names the file
            and line); a file without any completed epoch is an error, and so is a text
            log with two trainings (see `frelu_tools.logs.text.parse_text_log`).
        OSError: the file cannot be opened.

    Example:
        >>> frame = read_log("data/logs/cifar10/resnet-possrelu-20-seed0.log")
        >>> frame["test_top1_err"].min()
        np.float64(78.516)
    """
    path = Path(path)
    text_path = None
    if path.suffix != ".jsonl":
        text_path = path
        metrics_path = metrics_for(path) if prefer_metrics else None
        if metrics_path is not None:
            log.info("reading %s instead of %s", metrics_path, path)
            path = metrics_path

    names = parse_run_name(text_path if text_path is not None else _run_path(path))
    if path.suffix == ".jsonl":
        rows, info = parse_metrics_log(path)
        names.update(info.pop("names"))
        if names.get("net_type") and not names.get("network"):
            names["network"], names["activation"] = split_net_type(names["net_type"])
        text_log = text_path or _text_log_of(path)
        if text_log is not None:
            _resumes_from_text(rows, info, path, text_log, names["dataset"])
    else:
        rows, info = parse_text_log(path, dataset=names["dataset"])
        _fill_names_from_command(names, info["commands"])

    frame = pd.DataFrame(rows, columns=EPOCH_COLUMNS)
    run = names.pop("run", None) or (text_path or _run_path(path)).stem
    frame["run"] = run
    frame["source"] = str(path)
    if label is not None:
        names["config"] = label
    for key in NAME_COLUMNS[2:]:
        frame[key] = names.get(key)
    frame["depth"] = frame["depth"].astype("Int64")
    frame["seed"] = frame["seed"].astype("Int64")
    frame.attrs.update(info)
    frame.attrs["source"] = str(path)
    return frame


def metrics_for(log_path) -> Path | None:
    """Return the `metrics.jsonl` that belongs to the text log `log_path`, or None.

    `X.metrics.jsonl` next to `X.log` belongs to it; so does `metrics.jsonl` in the
    same folder when `X.log` is the only `.log` file there.
    """
    log_path = Path(log_path)
    own = log_path.with_name(f"{log_path.stem}.{METRICS_NAME}")
    if own.is_file():
        return own
    shared = log_path.with_name(METRICS_NAME)
    if shared.is_file() and [p.name for p in log_path.parent.glob("*.log")] == [log_path.name]:
        return shared
    return None


def find_logs(paths: Iterable) -> list[Path]:
    """List the logs named by `paths`: files as given, folders searched recursively.

    A folder contributes its `*.log` files and the `metrics.jsonl` / `*.metrics.jsonl`
    files that belong to no text log; a text log's own metrics file is read through
    `read_log`, which prefers it.

    Raises:
        LogFormatError: a folder contains no log.
        FileNotFoundError: a path does not exist.
    """
    found = []
    for path in map(Path, paths):
        if path.is_dir():
            in_folder = _logs_in_folder(path)
            if not in_folder:
                raise LogFormatError(
                    f"no training logs (*.log, {METRICS_NAME}) in this folder", path
                )
            found.extend(in_folder)
        elif path.exists():
            found.append(path)
        else:
            raise FileNotFoundError(2, "No such file or directory", str(path))
    return found


def _logs_in_folder(folder: Path) -> list[Path]:
    text_logs = sorted(p for p in folder.rglob("*.log") if p.is_file())
    claimed = {metrics_for(p) for p in text_logs}
    metrics = sorted(
        p
        for p in folder.rglob(f"*{METRICS_NAME}")
        if p.is_file() and (p.name == METRICS_NAME or p.name.endswith(f".{METRICS_NAME}"))
    )
    return sorted(text_logs + [p for p in metrics if p not in claimed])


def read_logs(paths: Sequence, labels: Sequence[str] | str | None = None) -> pd.DataFrame:
    """Read every log named by `paths` (files or folders) into one DataFrame.

    Args:
        paths: log files or folders of logs, searched as `find_logs` does.
        labels: one configuration label for all runs, or one per entry of `paths`.

    Returns:
        The frames of `read_log`, concatenated, each file once (with the label of its
        first mention). `attrs["runs"]` maps each source file to its frame's attrs.

    Raises:
        LogFormatError: two files are the same run: equal data set, configuration, run
            name and seed, such as copies of one log in two folders. Counting them as
            two seeds would shrink the spread and double the weight of that run, so
            this is an error even for byte-identical copies. Give the files different
            labels to compare them, or pass only one.
    """
    paths = list(paths)
    if isinstance(labels, str):
        labels = [labels] * len(paths)
    if labels is not None and len(labels) != len(paths):
        raise ValueError(f"{len(labels)} labels for {len(paths)} paths; give one or one each")

    frames = []
    seen = set()
    runs = {}  # (dataset, config, run, seed) -> the file that gave that run
    for index, entry in enumerate(paths):
        label = None if labels is None else labels[index]
        for path in find_logs([entry]):
            # A file named twice (itself and inside a folder given too) is one run.
            if path.resolve() in seen:
                log.info("skipping %s: already read", path)
                continue
            seen.add(path.resolve())
            frame = read_log(path, label=label)
            _check_new_run(runs, frame, path)
            frames.append(frame)
    if not frames:
        raise LogFormatError("no training logs given", ", ".join(map(str, paths)) or "-")
    frame = pd.concat(frames, ignore_index=True)
    frame.attrs = {"runs": {f.attrs["source"]: dict(f.attrs) for f in frames}}
    return frame


def _text_log_of(metrics_path: Path) -> Path | None:
    """Return the text log whose metrics file `metrics_path` is, or None."""
    if metrics_path.name == METRICS_NAME:
        candidates = list(metrics_path.parent.glob("*.log"))
    else:
        candidates = [metrics_path.with_name(metrics_path.name[: -len(METRICS_NAME)] + "log")]
    for candidate in candidates:
        if candidate.is_file() and metrics_for(candidate) == metrics_path:
            return candidate
    return None


def _resumes_from_text(rows: list, info: dict, path: Path, text_log: Path, dataset):
    """Mark the metrics rows that the text log `text_log` shows as resumed."""
    try:
        _, text_info = parse_text_log(text_log, dataset=dataset)
    except LogFormatError as error:
        log.warning("%s: resumes not read from its text log: %s", path, error)
        return
    if not text_info["resumes"]:
        return
    first = min(resume["epoch"] for resume in text_info["resumes"])
    for row in rows:
        row["resumed"] = row["resumed"] or row["epoch"] >= first
    if not info["resumes"]:
        info["resumes"] = [{**resume, "path": str(text_log)} for resume in text_info["resumes"]]


def _check_new_run(runs: dict, frame: pd.DataFrame, path: Path):
    """Record the run of `frame`, read from `path`, and raise if another file gave it."""
    first = frame.iloc[0]
    seed = None if pd.isna(first["seed"]) else int(first["seed"])
    key = (first["dataset"], first["config"], first["run"], seed)
    earlier = runs.setdefault(key, path)
    if earlier != path:
        dataset = f" of {first['dataset']}" if first["dataset"] is not None else ""
        raise LogFormatError(
            f"the same run ({first['run']}{dataset}) as {earlier}; one run cannot be two "
            "seeds: pass one of the files, or give each its own label (--label)",
            path,
        )


def _run_path(metrics_path: Path) -> Path:
    """The path whose name names the run of a metrics file without a text log."""
    if metrics_path.name == METRICS_NAME:
        # `<dataset>/<run>/metrics.jsonl`: the folder is the run.
        return metrics_path.parent.with_name(f"{metrics_path.parent.name}.log")
    return metrics_path.with_name(metrics_path.name[: -len(f".{METRICS_NAME}")] + ".log")


def _fill_names_from_command(names: dict, commands: list[dict]):
    """Fill what the file name did not say from the log's `th main.lua` line."""
    if not commands:
        return
    options = commands[0]
    if names["dataset"] is None:
        names["dataset"] = options.get("dataset")
    if names["net_type"] is None and "net_type" in options:
        names["net_type"] = options["net_type"]
        names["network"], names["activation"] = split_net_type(options["net_type"])
        names["seed"] = options.get("seed")
        if "resnet" in options["net_type"]:
            # Only the ResNets read -depth; the other models ignore it.
            names["depth"] = options.get("depth")
