"""The Torch7 object graph reader, on top of torchfile's `T7Reader`.

torchfile 0.1.0 supplies the type tags, the reader class with its number primitives
(`read_int`, `read_double`, `read_boolean` on top of `_read`) and the registry of class
readers (`torchfile.type_handlers`, used here for classes such as `tds.Hash`). Its
`read_obj` and its tensor and storage readers are replaced rather than extended, because:

- `read_obj` recurses once per nesting level, so a valid file with tables nested 100,000
  deep raises RecursionError. This reader keeps an explicit stack instead.
- its storage reader calls `numpy.fromfile` on the file object with the declared count,
  and its tensor reader calls `as_strided` without checking sizes, strides and offset
  against the storage, so hostile sizes make views of memory outside the storage. Half
  types raise NotImplementedError, and CudaLong and CudaHalf are missing.
- it has no 4-byte long mode: its `force_8bytes_long` path calls `xrange`, which Python 3
  lacks, and otherwise it reads C longs of the running machine.
- it reads an object index after type tag 6 (TYPE_FUNCTION), which torch7's `File.lua`
  does not write, and maps every integral double to int, beyond 2**53 included.

Subclasses supply the primitives of one encoding (binary or ascii): `_read`, `read_long`,
`read_long_array`, `read_bytes`, `read_storage_elements`, the `position` and `remaining`
properties, and the lower bounds `min_object_bytes` and `min_long_bytes` that a declared
count is checked against.
"""

import math
import re

import numpy as np
import torchfile

from frelu_tools.errors import T7FormatError

from .dtypes import STORAGE_DTYPES, STORAGE_OF_TENSOR, TENSOR_DTYPES
from .objects import IdentityKey, LuaFunction, TorchObject, register_storage

_MAX_EXACT_INT = 2**53

# Registry readers (torchfile.type_handlers) call read_obj recursively, so their nesting
# is bounded: a hostile file cannot turn them into a RecursionError.
_MAX_HANDLER_DEPTH = 64

_CLASS_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*\Z")
_VERSION = re.compile(rb"V (\S+)\Z")

_OPEN = object()  # read_value pushed a frame: the value is complete only when it pops
_UNFINISHED = object()  # memo entry of an object whose payload is still being read


class _TableFrame:
    __slots__ = ("index", "table", "remaining", "key", "has_key", "keep_dict", "referenced")

    def __init__(self, index, count, keep_dict):
        self.index = index
        self.table = {}
        self.remaining = count
        self.key = None
        self.has_key = False
        self.keep_dict = keep_dict
        self.referenced = False

    @property
    def needs_child(self) -> bool:
        return self.remaining > 0


class _SingleChildFrame:
    """An object whose payload ends with one more object: fields, upvalues or a storage."""

    __slots__ = ("needs_child", "child")

    def __init__(self):
        self.needs_child = True
        self.child = None


class _TorchObjectFrame(_SingleChildFrame):
    __slots__ = ("obj",)

    def __init__(self, obj):
        super().__init__()
        self.obj = obj


class _FunctionFrame(_SingleChildFrame):
    __slots__ = ("function",)

    def __init__(self, function):
        super().__init__()
        self.function = function


class _TensorFrame(_SingleChildFrame):
    __slots__ = ("index", "class_name", "sizes", "strides", "storage_offset", "offset")

    def __init__(self, index, class_name, sizes, strides, storage_offset, offset):
        super().__init__()
        self.index = index
        self.class_name = class_name
        self.sizes = sizes
        self.strides = strides
        self.storage_offset = storage_offset
        self.offset = offset


