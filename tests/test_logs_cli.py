import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import REPO, TEST_DATA

from frelu_tools.cli import cli

SHIPPED = REPO / "data" / "logs"
SUMMARY = (
    "| configuration      | dataset | network | activation | depth | seeds "
    "| best test top-1 (%) | final test top-1 (%) | epochs |\n"
    "| ------------------ | ------- | ------- | ---------- | ----: | ----: "
    "| ------------------: | -------------------: | -----: |\n"
    "| resnet-20          | cifar10 | resnet  | relu       |    20 |     3 "
    "|        10.55 ± 7.80 |         10.55 ± 7.80 |      4 |\n"
    "| resnet-possrelu-20 | cifar10 | resnet  | frelu      |    20 |     3 "
    "|        77.60 ± 1.26 |         79.69 ± 2.03 |      4 |\n"
)


@pytest.fixture
def runner():
    return CliRunner()


def test_summarize_shipped_logs(runner):
    result = runner.invoke(cli, ["summarize", str(SHIPPED)])
    assert result.exit_code == 0, result.output
    assert result.stdout == SUMMARY


def test_summarize_csv(runner):
    result = runner.invoke(cli, ["summarize", str(SHIPPED), "--format", "csv"])
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0].startswith("config,dataset,network,activation,depth")
    assert result.stdout.splitlines()[1].startswith("resnet-20,cifar10,resnet,relu,20,3,")


def test_summarize_label_merges_runs(runner):
    logs = sorted(str(p) for p in SHIPPED.rglob("*.log"))
    result = runner.invoke(cli, ["summarize", *logs, "--label", "all"])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert len(lines) == 3
    assert lines[2].startswith("| all ")
    assert "|     6 |" in lines[2]


def test_summarize_out_and_tidy(runner, tmp_path):
    out = tmp_path / "table.md"
    tidy = tmp_path / "epochs.csv"
    result = runner.invoke(cli, ["summarize", str(SHIPPED), "--out", str(out), "--tidy", str(tidy)])
    assert result.exit_code == 0, result.output
    assert out.read_text() == SUMMARY
    long = pd.read_csv(tidy)
    assert len(long) == 24 * 5
    assert {"run", "epoch", "split", "metric", "value"} <= set(long.columns)


def test_summarize_existing_out_needs_force(runner, tmp_path):
    out = tmp_path / "table.md"
    out.write_text("keep")
    result = runner.invoke(cli, ["summarize", str(SHIPPED), "--out", str(out)])
    assert result.exit_code == 2
    assert result.stderr == f"error: {out}: already exists; pass --force to overwrite it\n"
    assert out.read_text() == "keep"
    result = runner.invoke(cli, ["summarize", str(SHIPPED), "--out", str(out), "--force"])
    assert result.exit_code == 0
    assert out.read_text() == SUMMARY


def test_summarize_empty_log_one_line_error(runner, tmp_path):
    path = tmp_path / "resnet-20-seed0.log"
    path.write_text("")
    result = runner.invoke(cli, ["summarize", str(path)])
    assert result.exit_code == 2
    assert result.stderr == f"error: {path}: empty file, not a training log\n"
    assert result.stdout == ""


def test_summarize_broken_line_names_line(runner, tmp_path):
    path = tmp_path / "resnet-20-seed0.log"
    path.write_text(
        " * Epoch # 1     train-top1:  1.000  train-top5:  1.000  test-top1:  2.000  "
        "test-top5:  1.000\n * Epoch # 2     train-top1: x\n"
        " * Epoch # 3     train-top1:  1.000  train-top5:  1.000  test-top1:  2.000  "
        "test-top5:  1.000\n"
    )
    result = runner.invoke(cli, ["summarize", str(path)])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {path}, line 2: invalid line")
    assert result.stderr.count("\n") == 1


def test_summarize_folder_without_logs(runner, tmp_path):
    result = runner.invoke(cli, ["summarize", str(tmp_path)])
    assert result.exit_code == 2
    assert (
        result.stderr
        == f"error: {tmp_path}: no training logs (*.log, metrics.jsonl) in this folder\n"
    )


def test_summarize_label_count_mismatch(runner):
    result = runner.invoke(cli, ["summarize", str(SHIPPED), "--label", "a", "--label", "b"])
    assert result.exit_code == 2
    assert result.stderr == (
        "error: 2 --label values for 1 LOGS_OR_DIRS; give one for all or one for each\n"
    )


def test_summarize_needs_logs(runner):
    result = runner.invoke(cli, ["summarize"])
    assert result.exit_code == 2
    assert result.stderr == "error: no logs given: pass LOGS_OR_DIRS\n"


