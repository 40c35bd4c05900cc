"""`frelu-tools reproduce`: configuration files, listing, runs, signals and resumption."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner
from conftest import REPO

from frelu_tools.cli import cli
from frelu_tools.train.configs import all_configs, parse_seeds, select_configs
from frelu_tools.train.logfile import read_metrics


@pytest.fixture
def tiny_configs(tmp_path):
    """A folder with one fast configuration: ResNet-8 with FReLU on CIFAR-10."""
    folder = tmp_path / "configs"
    folder.mkdir()
    data = json.loads((REPO / "reproduce" / "resnet-possrelu-20-cifar10.json").read_text())
    data.update(
        name="tiny-resnet-possrelu-8", depth=8, log_name="resnet-possrelu-8", groups=["tiny"]
    )
    (folder / "tiny-resnet-possrelu-8.json").write_text(json.dumps(data))
    return folder


def test_every_config_names_a_buildable_network():
    from frelu_tools import models

    configs = all_configs()
    assert len(configs) >= 60
    for config in configs:
        assert models.spec(config.net_type, config.dataset, config.depth), config.name
        assert config.epochs in (200, 78), config.name


def test_config_names_are_unique():
    configs = all_configs()
    names = [c.name for c in configs]
    assert len(names) == len(set(names))
    logs = [(c.dataset, c.log_name) for c in configs]
    assert len(logs) == len(set(logs))


def test_select_by_name_and_group():
    (single,) = select_configs("smallnet-frelu-bn-cifar100")
    assert single.net_type == "pelu-smallnet-possrelu-bn"
    assert single.lr == pytest.approx(0.01)
    assert single.seeds == [0, 1, 2, 3, 4]
    group = select_configs("resnet-possrelu")
    assert {c.net_type for c in group} == {"resnet-possrelu"}
    assert {c.depth for c in group} == {20, 32, 44, 56, 110}
    assert {c.dataset for c in group} == {"cifar10", "cifar100"}


def test_small_networks_learning_rates():
    # Without BN the scripts use LR 0.01; with BN both 0.01 and 0.1 runs exist.
    for config in select_configs("smallnet"):
        if not config.batch_norm and config.activation != "prelu":
            assert config.lr == pytest.approx(0.01), config.name
    assert select_configs("smallnet-relu-bn-lr0.1-cifar100")[0].log_name == (
        "pelu-smallnet-relu-bn-0.1"
    )


@pytest.mark.parametrize(
    "text, seeds", [("0-4", [0, 1, 2, 3, 4]), ("3", [3]), ("0,2-3", [0, 2, 3])]
)
def test_parse_seeds(text, seeds):
    assert parse_seeds(text) == seeds


def test_list_table():
    result = CliRunner().invoke(cli, ["reproduce", "--list"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split()[:4] == ["name", "net", "type", "depth"]
    assert "reported top-1" in lines[0]
    row = next(line for line in lines if line.startswith("smallnet-frelu-bn-cifar100 "))
    assert "pelu-smallnet-possrelu-bn" in row
    assert row.rstrip().endswith("0-4")  # no reported number in the fork: blank


def test_list_json_of_group():
    result = CliRunner().invoke(cli, ["reproduce", "--list", "--json", "mnist"])
    assert result.exit_code == 0, result.output
    configs = json.loads(result.output)
    assert [c["name"] for c in configs] == ["mnist-frelu", "mnist-relu"]
    assert configs[0]["nesterov"] is False


def test_unknown_config_is_one_line_error():
    result = CliRunner().invoke(cli, ["reproduce", "resnet-possrelu-7", "--data", "synthetic"])
    assert result.exit_code == 2
    assert "error: no configuration or group named 'resnet-possrelu-7'" in result.output


def test_missing_data_is_one_line_error(tmp_path):
    result = CliRunner().invoke(
        cli,
        [
            "reproduce",
            "resnet-possrelu-20-cifar10",
            "--data",
            str(tmp_path),
            "--seeds",
            "0",
            "--out",
            str(tmp_path / "out"),
        ],
    )
    assert result.exit_code == 2
    assert "error: cifar10 not found" in result.output
    assert "cifar-10-python.tar.gz" in result.output


def test_single_checkpoint_for_many_runs_rejected(tmp_path):
    checkpoint = tmp_path / "ckpt.pt"
    checkpoint.write_bytes(b"")
    result = CliRunner().invoke(
        cli, ["reproduce", "resnet-possrelu", "--data", "synthetic", "--resume", str(checkpoint)]
    )
    assert result.exit_code == 2
    assert "is one checkpoint but the request has 50 runs" in result.output


def test_run_and_resume_output_folder(tmp_path, tiny_configs):
    out = tmp_path / "out"
    args = [
        "reproduce",
        "tiny",
        "--configs",
        str(tiny_configs),
        "--data",
        "synthetic:64",
        "--seeds",
        "0",
        "--out",
        str(out),
    ]
    first = CliRunner().invoke(cli, [*args, "--epochs", "1"])
    assert first.exit_code == 0, first.output
    assert "resnet-possrelu-8-seed0: done, epochs 1-1" in first.output

    second = CliRunner().invoke(cli, [*args, "--epochs", "2", "--resume", str(out)])
    assert second.exit_code == 0, second.output
    assert "epochs 2-2" in second.output
    metrics = out / "log" / "cifar10" / "resnet-possrelu-8-seed0.metrics.jsonl"
    assert [r["epoch"] for r in read_metrics(metrics)] == [1, 2]

    summary = CliRunner().invoke(cli, ["summarize", str(out)])
    assert summary.exit_code == 0, summary.output
    assert "resnet-possrelu-8" in summary.output


def test_parallel_jobs_run_each_seed(tmp_path, tiny_configs):
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli,
        [
            "reproduce",
            "tiny",
            "--configs",
            str(tiny_configs),
            "--data",
            "synthetic:16",
            "--seeds",
            "0-1",
            "--epochs",
            "1",
            "--jobs",
            "2",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    for seed in (0, 1):
        assert f"resnet-possrelu-8-seed{seed}: done, epochs 1-1" in result.output
        metrics = out / "log" / "cifar10" / f"resnet-possrelu-8-seed{seed}.metrics.jsonl"
        assert [r["epoch"] for r in read_metrics(metrics)] == [1]


def _wait_for(predicate, timeout, process):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        if process.poll() is not None:
            return False
        time.sleep(0.2)
    return False


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_leaves_resumable_run(tmp_path, tiny_configs, signum):
    out = tmp_path / "out"
    command = [
        sys.executable,
        "-m",
        "frelu_tools.cli",
        "reproduce",
        "tiny",
        "--configs",
        str(tiny_configs),
        "--data",
        "synthetic:32",
        "--seeds",
        "0",
        "--out",
        str(out),
    ]
    log_path = out / "log" / "cifar10" / "resnet-possrelu-8-seed0.log"
    metrics = log_path.with_name("resnet-possrelu-8-seed0.metrics.jsonl")
    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    # Output goes to files, so a long run cannot block on a full pipe.
    stderr_path = tmp_path / "stderr.txt"
    with open(tmp_path / "stdout.txt", "w") as stdout, open(stderr_path, "w") as stderr:
        process = subprocess.Popen(
            [*command, "--epochs", "1000"], stdout=stdout, stderr=stderr, env=environment
        )
    try:
        finished = _wait_for(lambda: len(read_metrics(metrics)) >= 1, 120, process)
        assert finished, stderr_path.read_text()
        process.send_signal(signum)
        process.wait(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    stderr = stderr_path.read_text()
    assert process.returncode == 128 + signum, stderr
    assert f"stopped by {signal.Signals(signum).name}" in stderr

    done = [r["epoch"] for r in read_metrics(metrics)]
    lines = log_path.read_text().splitlines()
    assert lines[-1].startswith(" ! Stopped in "), lines[-3:]
    from frelu_tools.train.checkpoints import load_resume_checkpoint

    checkpoint_dir = out / "checkpoints" / "cifar10" / "resnet-possrelu-8-seed0"
    assert load_resume_checkpoint(checkpoint_dir)["epoch"] == done[-1]
    if signum != signal.SIGTERM:
        return

    resumed = subprocess.run(
        [*command, "--epochs", str(done[-1] + 1), "--resume", str(out)],
        capture_output=True,
        text=True,
        env=environment,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert [r["epoch"] for r in read_metrics(metrics)] == [*done, done[-1] + 1]
    assert load_resume_checkpoint(checkpoint_dir)["epoch"] == done[-1] + 1


def test_parallel_jobs_report_failed_workers(tmp_path, tiny_configs):
    result = CliRunner().invoke(
        cli,
        [
            "reproduce",
            "tiny",
            "--configs",
            str(tiny_configs),
            "--data",
            str(tmp_path / "none"),
            "--seeds",
            "0-1",
            "--epochs",
            "1",
            "--jobs",
            "2",
            "--out",
            str(tmp_path / "out"),
        ],
    )
    assert result.exit_code == 2
    assert "error: 2 of 2 runs failed in their worker processes" in result.output


def _reproduce(tmp_path, *extra):
    args = ["reproduce", "resnet-possrelu-20-cifar10", "--data", "synthetic", "--seeds", "0"]
    return CliRunner().invoke(cli, [*args, "--epochs", "6", "--out", str(tmp_path / "out"), *extra])


def _one_error_line(result, text):
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert lines[-1].startswith("error: "), result.stderr
    assert text in lines[-1], result.stderr
    return lines[-1]


def test_resume_rejects_checkpoint_of_other_depth(tmp_path):
    from frelu_tools import models
    from frelu_tools.port.checkpoint import new_checkpoint, save_checkpoint

    model = models.build("resnet-possrelu", "cifar10", 8)
    save_checkpoint(
        tmp_path / "nolog.pt",
        new_checkpoint(
            architecture=models.spec("resnet-possrelu", "cifar10", 8),
            state_dict=model.state_dict(),
            param_names=[name for name, _ in model.named_parameters()],
            epoch=5,
        ),
    )
    result = _reproduce(tmp_path, "--resume", str(tmp_path / "nolog.pt"))
    _one_error_line(result, "do not fit the resnet-possrelu depth 20 network")
    assert not (tmp_path / "out").exists()


def test_resume_rejects_converted_other_depth(reference_dir, tmp_path):
    import shutil

    # Without the run's ../log folder the conversion records no net type or depth.
    run = reference_dir / "runs" / "a_cifar10_resnet-possrelu-8_seed0" / "checkpoints"
    shutil.copytree(run, tmp_path / "checkpoints")
    converted = tmp_path / "nolog.pt"
    conversion = CliRunner().invoke(
        cli, ["convert", str(tmp_path / "checkpoints"), "-o", str(converted)]
    )
    assert conversion.exit_code == 0, conversion.output
    result = _reproduce(tmp_path, "--resume", str(converted))
    _one_error_line(result, "first difference: the checkpoint has 4.0.0.0.0.weight [32, 16, 3, 3]")


@pytest.mark.parametrize("content", ["epoch 5\n", ""], ids=["text", "empty"])
def test_resume_rejects_non_checkpoint_file(tmp_path, content):
    keep = tmp_path / "keep.pt"
    keep.write_text(content)
    result = _reproduce(tmp_path, "--resume", str(keep))
    line = _one_error_line(result, f"{keep}: not a frelu-tools checkpoint")
    assert "weights_only" not in line


def test_resume_rejects_t7_file(tmp_path):
    latest = tmp_path / "latest.t7"
    latest.write_bytes(b"\0" * 8)
    result = _reproduce(tmp_path, "--resume", str(latest))
    _one_error_line(result, "resume from the folder that contains latest.t7")


@pytest.mark.parametrize("device", ["cpux", "cuda:x"])
def test_invalid_device_is_one_line_error(tmp_path, device):
    # Rejected before the data is read: --data names nothing.
    result = CliRunner().invoke(
        cli,
        [
            "reproduce",
            "resnet-possrelu-20-cifar10",
            "--data",
            str(tmp_path / "none"),
            "--device",
            device,
            "--out",
            str(tmp_path / "out"),
        ],
    )
    _one_error_line(result, f"invalid device {device!r}; use cpu, cuda, cuda:N")
    assert not (tmp_path / "out").exists()


def test_cuda_without_gpu_rejected(tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    result = _reproduce(tmp_path, "--device", "cuda")
    _one_error_line(result, "device 'cuda' requested but torch finds no CUDA GPU")


def test_help_describes_reported_errors_honestly():
    result = CliRunner().invoke(cli, ["reproduce", "--help"])
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "with the test errors the original repository reports, where it reports any" in text


def test_empty_config_folder_is_named(tmp_path):
    empty = tmp_path / "configs"
    empty.mkdir()
    for args in (["X", "--data", "synthetic"], ["--list"]):
        result = CliRunner().invoke(cli, ["reproduce", *args, "--configs", str(empty)])
        _one_error_line(result, f"configuration folder {empty} has no configuration files (*.json)")


def test_run_restores_port_log_level(tmp_path, tiny_configs):
    import logging

    port_log = logging.getLogger("frelu_tools.port")
    before = port_log.level
    port_log.setLevel(logging.INFO)
    try:
        args = ["reproduce", "tiny", "--configs", str(tiny_configs), "--data", "synthetic:32"]
        result = CliRunner().invoke(cli, [*args, "--epochs", "1", "--out", str(tmp_path / "out")])
        assert result.exit_code == 0, result.output
        assert port_log.level == logging.INFO
    finally:
        port_log.setLevel(before)


class _StopInFirstIteration:
    """Stand-in for StopRequest that reports SIGINT once training has started."""

    def __init__(self):
        self.calls = 0
        self.signal_name = None

    def __call__(self):
        # The first poll comes before the first run starts, the second after an iteration.
        self.calls += 1
        if self.calls > 1:
            self.signal_name = "SIGINT"
        return self.signal_name is not None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass


def _tiny_args(tiny_configs, out, *extra):
    return [
        "reproduce",
        "tiny",
        "--configs",
        str(tiny_configs),
        "--data",
        "synthetic:16",
        "--seeds",
        "0",
        "--out",
        str(out),
        *extra,
    ]


def test_stop_in_first_epoch_then_resume(tmp_path, tiny_configs, monkeypatch, caplog):
    out = tmp_path / "out"
    log_path = out / "log" / "cifar10" / "resnet-possrelu-8-seed0.log"
    with monkeypatch.context() as patch:
        patch.setattr("frelu_tools.train.schedule.StopRequest", _StopInFirstIteration)
        stopped = CliRunner().invoke(cli, _tiny_args(tiny_configs, out, "--epochs", "1"))
    assert stopped.exit_code == 130, stopped.output
    assert "stopped in epoch 1, no epoch finished, nothing to resume" in stopped.stdout
    assert "epochs 1-0" not in stopped.stdout
    assert "before any epoch finished" in stopped.stderr
    assert f"start over with: --resume {out}" in stopped.stderr
    assert log_path.read_text().splitlines()[-1].endswith("no epoch completed")

    resumed = CliRunner().invoke(
        cli, _tiny_args(tiny_configs, out, "--epochs", "1", "--resume", str(out))
    )
    assert resumed.exit_code == 0, resumed.output
    assert "starting it afresh and replacing its log" in caplog.text
    assert "done, epochs 1-1" in resumed.stdout
    assert "Stopped" not in log_path.read_text()
    assert log_path.read_text().count("=> Creating model") == 1


def test_resume_folder_without_selected_runs(tmp_path, tiny_configs):
    out = tmp_path / "out"
    (out / "log" / "cifar10").mkdir(parents=True)
    result = CliRunner().invoke(
        cli, _tiny_args(tiny_configs, out, "--epochs", "1", "--resume", str(out))
    )
    _one_error_line(result, "no log or checkpoint of the selected runs found")


def test_resume_finished_run_does_nothing(tmp_path, tiny_configs):
    out = tmp_path / "out"
    first = CliRunner().invoke(cli, _tiny_args(tiny_configs, out, "--epochs", "2"))
    assert first.exit_code == 0, first.output
    log_path = out / "log" / "cifar10" / "resnet-possrelu-8-seed0.log"
    checkpoint_dir = out / "checkpoints" / "cifar10" / "resnet-possrelu-8-seed0"
    log_before = log_path.read_text()
    files_before = {path.name: path.stat().st_mtime_ns for path in checkpoint_dir.iterdir()}

    again = CliRunner().invoke(
        cli, _tiny_args(tiny_configs, out, "--epochs", "2", "--resume", str(out))
    )
    assert again.exit_code == 0, again.output
    assert "already trained to epoch 2; nothing to do" in again.stdout
    assert "epochs 3-2" not in again.output
    assert log_path.read_text() == log_before
    files_after = {path.name: path.stat().st_mtime_ns for path in checkpoint_dir.iterdir()}
    assert files_after == files_before


def test_resume_past_requested_epochs_rejected(tmp_path, tiny_configs):
    out = tmp_path / "out"
    first = CliRunner().invoke(cli, _tiny_args(tiny_configs, out, "--epochs", "2"))
    assert first.exit_code == 0, first.output
    log_before = (out / "log" / "cifar10" / "resnet-possrelu-8-seed0.log").read_text()

    earlier = CliRunner().invoke(
        cli, _tiny_args(tiny_configs, out, "--epochs", "1", "--resume", str(out))
    )
    _one_error_line(earlier, "trained to epoch 2 already; --epochs 1 is earlier")
    assert (out / "log" / "cifar10" / "resnet-possrelu-8-seed0.log").read_text() == log_before
