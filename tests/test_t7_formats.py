"""The Torch7 reader on real files of every encoding, type and reference pattern."""

import math

import numpy as np
import pytest
from conftest import TEST_DATA

from frelu_tools.t7 import LuaFunction, T7FormatError, TorchObject, load, loads, storage_of

FORMATS = TEST_DATA / "t7" / "formats"

# The edge values Torch7 wrote into formats/types_*.t7, by element type.
EXPECTED_TYPES = {
    "byte": (np.uint8, [[0, 1, 255], [128, 7, 9]]),
    "char": (np.int8, [[-128, 0, 127], [-1, 5, 9]]),
    "short": (np.int16, [[-32768, 0, 32767], [-1, 5, 9]]),
    "int": (np.int32, [[-2147483648, 0, 2147483647], [-1, 5, 9]]),
    "long": (np.int64, [[-4503599627370496, 0, 4503599627370496], [-1, 5, 9]]),
    "float": (np.float32, [[-2.5, 0.0, 1e-07], [3.25, 1e10, -7.0]]),
    "double": (np.float64, [[-2.5, 0.0, 1e-07], [3.25, 1e10, -7.0]]),
    "half": (np.float16, [[-2.5, 0.0, 0.1], [3.25, 65504.0, -7.0]]),
}


@pytest.mark.parametrize("name", ["types_binary", "types_ascii", "types_cuda"])
@pytest.mark.parametrize("element", sorted(EXPECTED_TYPES))
def test_tensor_types(name, element):
    tensor = load(FORMATS / f"{name}.t7")[element]
    dtype, values = EXPECTED_TYPES[element]
    assert tensor.dtype == dtype
    assert tensor.shape == (2, 3)
    np.testing.assert_array_equal(tensor, np.array(values, dtype=dtype))


def test_cuda_file_has_cuda_classes():
    data = (FORMATS / "types_cuda.t7").read_bytes()
    for class_name in [b"torch.CudaTensor", b"torch.CudaLongTensor", b"torch.CudaHalfTensor"]:
        assert class_name in data
    assert b"torch.CudaHalfStorage" in data


@pytest.mark.parametrize("name", ["types_binary", "types_ascii"])
def test_bare_storages(name):
    storages = load(FORMATS / f"{name}.t7")["storages"]
    assert storages["float"].dtype == np.float32
    assert storages["float"].tolist() == [1.5, -2.5]
    assert storages["char"].dtype == np.int8
    assert bytes(storages["char"]) == b"hi"
    assert storages["long"].dtype == np.int64
    assert storages["long"].tolist() == [3, 4]
    assert storages["byte"].tolist() == [1, 2, 3]


@pytest.mark.parametrize("name", ["shared_storage", "shared_storage_ascii"])
def test_shared_storage_views(name):
    obj = load(FORMATS / f"{name}.t7")
    storage = obj["storage"]
    assert storage.shape == (24,)
    np.testing.assert_array_equal(storage, np.arange(24, dtype=np.float32))

    expected_offsets = {
        "base": 0,
        "narrowed": 1,
        "transposed": 0,
        "row": 20,
        "offset": 4,
        "expanded": 9,
    }
    for key, offset in expected_offsets.items():
        owner, found_offset = storage_of(obj[key])
        assert owner is storage, key
        assert found_offset == offset, key

    assert obj["same_again"] is obj["base"]
    assert not obj["transposed"].flags.c_contiguous
    assert obj["expanded"].strides == (0, 4)
    assert obj["offset"].tolist() == [4.0, 7.0, 10.0, 13.0]
    assert obj["empty"].shape == (0,)
    assert obj["empty"].dtype == np.float32


def test_write_through_shared_view():
    obj = load(FORMATS / "shared_storage.t7")
    obj["row"][1] = -1.0
    assert obj["base"][1, 2, 1] == -1.0
    assert obj["storage"][21] == -1.0
    assert obj["transposed"][1, 2, 1] == -1.0

    obj["expanded"][0, 1] = 99.0
    assert obj["expanded"][2, 1] == 99.0
    assert obj["storage"][10] == 99.0
    assert obj["offset"][2] == 99.0
    assert obj["narrowed"][0, 2, 1] == 99.0


