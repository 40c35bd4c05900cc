"""Output formats of a converted model: `.pt` dict, safetensors and torch.export program.

Every writer goes through `atomic_write`: the file appears under its final name only
once it is complete, an existing file is replaced only with `force=True`, and a failure
leaves no file behind.

`.pt` and `.safetensors` store the architecture spec (see `frelu_tools.port.describe`)
next to the weights, and `load_model` rebuilds the module with `frelu_tools.port.build`.
The exported program (`.pt2`) carries its own graph and runs with torch alone.
"""

import copy
import io
import json
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from frelu_tools.errors import FreluToolsError
from frelu_tools.files import OutputExistsError, atomic_write, sha256_of

log = logging.getLogger(__name__)

MODEL_FORMAT = "frelu-tools-model"
MODEL_FORMAT_VERSION = 1

FORMATS = ("pt", "safetensors", "exported")
SUFFIXES = {"pt": ".pt", "safetensors": ".safetensors", "exported": ".pt2"}


def tool_version() -> str:
    # Read at call time: frelu_tools/__init__.py imports this module for load_model.
    from frelu_tools import __version__

    return __version__


class ModelFormatError(FreluToolsError):
    """A file that `load_model` cannot open as a converted model."""


class OutputNameError(FreluToolsError):
    """An output name whose suffix belongs to another format than the one requested."""


def format_of_name(path) -> str | None:
    """Return the format whose suffix `path` has, or None for any other suffix."""
    suffix = Path(path).suffix.lower()
    return next((name for name, known in SUFFIXES.items() if known == suffix), None)


def output_format(output, format: str | None = None) -> str:
    """Return the format to write `output` in: `format`, else the one its suffix names.

    A suffix that names no format (`.bin`, none) gives "pt".

    Raises:
        OutputNameError: `format` is given and the suffix names another format, which
            would leave, say, a pt file under a `.safetensors` name that nothing reads.
    """
    named = format_of_name(output)
    if format is None:
        return named or "pt"
    if named is not None and named != format:
        raise OutputNameError(
            f"{output}: the suffix {Path(output).suffix} is that of the {named} format, "
            f"not {format}; name the file {Path(output).with_suffix(SUFFIXES[format]).name} "
            f"or drop --format"
        )
    return format


def source_info(path) -> dict:
    """Return the `{"name", "sha256"}` record of the file a model was converted from."""
    path = Path(path)
    return {"name": path.name, "sha256": sha256_of(path)}


def default_output(source, format: str) -> Path:
    """Return the output name for `source` in `format`: same folder and stem, new suffix."""
    source = Path(source)
    if source.is_dir():
        return source.parent / f"{source.name}.pt"
    return source.with_suffix(SUFFIXES[format])


def _plain_state_dict(module: torch.nn.Module) -> dict:
    # clone() gives each entry its own contiguous storage: safetensors rejects shared
    # or non-contiguous tensors, and a .pt file then contains no view of a larger storage.
    return {
        key: value.detach().cpu().contiguous().clone() for key, value in module.state_dict().items()
    }


def save_pt(
    path, module: torch.nn.Module, spec: dict, source: dict | None, *, force: bool = False
) -> Path:
    """Write `module` as a `.pt` dict of plain types and tensors.

    The file opens with `torch.load(path, weights_only=True)` and contains `format`,
    `format_version`, `tool_version`, `architecture` (the spec), `state_dict` and
    `source` (`{"name", "sha256"}` of the Torch7 file, or None).

    Returns:
        the path written.
    """
    payload = {
        "format": MODEL_FORMAT,
        "format_version": MODEL_FORMAT_VERSION,
        "tool_version": tool_version(),
        "architecture": spec,
        "state_dict": _plain_state_dict(module),
        "source": source,
    }
    with atomic_write(path, force=force) as tmp:
        torch.save(payload, tmp)
    return Path(path)


