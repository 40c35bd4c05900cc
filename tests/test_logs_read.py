import json
import math

import pandas as pd
import pytest
from conftest import TEST_DATA

from frelu_tools.logs import LogFormatError, find_logs, metrics_for, read_log, read_logs

LOGS = TEST_DATA / "logs"
FORK_LOG = LOGS / "a_cifar10_resnet-possrelu_seed0/log/cifar10/resnet-possrelu-20-seed0.log"
RESUMED_LOG = (
    LOGS / "c_cifar10_elu-resnet-possrelu-8_seed0/log/cifar10/elu-resnet-possrelu-8-seed0.log"
)
UPSTREAM_LOG = LOGS / "d_cifar10_resnet-8_seed0/log/cifar10/resnet-8-seed0.log"

METRIC_COLUMNS = [
    "epoch",
    "lr",
    "train_top1_err",
    "train_top5_err",
    "train_loss",
    "test_top1_err",
    "test_top5_err",
]


def batch_lines(epoch, losses, top1=50.0, top5=10.0, batches=None):
    batches = batches or len(losses)
    return [
        f" | Epoch: [{epoch}][{i}/{batches}]    Time 0.500  Data 0.001  Err {loss:1.4f}  "
        f"top1 {top1:7.3f}  top5 {top5:7.3f}"
        for i, loss in enumerate(losses, start=1)
    ]


def fork_epoch(epoch, test_top1, train_top1=40.0, losses=(2.0, 1.0), lr=0.1):
    return (
        [f"=> Training epoch # {epoch} with LR = {lr:.5f}"]
        + batch_lines(epoch, losses, top1=train_top1)
        + [
            f" | Test: [{epoch}][1/1]    Time 0.1  Data 0.0  top1 {test_top1:7.3f} "
            f"({test_top1:7.3f})  top5   1.000 (  1.000)",
            f" * Epoch # {epoch}     train-top1: {train_top1:7.3f}  train-top5:   5.000  "
            f"test-top1: {test_top1:7.3f}  test-top5:   1.000",
            "",
            f" ! Best model \t{test_top1}\t1\t",
        ]
    )


def write_log(tmp_path, lines, name="log/cifar10/resnet-20-seed0.log", newline="\n"):
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(newline.join(lines).encode() + newline.encode())
    return path


# Real logs


def test_fork_log_columns_and_values():
    frame = read_log(FORK_LOG)
    assert list(frame.columns[: len(METRIC_COLUMNS)]) == METRIC_COLUMNS
    assert frame["epoch"].tolist() == [1, 2, 3, 4]
    assert frame["test_top1_err"].tolist() == [88.281, 78.516, 89.453, 80.859]
    assert frame["train_top1_err"].tolist() == [89.746, 82.227, 75.879, 67.773]
    assert frame["test_top5_err"].iloc[0] == 51.563
    assert frame["lr"].tolist() == [0.1] * 4
    assert frame["run"].iloc[0] == "resnet-possrelu-20-seed0"
    assert frame["source"].iloc[0] == str(FORK_LOG)
    assert frame.attrs["format"] == "frelu.torch"


def test_fork_log_loss_is_batch_mean():
    frame = read_log(FORK_LOG)
    epoch_1 = [2.4441, 2.3551, 2.3582, 2.3387, 2.3098, 2.3033, 2.3132, 2.3007]
    assert frame["train_loss"].iloc[0] == pytest.approx(sum(epoch_1) / 8, abs=1e-12)


def test_fork_batch_mean_matches_epoch_line(tmp_path):
    # The fork prints both; read as an upstream log (epoch line without the training
    # error), its batch means must give the fork's own epoch values. Both sides are
    # rounded to 3 decimals, so they can differ by up to 1e-3.
    lines = []
    for line in FORK_LOG.read_text().splitlines():
        if line.startswith(" * Epoch #"):
            words = line.split()
            line = f" * Finished epoch # {words[3]}     top1: {words[9]}  top5: {words[11]}"
        lines.append(line)
    upstream = write_log(tmp_path, lines, name="cifar10/" + FORK_LOG.name)

    fork_frame = read_log(FORK_LOG)
    upstream_frame = read_log(upstream)
    assert upstream_frame.attrs["format"] == "fb.resnet.torch"
    assert upstream_frame["train_top1_err"].tolist() == pytest.approx(
        fork_frame["train_top1_err"].tolist(), abs=1e-3
    )
    assert upstream_frame["train_top5_err"].tolist() == pytest.approx(
        fork_frame["train_top5_err"].tolist(), abs=1e-3
    )
    assert upstream_frame["test_top1_err"].tolist() == fork_frame["test_top1_err"].tolist()


