"""The Torch7 reader on broken, hostile and generated input: errors, never crashes."""

import logging
import random
import struct
import time

import numpy as np
import pytest
from conftest import TEST_DATA

from frelu_tools.t7 import IdentityKey, T7FormatError, TorchObject, load, loads, storage_of

T7 = TEST_DATA / "t7"


# ---- a minimal encoder for binary files, with 8-byte longs by default ----------------


def i32(n: int) -> bytes:
    return struct.pack("<i", n)


def long(n: int, size: int = 8) -> bytes:
    return struct.pack("<q" if size == 8 else "<i", n)


def raw_string(data: bytes) -> bytes:
    return i32(len(data)) + data


def nil() -> bytes:
    return i32(0)


def number(x: float) -> bytes:
    return i32(1) + struct.pack("<d", x)


def string(data: bytes) -> bytes:
    return i32(2) + raw_string(data)


def boolean(value: bool) -> bytes:
    return i32(5) + i32(int(value))


def table(index: int, entries: list[tuple[bytes, bytes]]) -> bytes:
    body = b"".join(key + value for key, value in entries)
    return i32(3) + i32(index) + i32(len(entries)) + body


def reference(tag: int, index: int) -> bytes:
    return i32(tag) + i32(index)


def torch_header(index: int, class_name: bytes, version: bytes = b"V 1") -> bytes:
    return i32(4) + i32(index) + raw_string(version) + raw_string(class_name)


def float_storage(index: int, values, declared: int | None = None) -> bytes:
    data = np.asarray(values, dtype="<f4").tobytes()
    size = len(values) if declared is None else declared
    return torch_header(index, b"torch.FloatStorage") + long(size) + data


def float_tensor(index, sizes, strides, offset1, storage: bytes, ndim=None) -> bytes:
    ndim = len(sizes) if ndim is None else ndim
    header = torch_header(index, b"torch.FloatTensor") + i32(ndim)
    dims = b"".join(long(n) for n in sizes) + b"".join(long(n) for n in strides)
    return header + dims + long(offset1) + storage


def nested_tables(depth: int) -> bytes:
    """Tables {[1] = {[1] = ... {} ...}} nested `depth` deep, built without recursion."""
    opening = b"".join(i32(3) + i32(i + 1) + i32(1) + number(1) for i in range(depth - 1))
    return opening + table(depth, [])


def nested_modules(depth: int) -> bytes:
    parts = []
    for i in range(depth - 1):
        parts.append(torch_header(2 * i + 1, b"nn.Sequential"))
        parts.append(i32(3) + i32(2 * i + 2) + i32(1) + string(b"child"))
    return b"".join(parts) + torch_header(2 * depth, b"nn.Identity") + table(2 * depth + 1, [])


def reject(data: bytes, *fragments: str, offset: int | None = None, **kwargs) -> T7FormatError:
    with pytest.raises(T7FormatError) as info:
        loads(data, path="case.t7", **kwargs)
    message = str(info.value)
    assert message.startswith("case.t7"), message
    for fragment in fragments:
        assert fragment in message, message
    if offset is not None:
        assert info.value.offset == offset, message
    return info.value


# ---- the corrupt files, copied from real Torch7 output and cut or edited ---------------

CORRUPT_MESSAGES = {
    "ascii_bad_number.t7": "invalid integer b'abc'",
    "bad_version.t7": "invalid version string or class name 'X 1'",
    "empty.t7": "empty file",
    "git_lfs_pointer.t7": "Git LFS pointer",
    "huge_ndim.t7": "declares 1073741824 dimensions",
    "huge_storage.t7": "torch.FloatStorage of 2199023255552 elements needs 8796093022208 bytes",
    "huge_string_length.t7": "string length 2147483647",
    "huge_table_count.t7": "table entry count 2147483647",
    "negative_size.t7": "negative size in [-5]",
    "negative_storage_size.t7": "negative size -3",
    "negative_string_length.t7": "negative string length -1",
    "stride_overflow.t7": "reaches element 1208925819614629174706176 of a storage of 4",
    "table_key_is_table_cycle.t7": "file ends",
    "text.t7": "not a Torch7 file: it starts with the text 'This is a text file",
    "truncated_ascii.t7": "needs at least 16 bytes, but only 13 remain",
    "truncated_header.t7": "file ends",
    "unknown_class.t7": "unknown tensor or storage class 'torch.EvilTensor'",
    "unknown_type.t7": "unknown type tag 99",
    "view_offset_past_storage.t7": "offset 3 reaches element 6 of a storage of 4",
    "view_past_storage.t7": "size [10], strides [1] and offset 1 reaches element 10",
    "zip_not_t7.t7": "looks like a PyTorch file (a zip archive",
}


@pytest.mark.parametrize("name", sorted(CORRUPT_MESSAGES))
def test_corrupt_copy_rejected(name):
    path = T7 / "corrupt" / name
    with pytest.raises(T7FormatError) as info:
        load(path)
    message = str(info.value)
    assert str(path) in message
    assert CORRUPT_MESSAGES[name] in message
    assert info.value.offset is not None
    assert f"at byte {info.value.offset}:" in message


def test_corrupt_copies_all_covered():
    copied = {path.name for path in (T7 / "corrupt").glob("*.t7")}
    assert copied == set(CORRUPT_MESSAGES)


# ---- not Torch7 at all -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"", "empty file"),
        (b"PK\x03\x04" + bytes(60), "open it with torch.load"),
        (b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19.", "Python pickle"),
        (b"version https://git-lfs.github.com/spec/v1\noid sha256:00\nsize 12\n", "git lfs pull"),
        (b"\x89HDF\r\n\x1a\n" + bytes(16), "HDF5"),
        (b"Hello, this is not a model.\n", "starts with the text 'Hello, this is not a model.'"),
        (b"\x00\x00\x00", "file ends inside a number"),
        (struct.pack(">id", 1, 2.0), "big-endian Torch7 file"),
    ],
)
def test_foreign_file_named(data, fragment):
    reject(data, fragment, offset=0)


def test_text_named_with_forced_long_size():
    reject(b"Not a model at all.\n", "starts with the text 'Not a model at all.'", long_size=8)


def test_missing_file_is_oserror(tmp_path):
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "absent.t7")


def test_bad_long_size_argument():
    with pytest.raises(ValueError, match="long_size"):
        loads(number(1), long_size=2)


# ---- deep nesting: an explicit stack, no RecursionError -------------------------------


def test_tables_nested_100k(tmp_path):
    path = tmp_path / "deep.t7"
    path.write_bytes(nested_tables(100_000))
    obj = load(path)
    depth = 1
    while obj:
        obj = obj[0]
        depth += 1
    assert depth == 100_000


def test_modules_nested_20k():
    obj = loads(nested_modules(20_000))
    depth = 1
    while obj.class_name == "nn.Sequential":
        obj = obj["child"]
        depth += 1
    assert depth == 20_000
    assert obj.class_name == "nn.Identity"


def test_deep_truncated_rejected():
    data = nested_tables(50_000)
    reject(data[: len(data) // 2], "truncated or corrupt")


# ---- truncations of real files --------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "formats/shared_storage.t7",
        "formats/shared_storage_ascii.t7",
        "formats/types_binary.t7",
        "formats/types_ascii.t7",
        "formats/function.t7",
        "formats/long4_table.t7",
        "variants/frelu-constrained.t7",
    ],
)
def test_every_truncation_rejected(name):
    data = (T7 / name).read_bytes()
    for end in range(len(data)):
        if name.endswith("_ascii.t7"):
            if not data[end:].strip():
                continue  # only the final newline is gone: the file is still complete
            if data[end - 1 : end + 1].isdigit():
                continue  # a number cut short is a smaller number, and may be valid
        with pytest.raises(T7FormatError) as info:
            loads(data[:end], path="cut.t7")
        assert info.value.offset is not None, end
        assert info.value.offset <= end, end