def save_safetensors(
    path, module: torch.nn.Module, spec: dict, source: dict | None, *, force: bool = False
) -> Path:
    """Write the weights of `module` as safetensors, the spec as JSON in its metadata.

    Metadata keys (all strings, as safetensors requires): `format`, `format_version`,
    `tool_version`, `architecture` (JSON), `source_name`, `source_sha256`.

    Returns:
        the path written.
    """
    from safetensors.torch import save_file

    metadata = {
        "format": MODEL_FORMAT,
        "format_version": str(MODEL_FORMAT_VERSION),
        "tool_version": tool_version(),
        "architecture": json.dumps(spec, allow_nan=True),
    }
    if source is not None:
        metadata["source_name"] = source["name"]
        metadata["source_sha256"] = source["sha256"]
    with atomic_write(path, force=force) as tmp:
        save_file(_plain_state_dict(module), str(tmp), metadata=metadata)
    return Path(path)


def inference_copy(module: torch.nn.Module) -> torch.nn.Module:
    """Copy `module` for inference: evaluation mode, no gradients, FReLU constraint folded.

    A constrained FReLU bias (`FReLUBias(constrained=True)`) resets its positive entries
    from `bias_copy` at each forward pass and then stores the bias into `bias_copy`.
    Without weight updates the first pass reaches a fixed point, so the copy applies
    that reset once and switches the constraint off: its outputs equal the original's
    on every call. The in-place update of a parameter would otherwise end up in an
    exported graph, where it fails whenever gradients are enabled.
    """
    from frelu_tools.nn import FReLUBias

    module = copy.deepcopy(module).eval().requires_grad_(False)
    for layer in module.modules():
        if isinstance(layer, FReLUBias) and layer.constrained:
            positive = layer.bias > 0
            layer.bias[positive] = layer.bias_copy[positive]
            layer.bias_copy.copy_(layer.bias)
            layer.constrained = False
    return module


def export_program(module: torch.nn.Module, example_input: torch.Tensor):
    """Trace `inference_copy(module)` with torch.export, batch dimension dynamic.

    Raises:
        ModelFormatError: torch.export cannot trace the module.
    """
    module = inference_copy(module)
    batch = torch.export.Dim("batch", min=1)
    try:
        # Under no_grad the FReLU constraint's own no_grad blocks change nothing, so the
        # graph has no grad-mode switches, which torch.export.load rejects (torch 2.13).
        with torch.no_grad():
            return torch.export.export(module, (example_input,), dynamic_shapes=({0: batch},))
    except Exception as error:  # torch.export raises many unrelated types
        raise ModelFormatError(
            f"torch.export failed on this model ({type(error).__name__}: "
            f"{str(error).splitlines()[0] if str(error) else ''}); "
            "use --format pt or --format safetensors"
        ) from error


def save_exported(
    path, module: torch.nn.Module, example_input: torch.Tensor, *, force: bool = False
) -> Path:
    """Write `module` as a torch.export program (`.pt2`) that runs without frelu-tools.

    Load it with `torch.export.load(path).module()`. The batch dimension is dynamic;
    the other input dimensions are fixed to those of `example_input`.

    Returns:
        the path written.
    """
    program = export_program(module, example_input)
    with torch.no_grad():
        expected = copy.deepcopy(module).eval()(example_input)
    actual = program.module()(example_input)
    if not torch.allclose(actual, expected, rtol=1e-5, atol=1e-6):
        raise ModelFormatError(
            "the exported program does not reproduce the model's output; "
            "use --format pt or --format safetensors"
        )
    # torch.export.save and load accept a file name only if it ends in .pt2, which the
    # temporary file and a user's -o name need not; a buffer has no such rule.
    buffer = io.BytesIO()
    torch.export.save(program, buffer)
    with atomic_write(path, force=force) as tmp:
        tmp.write_bytes(buffer.getvalue())
    return Path(path)


def save_model(
    path,
    module: torch.nn.Module,
    spec: dict,
    source: dict | None,
    format: str,
    *,
    example_input: torch.Tensor | None = None,
    force: bool = False,
) -> Path:
    """Write a converted model in one of `FORMATS`.

    Args:
        path: output file.
        module: the converted module.
        spec: its architecture spec (`frelu_tools.port.describe`).
        source: `{"name", "sha256"}` of the Torch7 file (`source_info`), or None.
        format: "pt", "safetensors" or "exported".
        example_input: the input torch.export traces with; needed for "exported" only.
        force: overwrite an existing file.

    Returns:
        the path written.
    """
    if format == "pt":
        return save_pt(path, module, spec, source, force=force)
    if format == "safetensors":
        return save_safetensors(path, module, spec, source, force=force)
    if format == "exported":
        if example_input is None:
            raise ValueError("format 'exported' needs an example input")
        return save_exported(path, module, example_input, force=force)
    raise ValueError(f"unknown format {format!r}; expected one of {', '.join(FORMATS)}")


