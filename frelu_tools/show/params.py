"""FReLU, SReLU and PReLU parameters of a Torch7 module tree, and parameter counts.

Each module is located twice. Its Torch7 path joins the 1-based child indices from the
root as `(4).(1).(1)`, the module `model:get(4):get(1):get(1)` returns. Its PyTorch
`state_dict` key prefix names the same module in the converted model, where every
container stores child i as `str(i - 1)`, so that module's bias is `3.0.0.bias`.
"""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np

from frelu_tools.show.tree import (
    ModuleTreeError,
    node_children,
    node_class,
    node_fields,
    tensor_numel,
)

# Torch7 class -> (activation name, parameter field). The field name is the same in the
# converted PyTorch module: FReLUBias.bias, SReLU.bias, torch.nn.PReLU.weight.
ACTIVATION_PARAMETERS = {
    "nn.MyAdd": ("FReLU", "bias"),
    "nn.SReLU": ("SReLU", "bias"),
    "nn.PReLU": ("PReLU", "weight"),
}

# `checkpoints.lua` unwraps DataParallelTable before saving, and so does the converter:
# it adds a Torch7 path step but no state_dict key step.
_UNWRAPPED = {"nn.DataParallelTable"}


@dataclass(frozen=True)
class ModuleEntry:
    """One module of a tree with its Torch7 path and its state_dict key prefix."""

    node: object
    torch_path: tuple[int, ...]
    key_prefix: str

    @property
    def class_name(self) -> str:
        return node_class(self.node)

    @property
    def path_text(self) -> str:
        return format_torch_path(self.torch_path)

    def key(self, name: str) -> str:
        return f"{self.key_prefix}.{name}" if self.key_prefix else name


def format_torch_path(torch_path: tuple[int, ...]) -> str:
    """Return the path text `(4).(1).(3)`, or `(model)` for the root itself."""
    if not torch_path:
        return "(model)"
    return ".".join(f"({i})" for i in torch_path)


def walk_modules(root) -> Iterator[ModuleEntry]:
    """Yield every module depth first, parent before children, as `findModules` does.

    A module reached twice (the same object in two places) is yielded at each place,
    because Torch7 prints and converts it at each place too.

    Raises:
        ModuleTreeError: a module contains one of its ancestors.
    """
    # Each stack item carries the ids of its ancestors, so that a cycle raises.
    stack = [(ModuleEntry(root, (), ""), frozenset())]
    while stack:
        entry, ancestors = stack.pop()
        yield entry

        ancestors = ancestors | {id(entry.node)}
        unwrapped = node_class(entry.node) in _UNWRAPPED
        children = []
        for i, child in enumerate(node_children(entry.node), start=1):
            if id(child) in ancestors:
                raise ModuleTreeError(
                    f"the module tree contains a cycle at {format_torch_path(entry.torch_path)}"
                )
            key_prefix = entry.key_prefix if unwrapped else entry.key(str(i - 1))
            children.append((ModuleEntry(child, entry.torch_path + (i,), key_prefix), ancestors))
        stack.extend(reversed(children))


@dataclass
class ActivationParameter:
    """The learnable parameter of one FReLU (`nn.MyAdd`), SReLU or PReLU module.

    `grad_scale` is MyAdd's `lr_decay`: the factor on the bias gradient from the loss.
    `constrained` and `constrained_value` are MyAdd's `isConstrained` and
    `constrainedVal`. `size` is MyAdd's and SReLU's `size`, PReLU's `nOutputPlane`
    (0 for one slope shared by all channels). Fields a class lacks are None.
    """

    activation: str
    torch_class: str
    torch_path: str
    state_dict_key: str
    size: int | None
    values: list[float] | None
    grad_scale: float | None = None
    constrained: bool | None = None
    constrained_value: float | None = None
    num_input_dims: int | None = None
    inplace: bool | None = None


def _number_or_none(value):
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float | np.integer | np.floating):
        number = float(value)
        return int(number) if number.is_integer() else number
    return None


def _values(tensor) -> list[float] | None:
    if tensor is None:
        return None
    array = np.asarray(tensor)
    if array.dtype == object:
        return None
    return [float(v) for v in array.reshape(-1)]


def activation_parameters(root, state_dict: Mapping | None = None) -> list[ActivationParameter]:
    """List every FReLU bias, SReLU threshold and PReLU slope in `findModules` order.

    Args:
        root: a TorchObject module tree or an architecture spec dict.
        state_dict: for a spec, whose fields contain only tensor shapes, the tensors by
            state_dict key (numpy arrays or torch tensors); values are None without it.

    Returns:
        One ActivationParameter per module, values as Python floats (float32 exact).
    """
    found = []
    for entry in walk_modules(root):
        kind = ACTIVATION_PARAMETERS.get(entry.class_name)
        if kind is None:
            continue
        activation, field_name = kind
        fields = node_fields(entry.node)
        key = entry.key(field_name)

        tensor = fields.get(field_name)
        if state_dict is not None and key in state_dict:
            tensor = state_dict[key]
            if hasattr(tensor, "detach"):
                tensor = tensor.detach().cpu().numpy()
        values = _values(tensor) if isinstance(tensor, np.ndarray) else None

        parameter = ActivationParameter(
            activation=activation,
            torch_class=entry.class_name,
            torch_path=entry.path_text,
            state_dict_key=key,
            size=_number_or_none(fields.get("nOutputPlane" if activation == "PReLU" else "size")),
            values=values,
            inplace=fields.get("inplace") if isinstance(fields.get("inplace"), bool) else None,
        )
        if activation == "FReLU":
            parameter.grad_scale = _number_or_none(fields.get("lr_decay"))
            parameter.constrained = bool(fields.get("isConstrained") or False)
            parameter.constrained_value = _number_or_none(fields.get("constrainedVal"))
            parameter.num_input_dims = _number_or_none(fields.get("numInputDims"))
        found.append(parameter)
    return found


@dataclass
class ClassCount:
    """The number of modules of one Torch7 class in a tree and their parameter count."""

    torch_class: str
    modules: int = 0
    parameters: int = 0


def parameter_counts(root) -> list[ClassCount]:
    """Count modules and learnable parameters by Torch7 class, largest count first.

    A module's parameters are its `weight` and `bias` tensors, as in the default
    `nn.Module:parameters()`; containers hold none of their own. A tensor object reached
    from two modules counts once, as in `getParameters()`.

    NOTE: a class that overrides `parameters()` with other fields is counted by its
    `weight` and `bias` only; none of the FReLU repository's classes does.
    """
    counts: dict[str, ClassCount] = {}
    seen: set[int] = set()
    for entry in walk_modules(root):
        count = counts.setdefault(entry.class_name, ClassCount(entry.class_name))
        count.modules += 1
        if node_children(entry.node):
            continue
        fields = node_fields(entry.node)
        for name in ("weight", "bias"):
            tensor = fields.get(name)
            if tensor is None or id(tensor) in seen:
                continue
            seen.add(id(tensor))
            count.parameters += tensor_numel(tensor)
    return sorted(counts.values(), key=lambda c: (-c.parameters, -c.modules, c.torch_class))
