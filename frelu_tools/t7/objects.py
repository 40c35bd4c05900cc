"""Python types for the Torch7 values that have no direct Python counterpart."""

import weakref

import numpy as np

# Storage arrays created by the reader, by id. Weak values keep an entry only while its
# array lives, so an id cannot point at a different, newer array.
_STORAGES: "weakref.WeakValueDictionary[int, np.ndarray]" = weakref.WeakValueDictionary()


class TorchObject:
    """An instance of a Torch7 class that is not a tensor or storage (`nn.Linear`, ...).

    Attributes:
        class_name: the Torch7 class name as written in the file, e.g. "cudnn.SpatialConvolution".
        fields: the object's field table, a dict from field name to value.
        version: the class version number written before the class name (0 for old files).

    `obj["weight"]`, `obj.get("weight")`, `"weight" in obj` read fields. Equality is
    identity, as for Lua objects.
    """

    __slots__ = ("class_name", "fields", "version", "__weakref__")

    def __init__(self, class_name: str, fields: dict | None = None, version: int = 0):
        self.class_name = class_name
        self.fields = {} if fields is None else fields
        self.version = version

    def __getitem__(self, key):
        return self.fields[key]

    def get(self, key, default=None):
        return self.fields.get(key, default)

    def __contains__(self, key) -> bool:
        return key in self.fields

    def __repr__(self) -> str:
        return f"TorchObject({self.class_name!r}, <{len(self.fields)} fields>)"


class LuaFunction:
    """A serialized Lua function, kept as data and never run.

    Attributes:
        bytecode: the `string.dump` output (LuaJIT or Lua bytecode).
        upvalues: the upvalue table as written. Type 8, which the current `File.lua`
            writes, gives a list of dicts with "name", "value" and, under LuaJIT, "id".
            Types 6 and 7 of older files give a list of the values.
    """

    __slots__ = ("bytecode", "upvalues", "__weakref__")

    def __init__(self, bytecode: bytes, upvalues=None):
        self.bytecode = bytecode
        self.upvalues = upvalues

    def __repr__(self) -> str:
        return f"LuaFunction(<{len(self.bytecode)} bytes of bytecode>)"


class IdentityKey:
    """A table, tensor or function used as a key of a Lua table.

    Python cannot hash dicts, lists and arrays, but Lua tables compare keys by identity,
    and so does this wrapper. `key.value` is the wrapped object.
    """

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def __hash__(self) -> int:
        return id(self.value)

    def __eq__(self, other) -> bool:
        return isinstance(other, IdentityKey) and other.value is self.value

    def __repr__(self) -> str:
        return f"IdentityKey({type(self.value).__name__} at {id(self.value):#x})"


def register_storage(storage: np.ndarray) -> None:
    _STORAGES[id(storage)] = storage


def storage_of(tensor: np.ndarray) -> tuple[np.ndarray, int]:
    """Find the storage a loaded tensor views and its element offset into it.

    Args:
        tensor: an array returned by `load` for a Torch7 tensor, or a numpy view of one.

    Returns:
        `(storage, offset)`: the 1-D array of the whole Torch7 storage and the 0-based
        index of the tensor's first element in it (Torch7's `storageOffset() - 1`).

    Raises:
        ValueError: the array is not a view of a storage read by `load`. An empty tensor
            written without a storage, and any copy, have none.
    """
    root = tensor
    while isinstance(root.base, np.ndarray):
        root = root.base
    if _STORAGES.get(id(root)) is not root:
        raise ValueError("the array is not a view of a storage read from a .t7 file")

    byte_offset = tensor.__array_interface__["data"][0] - root.__array_interface__["data"][0]
    return root, byte_offset // root.itemsize