def _build(spec: dict, state_dict: dict, path) -> torch.nn.Module:
    from frelu_tools.port import build

    module = build(spec)
    try:
        module.load_state_dict(state_dict)
    except RuntimeError as error:
        raise ModelFormatError(f"{path}: weights do not match the architecture: {error}") from None
    return module.eval()


def _is_zip(path) -> bool:
    with open(path, "rb") as file:
        return file.read(4) == b"PK\x03\x04"


def _looks_like_safetensors(path) -> bool:
    # A safetensors file starts with the byte length of its JSON header (u64, little
    # endian), then the header's opening brace.
    with open(path, "rb") as file:
        head = file.read(9)
    if len(head) < 9 or head[8:9] != b"{":
        return False
    return int.from_bytes(head[:8], "little") < os.path.getsize(path)


def _is_exported_archive(path) -> bool:
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            return any(name.endswith("/archive_format") for name in archive.namelist())
    except zipfile.BadZipFile:
        return False  # torch.load then reports the damaged file


def load_model(path) -> torch.nn.Module:
    """Open a model written by `frelu-tools convert`, in evaluation mode.

    Accepts the three output formats (`.pt` dict, `.safetensors`, exported `.pt2`) and
    training checkpoints (`frelu_tools.port.checkpoint`). The `.pt` and safetensors files
    are rebuilt from their architecture spec; nothing in them is unpickled beyond plain
    types and tensors.

    Args:
        path: the file.

    Returns:
        a `torch.nn.Module`. For an exported program it is the program's
        `torch.fx.GraphModule`, which runs like the original module.

    Raises:
        ModelFormatError: the file is not one of these formats.

    Example:
        >>> model = frelu_tools.load_model("resnet-20.pt")
        >>> logits = model(torch.randn(2, 3, 32, 32))
    """
    path = Path(path)
    if path.suffix == ".safetensors" or _looks_like_safetensors(path):
        return _load_safetensors(path)
    if not _is_zip(path):
        raise ModelFormatError(
            f"{path}: not a .pt, .pt2 or .safetensors file; convert a Torch7 .t7 model "
            "with frelu-tools convert first"
        )
    if path.suffix == ".pt2" or _is_exported_archive(path):
        return _load_exported(path)

    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch.load raises RuntimeError, UnpicklingError, ...
        raise ModelFormatError(f"{path}: cannot be read as a PyTorch file: {error}") from None
    return model_from_payload(payload, path)


def model_from_payload(payload, path) -> torch.nn.Module:
    """Build the module of a model or checkpoint dict, as read from a `.pt` file.

    Args:
        payload: the dict that `save_pt` or `save_checkpoint` writes.
        path: the file it comes from, for the messages.

    Raises:
        ModelFormatError: the dict is not one of these, or has no architecture spec.
    """
    from frelu_tools.port.checkpoint import CHECKPOINT_FORMAT

    if not isinstance(payload, dict) or payload.get("format") not in (
        MODEL_FORMAT,
        CHECKPOINT_FORMAT,
    ):
        raise ModelFormatError(
            f"{path}: not written by frelu-tools (no 'format' key of a model or checkpoint)"
        )
    spec = payload.get("architecture")
    if spec is None:
        raise ModelFormatError(
            f"{path}: has no architecture spec; build the model with "
            "frelu_tools.models.build(net_type, dataset, depth) and load its state_dict"
        )
    return _build(spec, payload["state_dict"], path)


def read_safetensors(path, framework: str = "pt") -> tuple[dict, dict, dict]:
    """Read a `.safetensors` model that `save_safetensors` wrote, without building it.

    Args:
        path: the file.
        framework: "pt" for torch tensors, "np" for numpy arrays.

    Returns:
        The architecture spec, the state_dict and the file's metadata strings.

    Raises:
        ModelFormatError: not a safetensors file, or one without frelu-tools metadata.
    """
    from safetensors import SafetensorError, safe_open

    if framework == "np":
        from safetensors.numpy import load_file
    else:
        from safetensors.torch import load_file

    try:
        with safe_open(str(path), framework=framework) as file:
            metadata = file.metadata() or {}
        state_dict = load_file(str(path))
    except (SafetensorError, OSError) as error:
        raise ModelFormatError(f"{path}: not a valid safetensors file: {error}") from None
    if metadata.get("format") != MODEL_FORMAT or "architecture" not in metadata:
        raise ModelFormatError(
            f"{path}: safetensors file without frelu-tools architecture metadata"
        )
    return json.loads(metadata["architecture"]), state_dict, metadata


def _load_safetensors(path) -> torch.nn.Module:
    spec, state_dict, _ = read_safetensors(path)
    return _build(spec, state_dict, path)


def _load_exported(path) -> torch.nn.Module:
    try:
        program = torch.export.load(io.BytesIO(Path(path).read_bytes()))
    except Exception as error:  # torch.export.load raises many unrelated types
        raise ModelFormatError(f"{path}: not a torch.export program: {error}") from None
    return program.module()


# --- Converting a Torch7 model file ---------------------------------------------------


@dataclass
class Conversion:
    """The result of `convert_file`: what was written and from what."""

    path: Path
    format: str
    spec: dict
    module: torch.nn.Module
    source: dict
    seconds: float

    @property
    def parameter_count(self) -> int:
        return sum(parameter.numel() for parameter in self.module.parameters())


def convert_file(
    source,
    output,
    *,
    format: str | None = None,
    force: bool = False,
    sample_shape: tuple[int, ...] = (3, 32, 32),
    reference: tuple | None = None,
) -> Conversion:
    """Convert a Torch7 model file and write it in one of `FORMATS`.

    Nothing is written when the model has classes without a converter, the output
    exists (without `force`), or the model cannot be compared with `reference`.

    Args:
        source: the `.t7` model.
        output: the file to write.
        format: "pt", "safetensors" or "exported"; None takes it from the suffix of
            `output` (see `output_format`).
        force: overwrite an existing output.
        sample_shape: shape of one input sample (without the batch dimension) that
            torch.export traces with; used by "exported" only.
        reference: `(input.t7, output.t7)` of Torch7 (see `check_reference`). The
            converted model runs on the input before anything is written, so unreadable
            files or an output of another shape stop the conversion. The values are not
            judged here: run `check_reference` on the written file for that.

    Raises:
        frelu_tools.errors.T7FormatError: the file is not a readable `.t7` file.
        frelu_tools.port.UnknownClassError: the model has classes without a converter.
        OutputExistsError: `output` exists and `force` is false.
        OutputNameError: `format` does not match the suffix of `output`.
        ReferenceMismatchError: a reference file is not one tensor, or the model's
            output has another shape.

    Example:
        >>> convert_file("model_best.t7", "model_best.pt2", format="exported")
    """
    from frelu_tools import t7
    from frelu_tools.port import UnknownClassError, convert, describe

    started = time.perf_counter()
    output = Path(output)
    format = output_format(output, format)
    if output.exists() and not force:
        raise OutputExistsError(output)

    log.info("reading %s", source)
    obj = t7.load(source)
    if not isinstance(obj, t7.TorchObject):
        raise ModelFormatError(_not_a_model(source, obj))
    log.info("converting the model")
    try:
        spec = describe(obj)
    except UnknownClassError as error:
        error.args = (f"{source}: {error}",)  # the message names the file
        raise
    module = convert(obj).eval()
    info = source_info(source)
    if reference is not None:
        # A copy: a forward pass of a constrained FReLU changes its bias in place.
        check_reference(inference_copy(module), *reference)

    example_input = None
    if format == "exported":
        generator = torch.Generator().manual_seed(0)
        example_input = torch.randn((2, *sample_shape), generator=generator)
    log.info("writing %s (%s)", output, format)
    save_model(output, module, spec, info, format, example_input=example_input, force=force)

    seconds = time.perf_counter() - started
    log.info("converted %s in %.2f s", source, seconds)
    return Conversion(output, format, spec, module, info, seconds)


