"""The Torch7 reader on every file of the Torch7 reference folder."""

import time

import numpy as np
import pytest
from conftest import REFERENCE_DIR

from frelu_tools.t7 import T7FormatError, TorchObject, load, storage_of

# Where the reference folder is absent the lists are empty and the tests skip.
ALL_FILES = sorted(REFERENCE_DIR.rglob("*.t7")) if REFERENCE_DIR else []
VALID_FILES = [path for path in ALL_FILES if path.parent.name != "corrupt"]
CORRUPT_FILES = [path for path in ALL_FILES if path.parent.name == "corrupt"]

# The text each corrupt file's error message must contain. deep_nesting_100k.t7 is valid and loads.
CORRUPT_MESSAGES = {
    "ascii_bad_number.t7": "invalid integer",
    "bad_version.t7": "invalid version string or class name 'X 1'",
    "empty.t7": "empty file",
    "git_lfs_pointer.t7": "Git LFS pointer",
    "huge_ndim.t7": "declares 1073741824 dimensions",
    "huge_storage.t7": "2199023255552 elements",
    "huge_string_length.t7": "string length 2147483647",
    "huge_table_count.t7": "table entry count 2147483647",
    "negative_size.t7": "negative size",
    "negative_storage_size.t7": "negative size -3",
    "negative_string_length.t7": "negative string length",
    "stride_overflow.t7": "of a storage of 4",
    "table_key_is_table_cycle.t7": "file ends",
    "text.t7": "not a Torch7 file",
    "truncated_ascii.t7": "truncated or corrupt",
    "truncated_header.t7": "file ends",
    "truncated_model.t7": "remain",
    "unknown_class.t7": "unknown tensor or storage class 'torch.EvilTensor'",
    "unknown_type.t7": "unknown type tag 99",
    "view_offset_past_storage.t7": "of a storage of 4",
    "view_past_storage.t7": "reaches element 10 of a storage of 4",
    "zip_not_t7.t7": "PyTorch",
}

CHECKPOINTS = "runs/a_cifar10_resnet-possrelu-8_seed0/checkpoints"


def _name(path):
    return str(path.relative_to(REFERENCE_DIR))


def _modules(model):
    """Yield a module and its descendants in Torch's depth-first order."""
    pending = [model]
    while pending:
        module = pending.pop()
        yield module
        pending.extend(reversed(module.get("modules") or []))


@pytest.mark.parametrize("path", VALID_FILES, ids=_name)
def test_reference_file_loads(reference_dir, path):
    obj = load(path)
    assert obj is not None


@pytest.mark.parametrize("path", CORRUPT_FILES, ids=_name)
def test_corrupt_file(reference_dir, path):
    if path.name == "deep_nesting_100k.t7":
        obj = load(path)
        depth = 1
        while obj:
            (obj,) = obj.values() if isinstance(obj, dict) else obj
            depth += 1
        assert depth == 100_000
        return

    with pytest.raises(T7FormatError) as info:
        load(path)
    message = str(info.value)
    assert message.startswith(f"{path} at byte {info.value.offset}: "), message
    assert CORRUPT_MESSAGES[path.name] in message


def test_corrupt_files_all_listed(reference_dir):
    names = {path.name for path in (reference_dir / "corrupt").glob("*.t7")}
    assert names - {"deep_nesting_100k.t7"} == set(CORRUPT_MESSAGES)


def test_largest_model_fast(reference_dir):
    path = reference_dir / "models" / "smallnet-possrelu-bn.t7"
    timings = []
    for _ in range(3):
        start = time.perf_counter()
        model = load(path)
        timings.append(time.perf_counter() - start)
    assert model.class_name == "nn.Sequential"
    # Measured at about 0.02 s on one core of the development machine.
    assert min(timings) < 0.5


