import io
import math

import pandas as pd
import pytest
from conftest import REPO, TEST_DATA

from frelu_tools.logs import read_logs
from frelu_tools.logs.summary import SUMMARY_COLUMNS, format_table, summarize, tidy

SHIPPED = REPO / "data" / "logs"


def synthetic_frame(runs: dict) -> pd.DataFrame:
    """runs: source -> (config, dataset, [test_top1_err per epoch])."""
    rows = []
    for source, (config, dataset, errors) in runs.items():
        for epoch, error in enumerate(errors, start=1):
            rows.append(
                {
                    "epoch": epoch,
                    "train_top1_err": error + 1,
                    "train_top5_err": 1.0,
                    "train_loss": 0.5,
                    "test_top1_err": error,
                    "test_top5_err": 1.0,
                    "lr": 0.1,
                    "resumed": False,
                    "train_approx": False,
                    "run": source,
                    "source": source,
                    "config": config,
                    "dataset": dataset,
                    "net_type": "resnet",
                    "network": "resnet",
                    "activation": "relu",
                    "depth": 20,
                    "seed": 0,
                    "variant": None,
                }
            )
    return pd.DataFrame(rows)


def test_summary_columns_and_groups():
    table = summarize(read_logs([SHIPPED]))
    assert list(table.columns) == SUMMARY_COLUMNS
    assert table["config"].tolist() == ["resnet-20", "resnet-possrelu-20"]
    assert table["seeds"].tolist() == [3, 3]
    assert table["activation"].tolist() == ["relu", "frelu"]
    assert table["depth"].dtype == pd.Int64Dtype()


def test_summary_best_and_final_values():
    table = summarize(read_logs([SHIPPED])).set_index("config")
    # Best test top-1 of the three FReLU seeds: 78.516, 78.125 and 76.172.
    best = [78.516, 78.125, 76.172]
    mean = sum(best) / 3
    std = math.sqrt(sum((b - mean) ** 2 for b in best) / 2)
    assert table.loc["resnet-possrelu-20", "best_top1_mean"] == pytest.approx(mean)
    assert table.loc["resnet-possrelu-20", "best_top1_std"] == pytest.approx(std)
    final = [80.859, 80.859, 77.344]
    assert table.loc["resnet-possrelu-20", "final_top1_mean"] == pytest.approx(sum(final) / 3)
    assert table.loc["resnet-possrelu-20", "epochs_max"] == 4


def test_summary_single_seed_has_nan_std():
    frame = synthetic_frame({"a": ("one", "cifar10", [50.0, 40.0, 45.0])})
    table = summarize(frame)
    assert table["best_top1_mean"].iloc[0] == 40.0
    assert table["final_top1_mean"].iloc[0] == 45.0
    assert math.isnan(table["best_top1_std"].iloc[0])
    assert format_table(table).splitlines()[2].split("|")[7].strip() == "40.00"


def test_summary_nan_epochs_skipped_for_best():
    frame = synthetic_frame({"a": ("one", "cifar10", [50.0, math.nan, 45.0, math.nan])})
    table = summarize(frame)
    assert table["best_top1_mean"].iloc[0] == 45.0
    assert math.isnan(table["final_top1_mean"].iloc[0])


def test_summary_datasets_kept_apart():
    frame = synthetic_frame(
        {
            "a": ("resnet-20", "cifar10", [10.0]),
            "b": ("resnet-20", "cifar100", [30.0]),
        }
    )
    table = summarize(frame)
    assert table["dataset"].tolist() == ["cifar10", "cifar100"]
    assert table["seeds"].tolist() == [1, 1]


def test_summary_epoch_range():
    frame = synthetic_frame(
        {
            "a": ("resnet-20", "cifar10", [10.0, 9.0]),
            "b": ("resnet-20", "cifar10", [12.0, 11.0, 10.0]),
        }
    )
    text = format_table(summarize(frame))
    assert text.splitlines()[2].rstrip(" |").endswith("2-3")


