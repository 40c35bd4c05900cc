"""Torch7 module trees -> PyTorch modules, through an architecture spec.

`describe` turns a Torch7 object graph into a spec (class names and Torch7 fields, no
weights), `build` turns a spec into a fresh torch.nn.Module, and `convert` does both and
loads every weight and buffer. One converter per Torch7 class name lives in `CONVERTERS`;
docs/converters.md shows how to add one.
"""

from frelu_tools.port import activations, containers, layers  # noqa: F401  (registers)
from frelu_tools.port.registry import CONVERTERS, ConversionError, register
from frelu_tools.port.spec import UnknownClassError, build, convert, describe, named_sources

__all__ = [
    "CONVERTERS",
    "ConversionError",
    "UnknownClassError",
    "build",
    "convert",
    "describe",
    "named_sources",
    "register",
]
