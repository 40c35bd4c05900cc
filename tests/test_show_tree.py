"""`format_tree` against Torch7's own `print(model)` output.

The only normalisation: `print` ends its output with a newline and `format_tree`
returns the text without it, so each comparison appends one "\\n".
"""

import re

import numpy as np
import pytest
from conftest import REFERENCE_DIR, REPO, TEST_DATA

from frelu_tools.show.params import parameter_counts, walk_modules
from frelu_tools.show.tree import ModuleTreeError, format_tree
from frelu_tools.t7 import TorchObject, load

EXAMPLE = REPO / "data" / "resnet-possrelu-20-cifar10.t7"


def _print_files(folder: str) -> list:
    if REFERENCE_DIR is None:
        return []
    return sorted((REFERENCE_DIR / folder).glob("*.print.txt"))


def _ids(paths) -> list[str]:
    return [f"{p.parent.name}/{p.name.removesuffix('.print.txt')}" for p in paths]


PRINT_FILES = _print_files("models") + _print_files("variants")


def _spec_of(obj: TorchObject) -> dict:
    """Build a spec: plain fields as they are, tensors as `{"tensor": shape}`, children."""
    fields = {}
    for name, value in obj.fields.items():
        if name in ("modules", "output", "gradInput") or name.startswith("grad"):
            continue
        if isinstance(value, np.ndarray):
            if name in ("size",):
                fields[name] = value.tolist()
            else:
                fields[name] = {"tensor": list(value.shape), "dtype": str(value.dtype)}
        elif isinstance(value, bool | int | float | str):
            fields[name] = value
    spec = {"torch_class": obj.class_name, "fields": fields}
    if "modules" in obj.fields:
        spec["children"] = [_spec_of(child) for child in obj.fields["modules"]]
    return spec


@pytest.mark.skipif(REFERENCE_DIR is None, reason="Torch7 reference files not found")
@pytest.mark.parametrize("print_file", PRINT_FILES, ids=_ids(PRINT_FILES))
def test_tree_equals_torch_print(print_file):
    model = load(print_file.with_name(print_file.name.replace(".print.txt", ".t7")))
    assert format_tree(model) + "\n" == print_file.read_text()


@pytest.mark.skipif(REFERENCE_DIR is None, reason="Torch7 reference files not found")
@pytest.mark.parametrize("print_file", PRINT_FILES, ids=_ids(PRINT_FILES))
def test_tree_of_spec_equals_torch_print(print_file):
    model = load(print_file.with_name(print_file.name.replace(".print.txt", ".t7")))
    assert format_tree(_spec_of(model)) + "\n" == print_file.read_text()


@pytest.mark.skipif(REFERENCE_DIR is None, reason="Torch7 reference files not found")
@pytest.mark.parametrize("print_file", PRINT_FILES, ids=_ids(PRINT_FILES))
def test_tree_of_described_spec_equals_torch_print(print_file):
    from frelu_tools.port import describe

    model = load(print_file.with_name(print_file.name.replace(".print.txt", ".t7")))
    assert format_tree(describe(model)) + "\n" == print_file.read_text()


def test_tree_of_shipped_example():
    expected = (TEST_DATA / "show" / "resnet-possrelu-20-cifar10.print.txt").read_text()
    assert format_tree(load(EXAMPLE)) + "\n" == expected


# Reference models whose network and data set have an architectures/NET.DATASET.txt.
ARCHITECTURES = {
    "resnet-possrelu-20-cifar10": "resnet-possrelu.cifar10",
    "resnet-20-cifar10": "resnet.cifar10",
    "resnet-elu-20-cifar10": "resnet-elu.cifar10",
    "preresnet-20-cifar10": "preresnet.cifar10",
    "elu-resnet-elu-20-cifar100": "elu-resnet-elu.cifar100",
    "elu-resnet-possrelu-20-cifar100": "elu-resnet-possrelu.cifar100",
    "elu-resnet-possrelu-constrained-20-cifar10": "elu-resnet-possrelu-constrained.cifar10",
    "nin-possrelu-bn": "nin-possrelu-bn.cifar100",
    "smallnet-srelu": "pelu-smallnet-srelu.cifar100",
    "smallnet-possrelu-bn": "pelu-smallnet-possrelu-bn.cifar100",
}