def test_run_names_from_real_path():
    frame = read_log(FORK_LOG)
    row = frame.iloc[0]
    assert row["dataset"] == "cifar10"
    assert row["net_type"] == "resnet-possrelu"
    assert row["network"] == "resnet"
    assert row["activation"] == "frelu"
    assert row["depth"] == 20
    assert row["seed"] == 0
    assert row["config"] == "resnet-possrelu-20"


def test_upstream_log_train_error_from_batches():
    frame = read_log(UPSTREAM_LOG)
    assert frame.attrs["format"] == "fb.resnet.torch"
    assert frame["epoch"].tolist() == [1, 2, 3]
    assert frame["test_top1_err"].tolist() == [77.734, 77.734, 27.344]
    assert frame["test_top5_err"].tolist() == [26.563, 24.219, 0.0]
    top1 = [87.5, 85.156, 88.281, 88.281, 61.719, 82.031, 78.906, 83.594]
    assert frame["train_top1_err"].iloc[0] == pytest.approx(sum(top1) / 8)
    assert frame["lr"].isna().all()
    # 8 batches of the 1,024 synthetic images are not the 391 that CIFAR-10 implies.
    assert frame["train_approx"].all()


def test_resumed_log_later_epochs_win():
    frame = read_log(RESUMED_LOG)
    assert frame["epoch"].tolist() == [1, 2, 3, 4, 5]
    assert frame["resumed"].tolist() == [False, False, True, True, True]
    assert frame["test_top1_err"].iloc[2] == 14.063
    # The loss of epoch 3 uses only the resumed training's batches.
    resumed_losses = [1.3913, 1.3292, 1.1722, 1.0005, 0.9019, 0.6392, 0.6126, 0.5775]
    assert frame["train_loss"].iloc[2] == pytest.approx(sum(resumed_losses) / 8)


def test_resumed_log_attrs():
    frame = read_log(RESUMED_LOG)
    assert frame.attrs["resumes"] == [{"line": 45, "epoch": 3}]
    assert frame.attrs["incomplete_epochs"] == [{"epoch": 3, "line": 32}]
    assert len(frame.attrs["commands"]) == 2
    assert frame.attrs["commands"][1]["resume"] == "checkpoints"


def test_reference_resumed_run_reads(reference_dir):
    run = reference_dir / "runs" / "c_cifar10_elu-resnet-possrelu-8_seed0"
    frame = read_log(run / "log" / "cifar10" / "elu-resnet-possrelu-8-seed0.log")
    assert frame["epoch"].tolist() == [1, 2, 3, 4, 5]
    assert frame["resumed"].tolist() == [False, False, True, True, True]
    assert frame.attrs["resumes"] == [{"line": 45, "epoch": 3}]


def test_appended_fresh_training_rejected(tmp_path):
    # A seed-1 log appended to a seed-0 log: its trace line has no -resume.
    seed1 = LOGS / "a_cifar10_resnet-possrelu_seed1/log/cifar10/resnet-possrelu-20-seed1.log"
    first = FORK_LOG.read_bytes()
    path = tmp_path / "cifar10" / FORK_LOG.name
    path.parent.mkdir()
    path.write_bytes(first + seed1.read_bytes())
    second_line = first.count(b"\n") + 1
    with pytest.raises(LogFormatError, match="two trainings in one log") as caught:
        read_log(path)
    assert caught.value.line == second_line
    assert caught.value.path == str(path)
    assert "no -resume option" in caught.value.reason
    assert "line 1;" in caught.value.reason
    assert "split the file" in caught.value.reason


