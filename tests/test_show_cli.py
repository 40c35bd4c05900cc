"""`frelu-tools show` through click: output text, JSON, plots, errors and exit codes."""

import json
import os

import pytest
from click.testing import CliRunner
from conftest import REFERENCE_DIR, REPO, TEST_DATA

from frelu_tools.cli import cli

EXAMPLE = REPO / "data" / "resnet-possrelu-20-cifar10.t7"
CORRUPT = TEST_DATA / "show" / "corrupt"
CHECKPOINT = TEST_DATA / "show" / "checkpoint"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _show(*args):
    return CliRunner().invoke(cli, ["show", *map(str, args)])


def test_model_text_starts_with_torch_print():
    result = _show(EXAMPLE)
    expected_tree = (TEST_DATA / "show" / "resnet-possrelu-20-cifar10.print.txt").read_text()

    assert result.exit_code == 0
    assert result.stdout.startswith(expected_tree + "\nFReLU biases (nn.MyAdd): 19\n")
    assert "  (3).(2)                  2.1.bias             1           1  no" in result.stdout
    assert "  total                             155      269741\n" in result.stdout
    assert result.stderr == ""


def test_model_json_round_trip():
    result = _show(EXAMPLE, "--json")
    report = json.loads(result.stdout)
    expected_tree = (TEST_DATA / "show" / "resnet-possrelu-20-cifar10.print.txt").read_text()
    frelu = report["activation_parameters"]

    assert result.exit_code == 0
    assert report["kind"] == "model"
    assert report["tree"] + "\n" == expected_tree
    assert report["total_parameters"] == 269741
    assert len(frelu) == 19
    assert frelu[1]["state_dict_key"] == "3.0.0.0.2.1.bias"
    assert frelu[1]["grad_scale"] == 0.1
    assert frelu[1]["constrained"] is True
    assert f"{frelu[0]['values'][0]:.4f}" == "-0.8630"


def test_object_json_round_trip():
    result = _show(TEST_DATA / "show" / "formats" / "mixed_table.t7", "--json")
    report = json.loads(result.stdout)

    assert result.exit_code == 0
    assert report["kind"] == "object"
    assert report["summary"]["fields"]["self"]["same_as"] == "root"


def test_checkpoint_json_round_trip():
    result = _show(CHECKPOINT, "--json")
    report = json.loads(result.stdout)

    assert result.exit_code == 0
    assert report["kind"] == "checkpoint_folder"
    assert report["optimizer"]["nesterov"] is True
    assert len(report["epochs"][0]["frelu_biases"]) == 7


def test_missing_file():
    result = _show("no-such-model.t7")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == "error: no-such-model.t7: No such file or directory\n"


@pytest.mark.parametrize(
    "name, reason",
    [
        ("text.t7", "at byte 0: not a Torch7 file"),
        ("empty.t7", "at byte 0: empty file, not a Torch7 file"),
        ("truncated_header.t7", "at byte 4: file ends inside a number"),
        ("unknown_type.t7", "at byte 0: unknown type tag 99"),
    ],
)
def test_unreadable_file_is_one_line(name, reason):
    result = _show(CORRUPT / name)

    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"error: {CORRUPT / name} {reason}")
    assert result.stderr.count("\n") == 1


def test_folder_without_checkpoints(tmp_path):
    result = _show(tmp_path)
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {tmp_path}: not a Torch7 checkpoint folder (no latest.t7 and no model_E.t7)\n"
    )


def test_plot_needs_a_folder(tmp_path):
    result = _show(EXAMPLE, "--plot", tmp_path / "bias.png")
    assert result.exit_code == 2
    assert result.stderr == f"error: {EXAMPLE}: --plot needs a checkpoint folder, not a file\n"
    assert not (tmp_path / "bias.png").exists()


def test_plot_writes_png_and_rejects_overwrite(tmp_path):
    plot = tmp_path / "bias.png"

    first = _show(CHECKPOINT, "--plot", plot)
    assert first.exit_code == 0
    assert first.stdout.endswith(f"\nwrote {plot}\n")
    assert plot.read_bytes()[:8] == PNG_SIGNATURE
    assert os.listdir(tmp_path) == ["bias.png"]

    plot.write_bytes(b"keep me")
    second = _show(CHECKPOINT, "--plot", plot)
    assert second.exit_code == 2
    assert second.stderr == f"error: {plot}: already exists; pass --force to overwrite it\n"
    assert plot.read_bytes() == b"keep me"

    forced = _show(CHECKPOINT, "--plot", plot, "--force")
    assert forced.exit_code == 0
    assert plot.read_bytes()[:8] == PNG_SIGNATURE
    assert os.listdir(tmp_path) == ["bias.png"]


def test_plot_without_frelu_layers(reference_dir, tmp_path):
    folder = reference_dir / "runs" / "d_cifar10_resnet-8_seed0" / "checkpoints"
    result = _show(folder, "--plot", tmp_path / "bias.png")
    assert result.exit_code == 2
    assert result.stderr == f"error: {folder}: no FReLU biases to plot\n"


def _reference(pattern: str) -> list:
    if REFERENCE_DIR is None:
        return []
    return sorted(REFERENCE_DIR.glob(pattern))


def _relative(paths) -> list[str]:
    return [str(p.relative_to(REFERENCE_DIR)) for p in paths]


REFERENCE_MODELS = _reference("models/*.t7") + _reference("variants/*.t7")
REFERENCE_FOLDERS = _reference("runs/*/checkpoints")
REFERENCE_OTHER = _reference("formats/*.t7") + _reference("trainstep/*/*.t7")
REFERENCE_CORRUPT = _reference("corrupt/*.t7")


@pytest.mark.skipif(REFERENCE_DIR is None, reason="Torch7 reference files not found")
@pytest.mark.parametrize(
    "path",
    REFERENCE_MODELS + REFERENCE_FOLDERS + REFERENCE_OTHER,
    ids=_relative(REFERENCE_MODELS + REFERENCE_FOLDERS + REFERENCE_OTHER),
)
def test_every_reference_file_shows(path):
    text = _show(path)
    assert text.exit_code == 0, text.stderr
    json_result = _show(path, "--json")
    assert json_result.exit_code == 0, json_result.stderr
    assert json.loads(json_result.stdout)["kind"] in ("model", "checkpoint_folder", "object")


@pytest.mark.skipif(REFERENCE_DIR is None, reason="Torch7 reference files not found")
@pytest.mark.parametrize("path", REFERENCE_CORRUPT, ids=_relative(REFERENCE_CORRUPT))
def test_corrupt_file_fails_cleanly(path):
    result = _show(path)
    # deep_nesting_100k.t7 is valid: the reader may load it or reject it cleanly.
    assert result.exit_code in (0, 2), result.exception
    if result.exit_code == 2:
        assert result.stderr.startswith(f"error: {path}")
        assert result.stderr.count("\n") == 1
