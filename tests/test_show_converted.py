"""`show` on `.pt` and `.safetensors` files written by the converter."""

import json

import pytest
import torch
from click.testing import CliRunner
from conftest import REPO

from frelu_tools.cli import cli
from frelu_tools.port import convert, describe
from frelu_tools.port.checkpoint import new_checkpoint, save_checkpoint
from frelu_tools.port.formats import save_pt, save_safetensors
from frelu_tools.show import format_report, show_report
from frelu_tools.show.converted import ConvertedFileError
from frelu_tools.t7 import load

EXAMPLE = REPO / "data" / "resnet-possrelu-20-cifar10.t7"


@pytest.fixture(scope="module")
def example():
    torch7_model = load(EXAMPLE)
    return torch7_model, describe(torch7_model), convert(torch7_model)


@pytest.mark.parametrize("save", [save_pt, save_safetensors], ids=["pt", "safetensors"])
def test_converted_model_matches_torch7_report(example, tmp_path, save):
    torch7_model, spec, module = example
    path = save(tmp_path / "model.out", module, spec, {"name": "m.t7", "sha256": "0" * 64})
    converted = show_report(path)
    original = show_report(EXAMPLE)

    assert converted["tree"] == original["tree"]
    assert converted["total_parameters"] == original["total_parameters"] == 269741
    assert converted["activation_parameters"] == original["activation_parameters"]
    assert converted["converted"]["source"]["name"] == "m.t7"


def test_converted_text_has_origin_line(example, tmp_path):
    _, spec, module = example
    path = save_pt(tmp_path / "model.pt", module, spec, None)
    text = format_report(show_report(path))
    expected_head = f"{path}: frelu-tools-model written by frelu-tools "

    assert text.startswith(expected_head)
    assert text.split("\n", 2)[1] == ""
    assert text.split("\n", 2)[2] == format_report(show_report(EXAMPLE))


def test_training_checkpoint(example, tmp_path):
    _, spec, module = example
    checkpoint = new_checkpoint(
        architecture=spec,
        state_dict=module.state_dict(),
        epoch=3,
        learning_rate=0.01,
        best_top1_err=12.5,
        best_top5_err=1.25,
        best_epoch=2,
        hyperparameters={"LR": 0.1, "momentum": 0.9, "nesterov": True},
    )
    path = save_checkpoint(tmp_path / "ckpt.pt", checkpoint)
    report = show_report(path)
    lines = format_report(report).split("\n")

    assert report["converted"]["training"]["epoch"] == 3
    assert lines[1] == (
        "training checkpoint: epoch 3, learning rate 0.01, best top-1 error 12.5% at "
        "epoch 2, best top-5 error 1.25%"
    )
    assert lines[2] == "hyperparameters: LR 0.1, momentum 0.9, nesterov true"
    assert len(report["activation_parameters"]) == 19


def test_converted_json_round_trip(example, tmp_path):
    _, spec, module = example
    path = save_safetensors(tmp_path / "model.safetensors", module, spec, None)
    result = CliRunner().invoke(cli, ["show", str(path), "--json"])
    report = json.loads(result.stdout)

    assert result.exit_code == 0
    assert report["converted"]["format"] == "frelu-tools-model"
    assert report["activation_parameters"][1]["state_dict_key"] == "3.0.0.0.2.1.bias"


def test_foreign_pt_file_rejected(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, path)
    with pytest.raises(ConvertedFileError, match="not written by frelu-tools"):
        show_report(path)


def test_exported_program_rejected(tmp_path):
    path = tmp_path / "model.pt2"
    path.write_bytes(b"PK\x03\x04")
    result = CliRunner().invoke(cli, ["show", str(path)])

    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {path}: an exported program keeps no architecture spec; show the Torch7 "
        ".t7 file it was converted from, or convert that again with --format pt and "
        "show the .pt file\n"
    )


def test_safetensors_without_spec_rejected(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "plain.safetensors"
    save_file({"weight": torch.zeros(2)}, str(path))
    with pytest.raises(ConvertedFileError, match="without frelu-tools architecture metadata"):
        show_report(path)
