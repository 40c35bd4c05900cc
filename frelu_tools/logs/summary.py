"""The results table: best and final test error of each configuration over its seeds."""

import math

import pandas as pd

from frelu_tools.logs.reader import EPOCH_COLUMNS, NAME_COLUMNS

GROUP_KEYS = ["dataset", "config"]

SUMMARY_COLUMNS = [
    "config",
    "dataset",
    "network",
    "activation",
    "depth",
    "seeds",
    "best_top1_mean",
    "best_top1_std",
    "final_top1_mean",
    "final_top1_std",
    "epochs_min",
    "epochs_max",
]

_HEADERS = [
    "configuration",
    "dataset",
    "network",
    "activation",
    "depth",
    "seeds",
    "best test top-1 (%)",
    "final test top-1 (%)",
    "epochs",
]
_RIGHT_ALIGNED = {"depth", "seeds", "best test top-1 (%)", "final test top-1 (%)", "epochs"}


def summarize(frame: pd.DataFrame) -> pd.DataFrame:
    """Summarize each configuration (runs with equal `dataset` and `config`) over its runs.

    A run's best error is its minimum test top-1 error over epochs (NaN epochs skipped)
    and its final error that of its last epoch (NaN if that epoch logged nan). Means and
    sample standard deviations (ddof=1) go over the runs, as the fork's
    `draw/showbestresult.m` computes `mean(min(test))` and MATLAB's `std(min(test))`.
    With one run the standard deviation is NaN.

    Returns:
        One row per configuration, sorted by data set and configuration name, with the
        columns of `SUMMARY_COLUMNS`.
    """
    per_run = []
    for source, run in frame.groupby("source", sort=False):
        run = run.sort_values("epoch")
        first = run.iloc[0]
        per_run.append(
            {
                "config": first["config"],
                "dataset": first["dataset"],
                "network": first["network"],
                "activation": first["activation"],
                "depth": first["depth"],
                "source": source,
                "best": run["test_top1_err"].min(skipna=True),
                "final": run["test_top1_err"].iloc[-1],
                "epochs": len(run),
            }
        )
    runs = pd.DataFrame(per_run)
    # Built from dicts, a depth column with a missing value turns float (8.0, 20.0).
    runs["depth"] = runs["depth"].astype("Int64")

    rows = []
    for _, group in runs.groupby(GROUP_KEYS, sort=True, dropna=False):
        first = group.iloc[0]
        rows.append(
            {
                "config": first["config"],
                "dataset": first["dataset"],
                "network": _common(group["network"]),
                "activation": _common(group["activation"]),
                "depth": _common(group["depth"]),
                "seeds": len(group),
                "best_top1_mean": group["best"].mean(skipna=False),
                "best_top1_std": group["best"].std(ddof=1, skipna=False),
                "final_top1_mean": group["final"].mean(skipna=False),
                "final_top1_std": group["final"].std(ddof=1, skipna=False),
                "epochs_min": group["epochs"].min(),
                "epochs_max": group["epochs"].max(),
            }
        )
    table = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    # Check the values before the frame casts them, because ints and None read as floats.
    depths = [row["depth"] for row in rows]
    if all(depth is None or pd.api.types.is_integer(depth) for depth in depths):
        # A --label that merges depths leaves text such as "8/20", kept as it is.
        table["depth"] = pd.array(depths, dtype="Int64")
    return table


def _common(values: pd.Series):
    """The one value all runs share, or the distinct values joined with '/'."""
    distinct = list(dict.fromkeys(v for v in values if not pd.isna(v)))
    if not distinct:
        return None
    if len(distinct) == 1:
        return distinct[0]
    return "/".join(map(str, distinct))


def format_table(table: pd.DataFrame, fmt: str = "markdown", digits: int = 2) -> str:
    """Format a `summarize` table as `markdown`, `csv` or `latex` text.

    Markdown and LaTeX show `mean ± std` (only the mean for one seed) and the epoch
    count, or `min-max` where the seeds ran different numbers of epochs. CSV keeps the
    numbers in separate columns (`SUMMARY_COLUMNS`), unrounded.
    """
    if fmt == "csv":
        return table.to_csv(index=False, lineterminator="\n")
    if fmt not in ("markdown", "latex"):
        raise ValueError(f"unknown table format {fmt!r}; expected markdown, csv or latex")

    plus_minus = " ± " if fmt == "markdown" else r" $\pm$ "
    cells = []
    for row in table.itertuples(index=False):
        epochs = f"{row.epochs_min}"
        if row.epochs_max != row.epochs_min:
            epochs = f"{row.epochs_min}-{row.epochs_max}"
        cells.append(
            [
                _text(row.config),
                _text(row.dataset),
                _text(row.network),
                _text(row.activation),
                _text(row.depth),
                str(row.seeds),
                _mean_std(row.best_top1_mean, row.best_top1_std, digits, plus_minus),
                _mean_std(row.final_top1_mean, row.final_top1_std, digits, plus_minus),
                epochs,
            ]
        )
    if fmt == "markdown":
        return _markdown([[cell.replace("|", "\\|") for cell in row] for row in cells])
    return _latex(cells)


def _text(value) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "-"
    return str(value)


def _mean_std(mean: float, std: float, digits: int, plus_minus: str) -> str:
    if math.isnan(std):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f}{plus_minus}{std:.{digits}f}"


def _markdown(cells: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(_HEADERS)]

    def line(values):
        padded = []
        for header, value, width in zip(_HEADERS, values, widths, strict=True):
            padded.append(value.rjust(width) if header in _RIGHT_ALIGNED else value.ljust(width))
        return "| " + " | ".join(padded) + " |"

    rule = []
    for header, width in zip(_HEADERS, widths, strict=True):
        rule.append("-" * (width - 1) + ":" if header in _RIGHT_ALIGNED else "-" * width)
    lines = [line(_HEADERS), "| " + " | ".join(rule) + " |"]
    lines.extend(line(row) for row in cells)
    return "\n".join(lines) + "\n"


def _latex(cells: list[list[str]]) -> str:
    spec = "".join("r" if h in _RIGHT_ALIGNED else "l" for h in _HEADERS)
    lines = [
        rf"\begin{{tabular}}{{{spec}}}",
        r"\toprule",
        " & ".join(_latex_escape(h) for h in _HEADERS) + r" \\",
        r"\midrule",
    ]
    for row in cells:
        # The mean-std cells already contain LaTeX ($\pm$); the others are plain text.
        escaped = [_latex_escape(c) if i not in (6, 7) else c for i, c in enumerate(row)]
        lines.append(" & ".join(escaped) + r" \\")
    lines.extend([r"\bottomrule", r"\end{tabular}"])
    return "\n".join(lines) + "\n"


def _latex_escape(text: str) -> str:
    for char in ("\\", "&", "%", "$", "#", "_", "{", "}"):
        text = text.replace(char, "\\" + char if char != "\\" else r"\textbackslash{}")
    return text


def tidy(frame: pd.DataFrame) -> pd.DataFrame:
    """Reshape `read_logs` rows to long form: one row per run, epoch, split and metric.

    Returns:
        The name columns, `epoch`, `lr`, `resumed`, `train_approx`, then `split`
        (`train` or `test`), `metric` (`top1_err`, `top5_err` or `loss`) and `value`.
        The logs contain no test loss, so there is no (`test`, `loss`) row.
    """
    value_columns = {
        "train_top1_err": ("train", "top1_err"),
        "train_top5_err": ("train", "top5_err"),
        "train_loss": ("train", "loss"),
        "test_top1_err": ("test", "top1_err"),
        "test_top5_err": ("test", "top5_err"),
    }
    id_columns = NAME_COLUMNS + [c for c in EPOCH_COLUMNS if c not in value_columns]
    long = frame.melt(
        id_vars=id_columns, value_vars=list(value_columns), var_name="column", value_name="value"
    )
    long["split"] = long["column"].map(lambda c: value_columns[c][0])
    long["metric"] = long["column"].map(lambda c: value_columns[c][1])
    long = long.drop(columns="column")
    long = long.sort_values(["source", "epoch", "split", "metric"], kind="stable")
    return long.reset_index(drop=True)
