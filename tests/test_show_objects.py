"""Bounded summaries of `.t7` files that hold no model."""

import json

import numpy as np
from conftest import TEST_DATA

from frelu_tools.show import format_report, json_ready, show_report
from frelu_tools.show.objects import format_object_summary, summarise_object
from frelu_tools.t7 import load

FORMATS = TEST_DATA / "show" / "formats"


def test_mixed_table_cycle_and_shared_table():
    summary = summarise_object(load(FORMATS / "mixed_table.t7"))
    fields = summary["fields"]

    assert summary["type"] == "table"
    assert fields["self"] == {"type": "reference", "same_as": "root"}
    shared = {fields["inner"]["type"], fields["inner_again"]["type"]}
    assert shared == {"list", "reference"}


def test_mixed_table_values():
    fields = summarise_object(load(FORMATS / "mixed_table.t7"))["fields"]
    numbers = [item["value"] for item in fields["numbers"]["items"]]
    strings = fields["strings"]["items"]

    assert numbers[4:7] == ["inf", "-inf", "nan"]
    assert numbers[2] == 2**53
    assert {"type": "string", "length": 8, "value": "tab\there"} in strings
    assert any(item["type"] == "bytes" for item in strings)
    assert fields["module"]["class"] == "nn.Linear"
    assert fields["module"]["torch_print"] == "nn.Linear(3 -> 2)"
    assert fields["tensors"]["fields"]["half"]["dtype"] == "float16"


def test_shared_tensor_is_a_reference():
    fields = summarise_object(load(FORMATS / "shared_storage.t7"))["fields"]

    assert fields["same_again"] == {"type": "reference", "same_as": "root.base"}
    assert fields["base"]["shape"] == [2, 3, 4]
    assert fields["base"]["first"] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert fields["empty"] == {"type": "tensor", "dtype": "float32", "shape": [0]}


def test_data_cache_shapes_without_dump():
    report = show_report(FORMATS / "cifar10_gen_small.t7")
    train = report["summary"]["fields"]["train"]["fields"]

    assert report["kind"] == "object"
    assert train["data"]["shape"] == [16, 3, 32, 32]
    assert train["data"]["dtype"] == "uint8"
    assert len(train["data"]["first"]) == 5
    assert (train["labels"]["min"], train["labels"]["max"]) == (2, 10)
    assert len(json.dumps(report)) < 2000


def test_function_summary():
    fields = summarise_object(load(FORMATS / "function.t7"))["fields"]
    assert fields["value"] == {"type": "number", "value": 42}
    assert fields["fn"]["type"] == "function"
    assert fields["fn"]["bytecode_bytes"] > 0


def test_deep_nesting_stops_at_max_depth():
    summary = summarise_object(load(FORMATS / "nested_150.t7"), max_depth=3)
    depth = 0
    while "fields" in summary:
        summary = summary["fields"]["child"]
        depth += 1

    assert depth == 3
    assert summary["truncated"] is True


def test_long_list_shows_first_items():
    summary = summarise_object(list(range(100)), max_items=12)
    assert len(summary["items"]) == 12
    assert summary["more"] == 88


def test_node_budget_bounds_output():
    wide = {f"k{i}": {f"j{j}": j for j in range(12)} for i in range(12)}
    summary = summarise_object(wide, max_nodes=20)
    lines = format_object_summary(summary)
    assert len(lines) < 60


def test_large_tensor_summary_is_small():
    summary = summarise_object(np.arange(1_000_000, dtype=np.float32).reshape(1000, 1000))
    assert summary["first"] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert summary["max"] == 999999.0
    assert summary["non_finite"] == 0


def test_nan_tensor_counts_non_finite():
    summary = summarise_object(np.array([np.nan, 1.0, np.inf]))
    assert summary["non_finite"] == 2
    assert summary["min"] == summary["max"] == 1.0
    assert summary["first"] == ["nan", 1.0, "inf"]


def test_text_of_mixed_table():
    report = show_report(FORMATS / "mixed_table.t7")
    text = format_report(report)

    assert text.startswith(f"{FORMATS / 'mixed_table.t7'}: table, 11 entries\n")
    assert "  self: same object as root\n" in text
    assert "  module: nn.Linear (torch object, 7 fields): nn.Linear(3 -> 2)\n" in text
    assert "    [5]: number inf\n" in text
    json.dumps(json_ready(report), allow_nan=False)