def _not_a_model(source, obj) -> str:
    message = f"{source}: contains a {_lua_kind(obj)}, not a Torch7 module"
    if isinstance(obj, dict) and "modelFile" in obj:
        message += f"; to convert the checkpoint, pass its folder {Path(source).parent}"
    elif isinstance(obj, dict) and "dfdx" in obj:
        message += "; this is optimizer state, convert the checkpoint folder instead"
    return message


def _lua_kind(obj) -> str:
    import numpy as np

    if isinstance(obj, (dict, list)):
        return "table"
    if isinstance(obj, np.ndarray):
        return "tensor"
    if obj is None:
        return "nil"
    if isinstance(obj, (int, float)):
        return "number"
    if isinstance(obj, (str, bytes)):
        return "string"
    return type(obj).__name__


# --- Checking a converted model against Torch7's output --------------------------------


class ReferenceMismatchError(FreluToolsError):
    """Reference files that cannot be compared with the model: not tensors, wrong shape."""


@dataclass
class ReferenceCheck:
    """Elementwise comparison of a model's output with Torch7's, as `torch.isclose` does it.

    An element passes when `|output - reference| <= atol + rtol * |reference|`.
    `max_rel_diff` is the max of `|output - reference| / |reference|` over the elements
    whose reference is not zero.
    """

    shape: tuple[int, ...]
    max_abs_diff: float
    max_rel_diff: float
    mismatched: int
    rtol: float
    atol: float

    @property
    def passed(self) -> bool:
        return self.mismatched == 0

    @property
    def total(self) -> int:
        return math.prod(self.shape)


def read_tensor_file(path) -> torch.Tensor:
    """Read a `.t7` file containing one tensor as a float32 `torch.Tensor`.

    Raises:
        ReferenceMismatchError: the file contains something else than a tensor.
    """
    import numpy as np

    from frelu_tools import t7

    value = t7.load(path)
    if not isinstance(value, np.ndarray):
        raise ReferenceMismatchError(
            f"{path}: expected one tensor, found {type(value).__name__}; "
            "multi-output models cannot be checked with --reference"
        )
    return torch.from_numpy(np.array(value, dtype=np.float32))


def check_reference(
    model: torch.nn.Module, input_path, output_path, *, rtol: float = 1e-4, atol: float = 1e-5
) -> ReferenceCheck:
    """Run `model` on a Torch7 input file and compare with a Torch7 output file.

    The model runs as given; put it in evaluation mode first to compare with
    `output_eval.t7` files.

    Raises:
        ReferenceMismatchError: a file is not one tensor, or the shapes differ.
    """
    inputs = read_tensor_file(input_path)
    expected = read_tensor_file(output_path)
    with torch.no_grad():
        actual = model(inputs)
    if not isinstance(actual, torch.Tensor):
        raise ReferenceMismatchError(
            f"the model returns {type(actual).__name__}, not one tensor; "
            "multi-output models cannot be checked with --reference"
        )
    actual = actual.detach().float()
    if actual.shape != expected.shape:
        raise ReferenceMismatchError(
            f"the model's output has shape {tuple(actual.shape)} but {output_path} "
            f"has {tuple(expected.shape)}"
        )

    difference = (actual - expected).abs()
    close = torch.isclose(actual, expected, rtol=rtol, atol=atol, equal_nan=True)
    nonzero = expected != 0
    relative = difference[nonzero] / expected[nonzero].abs()
    return ReferenceCheck(
        shape=tuple(expected.shape),
        max_abs_diff=_max_or_zero(difference),
        max_rel_diff=_max_or_zero(relative),
        mismatched=int((~close).sum()),
        rtol=rtol,
        atol=atol,
    )


def _max_or_zero(values: torch.Tensor) -> float:
    # torch.max propagates NaN, so an output NaN shows as a max diff of nan, also where
    # the reference is NaN too and isclose(equal_nan=True) lets the element pass.
    if values.numel() == 0:
        return 0.0
    return float(values.max())
