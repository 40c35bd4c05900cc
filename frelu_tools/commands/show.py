"""`frelu-tools show`: the contents of a `.t7` file or a Torch7 checkpoint folder."""

import json
from pathlib import Path

import click

from frelu_tools.errors import FreluToolsError
from frelu_tools.show import format_report, json_ready, show_report


@click.command("show")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON document.")
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="For a checkpoint folder: draw the FReLU bias of every layer per epoch to this PNG file.",
)
@click.option("--force", is_flag=True, help="Overwrite the --plot file if it exists.")
def show_command(path: Path, as_json: bool, plot_path: Path | None, force: bool):
    """Show what a Torch7 model, checkpoint folder or other .t7 file contains.

    For a model: the module tree exactly as Torch7's print(model) writes it, every
    FReLU bias (nn.MyAdd), SReLU threshold and PReLU slope with its Torch7 path and
    PyTorch state_dict key, and the parameter count by module class. For a checkpoint
    folder (latest.t7, model_E.t7, optimState_E.t7): the epoch, the optimizer state and
    the FReLU biases of every epoch. A .pt or .safetensors model written by frelu-tools
    convert: the same report as for its Torch7 source. Any other .t7 file: a summary of
    its object graph.
    """
    report = show_report(path)

    if plot_path is not None:
        if report["kind"] != "checkpoint_folder":
            raise FreluToolsError(f"{path}: --plot needs a checkpoint folder, not a file")
        from frelu_tools.plots.bias import plot_bias_trajectories

        plot_bias_trajectories(report, plot_path, force=force)

    if as_json:
        click.echo(json.dumps(json_ready(report), indent=2, allow_nan=False))
    else:
        click.echo(format_report(report))
        if plot_path is not None:
            click.echo(f"\nwrote {plot_path}")
