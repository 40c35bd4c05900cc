"""Learning curves from `frelu_tools.logs` frames: error against epoch, seeds as bands.

Each configuration (runs with equal `dataset` and `config`) gets one colour. The seeds
of a configuration collapse into their mean, with a band of one standard deviation
(`band="std"`) or of the minimum to maximum (`band="range"`) around it.

Line styles: in a plain plot the test error is solid and the training error dashed, as
the fork's MATLAB `plotlog.m` drew them. When two sets of logs are overlaid (`set_column`,
e.g. original Torch7 logs and a reproduction), the line style names the set instead
(first set solid, second dashed, then dotted and dash-dot), and the split is shown by
weight: test lines are thick and opaque, training lines thin and faded. Bands are then
drawn for test lines only, so that four bands per configuration do not hide the lines.
"""

import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from frelu_tools.errors import FreluToolsError
from frelu_tools.logs.summary import GROUP_KEYS

METRICS = {
    "top1": ("train_top1_err", "test_top1_err", "top-1 error (%)"),
    "top5": ("train_top5_err", "test_top5_err", "top-5 error (%)"),
    "loss": ("train_loss", None, "training loss (cross-entropy)"),
}
SPLITS = ("train", "test", "both")
BANDS = ("std", "range")
FIGURE_SUFFIXES = (".png", ".pdf", ".svg")

_SET_STYLES = ("-", "--", ":", "-.")
_LEGEND_INSIDE_MAX = 6
_TRAIN_OVERLAY_WIDTH = 1.2
_TRAIN_OVERLAY_ALPHA = 0.6


class PlotError(FreluToolsError, ValueError):
    """A plot that cannot be drawn from the given logs and options."""


def plot_curves(
    frame: pd.DataFrame,
    *,
    metric: str = "top1",
    split: str = "both",
    band: str = "std",
    xlim: tuple[float, float] | None = None,
    ylim: tuple[float, float] | None = None,
    log_y: bool = False,
    set_column: str | None = None,
) -> Figure:
    """Draw the learning curves of every run in `frame` into one figure.

    Args:
        frame: rows of `frelu_tools.logs.read_logs`.
        metric: `top1`, `top5` (test and training error) or `loss` (training only: the
            logs contain no test loss).
        split: `test`, `train` or `both`.
        band: `std` (mean ± one sample standard deviation over seeds) or `range`
            (minimum to maximum).
        xlim, ylim: axis limits, or None for automatic ones.
        log_y: logarithmic error axis.
        set_column: a column naming the set of each row (e.g. `original` and
            `reproduced`); the sets are overlaid and distinguished by line style.

    Returns:
        The figure (not attached to pyplot, so it needs no display). Its axes contain
        one `Line2D` per configuration, set and split drawn, and each legend entry
        gives the best test error (mean ± std over seeds) of its configuration.

    Raises:
        PlotError: an unknown option, a limit whose lower bound is not below its upper
            one, no test values for the metric, or an empty frame.
    """
    _check_options(metric, split, band, xlim, ylim)
    train_column, test_column, ylabel = METRICS[metric]
    if metric == "loss" and split == "test":
        raise PlotError("the logs contain no test loss; plot the training loss instead")
    if frame.empty:
        raise PlotError("no epochs to plot")

    splits = []
    if split in ("test", "both") and test_column is not None:
        splits.append(("test", test_column))
    if split in ("train", "both"):
        splits.append(("train", train_column))

    sets = [None] if set_column is None else list(dict.fromkeys(frame[set_column]))
    if len(sets) > len(_SET_STYLES):
        raise PlotError(f"{len(sets)} sets to overlay; at most {len(_SET_STYLES)} are readable")
    groups = _configurations(frame)
    several_datasets = frame["dataset"].nunique(dropna=False) > 1
    palette = sns.color_palette("colorblind", len(groups))

    with sns.axes_style("whitegrid"), sns.plotting_context("notebook", font_scale=0.9):
        figure = Figure(figsize=(8, 5), layout="constrained")
        axes = figure.add_subplot()
        handles = []
        for colour, (key, label) in zip(palette, groups.items(), strict=True):
            if several_datasets and key[0] is not None:
                label = f"{label} ({key[0]})"
            config_rows = frame[
                (frame["dataset"].fillna("") == (key[0] or "")) & (frame["config"] == key[1])
            ]
            for set_index, set_name in enumerate(sets):
                rows = config_rows
                if set_column is not None:
                    rows = config_rows[config_rows[set_column] == set_name]
                if rows.empty:
                    continue
                for split_name, column in splits:
                    style = _line_style(split_name, set_index, set_column is not None)
                    _draw(axes, rows, column, colour, style, band)
                handles.append(
                    Line2D(
                        [],
                        [],
                        color=colour,
                        linestyle=_SET_STYLES[set_index] if set_column is not None else "-",
                        linewidth=2,
                        label=_legend_label(label, set_name, rows, test_column),
                    )
                )

        handles.extend(_style_key(splits, sets, set_column is not None))
        if xlim is None and frame["epoch"].nunique() == 1:
            # Around a single epoch, matplotlib would place ticks at fractions such as 0.99.
            epoch = frame["epoch"].iloc[0]
            xlim = (epoch - 1, epoch + 1)
        _finish_axes(figure, axes, handles, ylabel, xlim, ylim, log_y)
        datasets = [d for d in dict.fromkeys(frame["dataset"]) if isinstance(d, str)]
        if datasets and not several_datasets:
            axes.set_title(datasets[0])
    return figure