def test_truncated_model_message(tmp_path):
    data = (T7 / "formats" / "gpu_model.t7").read_bytes()
    path = tmp_path / "cut.t7"
    path.write_bytes(data[: len(data) - 100])
    with pytest.raises(T7FormatError) as info:
        load(path)
    assert str(path) in str(info.value)
    assert "remain" in str(info.value)


# ---- absurd counts and sizes -----------------------------------------------------------


def test_huge_table_count():
    reject(table(1, [])[:-4] + i32(2**31 - 1) + nil(), "table entry count 2147483647", offset=8)


def test_negative_table_count():
    reject(i32(3) + i32(1) + i32(-2), "negative table entry count -2", offset=8)


def test_huge_string_length():
    reject(i32(2) + i32(2**31 - 1) + b"abc", "string length 2147483647", offset=4)


def test_huge_storage_8byte_long():
    data = torch_header(1, b"torch.FloatStorage") + long(2**62) + bytes(16)
    reject(data, "torch.FloatStorage of 4611686018427387904 elements", long_size=8)


def test_negative_storage_size():
    data = torch_header(1, b"torch.DoubleStorage") + long(-1)
    reject(data, "torch.DoubleStorage has negative size -1", long_size=8)


def test_huge_ndim():
    data = torch_header(1, b"torch.FloatTensor") + i32(2**31 - 1) + bytes(32)
    reject(data, "declares 2147483647 dimensions")


def test_negative_ndim():
    data = torch_header(1, b"torch.FloatTensor") + i32(-1) + bytes(32)
    reject(data, "negative dimension count -1")


def test_ndim_beyond_numpy():
    storage = float_storage(2, [1.0])
    data = float_tensor(1, [1] * 100, [1] * 100, 1, storage)
    reject(data, "cannot be a numpy array", long_size=8)


def test_zero_stride_huge_view_rejected():
    storage = float_storage(2, [1.0])
    data = float_tensor(1, [2**40, 2**40], [0, 0], 1, storage)
    reject(data, "cannot be a numpy array", long_size=8)


def test_negative_storage_offset():
    storage = float_storage(2, [1.0, 2.0])
    reject(float_tensor(1, [2], [1], 0, storage), "reaches element 0", long_size=8)


def test_negative_stride_outside():
    storage = float_storage(2, [1.0, 2.0, 3.0])
    reject(float_tensor(1, [3], [-1], 2, storage), "reaches element 0", long_size=8)


def test_negative_stride_inside():
    storage = float_storage(2, [1.0, 2.0, 3.0])
    tensor = loads(float_tensor(1, [3], [-1], 3, storage), long_size=8)
    assert tensor.tolist() == [3.0, 2.0, 1.0]


def test_zero_size_dimension():
    storage = float_storage(2, [1.0])
    tensor = loads(float_tensor(1, [0, 2**40], [1, 1], 1, storage), long_size=8)
    assert tensor.shape == (0, 2**40)


def test_sizes_without_storage():
    reject(float_tensor(1, [3], [1], 1, nil()), "of size [3] has no storage", long_size=8)


def test_empty_tensor_without_storage():
    tensor = loads(float_tensor(1, [], [], 1, nil()), long_size=8)
    assert tensor.shape == (0,)
    assert tensor.dtype == np.float32


def test_storage_of_wrong_type():
    storage = torch_header(2, b"torch.DoubleStorage") + long(1) + struct.pack("<d", 1.0)
    data = float_tensor(1, [1], [1], 1, storage)
    reject(data, "has a torch.DoubleStorage as storage, expected torch.FloatStorage", long_size=8)


def test_storage_is_a_number():
    reject(float_tensor(1, [1], [1], 1, number(3)), "has a int as storage", long_size=8)


def test_tensor_is_its_own_storage():
    data = float_tensor(1, [1], [1], 1, reference(4, 1))
    reject(data, "object 1 refers to itself before it is complete", long_size=8)