@pytest.mark.parametrize(
    ("option", "changed"),
    [
        ("-manualSeed 1", "-manualSeed 1 instead of 0"),
        ("-manualSeed 0 -depth 56", "-depth 56 instead of (absent)"),
    ],
)
def test_resume_with_other_options_rejected(tmp_path, option, changed):
    lines = ["+ th main.lua -dataset cifar10 -manualSeed 0 -save checkpoints"]
    lines += fork_epoch(1, 60.0)
    resume_line = len(lines) + 1
    lines += [f"+ th main.lua -dataset cifar10 {option} -resume checkpoints -save checkpoints"]
    lines += fork_epoch(2, 50.0)
    with pytest.raises(LogFormatError, match="two trainings in one log") as caught:
        read_log(write_log(tmp_path, lines))
    assert caught.value.line == resume_line
    assert f"from line 1 with other options: {changed};" in caught.value.reason


def test_resume_with_longer_schedule_reads(tmp_path):
    lines = ["+ th main.lua -dataset cifar10 -manualSeed 0 -nEpochs 1 -LR 0.1"]
    lines += fork_epoch(1, 60.0)
    lines += ["+ th main.lua -dataset cifar10 -manualSeed 0 -nEpochs 2 -LR 0.05 -resume c"]
    lines += fork_epoch(2, 50.0)
    frame = read_log(write_log(tmp_path, lines))
    assert frame["epoch"].tolist() == [1, 2]
    assert frame["resumed"].tolist() == [False, True]


def test_trace_lines_before_first_record(tmp_path):
    # A start that failed before its first epoch, then the training that ran.
    lines = ["+ th main.lua -dataset cifar10 -manualSeed 0", "luajit: out of memory"]
    lines += ["+ th main.lua -dataset cifar10 -manualSeed 1"] + fork_epoch(1, 60.0)
    resume_line = len(lines) + 1
    lines += ["+ th main.lua -dataset cifar10 -manualSeed 1 -resume c"] + fork_epoch(2, 50.0)
    frame = read_log(write_log(tmp_path, lines))
    assert frame["resumed"].tolist() == [False, True]
    assert frame.attrs["resumes"] == [{"line": resume_line, "epoch": 2}]


@pytest.mark.parametrize("path", sorted(LOGS.rglob("*.log")), ids=lambda p: p.name)
def test_every_real_log_reads(path):
    frame = read_log(path)
    assert len(frame) >= 3
    assert frame["epoch"].is_monotonic_increasing
    assert frame["test_top1_err"].between(0, 100).all()


# Generated logs: formats and mess


def test_crlf_line_ends(tmp_path):
    lines = fork_epoch(1, 60.0) + fork_epoch(2, 50.0)
    frame = read_log(write_log(tmp_path, lines, newline="\r\n"))
    assert frame["test_top1_err"].tolist() == [60.0, 50.0]


def test_trailing_tabs_and_tab_only_line(tmp_path):
    lines = fork_epoch(1, 60.0)
    lines[-3] = lines[-3] + "\t\t"
    lines.insert(2, "\t")
    frame = read_log(write_log(tmp_path, lines))
    assert frame["test_top1_err"].tolist() == [60.0]


def test_shell_trace_and_model_printout(tmp_path):
    lines = [
        "+ th main.lua -dataset cifar10 -batchSize 128 -netType resnet -depth 20 -manualSeed 0",
        "=> Creating model from file: models/resnet.lua",
        "nn.Sequential {",
        "  [input -> (1) -> output]",
        "  (1): cudnn.SpatialConvolution(3 -> 16, 3x3, 1,1, 1,1) without bias",
        "}",
    ] + fork_epoch(1, 60.0)
    frame = read_log(write_log(tmp_path, lines))
    assert len(frame) == 1
    assert frame.attrs["commands"][0]["batch_size"] == 128


def test_non_utf8_bytes_outside_records(tmp_path):
    path = write_log(tmp_path, fork_epoch(1, 60.0))
    path.write_bytes(b"=> data in /home/j\xe9r\xf4me/cifar\n" + path.read_bytes())
    frame = read_log(path)
    assert frame["test_top1_err"].tolist() == [60.0]


