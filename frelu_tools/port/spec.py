"""Torch7 module tree -> architecture spec -> torch.nn.Module, with the weights.

A spec is a plain dict, the same for a converted file, a native model builder and the
`.pt` output format:

    {
        "torch_class": "cudnn.SpatialConvolution",
        "fields": {"nInputPlane": 3, "nOutputPlane": 16, "kW": 3, ...,
                   "weight": {"tensor": [16, 3, 3, 3], "dtype": "float32"}},
        "children": [...],          # containers only
    }

`fields` keeps the Torch7 module's own field names. It contains every plain field
(numbers, strings, booleans, and number lists such as a `LongStorage`) and each state
tensor as a shape and dtype placeholder. Gradients, work buffers and caches of the last
forward pass are left out, and so is an absent or empty tensor (a convolution without
bias has no "bias" entry).
"""

import numpy as np
import torch
from torch import nn

from frelu_tools.errors import FreluToolsError
from frelu_tools.port.registry import CONVERTERS, ConversionError, Converter, format_path

# Fields that never go into "fields": the children, which go into "children", the
# outputs of the last pass, which can be tables of numbers, and cudnn.torch's cache of
# the last input size.
_WORK_FIELDS = frozenset({"output", "gradInput", "modules", "iSize"})

_UNWRAPPED = frozenset({"nn.DataParallelTable"})


class UnknownClassError(FreluToolsError):
    """Torch7 classes that no converter is registered for.

    Attributes:
        unknown: (path, class name) of every module of an unknown class, in tree order.
            The path is the module's state_dict prefix ("" for the root).
    """

    def __init__(self, unknown: list[tuple[str, str]]):
        self.unknown = unknown
        listed = ", ".join(f"{name} at {format_path(path)}" for path, name in unknown)
        super().__init__(
            f"no converter for {len(unknown)} module(s): {listed}. "
            "See docs/converters.md for how to add one."
        )


def _is_torch_object(value) -> bool:
    return hasattr(value, "class_name") and hasattr(value, "fields")


def _unwrap(obj):
    # DataParallelTable keeps the model it replicates as its first child.
    while obj.class_name in _UNWRAPPED:
        obj = obj.fields["modules"][0]
    return obj


def _children(obj) -> list:
    modules = obj.fields.get("modules")
    if modules is None:
        return []
    if isinstance(modules, dict):
        # A Lua table with holes or non-integer keys; keep the integer keys in order.
        modules = [modules[key] for key in sorted(k for k in modules if isinstance(k, int))]
    return [_unwrap(child) for child in modules]


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _plain_value(value):
    """Return `value` as a JSON-style spec value, or None where it is not plain."""
    if isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, np.ndarray):
        # The reader returns a LongStorage (a size list) as a 1-D int64 array.
        if value.ndim == 1 and value.dtype == np.int64:
            return [int(item) for item in value]
        return None
    if isinstance(value, list) and all(
        isinstance(item, int | float) and not isinstance(item, bool) for item in value
    ):
        return list(value)
    return None


def _placeholder(array: np.ndarray) -> dict:
    return {"tensor": [int(size) for size in array.shape], "dtype": array.dtype.name}


def _describe_fields(fields: dict, converter: Converter | None) -> dict:
    state = converter.state if converter else {}
    skipped = _WORK_FIELDS | (converter.work_fields if converter else frozenset())
    described = {}
    for name, value in fields.items():
        if not isinstance(name, str) or name in skipped:
            continue
        if name in state:
            if isinstance(value, np.ndarray) and value.size > 0:
                described[name] = _placeholder(value)
            continue
        plain = _plain_value(value)
        if plain is not None:
            described[name] = plain
    # Lua writes a table in hash order; sorted names make specs of equal modules equal.
    return dict(sorted(described.items()))


def describe(obj) -> dict:
    """Describe a Torch7 module tree as an architecture spec, without the weights.

    Args:
        obj: a `TorchObject` from `frelu_tools.t7.load`, such as a saved model.
            `nn.DataParallelTable` is unwrapped to the model it holds.

    Returns:
        The spec dict described in this module's docstring.

    Raises:
        UnknownClassError: some classes have no converter; it lists all of them.

    Example:
        >>> spec = describe(frelu_tools.t7.load("model.t7"))
        >>> spec["children"][0]["torch_class"]
        'cudnn.SpatialConvolution'
    """
    unknown: list[tuple[str, str]] = []
    spec = _describe(_unwrap(obj), "", unknown)
    if unknown:
        raise UnknownClassError(unknown)
    return spec