def test_storage_shorter_than_declared():
    data = float_storage(1, [1.0, 2.0], declared=3)
    reject(data, "torch.FloatStorage of 3 elements needs 12 bytes, but only 8 remain", long_size=8)


# ---- type tags, classes and versions ---------------------------------------------------


@pytest.mark.parametrize("tag", [9, 99, -1, 2**31 - 1])
def test_unknown_type_tag(tag):
    reject(i32(tag), f"unknown type tag {tag}", offset=0)


def test_unknown_tensor_class():
    reject(torch_header(1, b"torch.QuantumTensor") + i32(0), "unknown tensor or storage class")


def test_unknown_storage_class():
    reject(torch_header(1, b"torch.BigStorage") + long(0), "'torch.BigStorage'")


def test_unknown_module_class():
    data = torch_header(1, b"nn.FancyLayer", b"V 3") + table(2, [(string(b"p"), number(0.5))])
    obj = loads(data)
    assert isinstance(obj, TorchObject)
    assert obj.class_name == "nn.FancyLayer"
    assert obj.version == 3
    assert obj["p"] == 0.5
    assert obj.get("missing") is None


def test_class_without_version():
    data = i32(4) + i32(1) + raw_string(b"nn.Identity") + table(2, [])
    obj = loads(data)
    assert obj.class_name == "nn.Identity"
    assert obj.version == 0


def test_garbage_class_name():
    reject(torch_header(1, b"\xff\x00junk"), "invalid class name", offset=15)


def test_garbage_version_number():
    reject(torch_header(1, b"nn.Linear", b"V x1"), "invalid class version", offset=8)


def test_fields_not_a_table():
    reject(torch_header(1, b"nn.Linear") + number(1), "nn.Linear object has int fields")


def test_list_fields_stay_a_dict():
    data = torch_header(1, b"nn.Thing") + table(2, [(number(1), string(b"a"))])
    assert loads(data).fields == {1: "a"}


def test_tds_vec_uses_torchfile_reader():
    data = torch_header(1, b"tds.Vec") + i32(2) + nil() + number(4) + string(b"x")
    assert loads(data) == [4, "x"]


def test_tds_vec_huge_count():
    reject(torch_header(1, b"tds.Vec") + i32(2**31 - 1) + nil() + number(1), "file ends")


def test_tds_nesting_bounded():
    data = b"".join(torch_header(i + 1, b"tds.Vec") + i32(1) + nil() for i in range(200))
    reject(data + number(1), "tds.Vec objects nested deeper than 64")


def test_tds_hash_with_table_key():
    key = table(2, [])
    data = torch_header(1, b"tds.Hash") + i32(1) + nil() + key + number(1)
    reject(data, "invalid tds.Hash object")


# ---- tables: references, cycles and keys -----------------------------------------------


def test_same_table_twice():
    inner = table(2, [(string(b"k"), number(1))])
    data = table(1, [(string(b"a"), inner), (string(b"b"), reference(3, 2))])
    obj = loads(data)
    assert obj["a"] is obj["b"]


def test_self_referencing_list_stays_dict():
    data = table(1, [(number(1), number(7)), (number(2), reference(3, 1))])
    obj = loads(data)
    assert isinstance(obj, dict)
    assert obj[1] == 7
    assert obj[2] is obj


def test_list_referenced_after_it_ends():
    inner = table(2, [(number(1), number(5))])
    data = table(1, [(string(b"a"), inner), (string(b"b"), reference(3, 2))])
    obj = loads(data)
    assert obj["a"] == [5]
    assert obj["b"] is obj["a"]


def test_empty_table_is_list():
    assert loads(table(1, [])) == []


def test_table_as_key():
    key = table(2, [(string(b"k"), number(1))])
    data = table(1, [(key, string(b"v")), (string(b"key"), reference(3, 2))])
    obj = loads(data)
    wrapped = next(k for k in obj if isinstance(k, IdentityKey))
    assert wrapped.value is obj["key"]
    assert obj[IdentityKey(obj["key"])] == "v"