def test_non_utf8_bytes_in_record_rejected(tmp_path):
    lines = fork_epoch(1, 60.0) + fork_epoch(2, 50.0)
    path = write_log(tmp_path, lines)
    data = path.read_bytes().replace(b"test-top1:  60.000", b"test-top1:  6\xff.000", 1)
    path.write_bytes(data)
    with pytest.raises(LogFormatError) as caught:
        read_log(path)
    assert caught.value.line == 5
    assert str(path) in str(caught.value)


def test_nan_and_inf_values(tmp_path):
    lines = fork_epoch(1, 60.0) + fork_epoch(2, 50.0)
    lines[1] = lines[1].replace("Err 2.0000", "Err nan")
    lines = [line.replace("test-top1:  50.000", "test-top1:     inf") for line in lines]
    lines = [
        line.replace("Err 1.0000", "Err -nan") if "[2][2/2]" in line else line for line in lines
    ]
    frame = read_log(write_log(tmp_path, lines))
    assert math.isnan(frame["train_loss"].iloc[0])
    assert math.isnan(frame["train_loss"].iloc[1])
    assert frame["test_top1_err"].iloc[1] == math.inf


def test_empty_file_rejected(tmp_path):
    path = tmp_path / "empty.log"
    path.write_bytes(b"")
    with pytest.raises(LogFormatError, match="empty file"):
        read_log(path)


def test_blank_file_rejected(tmp_path):
    path = tmp_path / "blank.log"
    path.write_bytes(b"\n\t\n  \r\n")
    with pytest.raises(LogFormatError, match="empty file"):
        read_log(path)


def test_no_epoch_rejected(tmp_path):
    lines = ["+ th main.lua -dataset cifar10", "=> Training epoch # 1 with LR = 0.10000"]
    lines += batch_lines(1, [2.0, 1.9])
    path = write_log(tmp_path, lines)
    with pytest.raises(LogFormatError, match="no completed epoch") as caught:
        read_log(path)
    assert caught.value.path == str(path)
    assert caught.value.line is None


def test_binary_file_rejected(tmp_path):
    path = tmp_path / "model.log"
    path.write_bytes(b"\x04\x00\x00\x00\x01\x00\x00\x00V 1")
    with pytest.raises(LogFormatError, match="binary file"):
        read_log(path)


def test_cut_off_mid_epoch(tmp_path):
    lines = fork_epoch(1, 60.0) + fork_epoch(2, 50.0)[:2]
    frame = read_log(write_log(tmp_path, lines))
    assert frame["epoch"].tolist() == [1]
    assert frame.attrs["incomplete_epochs"] == [{"epoch": 2, "line": 8}]
    assert frame.attrs["cut_off_line"] is None


def test_cut_off_mid_line(tmp_path):
    lines = fork_epoch(1, 60.0) + fork_epoch(2, 50.0)
    lines = lines[:-3] + [lines[-3][:30]]
    frame = read_log(write_log(tmp_path, lines))
    assert frame["epoch"].tolist() == [1]
    assert frame.attrs["cut_off_line"] == len(lines)


def test_unterminated_last_line_cut_off(tmp_path):
    lines = fork_epoch(1, 60.0) + fork_epoch(2, 50.0)[:5]
    path = write_log(tmp_path, lines)
    path.write_bytes(path.read_bytes().rstrip(b"\n"))
    frame = read_log(path)
    assert frame["epoch"].tolist() == [1]
    assert frame.attrs["cut_off_line"] == len(lines)


def test_cut_off_line_before_resume(tmp_path):
    first = fork_epoch(1, 60.0) + fork_epoch(2, 50.0)[:2]
    first[-1] = first[-1][:25]
    resumed = ["+ th main.lua -dataset cifar10 -resume checkpoints"] + fork_epoch(2, 45.0)
    frame = read_log(write_log(tmp_path, first + resumed))
    assert frame["test_top1_err"].tolist() == [60.0, 45.0]
    assert frame["resumed"].tolist() == [False, True]
    assert frame.attrs["cut_off_line"] == len(first)