@pytest.mark.parametrize("model_name, architecture", sorted(ARCHITECTURES.items()))
def test_tree_and_count_match_architecture(reference_dir, model_name, architecture):
    model = load(reference_dir / "models" / f"{model_name}.t7")
    text = (reference_dir / "architectures" / f"{architecture}.txt").read_text()
    tree, count_line = text.rstrip("\n").rsplit("\n", 1)

    assert format_tree(model) == tree
    expected_total = int(re.fullmatch(r"-- (\d+) parameters", count_line).group(1))
    assert sum(c.parameters for c in parameter_counts(model)) == expected_total


def test_unknown_class_prints_its_name():
    model = TorchObject(
        "nn.Sequential",
        {
            "modules": [
                TorchObject("nn.MyNewLayer", {"weight": np.zeros(3)}),
                TorchObject("nn.Tanh"),
            ]
        },
    )
    assert format_tree(model) == (
        "nn.Sequential {\n"
        "  [input -> (1) -> (2) -> output]\n"
        "  (1): nn.MyNewLayer\n"
        "  (2): nn.Tanh\n"
        "}"
    )


def test_unknown_container_prints_its_name():
    container = TorchObject("nn.Bottle", {"modules": [TorchObject("nn.ReLU")]})
    assert format_tree(container) == "nn.Bottle"


def test_cudnn_class_uses_nn_format():
    pooling = TorchObject(
        "cudnn.SpatialMaxPooling", {"kW": 3, "kH": 3, "dW": 2, "dH": 2, "padW": 1, "padH": 1}
    )
    assert format_tree(pooling) == "cudnn.SpatialMaxPooling(3x3, 2,2, 1,1)"


def test_batch_norm_dimension_from_class():
    spec = {
        "torch_class": "cudnn.BatchNormalization",
        "fields": {"running_mean": {"tensor": [7], "dtype": "float32"}},
    }
    assert format_tree(spec) == "cudnn.BatchNormalization (2D) (7)"


def test_float_fields_print_as_lua_numbers():
    conv = TorchObject(
        "nn.SpatialConvolution",
        {
            "nInputPlane": 3.0, "nOutputPlane": 8.0, "kW": 5.0, "kH": 5.0,
            "dW": 1.0, "dH": 1.0, "padW": 2.0, "padH": 2.0,
            "weight": np.zeros((8, 3, 5, 5), np.float32),
        },
    )  # fmt: skip
    assert format_tree(conv) == "nn.SpatialConvolution(3 -> 8, 5x5, 1,1, 2,2) without bias"


def test_module_missing_a_field_prints_its_name():
    assert format_tree(TorchObject("nn.Linear", {})) == "nn.Linear"


def test_branch_container_nesting():
    inner = TorchObject("nn.ConcatTable", {"modules": [TorchObject("nn.Identity")] * 2})
    outer = TorchObject("nn.ParallelTable", {"modules": [inner, TorchObject("nn.Tanh")]})
    assert format_tree(outer) == (
        "nn.ParallelTable {\n"
        "  input\n"
        "    |`-> (1): nn.ConcatTable {\n"
        "    |      input\n"
        "    |        |`-> (1): nn.Identity\n"
        "    |         `-> (2): nn.Identity\n"
        "    |         ... -> output\n"
        "    |    }\n"
        "     `-> (2): nn.Tanh\n"
        "     ... -> output\n"
        "}"
    )


def test_cycle_in_module_tree_raises():
    model = TorchObject("nn.Sequential", {"modules": []})
    model.fields["modules"].append(TorchObject("nn.Sequential", {"modules": [model]}))
    with pytest.raises(ModuleTreeError, match="contains a cycle"):
        format_tree(model)
    with pytest.raises(ModuleTreeError, match=r"contains a cycle at \(1\)"):
        list(walk_modules(model))


def test_shared_module_is_not_a_cycle():
    relu = TorchObject("nn.ReLU")
    model = TorchObject("nn.Sequential", {"modules": [relu, relu]})
    assert format_tree(model).endswith("  (1): nn.ReLU\n  (2): nn.ReLU\n}")
    assert [e.key_prefix for e in walk_modules(model)] == ["", "0", "1"]


def test_very_deep_tree_raises_cleanly():
    model = TorchObject("nn.Identity")
    for _ in range(5000):
        model = TorchObject("nn.Sequential", {"modules": [model]})
    with pytest.raises(ModuleTreeError, match="nested too deeply"):
        format_tree(model)