def test_table_is_its_own_key():
    data = table(1, [(reference(3, 1), boolean(True))])
    obj = loads(data)
    assert obj[IdentityKey(obj)] is True


def test_nil_key():
    reject(table(1, [(nil(), number(1))]), "table key is nil")


def test_nan_key():
    reject(table(1, [(number(float("nan")), number(1))]), "table key is nan")


def test_nil_value_dropped():
    assert loads(table(1, [(string(b"a"), nil())])) == []


def test_numbers_beyond_2_53_stay_float():
    data = table(1, [(number(1), number(2.0**53)), (number(2), number(2.0**53 + 2))])
    first, second = loads(data)
    assert type(first) is int
    assert type(second) is float


def test_function_type_6_has_no_index():
    upvalues = table(2, [(number(1), number(3))])
    data = table(1, [(string(b"f"), i32(6) + raw_string(b"\x1bLJcode") + upvalues)])
    function = loads(data)["f"]
    assert function.bytecode == b"\x1bLJcode"
    assert function.upvalues == [3]


def test_recursive_function_reference():
    upvalues = table(3, [(number(1), reference(8, 2))])
    function = i32(8) + i32(2) + raw_string(b"code") + upvalues
    obj = loads(table(1, [(string(b"f"), function)]))
    assert obj["f"].upvalues[0] is obj["f"]


def test_trailing_bytes_logged(caplog):
    with caplog.at_level(logging.WARNING, logger="frelu_tools.t7"):
        assert loads(number(2) + b"junk") == 2
    assert "ignoring 4 bytes" in caplog.text


# ---- 4-byte longs ----------------------------------------------------------------------


def test_long4_generated():
    storage = (
        torch_header(2, b"torch.FloatStorage") + long(3, 4) + np.arange(3, dtype="<f4").tobytes()
    )
    tensor_bytes = torch_header(1, b"torch.FloatTensor") + i32(1) + long(2, 4) + long(1, 4)
    tensor = loads(tensor_bytes + long(2, 4) + storage)
    assert tensor.tolist() == [1.0, 2.0]


def test_neither_long_size_works():
    storage = torch_header(2, b"torch.FloatStorage") + long(100) + bytes(8)
    error = reject(storage, "needs 400 bytes", "Read with 4-byte longs")
    assert error.offset == 37


def test_long4_forced_on_long8_file():
    data = (T7 / "formats" / "shared_storage.t7").read_bytes()
    with pytest.raises(T7FormatError):
        loads(data, long_size=4)


# ---- ascii -----------------------------------------------------------------------------


def test_ascii_bad_float():
    reject(b"1\n1.5e\n", "invalid number b'1.5e'", offset=2)


def test_ascii_number_tokens():
    assert loads(b"1\n-inf\n") == float("-inf")
    assert loads(b"1\n1e3\n") == 1000


def test_ascii_ends_early():
    reject(b"3\n1\n", "file ends where integer belongs")


def test_ascii_short_out_of_range():
    data = b"4\n1\n3\nV 1\n18\ntorch.ShortStorage\n2\n1 70000\n"
    reject(data, "torch.ShortStorage element out of range")


def test_ascii_storage_too_large():
    data = b"4\n1\n3\nV 1\n18\ntorch.FloatStorage\n1000\n1 2\n"
    reject(data, "torch.FloatStorage of 1000 elements cannot fit")


def test_ascii_integer_of_5000_digits():
    reject(b"3\n" + b"9" * 5000 + b"\n", "invalid integer b'99999")


def test_ascii_long_float_token_fast():
    start = time.perf_counter()
    reject(b"1\n" + b"9" * 50_000 + b"x\n", "invalid number", "(50001 bytes)")
    assert time.perf_counter() - start < 1.0