def test_broken_epoch_line_rejected(tmp_path):
    lines = fork_epoch(1, 60.0) + fork_epoch(2, 50.0)
    lines[4] = " * Epoch # 1     train-top1:  40.000  train-top5: oops"
    path = write_log(tmp_path, lines)
    with pytest.raises(LogFormatError) as caught:
        read_log(path)
    assert caught.value.line == 5
    assert "train-top1" in caught.value.reason
    assert str(caught.value).startswith(f"{path}, line 5: invalid line")


def test_broken_batch_number_rejected(tmp_path):
    lines = fork_epoch(1, 60.0)
    lines[2] = lines[2].replace("Err 1.0000", "Err 1.0.00")
    path = write_log(tmp_path, lines)
    with pytest.raises(LogFormatError, match="invalid number in '1.0.00") as caught:
        read_log(path)
    assert caught.value.line == 3


def test_broken_batch_line_rejected(tmp_path):
    lines = fork_epoch(1, 60.0)
    lines[1] = " | Epoch: [1][1/2]    Time 0.500  Data"
    path = write_log(tmp_path, lines)
    with pytest.raises(LogFormatError, match="expected ' | Epoch: ") as caught:
        read_log(path)
    assert caught.value.line == 2


def test_resume_without_trace_line(tmp_path):
    lines = fork_epoch(1, 60.0) + fork_epoch(2, 50.0) + fork_epoch(2, 40.0) + fork_epoch(3, 30.0)
    frame = read_log(write_log(tmp_path, lines))
    assert frame["test_top1_err"].tolist() == [60.0, 40.0, 30.0]
    assert frame["resumed"].tolist() == [False, True, True]


def test_restart_keeps_batch_size(tmp_path):
    # CIFAR-10 with batch size 25,000: two equal batches, known from the trace line.
    lines = ["+ th main.lua -dataset cifar10 -batchSize 25000 -nThreads 1 -netType resnet"]
    for test_top1 in (60.0, 50.0):
        lines += ["=> Training epoch # 1 with LR = 0.10000"]
        lines += batch_lines(1, [2.0, 1.0], batches=2)
        lines += [
            f" * Epoch # 1     train-top1:  40.000  train-top5:   5.000  "
            f"test-top1: {test_top1:7.3f}  test-top5:   1.000"
        ]
    frame = read_log(write_log(tmp_path, lines))
    assert frame["test_top1_err"].tolist() == [50.0]
    assert frame["resumed"].tolist() == [True]
    assert not frame["train_approx"].iloc[0]
    assert len(frame.attrs["commands"]) == 1


def test_batch_indices_without_last(tmp_path):
    lines = ["+ th main.lua -dataset cifar10 -batchSize 25000 -netType resnet -depth 8"]
    lines += ["=> Training epoch # 1"]
    lines += [line.replace("[1][2/2]", "[1][3/2]") for line in batch_lines(1, [2.0, 1.0])]
    lines += [" * Finished epoch # 1     top1:  50.000  top5:  10.000"]
    frame = read_log(write_log(tmp_path, lines))
    assert frame["train_loss"].iloc[0] == pytest.approx(1.5)
    assert frame["train_approx"].iloc[0]


def test_epoch_lines_without_batches(tmp_path):
    lines = [line for line in fork_epoch(1, 60.0) + fork_epoch(2, 50.0) if "* Epoch" in line]
    frame = read_log(write_log(tmp_path, lines))
    assert frame["test_top1_err"].tolist() == [60.0, 50.0]
    assert frame["train_loss"].isna().all()
    assert frame["lr"].isna().all()


def test_mixed_formats_rejected(tmp_path):
    lines = fork_epoch(1, 60.0) + [" * Finished epoch # 2     top1:  50.000  top5:   1.000"]
    path = write_log(tmp_path, lines)
    with pytest.raises(LogFormatError, match="a log must use one format") as caught:
        read_log(path)
    assert caught.value.line == len(lines)


