"""Checkpoint folder reports against the reference training runs."""

import pytest
from conftest import TEST_DATA

from frelu_tools.show.checkpoint import (
    CheckpointFolderError,
    checkpoint_report,
    format_checkpoint_report,
)
from frelu_tools.show.params import activation_parameters
from frelu_tools.t7 import load

# run -> (last epoch, epoch of model_best.t7, FReLU layers). The best epochs are those
# with the lowest test top-1 error in each run's log.
RUNS = {
    "a_cifar10_resnet-possrelu-8_seed0": (5, 4, 7),
    "c_cifar10_elu-resnet-possrelu-8_seed0": (5, 5, 5),
    "d_cifar10_resnet-8_seed0": (3, 3, 0),
}


def _folder(reference_dir, run):
    return reference_dir / "runs" / run / "checkpoints"


@pytest.mark.parametrize("run", sorted(RUNS))
def test_latest_best_and_layers(reference_dir, run):
    last_epoch, best_epoch, layers = RUNS[run]
    report = checkpoint_report(_folder(reference_dir, run))

    assert report["latest"]["epoch"] == last_epoch
    assert report["missing_files"] == []
    assert report["errors_stored"] is None
    assert report["best"]["same_parameters_as"] == [f"model_{best_epoch}.t7"]
    assert len(report["frelu_layers"]) == layers
    assert [r["epoch"] for r in report["epochs"]] == list(range(1, last_epoch + 1))


@pytest.mark.parametrize("run", sorted(RUNS))
def test_optimizer_state(reference_dir, run):
    last_epoch = RUNS[run][0]
    report = checkpoint_report(_folder(reference_dir, run))
    optimizer = report["optimizer"]

    assert optimizer["file"] == f"optimState_{last_epoch}.t7"
    assert optimizer["learning_rate"] == 0.1
    assert optimizer["momentum"] == 0.9
    assert optimizer["nesterov"] is True
    assert optimizer["dampening"] == 0
    assert optimizer["weight_decay"] == 0.0001
    # 1,024 training images in batches of 128: 8 iterations per epoch.
    assert optimizer["iterations"] == 8 * last_epoch
    # dfdx is the momentum buffer of the flattened parameters.
    assert optimizer["momentum_buffer"]["tensor"] == [report["model"]["total_parameters"]]
    assert [r["iterations"] for r in report["epochs"]] == [8 * (e + 1) for e in range(last_epoch)]


def test_bias_table_equals_each_model(reference_dir):
    folder = _folder(reference_dir, "a_cifar10_resnet-possrelu-8_seed0")
    report = checkpoint_report(folder)

    for record in report["epochs"]:
        model = load(folder / record["model_file"])
        expected = [p.values[0] for p in activation_parameters(model)]
        assert record["frelu_biases"] == expected


def test_text_report(reference_dir):
    folder = _folder(reference_dir, "a_cifar10_resnet-possrelu-8_seed0")
    text = format_checkpoint_report(checkpoint_report(folder))

    assert "latest.t7: epoch 5, model model_5.t7, optimizer state optimState_5.t7\n" in text
    assert "model_best.t7: same parameters as model_4.t7\n" in text
    assert "  iterations (evalCounter)                 40\n" in text
    assert "  2  (4).(1).(1).(1).(3).(2)  3.0.0.0.2.1.bias     1\n" in text
    assert "      1  0.1           8  -0.9739  -1.0003" in text


def test_partial_folder_names_missing_files():
    report = checkpoint_report(TEST_DATA / "show" / "checkpoint")

    assert report["missing_files"] == ["model_5.t7", "optimState_5.t7"]
    assert report["optimizer"]["file"] == "optimState_1.t7"
    assert report["optimizer"]["iterations"] == 8
    assert report["best"] is None
    assert [r["epoch"] for r in report["epochs"]] == [1]
    assert len(report["epochs"][0]["frelu_biases"]) == 7


def test_folder_without_checkpoints(tmp_path):
    (tmp_path / "notes.txt").write_text("not a checkpoint")
    with pytest.raises(CheckpointFolderError, match="not a Torch7 checkpoint folder"):
        checkpoint_report(tmp_path)