def test_ascii_underscore_number_rejected():
    reject(b"1\n1_000\n", "invalid number b'1_000'")


# ---- random object graphs: encode, read back, compare ----------------------------------


class _GraphWriter:
    """Write random Lua values and record the Python value the reader must return."""

    def __init__(self, rng):
        self.rng = rng
        self.next_index = 1
        self.finished_tables = []  # (index, expected object) of tables already written
        self.storages = []  # (index, expected array) of storages already written

    def take_index(self) -> int:
        index = self.next_index
        self.next_index += 1
        return index

    def value(self, depth: int):
        choice = self.rng.random()
        if depth <= 0 or choice < 0.35:
            return self.scalar()
        if choice < 0.45 and self.finished_tables:
            index, expected = self.rng.choice(self.finished_tables)
            return reference(3, index), expected
        if choice < 0.6:
            return self.tensor()
        return self.table(depth)

    def scalar(self):
        kind = self.rng.randrange(5)
        if kind == 0:
            value = self.rng.randint(-(2**40), 2**40)
            return number(value), value
        if kind == 1:
            value = self.rng.random() - 0.5
            return number(value), value
        if kind == 2:
            value = bool(self.rng.randrange(2))
            return boolean(value), value
        if kind == 3:
            text = "".join(self.rng.choice("abc é\t") for _ in range(self.rng.randrange(6)))
            return string(text.encode()), text
        raw = bytes([0xFF, self.rng.randrange(256)])
        return string(raw), raw

    def table(self, depth: int):
        index = self.take_index()
        as_list = self.rng.random() < 0.5
        count = self.rng.randrange(5)
        entries, expected = [], {}
        for position in range(count):
            key = position + 1 if as_list else f"k{position}"
            encoded, value = self.value(depth - 1)
            entries.append((number(key) if as_list else string(key.encode()), encoded))
            expected[key] = value
        if as_list or not expected:
            expected = [expected[i + 1] for i in range(len(expected))]
        self.finished_tables.append((index, expected))
        return table(index, entries), expected

    def tensor(self):
        if self.storages and self.rng.random() < 0.5:
            storage_index, storage = self.rng.choice(self.storages)
            storage_bytes = reference(4, storage_index)
        else:
            storage_index = self.take_index()
            storage = np.arange(self.rng.randint(1, 12), dtype=np.float32) * 0.5
            storage_bytes = float_storage(storage_index, storage)
            self.storages.append((storage_index, storage))
        index = self.take_index()
        offset = self.rng.randrange(storage.size)
        size = self.rng.randint(1, storage.size - offset)
        encoded = float_tensor(index, [size], [1], offset + 1, storage_bytes)
        return encoded, ("tensor", storage_index, storage[offset : offset + size], offset)


def _assert_same(found, expected, storages_seen, objects_seen):
    if isinstance(expected, tuple) and expected[0] == "tensor":
        _, storage_index, values, offset = expected
        np.testing.assert_array_equal(found, values)
        storage, found_offset = storage_of(found)
        assert found_offset == offset
        assert storages_seen.setdefault(storage_index, storage) is storage
        return
    if isinstance(expected, (list, dict)):
        if id(expected) in objects_seen:
            assert found is objects_seen[id(expected)]
            return
        objects_seen[id(expected)] = found
        assert type(found) is type(expected)
        assert len(found) == len(expected)
        if isinstance(expected, list):
            pairs = list(zip(found, expected, strict=True))
        else:
            pairs = [(found[key], value) for key, value in expected.items()]
        for found_item, expected_item in pairs:
            _assert_same(found_item, expected_item, storages_seen, objects_seen)
        return
    assert type(found) is type(expected)
    assert found == expected


def test_random_graphs_round_trip():
    rng = random.Random("t7-graphs")
    for case in range(200):
        writer = _GraphWriter(rng)
        encoded, expected = writer.table(depth=5)
        found = loads(encoded, path=f"graph{case}.t7")
        _assert_same(found, expected, {}, {})