def test_upstream_weights_by_batch_size(tmp_path):
    # CIFAR-10 with batch size 20,000: batches of 20,000, 20,000 and 10,000 images.
    lines = ["+ th main.lua -dataset cifar10 -batchSize 20000 -nThreads 1 -netType resnet"]
    lines += ["=> Training epoch # 1"]
    lines += [
        f" | Epoch: [1][{i}/3]    Time 0.5  Data 0.0  Err {loss:1.4f}  top1 {top1:7.3f}  "
        "top5   1.000"
        for i, (loss, top1) in enumerate([(3.0, 90.0), (2.0, 60.0), (1.0, 30.0)], start=1)
    ]
    lines += [" * Finished epoch # 1     top1:  50.000  top5:  10.000"]
    frame = read_log(write_log(tmp_path, lines))
    assert frame["train_top1_err"].iloc[0] == pytest.approx((90 * 2 + 60 * 2 + 30) / 5)
    assert frame["train_loss"].iloc[0] == pytest.approx((3 * 2 + 2 * 2 + 1) / 5)
    assert not frame["train_approx"].iloc[0]


def test_upstream_weights_with_threads_approximate(tmp_path):
    # Two loader threads may print the smaller last batch before a full one.
    lines = ["+ th main.lua -dataset cifar10 -batchSize 20000 -netType resnet"]
    lines += ["=> Training epoch # 1"] + batch_lines(1, [3.0, 2.0, 1.0])
    lines += [" * Finished epoch # 1     top1:  50.000  top5:  10.000"]
    frame = read_log(write_log(tmp_path, lines))
    assert frame["train_loss"].iloc[0] == pytest.approx((3 * 2 + 2 * 2 + 1) / 5)
    assert frame["train_approx"].iloc[0]


def test_upstream_equal_weights_without_batch_size(tmp_path):
    lines = (
        ["=> Training epoch # 1"]
        + batch_lines(1, [3.0, 1.0])
        + [" * Finished epoch # 1     top1:  50.000  top5:  10.000"]
    )
    frame = read_log(write_log(tmp_path, lines, name="cifar10/resnet-8-seed0.log"))
    assert frame["train_loss"].iloc[0] == pytest.approx(2.0)
    assert frame["train_approx"].iloc[0]


# metrics.jsonl


def write_metrics(path, records):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_metrics_jsonl_read(tmp_path):
    records = [
        {"epoch": 1, "lr": 0.1, "train_top1_err": 80.0, "test_top1_err": 70.0},
        {"epoch": 2, "lr": 0.1, "train_top1_err": 60.0, "test_top1_err": None},
    ]
    path = write_metrics(
        tmp_path / "cifar10" / "resnet-possrelu-20-seed3" / "metrics.jsonl", records
    )
    frame = read_log(path)
    assert frame["test_top1_err"].iloc[0] == 70.0
    assert math.isnan(frame["test_top1_err"].iloc[1])
    assert math.isnan(frame["train_loss"].iloc[0])
    assert frame["run"].iloc[0] == "resnet-possrelu-20-seed3"
    assert frame["dataset"].iloc[0] == "cifar10"
    assert frame["seed"].iloc[0] == 3
    assert frame.attrs["format"] == "metrics.jsonl"


def test_metrics_jsonl_names_override_path(tmp_path):
    records = [{"epoch": 1, "test_top1_err": 70.0, "dataset": "cifar100", "net_type": "resnet"}]
    frame = read_log(write_metrics(tmp_path / "run" / "metrics.jsonl", records))
    assert frame["dataset"].iloc[0] == "cifar100"
    assert frame["activation"].iloc[0] == "relu"


def test_metrics_preferred_over_text(tmp_path):
    text = write_log(tmp_path, fork_epoch(1, 60.0), name="run/resnet-20-seed0.log")
    write_metrics(text.with_name("metrics.jsonl"), [{"epoch": 1, "test_top1_err": 59.8765}])
    assert metrics_for(text) == text.with_name("metrics.jsonl")
    assert read_log(text)["test_top1_err"].iloc[0] == 59.8765
    assert read_log(text, prefer_metrics=False)["test_top1_err"].iloc[0] == 60.0
    assert read_log(text)["run"].iloc[0] == "resnet-20-seed0"


