import math

import matplotlib.image
import pandas as pd
import pytest
from conftest import REPO, TEST_DATA
from matplotlib.collections import PolyCollection

from frelu_tools.logs import read_logs
from frelu_tools.plots.curves import PlotError, plot_curves, save_figure

SHIPPED = REPO / "data" / "logs"


@pytest.fixture(scope="module")
def shipped():
    return read_logs([SHIPPED])


def bands(axes):
    return [c for c in axes.collections if isinstance(c, PolyCollection)]


def legend_texts(axes):
    return [t.get_text() for t in axes.get_legend().get_texts()]


def test_lines_per_configuration_and_split(shipped):
    axes = plot_curves(shipped).axes[0]
    # Two configurations x (test, train); the seeds collapse into one mean line each.
    assert len(axes.lines) == 4
    assert [line.get_linestyle() for line in axes.lines] == ["-", "--", "-", "--"]
    assert len(bands(axes)) == 4


def test_mean_line_values(shipped):
    axes = plot_curves(shipped, split="test").axes[0]
    expected = shipped[shipped["config"] == "resnet-20"].groupby("epoch")["test_top1_err"].mean()
    x, y = axes.lines[0].get_data()
    assert list(x) == [1, 2, 3, 4]
    assert list(y) == pytest.approx(expected.tolist())


def test_one_colour_per_configuration(shipped):
    axes = plot_curves(shipped).axes[0]
    colours = [line.get_color() for line in axes.lines]
    assert colours[0] == colours[1]
    assert colours[2] == colours[3]
    assert colours[0] != colours[2]


def test_legend_gives_best_test_error(shipped):
    texts = legend_texts(plot_curves(shipped).axes[0])
    assert texts == [
        "resnet-20 (3 seeds), best test 10.55 ± 7.80",
        "resnet-possrelu-20 (3 seeds), best test 77.60 ± 1.26",
        "test",
        "train",
    ]


def test_split_test_only(shipped):
    axes = plot_curves(shipped, split="test").axes[0]
    assert len(axes.lines) == 2
    assert legend_texts(axes)[-1].startswith("resnet-possrelu-20")


def test_single_run_has_no_band():
    frame = read_logs([TEST_DATA / "logs" / "d_cifar10_resnet-8_seed0"])
    axes = plot_curves(frame).axes[0]
    assert len(axes.lines) == 2
    assert bands(axes) == []
    assert legend_texts(axes)[0] == "resnet-8, best test 27.34"


def test_one_epoch_run_gets_a_marker(shipped):
    # Without a marker, a line of one point draws nothing.
    first = shipped[(shipped["config"] == "resnet-possrelu-20") & (shipped["epoch"] == 1)]
    first = first[first["source"] == first["source"].iloc[0]]
    frame = pd.concat([shipped.assign(set="a"), first.assign(set="b")], ignore_index=True)
    axes = plot_curves(frame, split="test", set_column="set").axes[0]
    assert len(axes.lines) == 3
    single = axes.lines[2]
    assert single.get_marker() == "o"
    assert single.get_markevery() == [0]
    assert list(single.get_xdata()) == [1]
    # Lines of several points stay plain.
    assert [line.get_marker() for line in axes.lines[:2]] == ["None", "None"]


def test_point_between_gaps_gets_a_marker(shipped):
    frame = shipped[shipped["config"] == "resnet-20"].copy()
    frame.loc[frame["epoch"].isin([2, 4]), "test_top1_err"] = math.nan
    line = plot_curves(frame, split="test").axes[0].lines[0]
    # Epochs 1 and 3 have no finite neighbour left.
    assert line.get_markevery() == [0, 2]


def test_one_epoch_axis_has_whole_epochs(shipped):
    frame = shipped[shipped["epoch"] == 1]
    axes = plot_curves(frame).axes[0]
    assert axes.get_xlim() == (0, 2)
    assert all(tick == int(tick) for tick in axes.get_xticks())


@pytest.mark.parametrize("limits", [{"xlim": (5, 1)}, {"ylim": (3, 3)}])
def test_reversed_limits_rejected(shipped, limits):
    with pytest.raises(PlotError, match="lower bound must be below the upper bound"):
        plot_curves(shipped, **limits)


