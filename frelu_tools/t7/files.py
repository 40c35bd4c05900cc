"""Entry points: `load` a `.t7` file or `loads` its bytes, whatever its encoding."""

import logging
import os
import re
import struct

from frelu_tools.errors import T7FormatError

from .encodings import AsciiReader, BinaryReader

logger = logging.getLogger(__name__)

# The first type tag of an ascii file: digits, then the newline torch7 writes after it.
_ASCII_START = re.compile(rb"\s*[0-8]\s")


def load(path, *, long_size: int | None = None):
    """Read a Torch7 `.t7` file written by `torch.save`, binary or ascii.

    Args:
        path: the file.
        long_size: bytes per `long` in a binary file, the type of tensor sizes, strides,
            offsets, storage sizes and LongStorage elements. 64-bit Linux and macOS builds
            write 8, and 32-bit and Windows builds or `file:longSize(4)` write 4. None reads
            with 8 and, where that fails, with 4, and accepts the 4-byte reading only when
            the object ends exactly at the end of the file. Ignored for ascii files.

    Returns:
        The saved object as plain Python values: None, bool, int (an integral number up to
        2**53), float, str (bytes where not UTF-8), dict, or list for a table whose keys
        are exactly 1..n (a table that contains itself stays a dict). Tensors and storages
        become `numpy.ndarray`: a storage is a 1-D array, and a tensor is a view of its
        storage's array with Torch7's sizes, strides and offset (`storage_of` finds them);
        CUDA types become the CPU dtype of the same element. Other Torch classes become
        `TorchObject`, and functions inert `LuaFunction` records. An object written twice
        is one Python object.

    Raises:
        T7FormatError: the file is not a readable Torch7 file; the message names the file,
            the byte offset and the problem.
        OSError: the file cannot be opened.

    Example:
        >>> model = load("resnet-20-cifar10.t7")
        >>> model.class_name, model["modules"][0].class_name
        ('nn.Sequential', 'cudnn.SpatialConvolution')
        >>> model["modules"][0]["weight"].shape
        (16, 3, 3, 3)
    """
    with open(path, "rb") as f:
        data = f.read()
    return loads(data, long_size=long_size, path=os.fspath(path))


def loads(data: bytes, *, long_size: int | None = None, path=None):
    """Read a Torch7 object from the bytes of a `.t7` file; see `load`.

    `path` only names the source in error messages.
    """
    if long_size not in (None, 4, 8):
        raise ValueError(f"long_size must be None, 4 or 8, not {long_size!r}")
    if not isinstance(data, (bytes, bytearray)):
        data = bytes(data)
    _check_signature(data, path)

    if _looks_ascii(data):
        return _read_all(AsciiReader(data, path))
    if long_size is not None:
        try:
            return _read_all(BinaryReader(data, path, long_size))
        except T7FormatError as error:
            raise _explain_foreign(error, data) from None
    return _read_detecting_long_size(data, path)


def _read_detecting_long_size(data: bytes, path):
    """Read with 8-byte longs and, where that fails, with 4-byte longs."""
    first = BinaryReader(data, path, 8)
    try:
        return _read_all(first)
    except T7FormatError as error8:
        if first.longs_read == 0:
            raise _explain_foreign(error8, data) from None
        return _read_long4_after_failure(data, path, error8)


def _read_long4_after_failure(data: bytes, path, error8: T7FormatError):
    second = BinaryReader(data, path, 4)
    try:
        obj = second.read_obj()
    except T7FormatError as error4:
        raise _both_failed(error8, error4.reason, error4.offset, path) from error8

    # A 4-byte reading that stops short of the end is a misreading of a broken file.
    if second.remaining:
        reason = f"the object ends {second.remaining} bytes before the end of the file"
        raise _both_failed(error8, reason, second.position, path) from error8
    logger.debug("%s: read with 4-byte longs", path or "<bytes>")
    return obj


def _read_all(reader):
    obj = reader.read_obj()
    _warn_trailing(reader)
    return obj


def _warn_trailing(reader):
    if reader.remaining:
        logger.warning(
            "%s: ignoring %d bytes after the object that ends at byte %d",
            reader.path or "<bytes>",
            reader.remaining,
            reader.position,
        )


def _both_failed(error8, reason4, offset4, path):
    return T7FormatError(
        f"{error8.reason}. Read with 4-byte longs, as 32-bit builds write them, the file "
        f"fails at byte {offset4}: {reason4}",
        path,
        error8.offset,
    )


def _explain_foreign(error, data):
    """Name what a file is where its first type tag is already wrong: text or big-endian."""
    if error.offset != 0:
        return error
    if len(data) >= 4 and 0 <= struct.unpack(">i", data[:4])[0] <= 8:
        return T7FormatError(
            "this looks like a big-endian Torch7 file (bigEndianEncoding), which this reader "
            "does not read: save it again in native (little-endian) binary or ascii mode",
            error.path,
            error.offset,
        )
    head = data[:64]
    printable = sum(32 <= byte < 127 or byte in (9, 10, 13) for byte in head)
    if printable < len(head):
        return error
    text = head.decode("ascii").split("\n")[0][:40]
    return T7FormatError(
        f"not a Torch7 file: it starts with the text {text!r}", error.path, error.offset
    )


def _looks_ascii(data: bytes) -> bool:
    return _ASCII_START.match(data[:16]) is not None


def _check_signature(data: bytes, path):
    """Reject files that are clearly something else, naming what they are."""
    if not data:
        raise T7FormatError("empty file, not a Torch7 file", path, 0)
    if data.startswith(b"PK\x03\x04"):
        raise T7FormatError(
            "this looks like a PyTorch file (a zip archive, as torch.save writes), not a "
            "Torch7 file: open it with torch.load",
            path,
            0,
        )
    if data.startswith(b"\x80") and data[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        raise T7FormatError(
            "this looks like a Python pickle, as older PyTorch versions of torch.save "
            "wrote, not a Torch7 file: open it with torch.load",
            path,
            0,
        )
    if data.startswith(b"version https://git-lfs"):
        raise T7FormatError(
            "this is a Git LFS pointer, not the file itself: run `git lfs pull` to fetch it",
            path,
            0,
        )
    if data.startswith(b"\x89HDF"):
        raise T7FormatError("this is an HDF5 file, not a Torch7 file", path, 0)