class GraphReader(torchfile.T7Reader):
    """Read one serialized Torch7 object into the Python object graph of `load`."""

    # Minimum size of one serialized object in bytes, which bounds the counts a file
    # may declare.
    min_object_bytes = 1

    def __init__(self, path=None):
        super().__init__(None, use_list_heuristic=True, use_int_heuristic=True)
        self.path = path
        self.longs_read = 0
        self._storage_classes: dict[int, str] = {}
        self._handler_depth = 0
        self._open_tables: dict[int, _TableFrame] = {}

    def error(self, reason: str, offset: int | None = None) -> T7FormatError:
        return T7FormatError(reason, self.path, self.position if offset is None else offset)

    def read_count(self, label: str, per_item_bytes: int) -> int:
        """Read an int count and check that the rest of the file can hold that many items."""
        offset = self.position
        count = self.read_int()
        if count < 0:
            raise self.error(f"negative {label} {count}", offset)
        if count * per_item_bytes > self.remaining:
            raise self.error(
                f"{label} {count} needs at least {count * per_item_bytes} bytes, but only "
                f"{self.remaining} remain: the file is truncated or corrupt",
                offset,
            )
        return count

    def read_string(self, disable_utf8=False) -> bytes:
        size = self.read_count("string length", 1)
        return self.read_bytes(size)

    def read_obj(self):
        """Read one object and everything it refers to, without recursion."""
        stack: list = []
        value = self._read_value(stack)
        while True:
            if value is _OPEN:
                frame = stack[-1]
                if frame.needs_child:
                    value = self._read_value(stack)
                    continue
                stack.pop()
                value = self._finish(frame)

            if not stack:
                return value
            self._accept(stack[-1], value)
            value = _OPEN

    # ---- one value: scalars return at once, containers push a frame -------------------

    def _read_value(self, stack):
        offset = self.position
        tag = self.read_int()

        if tag == torchfile.TYPE_NIL:
            return None
        if tag == torchfile.TYPE_NUMBER:
            return self._number(self.read_double())
        if tag == torchfile.TYPE_BOOLEAN:
            return self.read_boolean()
        if tag == torchfile.TYPE_STRING:
            return _decode(self.read_string())
        if tag == torchfile.TYPE_FUNCTION:
            # Type 6 has no object index (File.lua's readObject); its upvalues follow.
            function = LuaFunction(self.read_string())
            stack.append(_FunctionFrame(function))
            return _OPEN
        if tag in (
            torchfile.TYPE_TABLE,
            torchfile.TYPE_TORCH,
            torchfile.TYPE_RECUR_FUNCTION,
            torchfile.LEGACY_TYPE_RECUR_FUNCTION,
        ):
            return self._read_indexed(tag, stack)
        raise self.error(f"unknown type tag {tag} (expected 0 to 8)", offset)

    def _read_indexed(self, tag, stack):
        index = self.read_int()
        if index in self.objects:
            return self._reference(index)

        if tag == torchfile.TYPE_TABLE:
            # The field table of a Torch object stays a dict even where its keys are 1..n.
            keep_dict = bool(stack) and isinstance(stack[-1], _TorchObjectFrame)
            count = self.read_count("table entry count", 2 * self.min_object_bytes)
            frame = _TableFrame(index, count, keep_dict)
            self.objects[index] = frame.table
            self._open_tables[index] = frame
            stack.append(frame)
            return _OPEN

        if tag == torchfile.TYPE_TORCH:
            return self._read_torch(index, stack)

        function = LuaFunction(self.read_string())
        self.objects[index] = function
        stack.append(_FunctionFrame(function))
        return _OPEN

    def _reference(self, index):
        obj = self.objects[index]
        if obj is _UNFINISHED:
            raise self.error(f"object {index} refers to itself before it is complete")
        frame = self._open_tables.get(index)
        if frame is not None:
            frame.referenced = True
        return obj

    def _read_torch(self, index, stack):
        offset = self.position
        class_name, version = self._read_class_header()

        if class_name in STORAGE_DTYPES:
            storage = self._read_storage(class_name)
            self.objects[index] = storage
            return storage
        if class_name in TENSOR_DTYPES:
            self.objects[index] = _UNFINISHED
            stack.append(self._read_tensor_header(index, class_name))
            return _OPEN
        if class_name.endswith(("Tensor", "Storage")):
            raise self.error(f"unknown tensor or storage class {class_name!r}", offset)

        handler = torchfile.type_handlers.get(class_name.encode())
        if handler is not None:
            return self._read_with_handler(index, class_name, handler, version, offset)

        obj = TorchObject(class_name, None, version)
        self.objects[index] = obj
        stack.append(_TorchObjectFrame(obj))
        return _OPEN

    def _read_class_header(self) -> tuple[str, int]:
        offset = self.position
        version_string = self.read_string()
        match = _VERSION.match(version_string)
        if match is None:
            # Files older than torch7's class versions start with the class name.
            raw_name, version = version_string, 0
        else:
            version = self._version_number(match.group(1), offset)
            offset = self.position
            raw_name = self.read_string()

        class_name = raw_name.decode("ascii", errors="replace")
        if _CLASS_NAME.match(class_name) is None:
            label = "class name" if match else "version string or class name"
            raise self.error(
                f"invalid {label} {class_name[:80]!r} (expected 'V <number>' and a class "
                "name such as 'nn.Linear')",
                offset,
            )
        return class_name, version

    def _version_number(self, text: bytes, offset: int) -> int:
        try:
            number = float(text)
        except ValueError:
            number = math.nan
        if not number.is_integer():
            raise self.error(f"invalid class version {text[:40]!r}", offset)
        return int(number)

    def _read_storage(self, class_name):
        offset = self.position
        size = self.read_long()
        if size < 0:
            raise self.error(f"{class_name} has negative size {size}", offset)
        dtype = STORAGE_DTYPES[class_name]
        storage = self.read_storage_elements(dtype, size, class_name, offset)
        register_storage(storage)
        self._storage_classes[id(storage)] = class_name
        return storage

    def _read_tensor_header(self, index, class_name):
        offset = self.position
        ndim = self.read_int()
        if ndim < 0:
            raise self.error(f"{class_name} has negative dimension count {ndim}", offset)
        long_bytes = self.min_long_bytes
        if 2 * ndim * long_bytes > self.remaining:
            raise self.error(
                f"{class_name} declares {ndim} dimensions, more than the remaining "
                f"{self.remaining} bytes can hold",
                offset,
            )
        sizes = self.read_long_array(ndim)
        strides = self.read_long_array(ndim)
        storage_offset = self.read_long() - 1
        return _TensorFrame(index, class_name, sizes, strides, storage_offset, offset)

    def _read_with_handler(self, index, class_name, handler, version, offset):
        if self._handler_depth >= _MAX_HANDLER_DEPTH:
            raise self.error(f"{class_name} objects nested deeper than {_MAX_HANDLER_DEPTH}")
        self.objects[index] = _UNFINISHED
        self._handler_depth += 1
        try:
            # torchfile passes the version string, as Torch7's own read methods get it.
            obj = handler(self, b"V %d" % version)
        except T7FormatError:
            raise
        except Exception as exc:  # torchfile's readers raise whatever bad data causes
            raise self.error(f"invalid {class_name} object: {_short(exc)}", offset) from exc
        finally:
            self._handler_depth -= 1
        self.objects[index] = obj
        return obj

    def _number(self, x: float):
        if self.use_int_heuristic and x.is_integer() and abs(x) <= _MAX_EXACT_INT:
            return int(x)
        return x

    # ---- frames: which child comes next, and what a finished frame is -----------------

    def _accept(self, frame, value):
        if isinstance(frame, _TableFrame):
            if not frame.has_key:
                frame.key = self._table_key(value)
                frame.has_key = True
                return
            if value is not None:
                frame.table[frame.key] = value
            frame.has_key = False
            frame.remaining -= 1
            return
        frame.child = value
        frame.needs_child = False

    def _finish(self, frame):
        if isinstance(frame, _TableFrame):
            return self._finish_table(frame)
        if isinstance(frame, _TorchObjectFrame):
            frame.obj.fields = self._fields_table(frame.obj, frame.child)
            return frame.obj
        if isinstance(frame, _FunctionFrame):
            frame.function.upvalues = frame.child
            return frame.function
        tensor = self._make_tensor(frame, frame.child)
        self.objects[frame.index] = tensor
        return tensor

    def _table_key(self, key):
        if key is None:
            raise self.error("table key is nil")
        if isinstance(key, float) and math.isnan(key):
            raise self.error("table key is nan")
        if isinstance(key, (dict, list, np.ndarray)):
            return IdentityKey(key)
        # NOTE: Python's dict treats True as 1 and False as 0, unlike Lua, so a table that
        # has both the key true and the key 1 keeps only the later of the two entries.
        return key

    def _fields_table(self, obj, value):
        if isinstance(value, dict):
            return value
        if isinstance(value, list):
            # NOTE: only a reference to a table read earlier as a list lands here. The
            # fields become a new dict, which no longer shares identity with that list.
            return {i + 1: item for i, item in enumerate(value)}
        raise self.error(
            f"{obj.class_name} object has {type(value).__name__} fields, expected a table"
        )

    def _finish_table(self, frame):
        del self._open_tables[frame.index]
        table = frame.table
        if frame.keep_dict or frame.referenced or not self.use_list_heuristic:
            return table
        n = len(table)
        if not all(type(k) is int and 1 <= k <= n for k in table):
            return table
        items = [table[i] for i in range(1, n + 1)]
        self.objects[frame.index] = items
        return items

    def _make_tensor(self, frame, storage):
        class_name, offset = frame.class_name, frame.offset
        dtype = TENSOR_DTYPES[class_name]
        sizes, strides, storage_offset = frame.sizes, frame.strides, frame.storage_offset

        if any(size < 0 for size in sizes):
            raise self.error(f"{class_name} has a negative size in {_short(sizes)}", offset)
        numel = math.prod(sizes)

        if storage is None:
            if numel != 0 and sizes:
                raise self.error(f"{class_name} of size {_short(sizes)} has no storage", offset)
            return self._empty_view(np.empty(0, dtype=dtype), sizes, frame)
        self._check_storage_class(class_name, storage, offset)

        if not sizes or numel == 0:
            if not 0 <= storage_offset <= storage.size:
                raise self.error(
                    f"empty {class_name} starts at element {storage_offset + 1} of a "
                    f"storage of {storage.size}",
                    offset,
                )
            return self._empty_view(storage[storage_offset:storage_offset], sizes, frame)

        # Python ints do not overflow, so hostile sizes and strides cannot wrap around.
        extents = [stride * (size - 1) for size, stride in zip(sizes, strides, strict=True)]
        first = storage_offset + sum(extent for extent in extents if extent < 0)
        last = storage_offset + sum(extent for extent in extents if extent > 0)
        if first < 0 or last >= storage.size:
            outside = last if last >= storage.size else first
            raise self.error(
                f"{class_name} of size {_short(sizes)}, strides {_short(strides)} and offset "
                f"{storage_offset + 1} reaches element {outside + 1} of a storage of "
                f"{storage.size}",
                offset,
            )

        itemsize = dtype.itemsize
        try:
            return np.ndarray(
                tuple(sizes),
                dtype=storage.dtype,
                buffer=storage,
                offset=storage_offset * itemsize,
                strides=tuple(stride * itemsize for stride in strides),
            )
        except (ValueError, TypeError, OverflowError) as exc:
            reason = f"{class_name} of size {_short(sizes)} cannot be a numpy array: {_short(exc)}"
            raise self.error(reason, offset) from exc

    def _empty_view(self, empty, sizes, frame):
        """Shape an array of no elements as Torch7's sizes, or as (0,) without sizes."""
        try:
            return empty.reshape(tuple(sizes) if sizes else (0,))
        except (ValueError, OverflowError) as exc:
            reason = (
                f"empty {frame.class_name} of size {_short(sizes)} cannot be a numpy "
                f"array: {_short(exc)}"
            )
            raise self.error(reason, frame.offset) from exc

    def _check_storage_class(self, class_name, storage, offset):
        expected = STORAGE_OF_TENSOR[class_name]
        found = None
        if isinstance(storage, np.ndarray):
            found = self._storage_classes.get(id(storage))
        if found != expected:
            found = found or type(storage).__name__
            raise self.error(f"{class_name} has a {found} as storage, expected {expected}", offset)


def _short(value, limit: int = 120) -> str:
    """Text of a size list or message, cut so that hostile input keeps errors readable."""
    text = str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _decode(raw: bytes):
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw
