"""Recognise the PyTorch-side files `show` accepts without importing torch."""

from pathlib import Path

ZIP_SIGNATURE = b"PK\x03\x04"


def is_converted_file(path: Path) -> bool:
    """Return whether a file looks like a `.pt` (zip) or `.safetensors` file.

    A `.t7` file never counts, so that a PyTorch file renamed `.t7` gets the Torch7
    reader's explanation instead.
    """
    if path.suffix == ".t7":
        return False
    if path.suffix in (".pt", ".pt2", ".safetensors"):
        return True
    with open(path, "rb") as file:
        head = file.read(9)
    # A safetensors file starts with its header length (8 bytes) and then "{".
    return head[:4] == ZIP_SIGNATURE or head[8:9] == b"{"
