"""The two encodings of `torch.save`: binary (the default) and ascii.

Both read from an in-memory buffer, so every read is checked against the bytes that
remain before anything is allocated.
"""

import re
import struct

import numpy as np

from .dtypes import LONG_DTYPES
from .reader import GraphReader

_INT32 = struct.Struct("<i")
_FLOAT64 = struct.Struct("<d")


class BinaryReader(GraphReader):
    """Native little-endian binary files; `long_size` is 8 (64-bit Linux) or 4."""

    min_object_bytes = 4  # every object starts with an int type tag

    def __init__(self, data: bytes, path=None, long_size: int = 8):
        super().__init__(path)
        if long_size not in LONG_DTYPES:
            raise ValueError(f"long_size must be 4 or 8, not {long_size!r}")
        self.data = memoryview(data)
        self.pos = 0
        self.long_size = long_size
        self.min_long_bytes = long_size
        self._long_format = "<q" if long_size == 8 else "<i"

    @property
    def position(self) -> int:
        return self.pos

    @property
    def remaining(self) -> int:
        return len(self.data) - self.pos

    def _take(self, size: int, description: str) -> int:
        start = self.pos
        if size > len(self.data) - start:
            raise self.error(
                f"file ends inside {description}: needs {size} bytes, "
                f"{len(self.data) - start} remain",
                start,
            )
        self.pos = start + size
        return start

    def _read(self, fmt):
        fmt = "<" + fmt
        start = self._take(struct.calcsize(fmt), "a number")
        return struct.unpack_from(fmt, self.data, start)

    # torchfile's read_int and read_double go through _read; these two are the hot path
    # of every file, so they skip the format parsing.
    def read_int(self) -> int:
        start = self.pos
        if start + 4 > len(self.data):
            self._take(4, "a number")
        self.pos = start + 4
        return _INT32.unpack_from(self.data, start)[0]

    def read_double(self) -> float:
        start = self.pos
        if start + 8 > len(self.data):
            self._take(8, "a number")
        self.pos = start + 8
        return _FLOAT64.unpack_from(self.data, start)[0]

    def read_long(self) -> int:
        self.longs_read += 1
        start = self._take(self.long_size, "a long")
        return struct.unpack_from(self._long_format, self.data, start)[0]

    def read_long_array(self, n):
        self.longs_read += n
        start = self._take(n * self.long_size, f"an array of {n} longs")
        dtype = LONG_DTYPES[self.long_size]
        return np.frombuffer(self.data, dtype=dtype, count=n, offset=start).tolist()

    def read_bytes(self, n: int) -> bytes:
        start = self._take(n, f"a run of {n} bytes")
        return bytes(self.data[start : start + n])

    def read_storage_elements(self, dtype, count, class_name, offset):
        # LongStorage elements take the file's long size, 4 or 8 bytes, and widen to int64.
        is_long = class_name.endswith("LongStorage")
        if is_long:
            dtype = LONG_DTYPES[self.long_size]
        needed = count * dtype.itemsize
        if needed > self.remaining:
            raise self.error(
                f"{class_name} of {count} elements needs {needed} bytes, but only "
                f"{self.remaining} remain: the file is truncated or corrupt",
                offset,
            )
        start = self._take(needed, class_name)
        elements = np.frombuffer(self.data, dtype=dtype, count=count, offset=start)
        # A copy owns aligned, writable memory, as torch.from_numpy and in-place edits need.
        return elements.astype(LONG_DTYPES[8]) if is_long else elements.copy()


_SPACE = re.compile(rb"\s*")
_TOKEN = re.compile(rb"\S+")
_INT = re.compile(rb"[+-]?\d+\Z")
# The numbers that C's scanf("%lg") accepts and Torch7's printf("%.17g") writes, bar hex floats.
_FLOAT = re.compile(
    rb"[+-]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|inf(?:inity)?|nan)\Z", re.IGNORECASE
)

