"""The registry from Torch7 class names to converters, filled by the `register` decorator."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
from torch import nn

from frelu_tools.errors import FreluToolsError

# (fields, children) -> module. `fields` are spec fields: Torch7 names, tensors as
# {"tensor": shape, "dtype": name} placeholders. `children` are the built child modules.
BuildFunction = Callable[[dict, list[nn.Module]], nn.Module]

# (Torch7 field name, its array, the spec fields) -> the array in PyTorch's layout.
TransformFunction = Callable[[str, np.ndarray, dict], np.ndarray]


class ConversionError(FreluToolsError):
    """A module of a known Torch7 class whose field values have no PyTorch equivalent."""

    def __init__(self, class_name: str, path: str, reason: str):
        self.class_name = class_name
        self.path = path
        self.reason = reason
        super().__init__(f"cannot convert {class_name} at {format_path(path)}: {reason}")


def format_path(path: str) -> str:
    """Return a module path for messages: the state_dict prefix, or "the root module"."""
    return f"module {path}" if path else "the root module"


@dataclass(frozen=True)
class Converter:
    """The conversion rule of one Torch7 class.

    Attributes:
        build: makes the module from the spec fields and the built children.
        state: Torch7 tensor field -> name of the parameter or buffer it fills. These
            tensors appear in the spec as placeholders; every other tensor field is a
            gradient or work buffer and is left out.
        work_fields: plain fields that only cache the last forward pass (sizes of the
            last input, say) and are left out of the spec.
        transform: turns a state array into PyTorch's layout; None keeps it as it is.
        container: the class keeps children in `modules`.
    """

    build: BuildFunction
    state: Mapping[str, str] = field(default_factory=dict)
    work_fields: frozenset[str] = frozenset()
    transform: TransformFunction | None = None
    container: bool = False


CONVERTERS: dict[str, Converter] = {}


def register(
    *class_names: str,
    state: Mapping[str, str] | None = None,
    work_fields: tuple[str, ...] = (),
    transform: TransformFunction | None = None,
    container: bool = False,
) -> Callable[[BuildFunction], BuildFunction]:
    """Register the decorated build function as the converter of each Torch7 class name.

    Example:
        @register("nn.Tanh", "cudnn.Tanh")
        def _tanh(fields, children):
            return torch.nn.Tanh()
    """

    def decorate(build: BuildFunction) -> BuildFunction:
        converter = Converter(
            build=build,
            state=dict(state or {}),
            work_fields=frozenset(work_fields),
            transform=transform,
            container=container,
        )
        for name in class_names:
            if name in CONVERTERS:
                raise ValueError(f"a converter for {name} is already registered")
            CONVERTERS[name] = converter
        return build

    return decorate


def tensor_shape(fields: dict, name: str) -> tuple[int, ...]:
    """Return the shape of the state tensor `name` from its spec placeholder."""
    return tuple(fields[name]["tensor"])


def has_tensor(fields: dict, name: str) -> bool:
    """Tell whether the spec fields contain a non-empty state tensor `name`."""
    value = fields.get(name)
    return isinstance(value, dict) and "tensor" in value and 0 not in value["tensor"]