def _finish_axes(figure: Figure, axes, handles: list, ylabel: str, xlim, ylim, log_y: bool):
    """Place the legend and set the labels, limits and scale."""
    if len(handles) > _LEGEND_INSIDE_MAX:
        # Many entries would cover the curves: put the legend right of the axes.
        figure.set_figwidth(figure.get_figwidth() + 4)
        axes.legend(
            handles=handles,
            loc="upper left",
            bbox_to_anchor=(1.02, 1.0),
            fontsize="small",
            frameon=True,
        )
    else:
        axes.legend(handles=handles, loc="best", fontsize="small", frameon=True)

    axes.set_xlabel("epoch")
    axes.set_ylabel(ylabel)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    if log_y:
        axes.set_yscale("log")
    if xlim is not None:
        axes.set_xlim(*xlim)
    if ylim is not None:
        axes.set_ylim(*ylim)


def _check_options(metric: str, split: str, band: str, xlim, ylim):
    if metric not in METRICS:
        raise PlotError(f"unknown metric {metric!r}; expected one of {', '.join(METRICS)}")
    if split not in SPLITS:
        raise PlotError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    if band not in BANDS:
        raise PlotError(f"unknown band {band!r}; expected one of {', '.join(BANDS)}")
    for name, limits in (("xlim", xlim), ("ylim", ylim)):
        if limits is not None and not limits[0] < limits[1]:
            raise PlotError(
                f"invalid {name} {limits[0]:g} {limits[1]:g}: "
                "the lower bound must be below the upper bound"
            )


def _configurations(frame: pd.DataFrame) -> dict:
    """(dataset, config) -> label, in the order the runs were read."""
    keys = frame[GROUP_KEYS].drop_duplicates()
    return {
        (row.dataset if isinstance(row.dataset, str) else None, row.config): row.config
        for row in keys.itertuples(index=False)
    }


def _line_style(split: str, set_index: int, overlay: bool) -> dict:
    """Matplotlib line keywords, plus `band_alpha` (None: no band) for `_draw`."""
    if not overlay:
        if split == "test":
            return {"linestyle": "-", "linewidth": 1.8, "alpha": 1.0, "band_alpha": 0.2}
        return {"linestyle": "--", "linewidth": 1.8, "alpha": 1.0, "band_alpha": 0.1}
    if split == "test":
        return {
            "linestyle": _SET_STYLES[set_index],
            "linewidth": 2.2,
            "alpha": 1.0,
            "band_alpha": 0.15,
        }
    return {
        "linestyle": _SET_STYLES[set_index],
        "linewidth": _TRAIN_OVERLAY_WIDTH,
        "alpha": _TRAIN_OVERLAY_ALPHA,
        "band_alpha": None,
    }


