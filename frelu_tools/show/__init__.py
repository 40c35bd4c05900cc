"""Reports on the contents of a `.t7` file or Torch7 checkpoint folder, as text or JSON.

`show_report(path)` picks the report for what it finds: a checkpoint folder, a model
(its Torch7 `print(model)` tree, FReLU/SReLU/PReLU parameters, parameter counts), or any
other object graph (a bounded summary). `format_report` turns a report into text.
"""

import math
from pathlib import Path

from frelu_tools.show.checkpoint import (
    CheckpointFolderError,
    checkpoint_report,
    format_checkpoint_report,
)
from frelu_tools.show.model import format_model_report, model_report
from frelu_tools.show.objects import format_object_summary, summarise_object
from frelu_tools.show.sniff import is_converted_file
from frelu_tools.show.tree import format_tree
from frelu_tools.t7 import TorchObject, load

__all__ = [
    "CheckpointFolderError",
    "checkpoint_report",
    "format_report",
    "format_tree",
    "json_ready",
    "model_report",
    "show_report",
    "summarise_object",
]


def show_report(path: Path | str) -> dict:
    """Read a `.t7` file or a checkpoint folder and describe it as a JSON-ready dict.

    Args:
        path: a Torch7 checkpoint folder, a `.t7` file of any content, or a `.pt` or
            `.safetensors` model or checkpoint written by `frelu-tools convert`.

    Returns:
        A dict whose `kind` is "checkpoint_folder" (see `checkpoint_report`), "model"
        (see `model_report`, and `converted_report` for a converted file) or "object"
        (`{"kind", "file", "summary"}`, see `summarise_object`). Any top-level Torch7
        object other than a tensor is reported as a module tree.

    Raises:
        T7FormatError: the file is not a readable Torch7 file.
        CheckpointFolderError: a folder without Torch7 checkpoint files.
        ConvertedFileError: a `.pt` or `.safetensors` file frelu-tools did not write.
        OSError: the path does not exist or cannot be read.
    """
    path = Path(path)
    if path.is_dir():
        return checkpoint_report(path)
    if is_converted_file(path):
        # Imported here because it imports torch, which a .t7 file does not need.
        from frelu_tools.show.converted import converted_report

        return converted_report(path)

    value = load(path)
    if isinstance(value, TorchObject):
        return model_report(value, source=str(path))
    return {"kind": "object", "file": str(path), "summary": summarise_object(value)}


def format_report(report: dict) -> str:
    """Format any `show_report` dict as the text `frelu-tools show` prints."""
    if report["kind"] == "checkpoint_folder":
        return format_checkpoint_report(report)
    if report["kind"] == "model" and "converted" in report:
        from frelu_tools.show.converted import format_converted_report

        return format_converted_report(report)
    if report["kind"] == "model":
        return format_model_report(report)
    return "\n".join(format_object_summary(report["summary"], name=report["file"]))


def json_ready(value):
    """Replace non-finite floats, which JSON cannot hold, by "nan", "inf" and "-inf"."""
    if isinstance(value, float) and not math.isfinite(value):
        if math.isnan(value):
            return "nan"
        return "inf" if value > 0 else "-inf"
    if isinstance(value, dict):
        return {key: json_ready(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(item) for item in value]
    return value
