"""FReLU, SReLU and PReLU parameters and parameter counts against the reference files."""

import re

import numpy as np
import pytest
from conftest import REFERENCE_DIR, REPO, TEST_DATA

from frelu_tools.show.params import activation_parameters, parameter_counts, walk_modules
from frelu_tools.t7 import TorchObject, load

EXAMPLE = REPO / "data" / "resnet-possrelu-20-cifar10.t7"

SHOW_FILES = [] if REFERENCE_DIR is None else sorted((REFERENCE_DIR / "models").glob("*.show.txt"))


def _show_txt_biases(path) -> list[tuple[float, str]]:
    """Return each bias value `show.lua` printed as (scale, value text).

    Torch7 prints a tensor with four decimals, after a line `S *` when it factors out a
    scale S (`0.01 *` then `-8.6000` for -0.086).
    """
    values = []
    blocks = re.findall(r"^bias:\t(.*?)\n\[torch\.\w+ of size \d+\]", path.read_text(), re.M | re.S)
    for block in blocks:
        lines = block.split("\n")
        scale = 1.0
        scale_match = re.fullmatch(r"\s*(\S+) \*", lines[0])
        if scale_match:
            scale = float(scale_match.group(1))
            lines = lines[1:]
        values += [(scale, line.strip()) for line in lines]
    return values


def _frelu_texts(model, scales: list[float]) -> list[tuple[float, str]]:
    values = []
    for parameter in activation_parameters(model):
        if parameter.activation == "FReLU":
            values += parameter.values
    return [(scale, f"{v / scale:.4f}") for v, scale in zip(values, scales, strict=False)]


@pytest.mark.skipif(REFERENCE_DIR is None, reason="Torch7 reference files not found")
@pytest.mark.parametrize("show_file", SHOW_FILES, ids=[p.name for p in SHOW_FILES])
def test_frelu_biases_equal_show_lua(show_file):
    model = load(show_file.with_name(show_file.name.replace(".show.txt", ".t7")))
    expected = _show_txt_biases(show_file)
    frelu_count = sum(p.size for p in activation_parameters(model) if p.activation == "FReLU")

    assert frelu_count == len(expected)
    assert _frelu_texts(model, [scale for scale, _ in expected]) == expected


def test_frelu_biases_of_shipped_example():
    expected = _show_txt_biases(TEST_DATA / "show" / "resnet-possrelu-20-cifar10.show.txt")
    assert len(expected) == 19
    assert _frelu_texts(load(EXAMPLE), [scale for scale, _ in expected]) == expected


def test_frelu_paths_keys_and_flags():
    parameters = activation_parameters(load(EXAMPLE))
    first, in_block = parameters[0], parameters[1]

    assert (first.torch_path, first.state_dict_key) == ("(3).(2)", "2.1.bias")
    assert first.grad_scale == 1
    assert first.constrained is False
    assert (in_block.torch_path, in_block.state_dict_key) == (
        "(4).(1).(1).(1).(3).(2)",
        "3.0.0.0.2.1.bias",
    )
    assert in_block.grad_scale == 0.1
    assert in_block.constrained is True
    assert in_block.constrained_value == -0.1
    assert in_block.size == 1
    assert all(p.activation == "FReLU" for p in parameters)


def test_keys_follow_walk_order():
    entries = list(walk_modules(load(EXAMPLE)))
    assert entries[0].torch_path == ()
    assert entries[0].path_text == "(model)"
    assert [e.key_prefix for e in entries[1:4]] == ["0", "1", "2"]
    assert entries[4].key_prefix == "2.0"


def test_srelu_thresholds(reference_dir):
    model = load(reference_dir / "models" / "smallnet-srelu.t7")
    parameters = activation_parameters(model)

    assert [p.activation for p in parameters] == ["SReLU"] * 4
    assert parameters[0].torch_path == "(1).(2).(1)"
    assert parameters[0].state_dict_key == "0.1.0.bias"
    module = model["modules"][0]["modules"][1]["modules"][0]
    assert parameters[0].values == [float(v) for v in module["bias"]]


@pytest.mark.parametrize("variant, size", [("prelu-channel", 3), ("prelu-shared", 0)])
def test_prelu_slopes(reference_dir, variant, size):
    model = load(reference_dir / "variants" / f"{variant}.t7")
    (parameter,) = activation_parameters(model)

    assert parameter.activation == "PReLU"
    assert parameter.state_dict_key == "0.weight"
    assert parameter.size == size
    assert parameter.values == [float(v) for v in model["modules"][0]["weight"]]


def test_channel_frelu_flags(reference_dir):
    model = load(reference_dir / "variants" / "frelu-channel-batch.t7")
    (parameter,) = activation_parameters(model)

    assert parameter.size == 3
    assert parameter.num_input_dims == 3
    assert len(parameter.values) == 3


def test_values_from_state_dict_for_spec():
    spec = {
        "torch_class": "nn.Sequential",
        "fields": {},
        "children": [
            {"torch_class": "nn.ReLU", "fields": {"inplace": True}},
            {
                "torch_class": "nn.MyAdd",
                "fields": {"size": 1, "lr_decay": 0.1, "isConstrained": True,
                           "constrainedVal": -0.1, "bias": {"tensor": [1], "dtype": "float32"}},
            },
        ],
    }  # fmt: skip
    (without_values,) = activation_parameters(spec)
    (parameter,) = activation_parameters(spec, {"1.bias": np.array([-0.25], np.float32)})

    assert without_values.values is None
    assert parameter.values == [-0.25]
    assert parameter.grad_scale == 0.1


def test_data_parallel_table_adds_no_key_step():
    bias = TorchObject("nn.MyAdd", {"size": 1, "bias": np.array([-1.0], np.float32)})
    model = TorchObject("nn.DataParallelTable", {"modules": [
        TorchObject("nn.Sequential", {"modules": [TorchObject("nn.ReLU"), bias]}),
    ]})  # fmt: skip
    (parameter,) = activation_parameters(model)

    assert parameter.torch_path == "(1).(2)"
    assert parameter.state_dict_key == "1.bias"


def test_counts_by_class_of_example():
    counts = {c.torch_class: c for c in parameter_counts(load(EXAMPLE))}

    assert counts["nn.MyAdd"].modules == 19
    assert counts["nn.MyAdd"].parameters == 19
    assert counts["nn.Linear"].parameters == 64 * 10 + 10
    assert counts["nn.SpatialBatchNormalization"].parameters == 2 * (16 * 7 + 32 * 6 + 64 * 6)
    assert counts["nn.Sequential"].parameters == 0
    assert sum(c.parameters for c in counts.values()) == 269741


def test_shared_tensor_counts_once():
    weight = np.zeros((4, 3), np.float32)
    first = TorchObject("nn.Linear", {"weight": weight})
    second = TorchObject("nn.Linear", {"weight": weight, "bias": np.zeros(4, np.float32)})
    model = TorchObject("nn.Sequential", {"modules": [first, second]})

    (linear, _) = parameter_counts(model)
    assert linear.torch_class == "nn.Linear"
    assert linear.modules == 2
    assert linear.parameters == 12 + 4


def test_batch_norm_without_affine_has_no_parameters(reference_dir):
    model = load(reference_dir / "variants" / "bn-spatial-noaffine.t7")
    counts = {c.torch_class: c.parameters for c in parameter_counts(model)}
    assert counts["nn.SpatialBatchNormalization"] == 0
