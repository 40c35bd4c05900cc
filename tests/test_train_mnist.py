"""The MNIST feature experiment on tiny synthetic MNIST-shaped data."""

import matplotlib.image
import numpy as np
import pytest
from matplotlib.collections import PathCollection

from frelu_tools.plots.features import feature_figure
from frelu_tools.train.configs import select_configs
from frelu_tools.train.data import synthetic_dataset
from frelu_tools.train.mnist import write_feature_plot
from frelu_tools.train.run import RunOptions, train_run


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("mnist")
    data = synthetic_dataset("mnist", train_size=40, test_size=30)
    configs = select_configs("mnist")
    results = [train_run(config, 0, data, out, RunOptions(epochs=1)) for config in configs]
    return out, configs, data, results


def test_mnist_runs_use_their_schedule(trained):
    _, _, _, results = trained
    for result in results:
        text = result.log_path.read_text()
        assert "=> Training epoch # 1 with LR = 0.01000" in text
        assert result.log_path.parent.name == "mnist"


def test_feature_plot_file_is_png(trained):
    out, configs, data, _ = trained
    path = write_feature_plot(out, configs, 0, data)
    assert path == out / "mnist-features-seed0.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = matplotlib.image.imread(path)
    assert image.shape[0] > 100
    assert image.shape[1] > 2 * image.shape[0] * 0.9  # two panels side by side


def test_feature_figure_panels_and_digits():
    rng = np.random.default_rng(0)
    labels = np.arange(50) % 10
    panels = [
        ("ReLU", rng.normal(size=(50, 2)), labels),
        ("FReLU", rng.normal(size=(50, 2)), labels),
    ]
    figure = feature_figure(panels)
    assert len(figure.axes) == 2
    for axes, (title, points, _) in zip(figure.axes, panels, strict=True):
        assert axes.get_title() == title
        collections = [c for c in axes.collections if isinstance(c, PathCollection)]
        assert len(collections) == 10
        assert sum(len(c.get_offsets()) for c in collections) == len(points)
        assert [t.get_text() for t in axes.get_legend().get_texts()] == [str(d) for d in range(10)]


def test_feature_figure_keeps_empty_digits():
    figure = feature_figure([("ReLU", np.zeros((3, 2)), np.array([0, 0, 1]))])
    collections = figure.axes[0].collections
    assert len(collections) == 10
    assert len(collections[9].get_offsets()) == 0


def test_feature_figure_rejects_bad_shape():
    with pytest.raises(ValueError, match="expected features"):
        feature_figure([("ReLU", np.zeros((3, 3)), np.zeros(3))])