def test_shared_metrics_file_needs_single_log(tmp_path):
    first = write_log(tmp_path, fork_epoch(1, 60.0), name="run/resnet-20-seed0.log")
    write_log(tmp_path, fork_epoch(1, 61.0), name="run/resnet-20-seed1.log")
    write_metrics(first.with_name("metrics.jsonl"), [{"epoch": 1, "test_top1_err": 1.0}])
    assert metrics_for(first) is None


def test_own_metrics_file(tmp_path):
    text = write_log(tmp_path, fork_epoch(1, 60.0), name="run/resnet-20-seed0.log")
    own = write_metrics(tmp_path / "run" / "resnet-20-seed0.metrics.jsonl", [{"epoch": 1}])
    assert metrics_for(text) == own


def test_metrics_resume_later_wins(tmp_path):
    records = [
        {"epoch": 1, "test_top1_err": 70.0},
        {"epoch": 2, "test_top1_err": 65.0},
        {"epoch": 2, "test_top1_err": 64.0},
    ]
    frame = read_log(write_metrics(tmp_path / "r" / "metrics.jsonl", records))
    assert frame["test_top1_err"].tolist() == [70.0, 64.0]
    assert frame["resumed"].tolist() == [False, True]


def trainer_resumed_run(tmp_path):
    """A run as the trainer leaves it after a resume: the text log shows the restart."""
    header = "=> Creating model resnet, depth 20 for cifar10 (configuration resnet-20, seed 0)"
    lines = [header] + fork_epoch(1, 60.0) + fork_epoch(2, 50.0)
    lines += [header, "=> Resuming from checkpoints after epoch 2"] + fork_epoch(3, 40.0)
    text = write_log(tmp_path, lines, name="log/cifar10/resnet-20-seed0.log")
    records = [{"epoch": e, "test_top1_err": v} for e, v in [(1, 60.1), (2, 50.1), (3, 40.1)]]
    metrics = write_metrics(text.with_name("resnet-20-seed0.metrics.jsonl"), records)
    return text, metrics


def test_metrics_resumes_from_text_log(tmp_path):
    text, metrics = trainer_resumed_run(tmp_path)
    from_text = read_log(text, prefer_metrics=False)
    assert from_text["resumed"].tolist() == [False, False, True]
    for frame in (read_log(text), read_log(metrics)):
        assert frame["test_top1_err"].tolist() == [60.1, 50.1, 40.1]
        assert frame["resumed"].tolist() == from_text["resumed"].tolist()
        assert frame.attrs["resumes"] == [
            {**resume, "path": str(text)} for resume in from_text.attrs["resumes"]
        ]


def test_metrics_unreadable_text_log_warns(tmp_path, caplog):
    text, metrics = trainer_resumed_run(tmp_path)
    text.write_text("")
    frame = read_log(metrics)
    assert frame["resumed"].tolist() == [False, False, False]
    assert "resumes not read from its text log" in caplog.text


def test_metrics_nan_and_infinity(tmp_path):
    path = tmp_path / "r" / "metrics.jsonl"
    path.parent.mkdir()
    path.write_text('{"epoch": 1, "train_loss": NaN, "test_top1_err": Infinity}\n')
    frame = read_log(path)
    assert math.isnan(frame["train_loss"].iloc[0])
    assert frame["test_top1_err"].iloc[0] == math.inf


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json\n", "invalid JSON"),
        ("[1, 2]\n", "expected a JSON object"),
        ('{"lr": 0.1}\n', "non-integer 'epoch'"),
        ('{"epoch": 1, "test_top1_err": "low"}\n', "'test_top1_err' is not a number"),
        ('{"epoch": 2, "depth": "20"}\n', "'depth' is not an integer"),
        ('{"epoch": 2, "dataset": 10}\n', "'dataset' is not a string"),
    ],
)
def test_metrics_bad_line_rejected(tmp_path, text, message):
    path = tmp_path / "r" / "metrics.jsonl"
    path.parent.mkdir()
    path.write_text('{"epoch": 1}\n' + text)
    with pytest.raises(LogFormatError, match=message) as caught:
        read_log(path)
    assert caught.value.line == 2