@pytest.mark.parametrize("name", ["mixed_table", "mixed_table_ascii"])
def test_mixed_table(name):
    obj = load(FORMATS / f"{name}.t7")
    assert obj["list"] == [10, 20, 30, 40]
    assert obj["holes"] == {1: "a", 2: "b", 4: "d"}
    assert obj["numeric_keys"] == {1.5: "float key", 100: "sparse", -3: "negative key"}
    assert obj["booleans"] == {"t": True, "f": False}
    assert obj["strings"] == ["", "plain", "tab\there", b"bytes\x00\xff\x01", "utf8 €"]
    assert obj["inner"] is obj["inner_again"]
    assert obj["self"] is obj
    assert isinstance(obj["module"], TorchObject)
    assert obj["module"].class_name == "nn.Linear"
    assert obj["module"]["weight"].dtype == np.float32

    numbers = obj["numbers"]
    assert numbers[:3] == [0, -1, 2**53]
    assert type(numbers[2]) is int
    assert numbers[3] == 1.5e-300
    assert numbers[4] == math.inf
    assert numbers[5] == -math.inf
    assert math.isnan(numbers[6])
    assert numbers[7] == math.pi


def test_lua_function_inert():
    obj = load(FORMATS / "function.t7")
    assert obj["value"] == 42
    function = obj["fn"]
    assert isinstance(function, LuaFunction)
    assert function.bytecode.startswith(b"\x1bLJ")
    assert function.upvalues == [{"name": "scale", "value": 3, "id": 1}]


def test_long4_detected():
    obj = load(FORMATS / "long4_table.t7")
    shared = obj["shared"]
    owner, offset = storage_of(shared["row"])
    assert owner is shared["storage"]
    assert offset == 20
    assert shared["storage"].tolist() == list(range(24))
    assert obj["list"] == [1, 2, 3]
    assert obj["types"]["half"].dtype == np.float16


def test_long4_forced():
    data = (FORMATS / "long4_table.t7").read_bytes()
    forced = loads(data, long_size=4)
    assert forced["shared"]["storage"].tolist() == list(range(24))
    with pytest.raises(T7FormatError):
        loads(data, long_size=8)


def test_long8_forced():
    obj = loads((FORMATS / "types_binary.t7").read_bytes(), long_size=8)
    assert obj["long"].dtype == np.int64


def test_ascii_cifar_batch():
    obj = load(FORMATS / "cifar10_batch_ascii.t7")
    assert obj["data"].dtype == np.uint8
    assert obj["data"].shape == (3072, 20)
    assert obj["labels"].shape == (1, 20)


def test_cifar_cache():
    obj = load(FORMATS / "cifar10_gen_small.t7")
    assert obj["train"]["data"].shape[1:] == (3, 32, 32)
    assert obj["train"]["data"].dtype == np.uint8
    assert obj["train"]["labels"].shape == (obj["train"]["data"].shape[0],)


def test_nested_150():
    obj = load(FORMATS / "nested_150.t7")
    depth = 0
    while isinstance(obj, dict) and "child" in obj:
        obj = obj["child"]
        depth += 1
    assert depth >= 149


@pytest.mark.parametrize("name", ["gpu_model", "dpt_model"])
def test_cuda_models_on_cpu(name):
    model = load(FORMATS / f"{name}.t7")
    assert isinstance(model, TorchObject)
    arrays = []
    pending = [model]
    while pending:
        node = pending.pop()
        if isinstance(node, TorchObject):
            pending.extend(node.fields.values())
        elif isinstance(node, (list, dict)):
            pending.extend(node.values() if isinstance(node, dict) else node)
        elif isinstance(node, np.ndarray):
            arrays.append(node)
    assert arrays
    assert any(a.dtype == np.float32 and a.size > 0 for a in arrays)