def test_band_range_spans_seeds(shipped):
    axes = plot_curves(shipped, split="test", band="range").axes[0]
    seeds = shipped[shipped["config"] == "resnet-20"].groupby("epoch")["test_top1_err"]
    vertices = bands(axes)[0].get_paths()[0].vertices
    assert vertices[:, 1].max() == pytest.approx(seeds.max().max())
    assert vertices[:, 1].min() == pytest.approx(seeds.min().min())


def test_loss_metric_train_only(shipped):
    axes = plot_curves(shipped, metric="loss").axes[0]
    assert len(axes.lines) == 2
    assert axes.get_ylabel() == "training loss (cross-entropy)"
    assert "min train loss" in legend_texts(axes)[0]


def test_loss_metric_test_split_rejected(shipped):
    with pytest.raises(PlotError, match="no test loss"):
        plot_curves(shipped, metric="loss", split="test")


def test_axis_options(shipped):
    axes = plot_curves(shipped, xlim=(2, 4), ylim=(1, 100), log_y=True).axes[0]
    assert axes.get_xlim() == (2, 4)
    assert axes.get_ylim() == pytest.approx((1, 100))
    assert axes.get_yscale() == "log"


def test_compare_sets_by_line_style(shipped):
    reproduced = shipped.assign(set="reproduced")
    reproduced["test_top1_err"] -= 5
    frame = pd.concat([shipped.assign(set="original"), reproduced], ignore_index=True)
    axes = plot_curves(frame, set_column="set").axes[0]
    # 2 configurations x 2 sets x (test, train).
    assert len(axes.lines) == 8
    styles = [(line.get_linestyle(), line.get_linewidth()) for line in axes.lines]
    assert styles[:4] == [("-", 2.2), ("-", 1.2), ("--", 2.2), ("--", 1.2)]
    assert colours_match(axes.lines[0], axes.lines[2])
    texts = legend_texts(axes)
    assert texts[0] == "original: resnet-20 (3 seeds), best test 10.55 ± 7.80"
    assert texts[1] == "reproduced: resnet-20 (3 seeds), best test 5.55 ± 7.80"
    assert texts[-4:] == ["original", "reproduced", "test (thick)", "train (thin)"]
    # Bands only around test lines.
    assert len(bands(axes)) == 4


def colours_match(first, second):
    return first.get_color() == second.get_color()


def test_nan_epochs_skipped(shipped):
    frame = shipped.copy()
    frame.loc[(frame["config"] == "resnet-20") & (frame["epoch"] == 2), "test_top1_err"] = math.nan
    axes = plot_curves(frame, split="test").axes[0]
    _, y = axes.lines[0].get_data()
    assert math.isnan(y[1])
    assert not math.isnan(y[2])


def test_many_configurations_legend_outside():
    frame = read_logs([TEST_DATA / "logs"])
    figure = plot_curves(frame)
    axes = figure.axes[0]
    assert len(axes.lines) == 14
    assert axes.get_legend().get_bbox_to_anchor() is not None
    assert figure.get_figwidth() == 12


def test_empty_frame_rejected(shipped):
    with pytest.raises(PlotError, match="no epochs"):
        plot_curves(shipped.iloc[0:0])


@pytest.mark.parametrize("suffix", [".png", ".pdf", ".svg"])
def test_save_figure_formats(shipped, tmp_path, suffix):
    path = save_figure(plot_curves(shipped), tmp_path / f"curves{suffix}")
    assert path.stat().st_size > 1000
    assert [p.name for p in tmp_path.iterdir()] == [f"curves{suffix}"]


def test_saved_png_is_image(shipped, tmp_path):
    path = save_figure(plot_curves(shipped), tmp_path / "curves.png")
    pixels = matplotlib.image.imread(path)
    assert pixels.shape == (500, 800, 4)


def test_save_figure_keeps_existing(shipped, tmp_path):
    from frelu_tools.port.formats import OutputExistsError

    path = tmp_path / "curves.png"
    path.write_bytes(b"keep")
    with pytest.raises(OutputExistsError):
        save_figure(plot_curves(shipped), path)
    assert path.read_bytes() == b"keep"
    save_figure(plot_curves(shipped), path, force=True)
    assert path.read_bytes()[:4] == b"\x89PNG"


def test_save_figure_bad_suffix(shipped, tmp_path):
    with pytest.raises(PlotError, match="unsupported figure format"):
        save_figure(plot_curves(shipped), tmp_path / "curves.bmp")