# Torch7 writes at most 25 characters per number (printf "%.17g" of a double). Longer
# tokens are rejected before parsing, because Python's int() refuses over 4300 digits.
_MAX_NUMBER_CHARS = 64
_INT_FORMATS = {"i", "l", "q", "h"}
_FLOAT_FORMATS = {"d", "f"}


class AsciiReader(GraphReader):
    """Files written by `torch.save(file, x, 'ascii')`.

    Numbers are whitespace-separated decimal text; strings and byte or char storages are
    raw bytes of a known length. Each group written by one call is followed by a newline,
    which is skipped after the group, as torch7's THDiskFile does.
    """

    min_object_bytes = 1  # a type tag digit (its newline may be missing at the end)
    min_long_bytes = 1

    def __init__(self, data: bytes, path=None):
        super().__init__(path)
        self.data = bytes(data)
        self.pos = 0

    @property
    def position(self) -> int:
        return self.pos

    @property
    def remaining(self) -> int:
        return len(self.data) - self.pos

    def _token(self, description: str) -> tuple[bytes, int]:
        self.pos = _SPACE.match(self.data, self.pos).end()
        match = _TOKEN.match(self.data, self.pos)
        if match is None:
            raise self.error(f"file ends where {description} belongs")
        self.pos = match.end()
        return match.group(), match.start()

    def _skip_newline(self):
        if self.data[self.pos : self.pos + 1] == b"\n":
            self.pos += 1

    def _parse_int(self, description: str) -> int:
        token, start = self._token(description)
        if len(token) > _MAX_NUMBER_CHARS or _INT.match(token) is None:
            raise self.error(f"invalid {description} {_excerpt(token)} in an ascii file", start)
        return int(token)

    def _parse_float(self, description: str) -> float:
        token, start = self._token(description)
        if len(token) > _MAX_NUMBER_CHARS or _FLOAT.match(token) is None:
            raise self.error(f"invalid {description} {_excerpt(token)} in an ascii file", start)
        return float(token)

    def _read(self, fmt):
        if fmt in _INT_FORMATS:
            value = self._parse_int("integer")
        elif fmt in _FLOAT_FORMATS:
            value = self._parse_float("number")
        else:
            raise ValueError(f"unsupported struct format {fmt!r}")
        self._skip_newline()
        return (value,)

    def read_long(self) -> int:
        self.longs_read += 1
        value = self._parse_int("integer")
        self._skip_newline()
        return value

    def read_long_array(self, n):
        self.longs_read += n
        values = [self._parse_int("integer") for _ in range(n)]
        if n:
            self._skip_newline()
        return values

    def read_bytes(self, n: int) -> bytes:
        start = self.pos
        if n > self.remaining:
            raise self.error(f"file ends inside a run of {n} bytes: {self.remaining} remain", start)
        self.pos += n
        if n:
            self._skip_newline()
        return self.data[start : start + n]

    def read_storage_elements(self, dtype, count, class_name, offset):
        if dtype.itemsize == 1 and dtype.kind in "iu":
            raw = self.read_bytes(count)
            return np.frombuffer(raw, dtype=dtype).copy()

        # Each number takes at least one digit and one separator, bar the last.
        if 2 * count - 1 > self.remaining:
            raise self.error(
                f"{class_name} of {count} elements cannot fit in the {self.remaining} "
                "bytes that remain",
                offset,
            )
        parse = self._parse_float if dtype.kind == "f" else self._parse_int
        values = [parse(f"{class_name} element") for _ in range(count)]
        if count:
            self._skip_newline()
        try:
            # Torch7 itself turns a float beyond the range of half into inf, silently.
            with np.errstate(over="ignore"):
                return np.array(values, dtype=dtype)
        except OverflowError as exc:
            raise self.error(f"{class_name} element out of range: {exc}", offset) from exc


def _excerpt(token: bytes, limit: int = 40) -> str:
    return repr(token) if len(token) <= limit else f"{token[:limit]!r}... ({len(token)} bytes)"