def _draw(axes, rows: pd.DataFrame, column: str, colour, style: dict, band: str):
    """Draw the mean over seeds of `column` against epoch, with its band."""
    style = dict(style)
    band_alpha = style.pop("band_alpha")
    by_epoch = rows.pivot_table(
        index="epoch", columns="source", values=column, aggfunc="last", dropna=False
    )
    epochs = by_epoch.index.to_numpy()
    values = by_epoch.to_numpy(dtype=float)
    # A seed's nan or inf epochs are left out of the mean at that epoch; an epoch where
    # no seed has a finite value is a gap in the line.
    values = np.where(np.isfinite(values), values, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(values, axis=1)
        if band == "std":
            spread = np.nanstd(values, axis=1, ddof=1)
            low, high = mean - spread, mean + spread
        else:
            low, high = np.nanmin(values, axis=1), np.nanmax(values, axis=1)
    # A point with no finite neighbour (a one-epoch run, or a point between gaps) has no
    # line segment to show it. Such points get a marker, and the rest stays a plain line.
    finite = np.isfinite(mean)
    before = np.concatenate([[False], finite[:-1]])
    after = np.concatenate([finite[1:], [False]])
    isolated = np.flatnonzero(finite & ~before & ~after)
    if isolated.size:
        style.update(marker="o", markersize=6, markevery=isolated.tolist())
    axes.plot(epochs, mean, color=colour, **style)
    if values.shape[1] > 1 and band_alpha is not None:
        axes.fill_between(epochs, low, high, color=colour, alpha=band_alpha, linewidth=0)


def _legend_label(label: str, set_name, rows: pd.DataFrame, test_column) -> str:
    prefix = label if set_name is None else f"{set_name}: {label}"
    column = test_column or "train_loss"
    best = rows.groupby("source")[column].min()
    seeds = len(best)
    what = "best test" if test_column else "min train loss"
    digits = 2 if test_column else 3
    if seeds == 1:
        return f"{prefix}, {what} {best.iloc[0]:.{digits}f}"
    std = best.std(ddof=1)
    spread = "" if math.isnan(std) else f" ± {std:.{digits}f}"
    return f"{prefix} ({seeds} seeds), {what} {best.mean():.{digits}f}{spread}"


def _style_key(splits: list, sets: list, overlay: bool) -> list[Line2D]:
    """Grey legend entries that explain the line styles."""
    grey = "0.35"
    key = []
    if overlay:
        for index, name in enumerate(sets):
            key.append(Line2D([], [], color=grey, linestyle=_SET_STYLES[index], label=str(name)))
        if len(splits) == 2:
            key.append(Line2D([], [], color=grey, linewidth=2.2, label="test (thick)"))
            key.append(
                Line2D(
                    [],
                    [],
                    color=grey,
                    linewidth=_TRAIN_OVERLAY_WIDTH,
                    alpha=_TRAIN_OVERLAY_ALPHA,
                    label="train (thin)",
                )
            )
    elif len(splits) == 2:
        key.append(Line2D([], [], color=grey, linestyle="-", label="test"))
        key.append(Line2D([], [], color=grey, linestyle="--", label="train"))
    return key


def save_figure(figure: Figure, path, *, force: bool = False):
    """Write `figure` to `path` (`.png`, `.pdf` or `.svg`) through a temporary file.

    Raises:
        PlotError: an unsupported suffix.
        OutputExistsError: `path` exists and `force` is false.
    """
    # Imported here: frelu_tools.port.formats imports torch, which plotting never needs.
    from frelu_tools.files import atomic_write

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FIGURE_SUFFIXES:
        raise PlotError(
            f"{path}: unsupported figure format {suffix or '(none)'!r}; "
            f"use {', '.join(FIGURE_SUFFIXES)}"
        )
    with atomic_write(path, force=force) as tmp:
        figure.savefig(tmp, format=suffix[1:], dpi=100)
    return path
