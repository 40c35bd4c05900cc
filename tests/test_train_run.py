"""Whole runs on tiny synthetic data: logs, checkpoints and exact resumption."""

import dataclasses
import json

import numpy as np
import pytest
import torch

from frelu_tools.train import checkpoints
from frelu_tools.train.configs import select_configs
from frelu_tools.train.data import synthetic_dataset
from frelu_tools.train.logfile import read_metrics
from frelu_tools.train.optim import make_sgd
from frelu_tools.train.run import (
    DeviceError,
    ResumeError,
    RunOptions,
    build_model,
    check_device,
    train_run,
)


def _tiny_config(**changes):
    config = select_configs("resnet-possrelu-20-cifar10")[0]
    values = {
        "name": "resnet-possrelu-8-cifar10",
        "depth": 8,
        "log_name": "resnet-possrelu-8",
        "batch_size": 16,
    }
    values.update(changes)
    return dataclasses.replace(config, **values)


@pytest.fixture(scope="module")
def tiny_data():
    return synthetic_dataset("cifar10", train_size=40, test_size=16)


def _state(path):
    return checkpoints.load_resume_checkpoint(path)


def test_run_writes_logs_and_checkpoints(tmp_path, tiny_data):
    config = _tiny_config()
    result = train_run(config, 0, tiny_data, tmp_path, RunOptions(epochs=2))

    assert result.log_path == tmp_path / "log" / "cifar10" / "resnet-possrelu-8-seed0.log"
    assert result.last_epoch == 2
    lines = result.log_path.read_text().splitlines()
    assert "=> Training epoch # 1 with LR = 0.10000" in lines
    epoch_lines = [line for line in lines if line.startswith(" * Epoch # ")]
    assert len(epoch_lines) == 2
    assert epoch_lines[0].startswith(" * Epoch # 1     train-top1: ")
    assert lines[-1].startswith(" * Finished top1: ")
    assert any(line.startswith(" ! Best model \t") for line in lines)

    records = read_metrics(result.metrics_path)
    assert [r["epoch"] for r in records] == [1, 2]
    for key in (
        "lr",
        "train_top1_err",
        "train_top5_err",
        "train_loss",
        "test_top1_err",
        "test_top5_err",
    ):
        assert isinstance(records[0][key], float), key

    folder = result.checkpoint_dir
    assert {p.name for p in folder.iterdir()} == {
        "model_1.pt",
        "model_2.pt",
        "latest.pt",
        "model_best.pt",
    }
    latest = _state(folder)
    assert latest["epoch"] == 2
    assert latest["net_type"] == "resnet-possrelu"
    assert latest["depth"] == 8
    assert latest["hyperparameters"]["manualSeed"] == 0
    assert latest["optimizer"]["state"]


def test_log_reads_with_read_log(tmp_path, tiny_data):
    from frelu_tools.logs import read_log

    result = train_run(_tiny_config(), 1, tiny_data, tmp_path, RunOptions(epochs=2))
    records = read_metrics(result.metrics_path)
    for prefer_metrics in (True, False):
        frame = read_log(result.log_path, prefer_metrics=prefer_metrics)
        assert frame["epoch"].tolist() == [1, 2]
        assert frame["dataset"].iloc[0] == "cifar10"
        assert frame["net_type"].iloc[0] == "resnet-possrelu"
        assert frame["seed"].iloc[0] == 1
        expected = [r["test_top1_err"] for r in records]
        assert np.allclose(frame["test_top1_err"], expected, atol=1e-3)
        assert np.allclose(frame["lr"], [0.1, 0.1])


