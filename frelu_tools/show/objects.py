"""A bounded summary of any loaded `.t7` object graph: tables, tensors, functions.

The summary names keys, types, shapes and dtypes and shows a few values, never whole
tensors or long tables. An object reached a second time (shared, or a cycle) is
summarised once and referred to by the path where it was first met.
"""

import math
import re
from collections.abc import Mapping

import numpy as np

from frelu_tools.show.tree import ModuleTreeError, format_tree
from frelu_tools.t7 import LuaFunction, TorchObject
from frelu_tools.t7.objects import IdentityKey

MAX_DEPTH = 6
MAX_ITEMS = 12
MAX_NODES = 300
FIRST_VALUES = 5
MAX_STRING = 60
# Tensors above this many elements are not scanned for their minimum and maximum.
MAX_SCAN_ELEMENTS = 50_000_000

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _json_number(value):
    """Return a number JSON can hold: non-finite floats become "nan", "inf", "-inf"."""
    if isinstance(value, bool):
        return value
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        number = float(value)
        if math.isnan(number):
            return "nan"
        if math.isinf(number):
            return "inf" if number > 0 else "-inf"
        return number
    return value


def _key_text(key) -> str:
    if isinstance(key, IdentityKey):
        return f"<{type(key.value).__name__} key>"
    return repr(key) if not isinstance(key, str) else key


def _child_path(path: str, key) -> str:
    if isinstance(key, str) and _IDENTIFIER.match(key):
        return f"{path}.{key}"
    if isinstance(key, int | float) and not isinstance(key, bool):
        return f"{path}[{_json_number(key)}]"
    return f"{path}[{_key_text(key)}]"


class _Summariser:
    def __init__(self, max_depth: int, max_items: int, max_nodes: int):
        self.max_depth = max_depth
        self.max_items = max_items
        self.nodes_left = max_nodes
        self.first_seen: dict[int, str] = {}
        # Keeps every summarised object alive, so that no id in first_seen is reused.
        self.kept: list = []

    def summarise(self, value, path: str, depth: int) -> dict:
        self.nodes_left -= 1
        if value is None:
            return {"type": "nil"}
        if isinstance(value, bool):
            return {"type": "boolean", "value": value}
        if isinstance(value, int | float | np.integer | np.floating):
            return {"type": "number", "value": _json_number(value)}
        if isinstance(value, str):
            return _summarise_string(value)
        if isinstance(value, bytes | bytearray):
            return {"type": "bytes", "length": len(value), "first": value[:16].hex()}

        if id(value) in self.first_seen:
            return {"type": "reference", "same_as": self.first_seen[id(value)]}
        self.first_seen[id(value)] = path
        self.kept.append(value)

        if isinstance(value, np.ndarray):
            return _summarise_array(value)
        if isinstance(value, LuaFunction):
            upvalues = value.upvalues
            return {
                "type": "function",
                "bytecode_bytes": len(value.bytecode),
                "upvalues": None if upvalues is None else len(upvalues),
            }
        if isinstance(value, TorchObject):
            return self._summarise_torch_object(value, path, depth)
        if isinstance(value, list):
            return self._summarise_list(value, path, depth)
        if isinstance(value, Mapping):
            return self._summarise_table(value, path, depth)
        return {"type": type(value).__name__}

    def _expand(self, depth: int) -> bool:
        return depth < self.max_depth and self.nodes_left > 0

    def _summarise_list(self, value: list, path: str, depth: int) -> dict:
        summary = {"type": "list", "length": len(value)}
        if not self._expand(depth):
            summary["truncated"] = True
            return summary
        first_items = value[: self.max_items]
        summary["items"] = [
            self.summarise(item, f"{path}[{i}]", depth + 1) for i, item in enumerate(first_items, 1)
        ]
        if len(value) > len(first_items):
            summary["more"] = len(value) - len(first_items)
        return summary

    def _summarise_table(self, value: Mapping, path: str, depth: int) -> dict:
        summary = {"type": "table", "entries": len(value)}
        if not self._expand(depth):
            summary["truncated"] = True
            return summary
        entries = {}
        for count, (key, item) in enumerate(value.items()):
            if count == self.max_items:
                summary["more"] = len(value) - count
                break
            entries[_key_text(key)] = self.summarise(item, _child_path(path, key), depth + 1)
        summary["fields"] = entries
        return summary

    def _summarise_torch_object(self, value: TorchObject, path: str, depth: int) -> dict:
        summary = {"type": "torch object", "class": value.class_name, "version": value.version}
        if value.class_name.startswith(("nn.", "cudnn.")):
            try:
                summary["torch_print"] = format_tree(value).splitlines()[0]
            except ModuleTreeError as error:
                summary["torch_print_error"] = str(error)
        table = self._summarise_table(value.fields, path, depth)
        summary["entries"] = table["entries"]
        for key in ("fields", "more", "truncated"):
            if key in table:
                summary[key] = table[key]
        return summary