def test_plot_writes_png(runner, tmp_path):
    out = tmp_path / "curves.png"
    result = runner.invoke(cli, ["plot", str(SHIPPED), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"wrote {out}: 6 runs, 2 configurations\n"
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_one_run_singular(runner, tmp_path):
    out = tmp_path / "curves.png"
    log = next(SHIPPED.rglob("*.log"))
    result = runner.invoke(cli, ["plot", str(log), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"wrote {out}: 1 run, 1 configuration\n"


def test_summarize_same_run_twice_rejected(runner, tmp_path):
    log = next(SHIPPED.rglob("*.log"))
    for folder in ("nan", "crlf"):
        (tmp_path / folder / "cifar10").mkdir(parents=True)
        (tmp_path / folder / "cifar10" / log.name).write_bytes(log.read_bytes())
    folders = [str(tmp_path / "nan"), str(tmp_path / "crlf")]
    result = runner.invoke(cli, ["summarize", *folders])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"error: {tmp_path / 'crlf' / 'cifar10' / log.name}: ")
    assert str(tmp_path / "nan" / "cifar10" / log.name) in result.stderr
    assert "--label" in result.stderr
    assert result.stderr.count("\n") == 1
    result = runner.invoke(cli, ["summarize", *folders, "--label", "a", "--label", "b"])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(("suffix", "magic"), [(".pdf", b"%PDF"), (".svg", b"<?xml")])
def test_plot_other_formats(runner, tmp_path, suffix, magic):
    out = tmp_path / f"curves{suffix}"
    result = runner.invoke(cli, ["plot", str(SHIPPED), "--out", str(out), "--metric", "top5"])
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[: len(magic)] == magic


def test_plot_existing_out_needs_force(runner, tmp_path):
    out = tmp_path / "curves.png"
    out.write_bytes(b"keep")
    result = runner.invoke(cli, ["plot", str(SHIPPED), "--out", str(out)])
    assert result.exit_code == 2
    assert result.stderr == f"error: {out}: already exists; pass --force to overwrite it\n"
    assert out.read_bytes() == b"keep"
    result = runner.invoke(cli, ["plot", str(SHIPPED), "--out", str(out), "--force"])
    assert result.exit_code == 0
    assert out.read_bytes()[:4] == b"\x89PNG"


def test_plot_unsupported_suffix(runner, tmp_path):
    out = tmp_path / "curves.jpg"
    result = runner.invoke(cli, ["plot", str(SHIPPED), "--out", str(out)])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {out}: unsupported figure format '.jpg'")
    assert not out.exists()


def test_plot_compare(runner, tmp_path):
    out = tmp_path / "compare.png"
    original = TEST_DATA / "logs" / "a_cifar10_resnet-possrelu_seed0"
    result = runner.invoke(
        cli,
        ["plot", "--compare", str(original), str(SHIPPED), "--set-names", "torch7", "pytorch"]
        + ["--out", str(out), "--split", "test"],
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == f"wrote {out}: 7 runs, 2 configurations\n"


def test_plot_compare_and_logs_rejected(runner, tmp_path):
    result = runner.invoke(cli, ["plot", str(SHIPPED), "--compare", str(SHIPPED), str(SHIPPED)])
    assert result.exit_code == 2
    assert result.stderr == "error: give either LOGS_OR_DIRS or --compare DIR_A DIR_B, not both\n"


def test_plot_compare_same_names_rejected(runner):
    result = runner.invoke(cli, ["plot", "--compare", str(SHIPPED), str(SHIPPED)])
    assert result.exit_code == 2
    assert "pass --set-names" in result.stderr


def test_plot_test_loss_rejected(runner, tmp_path):
    out = tmp_path / "loss.png"
    result = runner.invoke(
        cli, ["plot", str(SHIPPED), "--metric", "loss", "--split", "test", "--out", str(out)]
    )
    assert result.exit_code == 2
    assert result.stderr == "error: the logs contain no test loss; plot the training loss instead\n"


def test_plot_needs_logs(runner):
    result = runner.invoke(cli, ["plot"])
    assert result.exit_code == 2
    assert result.stderr == "error: no logs given: pass LOGS_OR_DIRS or --compare DIR_A DIR_B\n"


def test_plot_missing_path(runner, tmp_path):
    result = runner.invoke(cli, ["plot", str(tmp_path / "missing")])
    assert result.exit_code == 2
    assert "does not exist" in result.stderr


@pytest.mark.parametrize(("option", "values"), [("--xlim", ["5", "1"]), ("--ylim", ["10", "10"])])
def test_plot_reversed_limits_rejected(runner, tmp_path, option, values):
    out = tmp_path / "curves.png"
    result = runner.invoke(cli, ["plot", str(SHIPPED), option, *values, "--out", str(out)])
    assert result.exit_code == 2
    assert f"Invalid value for '{option}'" in result.stderr
    assert "the lower bound must be below the upper bound" in result.stderr
    assert not out.exists()


def test_plot_compare_one_folder_rejected(runner, tmp_path):
    out = tmp_path / "p8.png"
    result = runner.invoke(cli, ["plot", "--compare", str(SHIPPED), "--out", str(out)])
    assert result.exit_code == 2
    assert "'--out' is an option, not a folder" in result.stderr
    assert "--compare takes two folders" in result.stderr
    assert "does not exist" not in result.stderr