def test_metrics_cut_off_last_line(tmp_path):
    path = tmp_path / "r" / "metrics.jsonl"
    path.parent.mkdir()
    path.write_text('{"epoch": 1, "test_top1_err": 70.0}\n{"epoch": 2, "test_t')
    frame = read_log(path)
    assert frame["epoch"].tolist() == [1]
    assert frame.attrs["cut_off_line"] == 2


def test_trainer_layout_prefers_metrics(tmp_path):
    # The trainer writes log/<dataset>/<name>.log and <name>.metrics.jsonl side by side.
    text = write_log(tmp_path, fork_epoch(1, 60.0), name="log/cifar10/resnet-20-seed0.log")
    write_log(tmp_path, fork_epoch(1, 61.0), name="log/cifar10/resnet-20-seed1.log")
    own = write_metrics(text.with_name("resnet-20-seed0.metrics.jsonl"), [{"epoch": 1}])
    frame = read_logs([tmp_path])
    assert sorted(frame["source"]) == sorted([str(own), str(text.with_name("resnet-20-seed1.log"))])
    assert frame["config"].tolist() == ["resnet-20", "resnet-20"]


def test_metrics_empty_rejected(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text("")
    with pytest.raises(LogFormatError, match="empty file"):
        read_log(path)


# Collections


def test_find_logs_in_folder(tmp_path):
    text = write_log(tmp_path, fork_epoch(1, 60.0), name="a/resnet-20-seed0.log")
    write_metrics(text.with_name("metrics.jsonl"), [{"epoch": 1}])
    alone = write_metrics(tmp_path / "b" / "metrics.jsonl", [{"epoch": 1}])
    (tmp_path / "a" / "notes.txt").write_text("not a log")
    assert find_logs([tmp_path]) == [text, alone]


def test_find_logs_empty_folder(tmp_path):
    with pytest.raises(LogFormatError, match="no training logs"):
        find_logs([tmp_path])


def test_find_logs_missing_path(tmp_path):
    with pytest.raises(FileNotFoundError):
        find_logs([tmp_path / "missing.log"])


def test_read_logs_real_folder():
    frame = read_logs([LOGS])
    assert frame["source"].nunique() == 13
    assert len(frame) == 49
    assert set(frame.attrs["runs"]) == set(frame["source"])


def test_read_logs_file_named_twice():
    frame = read_logs([FORK_LOG, FORK_LOG.parent.parent.parent, FORK_LOG])
    assert frame["source"].tolist() == [str(FORK_LOG)] * 4


def test_read_logs_single_label():
    paths = sorted((LOGS / "a_cifar10_resnet_seed0").rglob("*.log"))
    paths += sorted((LOGS / "a_cifar10_resnet-possrelu_seed0").rglob("*.log"))
    frame = read_logs(paths, labels="mixed")
    assert set(frame["config"]) == {"mixed"}
    assert frame["network"].tolist()[0] == "resnet"


def copies_of_one_run(tmp_path):
    copies = []
    for folder in ("nan", "crlf"):
        copy = tmp_path / folder / "cifar10" / FORK_LOG.name
        copy.parent.mkdir(parents=True)
        copy.write_bytes(FORK_LOG.read_bytes())
        copies.append(copy)
    return copies


def test_read_logs_same_run_twice_rejected(tmp_path):
    first, second = copies_of_one_run(tmp_path)
    with pytest.raises(LogFormatError, match="the same run") as caught:
        read_logs([tmp_path / "nan", tmp_path / "crlf"])
    assert caught.value.path == str(second)
    assert str(first) in caught.value.reason
    assert "--label" in caught.value.reason


def test_read_logs_same_run_with_own_labels(tmp_path):
    copies_of_one_run(tmp_path)
    frame = read_logs([tmp_path / "nan", tmp_path / "crlf"], labels=["a", "b"])
    assert sorted(set(frame["config"])) == ["a", "b"]


def test_read_logs_label_count_mismatch():
    with pytest.raises(ValueError, match="2 labels for 1 paths"):
        read_logs([FORK_LOG], labels=["a", "b"])


def test_read_log_dtypes():
    frame = read_log(FORK_LOG)
    assert frame["epoch"].dtype == "int64"
    assert frame["depth"].dtype == pd.Int64Dtype()
    assert frame["resumed"].dtype == bool
