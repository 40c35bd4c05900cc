"""`frelu-tools reproduce`: rerun the FReLU paper's configurations (arXiv 1706.08098)."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import click

from frelu_tools.errors import FreluToolsError


def _format_table(configs) -> str:
    header = (
        "name",
        "net type",
        "depth",
        "dataset",
        "act",
        "BN",
        "LR",
        "epochs",
        "seeds",
        "reported top-1",
    )
    rows = []
    for config in configs:
        reported = (config.reported or {}).get("test_top1_err")
        rows.append(
            (
                config.name,
                config.net_type,
                "" if config.depth is None else str(config.depth),
                config.dataset,
                config.activation or "",
                {True: "yes", False: "no", None: ""}[config.batch_norm],
                f"{config.lr:g}",
                str(config.epochs),
                _format_seeds(config.seeds),
                "" if reported is None else f"{reported:.2f}",
            )
        )
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def _format_seeds(seeds: list[int]) -> str:
    if seeds and seeds == list(range(seeds[0], seeds[-1] + 1)) and len(seeds) > 2:
        return f"{seeds[0]}-{seeds[-1]}"
    return ",".join(str(seed) for seed in seeds)


@click.command("reproduce")
@click.argument("names", nargs=-1)
@click.option(
    "--list",
    "list_only",
    is_flag=True,
    help="List the configurations (or those of NAMES), with the test errors the "
    "original repository reports, where it reports any.",
)
@click.option(
    "--json", "as_json", is_flag=True, help="With --list: print the configurations as JSON."
)
@click.option(
    "--data",
    "data",
    metavar="PATH|synthetic",
    help="Data set file or folder (CIFAR python archive or folder, the fork's "
    "gen/*.t7 cache, MNIST idx files), or 'synthetic' for a generated set of 128 "
    "training images ('synthetic:N' for N).",
)
@click.option(
    "--seeds", metavar="LIST", help="Seeds to run, e.g. 0-4 or 0,2 (default: each configuration's)."
)
@click.option(
    "--epochs",
    type=click.IntRange(min=1),
    help="Last epoch to train (default: the configuration's, 200 for CIFAR).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("runs"),
    show_default=True,
    help="Output folder for log/ and checkpoints/.",
)
@click.option(
    "--device",
    default="auto",
    show_default=True,
    help="Training device: cpu, cuda or cuda:N; auto takes cuda where torch sees a GPU.",
)
@click.option(
    "--resume",
    type=click.Path(exists=True, path_type=Path),
    help="Continue from an earlier --out folder (each run from its latest.pt), or, for "
    "one run, from a checkpoint file, checkpoint folder or Torch7 -save folder.",
)
@click.option(
    "--bf16",
    is_flag=True,
    help="Run forward passes in bfloat16 autocast. Changes the numerics: results no "
    "longer follow the Torch7 float32 step. Default: float32 (TF32 matmuls on GPU).",
)
@click.option(
    "--tf32/--no-tf32",
    default=True,
    show_default=True,
    help="On a GPU, allow TF32 tensor-core matmuls and convolutions; --no-tf32 keeps full "
    "float32 arithmetic.",
)
@click.option(
    "--channels-last", is_flag=True, help="GPU only: NHWC memory layout for convolutions."
)
@click.option("--compile", "compile_model", is_flag=True, help="GPU only: torch.compile the model.")
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Runs trained at the same time, as separate processes sharing the device.",
)
@click.option(
    "--keep-last",
    type=click.IntRange(min=1),
    help="Keep only this many model_E.pt files per run (default: all, as the fork).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Start runs over whose logs or checkpoints already exist in --out (deletes them).",
)
@click.option(
    "--configs",
    "config_dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Folder of configuration files (default: the repository's reproduce/).",
)
def reproduce_command(
    names,
    list_only,
    as_json,
    data,
    seeds,
    epochs,
    out_dir,
    device,
    resume,
    bf16,
    tf32,
    channels_last,
    compile_model,
    jobs,
    keep_last,
    force,
    config_dir,
):
    """Train configurations of the FReLU paper as the Torch7 fork trained them.

    NAMES are configuration names or groups (a network type such as resnet-possrelu
    selects all its depths and data sets); see --list. Each run writes the fork's text
    log and a metrics.jsonl under OUT/log/<dataset>/, and checkpoints under
    OUT/checkpoints/<dataset>/<run>/; read them with frelu-tools plot and summarize.
    """
    from frelu_tools.train.configs import all_configs, parse_seeds

    if list_only:
        configs = _select(names, config_dir) if names else all_configs(config_dir)
        if as_json:
            click.echo(json.dumps([config.to_dict() for config in configs], indent=2))
        else:
            click.echo(_format_table(configs))
        return

    if not names:
        raise click.UsageError("name a configuration or group, or use --list")
    configs = _select(names, config_dir)
    if data is None:
        raise click.UsageError("--data is required: a data set file or folder, or 'synthetic'")

    from frelu_tools.train.progress import progress_for
    from frelu_tools.train.run import RunOptions, check_device
    from frelu_tools.train.schedule import plan_runs, run_planned

    _configure_logging()
    device = check_device(device)
    seed_list = parse_seeds(seeds) if seeds else None
    options = RunOptions(
        device=device,
        epochs=epochs,
        bf16=bf16,
        tf32=tf32,
        channels_last=channels_last,
        compile=compile_model,
        keep_last=keep_last,
        overwrite=force,
    )
    planned = plan_runs(configs, seed_list, out_dir, resume)
    results, stopped_by = run_planned(
        planned,
        data,
        out_dir,
        options,
        jobs,
        progress_factory=lambda label: progress_for(label),
    )

    for result in results:
        click.echo(_result_line(result))
    _plot_mnist_features(results, planned, data, out_dir)
    if stopped_by is not None:
        if results and all(result.last_epoch == 0 for result in results):
            click.echo(
                f"stopped by {stopped_by} before any epoch finished, so there is nothing "
                f"to resume; start over with: --resume {out_dir} (runs without a finished "
                "epoch start afresh)",
                err=True,
            )
        else:
            click.echo(f"stopped by {stopped_by}; continue with: --resume {out_dir}", err=True)
        sys.exit(130 if stopped_by == "SIGINT" else 143)


def _result_line(result) -> str:
    """Return the summary line of one run: its state, epochs, best error and log."""
    if result.already_complete:
        return f"{result.name}: already trained to epoch {result.last_epoch}; nothing to do"

    if result.interrupted and result.last_epoch < result.first_epoch:
        if result.last_epoch == 0:
            return (
                f"{result.name}: stopped in epoch 1, no epoch finished, nothing to resume, "
                f"log {result.log_path}"
            )
        return (
            f"{result.name}: stopped in epoch {result.first_epoch}, no new epoch finished, "
            f"the checkpoint of epoch {result.last_epoch} is the latest, log {result.log_path}"
        )

    best = "-" if result.best_top1_err is None else f"{result.best_top1_err:.3f}"
    state = "stopped" if result.interrupted else "done"
    return (
        f"{result.name}: {state}, epochs {result.first_epoch}-{result.last_epoch}, "
        f"best test top-1 error {best}, log {result.log_path}"
    )


def _plot_mnist_features(results, planned, data, out_dir):
    mnist = [item for item in planned if item.config.dataset == "mnist"]
    if not mnist or not any(result.last_epoch >= 1 for result in results):
        return
    from frelu_tools.train.data import load_dataset
    from frelu_tools.train.mnist import write_feature_plot

    dataset = load_dataset("mnist", data)
    configs = list({item.config.name: item.config for item in mnist}.values())
    for seed in sorted({item.seed for item in mnist}):
        path = write_feature_plot(out_dir, configs, seed, dataset)
        if path is not None:
            click.echo(f"wrote {path}")


def _select(names, config_dir):
    from frelu_tools.train.configs import select_configs

    selected, seen = [], set()
    for name in names:
        for config in select_configs(name, config_dir):
            if config.name not in seen:
                seen.add(config.name)
                selected.append(config)
    if not selected:
        raise FreluToolsError("no configuration selected")
    return selected


def _configure_logging():
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    # One "writing model_E.pt" line per epoch would bury the progress lines. The level is
    # restored when the command ends, so later commands in the same process still log.
    port_log = logging.getLogger("frelu_tools.port")
    previous_level = port_log.level
    port_log.setLevel(logging.WARNING)
    click.get_current_context().call_on_close(lambda: port_log.setLevel(previous_level))