def _summarise_string(value: str) -> dict:
    summary = {"type": "string", "length": len(value), "value": value[:MAX_STRING]}
    if len(value) > MAX_STRING:
        summary["truncated"] = True
    return summary


def _summarise_array(array: np.ndarray) -> dict:
    summary = {
        "type": "tensor",
        "dtype": str(array.dtype),
        "shape": [int(n) for n in array.shape],
    }
    size = int(array.size)
    if size == 0:
        return summary
    summary["first"] = [_json_number(v) for v in array.flat[:FIRST_VALUES].tolist()]
    if size > MAX_SCAN_ELEMENTS or array.dtype.kind not in "biuf":
        return summary
    if array.dtype.kind == "f":
        finite = np.isfinite(array)
        summary["non_finite"] = int(size - np.count_nonzero(finite))
        if summary["non_finite"] == size:
            return summary
        values = array[finite]
    else:
        values = array
    summary["min"] = _json_number(values.min().item())
    summary["max"] = _json_number(values.max().item())
    return summary


def summarise_object(
    value, max_depth: int = MAX_DEPTH, max_items: int = MAX_ITEMS, max_nodes: int = MAX_NODES
) -> dict:
    """Summarise a loaded `.t7` value as a JSON-ready tree of small dicts.

    Args:
        value: what `frelu_tools.t7.load` returned.
        max_depth: tables deeper than this show only their size.
        max_items: entries shown per table or list; the rest are counted in `more`.
        max_nodes: once this many values are summarised, containers show only sizes.

    Returns:
        A dict with `type` ("nil", "boolean", "number", "string", "bytes", "tensor",
        "function", "list", "table", "torch object" or "reference") and the fields of
        that type. A tensor has `shape`, `dtype`, `first`, `min` and `max`. A table has
        `entries` and `fields`, a list `length` and `items`. A reference has `same_as`,
        the path where the object was first met.
    """
    return _Summariser(max_depth, max_items, max_nodes).summarise(value, "root", 0)


def _value_text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        # Seven significant digits show a float32 exactly enough and hide float noise.
        return f"{value:.7g}"
    return str(value)


def _describe_line(summary: dict) -> str:
    kind = summary["type"]
    if kind == "nil":
        return "nil"
    if kind in ("boolean", "number"):
        return f"{kind} {_value_text(summary['value'])}"
    if kind == "string":
        more = "..." if summary.get("truncated") else ""
        return f"string ({summary['length']} chars) {summary['value']!r}{more}"
    if kind == "bytes":
        return f"bytes ({summary['length']}), first {summary['first']}"
    if kind == "reference":
        return f"same object as {summary['same_as']}"
    if kind == "function":
        return f"Lua function ({summary['bytecode_bytes']} bytes of bytecode)"
    if kind == "tensor":
        text = f"tensor {summary['dtype']} {summary['shape']}"
        if "min" in summary:
            text += f", min {_value_text(summary['min'])}, max {_value_text(summary['max'])}"
        if summary.get("non_finite"):
            text += f", {summary['non_finite']} nan/inf"
        if "first" in summary:
            text += ", first " + " ".join(_value_text(v) for v in summary["first"])
        return text
    if kind == "list":
        return f"list, {summary['length']} items"
    if kind == "torch object":
        text = f"{summary['class']} (torch object, {summary['entries']} fields)"
        if "torch_print" in summary:
            text += f": {summary['torch_print']}"
        return text
    return f"table, {summary['entries']} entries"


def format_object_summary(summary: dict, name: str = "root", indent: str = "") -> list[str]:
    """Format a `summarise_object` tree as indented lines, one per value."""
    lines = [f"{indent}{name}: {_describe_line(summary)}"]
    inner = indent + "  "
    if summary.get("truncated") and summary["type"] in ("list", "table", "torch object"):
        lines.append(f"{inner}(contents not shown: too deep or too many values)")
    for i, item in enumerate(summary.get("items", []), start=1):
        lines += format_object_summary(item, f"[{i}]", inner)
    for key, item in summary.get("fields", {}).items():
        lines += format_object_summary(item, key, inner)
    if summary.get("more"):
        lines.append(f"{inner}... {summary['more']} more")
    return lines