def test_resume_equals_uninterrupted_run(tmp_path, tiny_data):
    config = _tiny_config()
    whole = train_run(config, 3, tiny_data, tmp_path / "whole", RunOptions(epochs=2))
    first = train_run(config, 3, tiny_data, tmp_path / "split", RunOptions(epochs=1))
    resumed = train_run(
        config,
        3,
        tiny_data,
        tmp_path / "split",
        RunOptions(epochs=2),
        resume=first.checkpoint_dir,
    )
    assert resumed.first_epoch == 2

    expected, got = _state(whole.checkpoint_dir), _state(resumed.checkpoint_dir)
    assert got["epoch"] == 2
    for key, value in expected["state_dict"].items():
        assert torch.equal(got["state_dict"][key], value), key
    for index, entry in expected["optimizer"]["state"].items():
        assert torch.equal(
            got["optimizer"]["state"][index]["momentum_buffer"], entry["momentum_buffer"]
        ), index
    assert read_metrics(resumed.metrics_path) == read_metrics(whole.metrics_path)
    assert "=> Resuming from" in resumed.log_path.read_text()


def test_resume_drops_metrics_past_checkpoint(tmp_path, tiny_data):
    config = _tiny_config()
    result = train_run(config, 0, tiny_data, tmp_path, RunOptions(epochs=2))
    with open(result.metrics_path, "a") as handle:  # an epoch whose checkpoint is missing
        handle.write(json.dumps({"epoch": 3, "lr": 0.1}) + "\n")
    train_run(
        config,
        0,
        tiny_data,
        tmp_path,
        RunOptions(epochs=3),
        resume=result.checkpoint_dir / "model_2.pt",
    )
    assert [r["epoch"] for r in read_metrics(result.metrics_path)] == [1, 2, 3]


def test_resume_rejects_other_network(tmp_path, tiny_data):
    config = _tiny_config()
    result = train_run(config, 0, tiny_data, tmp_path, RunOptions(epochs=1))
    other = dataclasses.replace(config, depth=14)
    with pytest.raises(ResumeError, match="depth 8"):
        train_run(
            other, 0, tiny_data, tmp_path / "b", RunOptions(epochs=2), resume=result.checkpoint_dir
        )


def _anonymous_checkpoint(path, net_type, depth):
    """Save a fresh network as `convert` saves one without a log: no net type or depth."""
    from frelu_tools import models
    from frelu_tools.port.checkpoint import new_checkpoint, save_checkpoint

    model = models.build(net_type, "cifar10", depth)
    optimizer = make_sgd(model, _tiny_config().sgd)
    checkpoint = new_checkpoint(
        architecture=models.spec(net_type, "cifar10", depth),
        state_dict=model.state_dict(),
        optimizer=optimizer.state_dict(),
        param_names=[name for name, _ in model.named_parameters()],
        epoch=5,
        learning_rate=0.1,
    )
    return save_checkpoint(path, checkpoint)


def test_resume_rejects_weights_of_other_depth(tmp_path, tiny_data):
    checkpoint = _anonymous_checkpoint(tmp_path / "nolog.pt", "resnet-possrelu", 8)
    config = _tiny_config(depth=20, name="resnet-possrelu-20-cifar10")
    with pytest.raises(ResumeError) as error:
        train_run(config, 0, tiny_data, tmp_path / "out", RunOptions(epochs=6), resume=checkpoint)
    message = str(error.value)
    assert "do not fit the resnet-possrelu depth 20 network" in message
    assert "resnet-possrelu-20-cifar10" in message
    assert "the checkpoint has 58 tensors of 75,791 values" in message
    assert "first difference: the checkpoint has " in message
    assert not (tmp_path / "out").exists()

    # The same file resumes the network it holds.
    run = train_run(
        _tiny_config(), 0, tiny_data, tmp_path / "out", RunOptions(epochs=6), resume=checkpoint
    )
    assert (run.first_epoch, run.last_epoch) == (6, 6)


def test_resume_rejects_other_activation(tmp_path, tiny_data):
    # ResNet-8 with ELU has the weights of ResNet-8 with ReLU, key for key.
    checkpoint = _anonymous_checkpoint(tmp_path / "elu.pt", "resnet-elu", 8)
    config = _tiny_config(net_type="resnet", name="resnet-8-cifar10", log_name="resnet-8")
    with pytest.raises(
        ResumeError, match="module 2 is ELU in the checkpoint, ReLU in the configuration"
    ):
        train_run(config, 0, tiny_data, tmp_path / "out", RunOptions(epochs=6), resume=checkpoint)


@pytest.mark.parametrize("name", ["cpux", "cuda:", "cuda:x", "gpu", "CPU", " cpu", "cpu:0"])
def test_check_device_rejects_other_forms(name):
    with pytest.raises(DeviceError, match="use cpu, cuda, cuda:N"):
        check_device(name)


def test_check_device_without_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert check_device("auto") == "cpu"
    assert check_device("cpu") == "cpu"
    for name in ("cuda", "cuda:0"):
        with pytest.raises(DeviceError, match="torch finds no CUDA GPU; use --device cpu"):
            check_device(name)


def test_check_device_counts_gpus(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert check_device("auto") == "cuda"
    assert check_device("cuda:1") == "cuda:1"
    with pytest.raises(DeviceError, match="finds 2 GPU"):
        check_device("cuda:2")


def test_run_rejects_invalid_device(tmp_path, tiny_data):
    with pytest.raises(DeviceError, match="invalid device 'cpux'"):
        train_run(_tiny_config(), 0, tiny_data, tmp_path, RunOptions(device="cpux", epochs=1))
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    "run, net_type",
    [
        ("a_cifar10_resnet-possrelu-8_seed0", "resnet-possrelu"),
        ("c_cifar10_elu-resnet-possrelu-8_seed0", "elu-resnet-possrelu"),
    ],
)
def test_resume_torch7_checkpoint_folder(reference_dir, tmp_path, tiny_data, run, net_type):
    from frelu_tools import t7
    from frelu_tools.port import named_sources
    from frelu_tools.port.checkpoint import split_flat_buffer

    folder = reference_dir / "runs" / run / "checkpoints"
    latest = t7.load(folder / "latest.t7")
    config = _tiny_config(net_type=net_type, log_name=f"{net_type}-8")

    # The converted checkpoint restores the Torch7 momentum buffers, split per parameter.
    checkpoint = checkpoints.load_resume_checkpoint(folder)
    assert checkpoint["epoch"] == latest["epoch"]
    model, _ = build_model(config, checkpoint["architecture"])
    optimizer = make_sgd(model, config.sgd)
    checkpoints.restore(model, optimizer, checkpoint)
    model_obj = t7.load(folder / latest["modelFile"])
    dfdx = np.asarray(t7.load(folder / latest["optimFile"])["dfdx"]).ravel()
    expected = split_flat_buffer(model, named_sources(model_obj), dfdx)
    for name, parameter in model.named_parameters():
        assert torch.equal(optimizer.state[parameter]["momentum_buffer"], expected[name]), name

    next_epoch = latest["epoch"] + 1
    result = train_run(config, 0, tiny_data, tmp_path, RunOptions(epochs=next_epoch), resume=folder)
    assert result.first_epoch == next_epoch
    assert result.last_epoch == next_epoch
    text = result.log_path.read_text()
    assert f"=> Training epoch # {next_epoch} with LR = 0.10000" in text
    assert "=> Training epoch # 1 " not in text
    assert [r["epoch"] for r in read_metrics(result.metrics_path)] == [next_epoch]
    assert _state(result.checkpoint_dir)["epoch"] == next_epoch


def test_stop_request_leaves_last_epoch(tmp_path, tiny_data):
    config = _tiny_config()
    calls = {"n": 0}

    def stop_in_second_epoch():
        calls["n"] += 1
        return calls["n"] > 4  # 3 train + 1 test iterations per epoch

    result = train_run(
        config, 0, tiny_data, tmp_path, RunOptions(epochs=5), should_stop=stop_in_second_epoch
    )
    assert result.interrupted
    assert result.last_epoch == 1
    lines = result.log_path.read_text().splitlines()
    assert lines[-1].startswith(" ! Stopped in epoch 2 at iteration 1; the checkpoint of epoch 1")
    assert _state(result.checkpoint_dir)["epoch"] == 1
    assert [r["epoch"] for r in read_metrics(result.metrics_path)] == [1]


def test_cpu_rejects_gpu_options(tmp_path, tiny_data):
    from frelu_tools.errors import FreluToolsError

    with pytest.raises(FreluToolsError, match="GPU options"):
        train_run(_tiny_config(), 0, tiny_data, tmp_path, RunOptions(epochs=1, compile=True))


def test_bf16_autocast_runs_on_cpu(tmp_path, tiny_data):
    result = train_run(_tiny_config(), 0, tiny_data, tmp_path, RunOptions(epochs=1, bf16=True))
    assert result.last_epoch == 1
    assert "bfloat16 autocast" in result.log_path.read_text().splitlines()[0]
    state = _state(result.checkpoint_dir)["state_dict"]
    assert all(v.dtype != torch.bfloat16 for v in state.values())


def test_progress_bar_line():
    import io

    from frelu_tools.train.loop import Progress, StepResult
    from frelu_tools.train.progress import ProgressBar, ProgressLog, progress_for

    stream = io.StringIO()
    bar = ProgressBar("run-seed0", stream, interval=0.0)
    step = StepResult(torch.tensor(2.5), torch.tensor(90.0), torch.tensor(50.0))
    bar(Progress("train", 3, 2, 4, 256, 2.0, step))
    text = stream.getvalue()
    assert text.startswith("\rrun-seed0 train epoch 3 [##########----------] 2/4 loss 2.5000")
    assert "128.0 img/s" in text
    assert isinstance(progress_for("x", io.StringIO()), ProgressLog)


def test_resume_from_converted_checkpoint_file(reference_dir, tmp_path, tiny_data):
    from click.testing import CliRunner

    from frelu_tools.cli import cli

    folder = reference_dir / "runs" / "a_cifar10_resnet-possrelu-8_seed0" / "checkpoints"
    converted = tmp_path / "ckpt.pt"
    result = CliRunner().invoke(cli, ["convert", str(folder), "-o", str(converted)])
    assert result.exit_code == 0, result.output

    run = train_run(
        _tiny_config(), 0, tiny_data, tmp_path / "out", RunOptions(epochs=6), resume=converted
    )
    assert (run.first_epoch, run.last_epoch) == (6, 6)
    assert f"=> Resuming from {converted} after epoch 5" in run.log_path.read_text()


def test_crash_while_saving_keeps_latest(tmp_path, tiny_data, monkeypatch):
    from frelu_tools.port import checkpoint as checkpoint_format

    config = _tiny_config()
    result = train_run(config, 0, tiny_data, tmp_path, RunOptions(epochs=1))

    def crash(obj, path, *args, **kwargs):
        with open(path, "wb") as handle:
            handle.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint_format.torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        train_run(
            config, 0, tiny_data, tmp_path, RunOptions(epochs=2), resume=result.checkpoint_dir
        )
    monkeypatch.undo()

    assert _state(result.checkpoint_dir)["epoch"] == 1
    assert not (result.checkpoint_dir / "model_2.pt").exists()
    assert sorted(p.name for p in result.checkpoint_dir.iterdir()) == [
        "latest.pt",
        "model_1.pt",
        "model_best.pt",
    ]
    assert [r["epoch"] for r in read_metrics(result.metrics_path)] == [1]


def test_fresh_run_over_earlier_run(tmp_path, tiny_data):
    from frelu_tools.errors import FreluToolsError

    config = _tiny_config()
    first = train_run(config, 0, tiny_data, tmp_path, RunOptions(epochs=2))
    with pytest.raises(FreluToolsError, match="exists from an earlier run"):
        train_run(config, 0, tiny_data, tmp_path, RunOptions(epochs=1))

    again = train_run(config, 0, tiny_data, tmp_path, RunOptions(epochs=1, overwrite=True))
    assert again.log_path.read_text().count("=> Creating model") == 1
    assert [r["epoch"] for r in read_metrics(first.metrics_path)] == [1]
    assert not (first.checkpoint_dir / "model_2.pt").exists()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_run_on_gpu_with_speed_options(tmp_path, tiny_data):
    options = RunOptions(device="cuda", epochs=2, channels_last=True)
    result = train_run(_tiny_config(), 0, tiny_data, tmp_path, options)
    assert result.last_epoch == 2
    state = _state(result.checkpoint_dir)
    assert all(value.device.type == "cpu" for value in state["state_dict"].values())