def test_markdown_table_text():
    text = format_table(summarize(read_logs([SHIPPED])), "markdown")
    assert text == (
        "| configuration      | dataset | network | activation | depth | seeds "
        "| best test top-1 (%) | final test top-1 (%) | epochs |\n"
        "| ------------------ | ------- | ------- | ---------- | ----: | ----: "
        "| ------------------: | -------------------: | -----: |\n"
        "| resnet-20          | cifar10 | resnet  | relu       |    20 |     3 "
        "|        10.55 ± 7.80 |         10.55 ± 7.80 |      4 |\n"
        "| resnet-possrelu-20 | cifar10 | resnet  | frelu      |    20 |     3 "
        "|        77.60 ± 1.26 |         79.69 ± 2.03 |      4 |\n"
    )


def test_latex_table_text():
    text = format_table(summarize(read_logs([SHIPPED])), "latex")
    lines = text.splitlines()
    assert lines[0] == r"\begin{tabular}{llllrrrrr}"
    assert lines[2].startswith(r"configuration & dataset")
    assert r"best test top-1 (\%)" in lines[2]
    assert lines[4] == (
        r"resnet-20 & cifar10 & resnet & relu & 20 & 3 & 10.55 $\pm$ 7.80 & "
        r"10.55 $\pm$ 7.80 & 4 \\"
    )
    assert lines[-1] == r"\end{tabular}"


def test_csv_table_round_trips():
    import io

    table = summarize(read_logs([SHIPPED]))
    parsed = pd.read_csv(io.StringIO(format_table(table, "csv")))
    assert list(parsed.columns) == SUMMARY_COLUMNS
    assert parsed["best_top1_mean"].tolist() == pytest.approx(table["best_top1_mean"].tolist())


def test_unknown_format_rejected():
    with pytest.raises(ValueError, match="unknown table format"):
        format_table(summarize(read_logs([SHIPPED])), "html")


def test_missing_depth_shown_as_dash():
    table = summarize(read_logs([TEST_DATA / "logs" / "a_cifar100_pelu-smallnet-relu-bn_seed0"]))
    assert format_table(table).splitlines()[2].split("|")[5].strip() == "-"


def test_integer_depths_beside_missing_ones():
    # The cifar100 runs have no depth. The others must still show 8 and 20, not 8.0 and 20.0.
    table = summarize(read_logs([TEST_DATA / "logs"]))
    assert table["depth"].dtype == pd.Int64Dtype()
    markdown = [line.split("|")[5].strip() for line in format_table(table).splitlines()[2:]]
    assert sorted(set(markdown)) == ["-", "20", "8"]
    latex = [line.split(" & ")[4] for line in format_table(table, "latex").splitlines()[4:-2]]
    assert sorted(set(latex)) == ["-", "20", "8"]
    csv = pd.read_csv(io.StringIO(format_table(table, "csv")), dtype=str, keep_default_na=False)
    assert sorted(set(csv["depth"])) == ["", "20", "8"]


def test_tidy_long_form():
    frame = read_logs([SHIPPED])
    long = tidy(frame)
    assert len(long) == len(frame) * 5
    assert set(long["split"]) == {"train", "test"}
    assert set(long["metric"]) == {"top1_err", "top5_err", "loss"}
    assert not ((long["split"] == "test") & (long["metric"] == "loss")).any()
    row = long[
        (long["run"] == "resnet-possrelu-20-seed0")
        & (long["epoch"] == 2)
        & (long["split"] == "test")
        & (long["metric"] == "top1_err")
    ]
    assert row["value"].tolist() == [78.516]


def test_label_merging_depths_keeps_both():
    logs = TEST_DATA / "logs"
    paths = [logs / "a_cifar10_resnet-possrelu-8_seed0", logs / "a_cifar10_resnet-possrelu_seed0"]
    table = summarize(read_logs(paths, labels="frelu|all"))
    assert table["depth"].tolist() == ["8/20"]
    assert table["seeds"].tolist() == [2]
    row = format_table(table).splitlines()[2]
    assert row.startswith("| frelu\\|all ")
    assert " 8/20 " in row