def _describe(obj, path: str, unknown: list) -> dict:
    converter = CONVERTERS.get(obj.class_name)
    if converter is None:
        unknown.append((path, obj.class_name))
    spec = {"torch_class": obj.class_name, "fields": _describe_fields(obj.fields, converter)}
    children = _children(obj)
    if converter is None or converter.container:
        described = [
            _describe(child, _join(path, str(index)), unknown)
            for index, child in enumerate(children)
            if _is_torch_object(child)
        ]
        if converter is not None:
            spec["children"] = described
    return spec


def build(spec: dict) -> nn.Module:
    """Build a fresh module from a spec; parameters keep PyTorch's initial values.

    Raises:
        UnknownClassError: some classes in the spec have no converter.
        ConversionError: a field value has no PyTorch equivalent.
    """
    unknown: list[tuple[str, str]] = []
    _find_unknown(spec, "", unknown)
    if unknown:
        raise UnknownClassError(unknown)
    return _build(spec, "")


def _find_unknown(spec: dict, path: str, unknown: list) -> None:
    if spec["torch_class"] not in CONVERTERS:
        unknown.append((path, spec["torch_class"]))
    for index, child in enumerate(spec.get("children", [])):
        _find_unknown(child, _join(path, str(index)), unknown)


def _build(spec: dict, path: str) -> nn.Module:
    converter = CONVERTERS[spec["torch_class"]]
    children = [
        _build(child, _join(path, str(index)))
        for index, child in enumerate(spec.get("children", []))
    ]
    try:
        return converter.build(spec["fields"], children)
    except FreluToolsError:
        raise
    except KeyError as error:
        reason = f"the field {error.args[0]} is missing"
        raise ConversionError(spec["torch_class"], path, reason) from error
    except (TypeError, ValueError) as error:
        raise ConversionError(spec["torch_class"], path, str(error)) from error


def _state_arrays(obj, prefix: str):
    # Yields (state_dict key, Torch7 field, array, spec fields, converter) per state tensor.
    converter = CONVERTERS[obj.class_name]
    fields = None
    for torch_name, torch_name_in_module in converter.state.items():
        array = obj.fields.get(torch_name)
        if not isinstance(array, np.ndarray) or array.size == 0:
            continue
        if fields is None:
            fields = _describe_fields(obj.fields, converter)
        yield _join(prefix, torch_name_in_module), torch_name, array, fields, converter
    if converter.container:
        children = [child for child in _children(obj) if _is_torch_object(child)]
        for index, child in enumerate(children):
            yield from _state_arrays(child, _join(prefix, str(index)))


def named_sources(obj) -> dict[str, np.ndarray]:
    """Map each state_dict key of `convert(obj)` to the Torch7 array it is loaded from.

    The arrays are the reader's own views, in Torch7's layout (a `SpatialConvolutionMM`
    weight stays 2-D, an old `running_std` stays as it is), so `storage_of` on them
    gives the flat-parameter offsets of a Torch7 checkpoint. Buffers that Torch7 has no
    tensor for (`num_batches_tracked`) are absent.

    Raises:
        UnknownClassError: as `describe`.
    """
    describe(obj)
    return {key: array for key, _, array, _, _ in _state_arrays(_unwrap(obj), "")}


def convert(obj) -> nn.Module:
    """Convert a Torch7 module tree into an equivalent torch.nn.Module with its weights.

    Args:
        obj: a `TorchObject` from `frelu_tools.t7.load`.

    Returns:
        The module in evaluation mode, float32, state_dict keys "0.1.weight"-style
        following Torch7's `modules` order.

    Raises:
        UnknownClassError: some classes have no converter; it lists all of them.
        ConversionError: a field value or tensor shape has no PyTorch equivalent.

    Example:
        >>> module = convert(frelu_tools.t7.load("model.t7"))
        >>> output = module(torch.randn(2, 3, 32, 32))
    """
    obj = _unwrap(obj)
    module = build(describe(obj))
    targets = module.state_dict(keep_vars=True)
    for key, torch_name, array, fields, converter in _state_arrays(obj, ""):
        if converter.transform is not None:
            array = converter.transform(torch_name, array, fields)
        target = targets.get(key)
        path = key.rpartition(".")[0]
        if target is None:
            raise ConversionError(
                _class_at(obj, path), path, f"the built module has no state named {key}"
            )
        if tuple(target.shape) != array.shape:
            raise ConversionError(
                _class_at(obj, path),
                path,
                f"{torch_name} has shape {list(array.shape)}, "
                f"the module expects {list(target.shape)}",
            )
        with torch.no_grad():
            target.copy_(torch.from_numpy(np.array(array)))
    return module.eval()


def _class_at(obj, path: str) -> str:
    for index in filter(None, path.split(".")):
        obj = [child for child in _children(obj) if _is_torch_object(child)][int(index)]
    return obj.class_name
