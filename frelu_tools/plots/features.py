"""Scatter of the 2-D MNIST test features, one colour per digit, one panel per network.

The fork's `mnist/mnist.lua` and `mnist/mnist-frelu.lua` train a network whose
second-to-last layer has two outputs and plot each test image at the output of that
`nn.Linear(1152, 2)`, taken before the activation (`frelu_tools.models.features`). Side
by side, the ReLU network's points stay in the positive quadrant after its activation
while FReLU lets the classes spread into negative values.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from frelu_tools.files import atomic_write


def feature_figure(panels: list[tuple[str, np.ndarray, np.ndarray]]) -> Figure:
    """Draw one scatter panel per `(title, features, labels)`.

    Args:
        panels: for each network, a title, the features (N, 2) and the digit labels (N,),
            0-based. Every panel gets one scatter collection per digit 0-9 (empty when
            a digit is absent), so colours mean the same digit in each panel.

    Returns:
        The matplotlib figure, not yet written.
    """
    figure = Figure(figsize=(5.5 * len(panels), 5), dpi=100)
    FigureCanvasAgg(figure)
    colours = [f"C{digit}" for digit in range(10)]
    for index, (title, features, labels) in enumerate(panels, start=1):
        features = np.asarray(features, dtype=np.float64)
        labels = np.asarray(labels)
        if features.ndim != 2 or features.shape[1] != 2 or len(features) != len(labels):
            raise ValueError(
                f"panel {title!r}: expected features (N, 2) and N labels, got "
                f"{features.shape} and {labels.shape}"
            )
        axes = figure.add_subplot(1, len(panels), index)
        for digit in range(10):
            points = features[labels == digit]
            axes.scatter(
                points[:, 0],
                points[:, 1],
                s=10,
                marker="+",
                color=colours[digit],
                label=str(digit),
                linewidths=0.6,
            )
        axes.set_title(title)
        axes.set_xlabel("activation of the 1st neuron")
        axes.set_ylabel("activation of the 2nd neuron")
        axes.grid(True, alpha=0.3)
        axes.legend(markerscale=4, fontsize="small", loc="best", title="digit")
    figure.tight_layout()
    return figure


def plot_features(
    panels: list[tuple[str, np.ndarray, np.ndarray]], path: str | Path, *, force: bool = False
) -> Path:
    """Write `feature_figure(panels)` as a PNG, through a temporary file renamed when complete.

    Raises:
        OutputExistsError: `path` exists and `force` is false.
    """
    path = Path(path)
    figure = feature_figure(panels)
    with atomic_write(path, force=force) as tmp:
        figure.savefig(tmp, format="png")
    return path
