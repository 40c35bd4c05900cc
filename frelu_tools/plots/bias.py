"""FReLU bias trajectories of a Torch7 checkpoint folder: one line per layer, by epoch."""

from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from frelu_tools.errors import FreluToolsError
from frelu_tools.files import atomic_write


def plot_bias_trajectories(report: dict, path: Path | str, *, force: bool = False) -> Path:
    """Draw each FReLU layer's bias against the epoch and write the figure as a PNG.

    Args:
        report: a `frelu_tools.show.checkpoint_report` dict. A channel-wise bias is
            drawn as the mean over its channels, as in the report's epoch table.
        path: the PNG file to write, through a temporary file renamed when complete.
        force: replace an existing file; otherwise raise `OutputExistsError`.

    Returns:
        The path written.

    Raises:
        FreluToolsError: the models in the folder have no FReLU layer.
        OutputExistsError: `path` exists and `force` is false.
    """
    layers = report["frelu_layers"]
    epochs = report["epochs"]
    if not layers or not epochs:
        raise FreluToolsError(f"{report['folder']}: no FReLU biases to plot")

    # Beyond a dozen layers the legend moves right of the axes, one column per 20 layers.
    many = len(layers) > 12
    figure = Figure(figsize=(12 if many else 8, 5), dpi=120)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    x = [record["epoch"] for record in epochs]
    for i, layer in enumerate(layers):
        y = [record["frelu_biases"][i] for record in epochs]
        label = f"{i + 1}: {layer['torch_path']} ({layer['state_dict_key']})"
        if layer["size"] != 1:
            label += f", mean of {layer['size']}"
        axes.plot(x, y, marker="o", markersize=3, linewidth=1.2, label=label)

    folder = Path(report["folder"]).resolve()
    run = folder.parent.name if folder.name == "checkpoints" else folder.name
    axes.set_xlabel("epoch")
    axes.set_ylabel("FReLU bias")
    axes.set_xticks(x)
    axes.set_title(f"FReLU biases by epoch: {run}")
    axes.grid(True, alpha=0.3)
    if many:
        columns = (len(layers) + 19) // 20
        axes.legend(fontsize="xx-small", ncols=columns, loc="upper left", bbox_to_anchor=(1.01, 1))
    else:
        axes.legend(fontsize="x-small", loc="best")
    figure.tight_layout()

    path = Path(path)
    with atomic_write(path, force=force) as tmp:
        figure.savefig(tmp, format="png")
    return path
