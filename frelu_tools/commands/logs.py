"""`frelu-tools plot` and `frelu-tools summarize`: learning curves and tables from logs."""

from pathlib import Path

import click
import pandas as pd

from frelu_tools.errors import FreluToolsError
from frelu_tools.logs import read_logs
from frelu_tools.logs.summary import format_table, summarize, tidy
from frelu_tools.plots.curves import BANDS, METRICS, SPLITS, plot_curves, save_figure

_LOGS = click.argument(
    "logs", nargs=-1, type=click.Path(exists=True, path_type=Path), metavar="LOGS_OR_DIRS..."
)
_LABEL = click.option(
    "--label",
    "labels",
    multiple=True,
    help="Configuration name to use instead of the one parsed from the file names: once "
    "for all LOGS_OR_DIRS (their runs become seeds of one configuration) or once for each. "
    "Two files of the same run (equal data set, name and seed) are an error unless their "
    "labels differ, even if they are copies.",
)
_FORCE = click.option("--force", is_flag=True, help="Overwrite output files that exist.")


class _CompareFolder(click.Path):
    """Path type of --compare that rejects an option name taken as one of its values."""

    def convert(self, value, param, ctx):
        # Given one folder, click takes the next option name (--out) as the second.
        if isinstance(value, str) and value.startswith("--"):
            self.fail(
                f"{value!r} is an option, not a folder; --compare takes two folders, DIR_A DIR_B",
                param,
                ctx,
            )
        return super().convert(value, param, ctx)


def _check_limits(ctx, param, value):
    if value is not None and not value[0] < value[1]:
        raise click.BadParameter(
            f"{value[0]:g} {value[1]:g}: the lower bound must be below the upper bound",
            ctx,
            param,
        )
    return value


def _read(paths, labels) -> pd.DataFrame:
    if labels and len(labels) not in (1, len(paths)):
        raise FreluToolsError(
            f"{len(labels)} --label values for {len(paths)} LOGS_OR_DIRS; "
            "give one for all or one for each"
        )
    if len(labels) == 1:
        return read_logs(paths, labels[0])
    return read_logs(paths, list(labels) or None)


@click.command("plot")
@_LOGS
@click.option(
    "--compare",
    nargs=2,
    type=_CompareFolder(exists=True, path_type=Path),
    metavar="DIR_A DIR_B",
    help="Overlay two sets of logs (e.g. original Torch7 runs and a reproduction); the "
    "line style tells the sets apart. Takes the place of LOGS_OR_DIRS.",
)
@click.option(
    "--set-names",
    nargs=2,
    metavar="NAME_A NAME_B",
    help="Legend names of the two --compare sets [default: the paths as given].",
)
@_LABEL
@click.option(
    "--metric",
    type=click.Choice(list(METRICS)),
    default="top1",
    show_default=True,
    help="top1 or top5 error (%), or the training loss.",
)
@click.option(
    "--split",
    type=click.Choice(list(SPLITS)),
    default="both",
    show_default=True,
    help="Which curves to draw: test (solid), train (dashed) or both.",
)
@click.option(
    "--band",
    type=click.Choice(list(BANDS)),
    default="std",
    show_default=True,
    help="Band around the mean of a configuration's seeds: one standard deviation, or "
    "minimum to maximum.",
)
@click.option(
    "--xlim",
    nargs=2,
    type=float,
    callback=_check_limits,
    metavar="MIN MAX",
    help="Epoch axis limits.",
)
@click.option(
    "--ylim",
    nargs=2,
    type=float,
    callback=_check_limits,
    metavar="MIN MAX",
    help="Error axis limits.",
)
@click.option("--log-y", is_flag=True, help="Logarithmic error axis.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("curves.png"),
    show_default=True,
    help="Figure file: .png, .pdf or .svg.",
)
@_FORCE
def plot_command(
    logs, compare, set_names, labels, metric, split, band, xlim, ylim, log_y, out, force
):
    """Draw the learning curves of training logs into one figure.

    LOGS_OR_DIRS are text logs of the FReLU fork or fb.resnet.torch, metrics.jsonl files,
    or folders searched for them. Each configuration gets one colour; its seeds collapse
    into their mean with a band. The test error is solid, the training error dashed, and
    every legend entry gives the configuration's best test error (mean ± std over seeds).
    With --compare, the line style names the set and test lines are thick, training
    lines thin and faded.
    """
    if compare and logs:
        raise FreluToolsError("give either LOGS_OR_DIRS or --compare DIR_A DIR_B, not both")
    if not compare and not logs:
        raise FreluToolsError("no logs given: pass LOGS_OR_DIRS or --compare DIR_A DIR_B")
    if set_names and not compare:
        raise FreluToolsError("--set-names needs --compare")
    if out.exists() and not force:
        raise FreluToolsError(f"{out}: already exists; pass --force to overwrite it")

    set_column = None
    if compare:
        names = list(set_names) if set_names else [str(p) for p in compare]
        if names[0] == names[1]:
            raise FreluToolsError(f"both --compare sets are named {names[0]!r}; pass --set-names")
        frames = []
        for path, name in zip(compare, names, strict=True):
            frames.append(_read([path], labels).assign(set=name))
        frame = pd.concat(frames, ignore_index=True)
        set_column = "set"
    else:
        frame = _read(logs, labels)

    figure = plot_curves(
        frame,
        metric=metric,
        split=split,
        band=band,
        xlim=xlim,
        ylim=ylim,
        log_y=log_y,
        set_column=set_column,
    )
    save_figure(figure, out, force=force)
    runs = frame["source"].nunique()
    configurations = len(frame[["dataset", "config"]].drop_duplicates())
    click.echo(f"wrote {out}: {_count(runs, 'run')}, {_count(configurations, 'configuration')}")


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


@click.command("summarize")
@_LOGS
@_LABEL
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["markdown", "csv", "latex"]),
    default="markdown",
    show_default=True,
    help="Table format; csv keeps mean and std in separate, unrounded columns.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the table to this file instead of standard output.",
)
@click.option(
    "--tidy",
    "tidy_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write every epoch of every run in long form (one value a row) to this CSV.",
)
@_FORCE
def summarize_command(logs, labels, fmt, out, tidy_path, force):
    """Tabulate best and final test top-1 error per configuration, over its seeds.

    One row per configuration (runs whose file names differ only in -seed<k>, within
    one data set): data set, network, activation, depth, number of seeds, the best test
    top-1 error over epochs and the error of the final epoch, each as mean ± sample
    standard deviation over the seeds, and the number of epochs run. A run given
    twice in different files (e.g. a copy of one log in two folders) is an error, not
    two seeds; give the files different --label values to compare them.
    """
    if not logs:
        raise FreluToolsError("no logs given: pass LOGS_OR_DIRS")
    for path in (out, tidy_path):
        if path is not None and path.exists() and not force:
            raise FreluToolsError(f"{path}: already exists; pass --force to overwrite it")

    frame = _read(logs, labels)
    text = format_table(summarize(frame), fmt)

    # Imported here: frelu_tools.port.formats imports torch, which a table never needs.
    from frelu_tools.files import atomic_write

    if tidy_path is not None:
        with atomic_write(tidy_path, force=force) as tmp:
            tidy(frame).to_csv(tmp, index=False, lineterminator="\n")
    if out is None:
        click.echo(text, nl=False)
    else:
        with atomic_write(out, force=force) as tmp:
            tmp.write_text(text, encoding="utf-8")
    for path in (tidy_path, out):
        if path is not None:
            click.echo(f"wrote {path}", err=True)