def test_model_fields(reference_dir):
    model = load(reference_dir / "models" / "resnet-possrelu-20-cifar10.t7")
    classes = {module.class_name for module in _modules(model)}
    assert "cudnn.SpatialConvolution" in classes
    assert "nn.MyAdd" in classes
    conv = next(m for m in _modules(model) if m.class_name == "cudnn.SpatialConvolution")
    assert conv["weight"].dtype == np.float32
    assert conv["weight"].shape == (
        conv["nOutputPlane"],
        conv["nInputPlane"],
        conv["kH"],
        conv["kW"],
    )
    bias = next(m for m in _modules(model) if m.class_name == "nn.MyAdd")
    assert bias["bias"].dtype == np.float32
    assert bias["lr_decay"] in (0.1, 1)


def test_checkpoint_flat_parameters(reference_dir):
    folder = reference_dir / CHECKPOINTS
    latest = load(folder / "latest.t7")
    assert latest == {"epoch": 5, "modelFile": "model_5.t7", "optimFile": "optimState_5.t7"}

    model = load(folder / latest["modelFile"])
    parameters = []
    for module in _modules(model):
        for field in ("weight", "bias"):
            array = module.get(field)
            if isinstance(array, np.ndarray) and array.size:
                parameters.append(array)

    flat, _ = storage_of(parameters[0])
    offset = 0
    for array in parameters:
        storage, found = storage_of(array)
        assert storage is flat
        assert found == offset
        offset += array.size
    assert offset == flat.size

    optim_path = folder / latest["optimFile"]
    assert b"torch.CudaTensor" in optim_path.read_bytes()
    optim_state = load(optim_path)
    assert optim_state["dfdx"].dtype == np.float32
    assert optim_state["dfdx"].shape == (flat.size,)
    assert optim_state["nesterov"] is True
    assert optim_state["momentum"] == 0.9


def test_trainstep_files(reference_dir):
    folder = reference_dir / "trainstep" / "resnet-possrelu-8-cifar10"
    batch = load(folder / "batch.t7")
    assert batch["input"].shape == (16, 3, 32, 32)
    assert batch["input"].dtype == np.float32
    assert batch["target"].dtype == np.int64
    assert batch["target"].min() >= 1

    losses = load(folder / "losses.t7")
    assert len(losses) == 3
    assert set(losses[0]) == {"loss", "top1", "top5"}

    for step in range(4):
        assert isinstance(load(folder / f"model_{step}.t7"), TorchObject)


@pytest.mark.parametrize(
    ("binary_name", "ascii_name"),
    [
        ("types_binary", "types_ascii"),
        ("shared_storage", "shared_storage_ascii"),
        ("mixed_table", "mixed_table_ascii"),
    ],
)
def test_ascii_matches_binary(reference_dir, binary_name, ascii_name):
    binary = load(reference_dir / "formats" / f"{binary_name}.t7")
    ascii_ = load(reference_dir / "formats" / f"{ascii_name}.t7")
    assert binary.keys() == ascii_.keys()
    for key, value in binary.items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(ascii_[key], value)
            assert ascii_[key].dtype == value.dtype


def test_cuda_types_match_cpu(reference_dir):
    cpu = load(reference_dir / "formats" / "types_binary.t7")
    cuda = load(reference_dir / "formats" / "types_cuda.t7")
    for key, value in cuda.items():
        np.testing.assert_array_equal(value, cpu[key])
        assert value.dtype == cpu[key].dtype


def test_dpt_wraps_gpu_model(reference_dir):
    gpu = load(reference_dir / "formats" / "gpu_model.t7")
    dpt = load(reference_dir / "formats" / "dpt_model.t7")
    assert dpt.class_name == "nn.DataParallelTable"
    inner = dpt["modules"][0]
    assert inner.class_name == gpu.class_name
    gpu_weights = [m["weight"] for m in _modules(gpu) if isinstance(m.get("weight"), np.ndarray)]
    dpt_weights = [m["weight"] for m in _modules(inner) if isinstance(m.get("weight"), np.ndarray)]
    assert len(gpu_weights) == len(dpt_weights)
    for expected, found in zip(gpu_weights, dpt_weights, strict=True):
        np.testing.assert_array_equal(found, expected)
