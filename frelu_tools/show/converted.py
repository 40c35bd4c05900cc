"""The `show` report of a model converted by `frelu-tools convert` (`.pt`, `.safetensors`).

Both formats store the architecture spec next to the weights, so the module tree comes
from the spec and the FReLU, SReLU and PReLU values from the state_dict. Nothing is
built or unpickled beyond plain types and tensors (`torch.load(weights_only=True)`).
"""

from pathlib import Path

import numpy as np

from frelu_tools.errors import FreluToolsError
from frelu_tools.port.checkpoint import CHECKPOINT_FORMAT
from frelu_tools.port.formats import MODEL_FORMAT, ModelFormatError, read_safetensors
from frelu_tools.show.model import format_model_report, model_report
from frelu_tools.show.sniff import ZIP_SIGNATURE
from frelu_tools.show.table import format_number


class ConvertedFileError(FreluToolsError):
    """A `.pt` or `.safetensors` file that frelu-tools did not write, or cannot show."""


def _numpy_state_dict(state_dict: dict) -> dict:
    arrays = {}
    for key, value in state_dict.items():
        if hasattr(value, "detach"):
            value = value.detach().cpu().numpy()
        arrays[key] = np.asarray(value)
    return arrays


def _read_safetensors(path: Path) -> tuple[dict, dict, dict]:
    try:
        spec, state_dict, metadata = read_safetensors(path, framework="np")
    except ModelFormatError as error:
        raise ConvertedFileError(str(error)) from None
    info = {
        "format": metadata["format"],
        "tool_version": metadata.get("tool_version"),
        "source": {"name": metadata.get("source_name"), "sha256": metadata.get("source_sha256")},
    }
    return spec, state_dict, info


def _read_pt(path: Path) -> tuple[dict, dict, dict]:
    import torch

    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch.load raises RuntimeError, UnpicklingError, ...
        raise ConvertedFileError(f"{path}: cannot be read as a PyTorch file: {error}") from None
    if not isinstance(payload, dict) or payload.get("format") not in (
        MODEL_FORMAT,
        CHECKPOINT_FORMAT,
    ):
        raise ConvertedFileError(
            f"{path}: not written by frelu-tools (no 'format' key of a model or checkpoint)"
        )
    spec = payload.get("architecture")
    if not isinstance(spec, dict):
        raise ConvertedFileError(
            f"{path}: has no architecture spec, so its module tree is unknown; convert the "
            "Torch7 file again with frelu-tools convert"
        )

    info = {
        "format": payload["format"],
        "tool_version": payload.get("tool_version"),
        "source": payload.get("source"),
    }
    if payload["format"] == CHECKPOINT_FORMAT:
        keys = ("epoch", "learning_rate", "best_top1_err", "best_top5_err", "best_epoch")
        info["training"] = {key: payload.get(key) for key in keys}
        info["training"]["hyperparameters"] = payload.get("hyperparameters")
    return spec, _numpy_state_dict(payload.get("state_dict") or {}), info


def converted_report(path: Path | str) -> dict:
    """Describe a converted model or training checkpoint like a Torch7 model.

    Returns:
        A `model_report` dict with `converted` added: `{"format", "tool_version",
        "source"}`, plus `training` (epoch, learning rate, best errors,
        hyperparameters) for a training checkpoint.

    Raises:
        ConvertedFileError: the file is an exported `.pt2` program, has no spec, or
            was not written by frelu-tools.
    """
    path = Path(path)
    if path.suffix == ".pt2":
        raise ConvertedFileError(
            f"{path}: an exported program keeps no architecture spec; show the Torch7 "
            ".t7 file it was converted from, or convert that again with --format pt and "
            "show the .pt file"
        )
    with open(path, "rb") as file:
        is_zip = file.read(4) == ZIP_SIGNATURE
    if is_zip:
        spec, state_dict, info = _read_pt(path)
    else:
        spec, state_dict, info = _read_safetensors(path)

    report = model_report(spec, source=str(path), state_dict=state_dict)
    report["converted"] = info
    return report


_HYPERPARAMETERS = ("LR", "momentum", "nesterov", "dampening", "weightDecay", "evalCounter")


def _training_line(training: dict) -> str:
    text = (
        f"training checkpoint: epoch {format_number(training['epoch'])}, learning rate "
        f"{format_number(training['learning_rate'])}"
    )
    if training.get("best_top1_err") is None:
        return text + ", best errors not recorded"
    return text + (
        f", best top-1 error {format_number(training['best_top1_err'])}% at epoch "
        f"{format_number(training['best_epoch'])}, best top-5 error "
        f"{format_number(training['best_top5_err'])}%"
    )


def format_converted_report(report: dict) -> str:
    """Format a `converted_report` dict: where the file came from, then the model."""
    info = report["converted"]
    source = info.get("source") or {}
    if "files" in source:
        origin = "from " + ", ".join(f["name"] for f in source["files"])
    elif source.get("name"):
        origin = f"from {source['name']}"
    else:
        origin = "(source file not recorded)"
    lines = [
        f"{report['file']}: {info['format']} written by frelu-tools "
        f"{info.get('tool_version') or '?'} {origin}"
    ]
    training = info.get("training")
    if training:
        lines.append(_training_line(training))
        hyperparameters = training.get("hyperparameters") or {}
        known = [(name, hyperparameters.get(name)) for name in _HYPERPARAMETERS]
        known = [f"{name} {format_number(value)}" for name, value in known if value is not None]
        if known:
            lines.append("hyperparameters: " + ", ".join(known))
    return "\n".join(lines) + "\n\n" + format_model_report(report)
