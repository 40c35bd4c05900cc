"""Read Torch7 `.t7` files (binary and ascii, every tensor type, CUDA types, 4- and 8-byte
longs, shared storages and references) into numpy arrays and plain Python objects."""

from frelu_tools.errors import T7FormatError

from .files import load, loads
from .objects import IdentityKey, LuaFunction, TorchObject, storage_of

__all__ = [
    "IdentityKey",
    "LuaFunction",
    "T7FormatError",
    "TorchObject",
    "load",
    "loads",
    "storage_of",
]
