"""Torch7's `print(model)` text for a loaded Torch7 module or an architecture spec.

Each formatter mirrors one `__tostring__` method of torch/nn (`Sequential.lua`,
`ConcatTable.lua`, `SpatialConvolution.lua`, ...). A `cudnn.X` class prints with the
formatter of `nn.X` under its own name, because cudnn.torch's modules inherit from nn's.
A class without a formatter prints as its bare class name, as Torch's default
`__tostring__` does. So does a module that lacks a field its formatter reads, where
Torch itself would raise an error.
"""

import sys
from collections.abc import Callable, Mapping

import numpy as np

from frelu_tools.errors import FreluToolsError


class ModuleTreeError(FreluToolsError):
    """A module tree that cannot be printed: it contains a cycle or is nested too deeply."""


# Torch7 containers whose children print in the branch layout of `Concat.lua`.
_BRANCH_CONTAINERS = {
    "nn.Concat",
    "nn.ConcatTable",
    "nn.DepthConcat",
    "nn.Parallel",
    "nn.ParallelTable",
}

# `nDim` is a class constant of the batch normalization classes (BatchNormalization.lua),
# so a saved module normally lacks it.
_BATCH_NORM_DIMS = {
    "nn.BatchNormalization": 2,
    "nn.SpatialBatchNormalization": 4,
    "nn.VolumetricBatchNormalization": 5,
}


def node_class(node) -> str:
    """Return the Torch7 class name of a TorchObject or of a spec dict."""
    if isinstance(node, Mapping):
        return str(node.get("torch_class", "?"))
    return str(getattr(node, "class_name", type(node).__name__))


def node_fields(node) -> Mapping:
    """Return the field table of a TorchObject or a spec dict (empty if it has none)."""
    if isinstance(node, Mapping):
        fields = node.get("fields")
    else:
        fields = getattr(node, "fields", None)
    return fields if isinstance(fields, Mapping) else {}


def node_children(node) -> list:
    """Return the child modules: a spec's `children` or a TorchObject's `modules` field."""
    if isinstance(node, Mapping):
        children = node.get("children")
    else:
        children = node_fields(node).get("modules")
    if isinstance(children, Mapping):
        # A Lua table with holes in its 1..n keys loads as a dict.
        children = [children[k] for k in sorted(k for k in children if isinstance(k, int))]
    if not isinstance(children, list):
        return []
    return [child for child in children if _is_module(child)]


def _is_module(value) -> bool:
    if isinstance(value, Mapping):
        return "torch_class" in value
    return hasattr(value, "class_name") and hasattr(value, "fields")


def tensor_shape(value) -> tuple[int, ...] | None:
    """Return the shape of a tensor field: a numpy array or a spec's `{"tensor": shape}`."""
    if isinstance(value, np.ndarray):
        return tuple(int(n) for n in value.shape)
    if isinstance(value, Mapping) and "tensor" in value:
        return tuple(int(n) for n in value["tensor"])
    return None


def tensor_numel(value) -> int:
    """Return the element count of a tensor field, 0 for an absent one."""
    shape = tensor_shape(value)
    if shape is None:
        return 0
    return int(np.prod(shape, dtype=np.int64))


def _lua_str(value) -> str:
    """Format a number the way Lua's `..` concatenation does (`%.14g`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        number = float(value)
        if number.is_integer() and abs(number) < 1e15:
            return str(int(number))
        return f"{number:.14g}"
    return str(value)


def _lua_d(value) -> int:
    """Convert a number for `%d` as Lua 5.1's `string.format` does (truncation)."""
    return int(value)


def _number_list(value) -> list:
    if isinstance(value, np.ndarray):
        return value.reshape(-1).tolist()
    if isinstance(value, list | tuple):
        return list(value)
    if isinstance(value, Mapping):
        return [value[k] for k in sorted(k for k in value if isinstance(k, int))]
    return [value]


def _nonzero(value) -> bool:
    # Lua's `x ~= 0` is also true for a missing (nil) field.
    return value is None or value != 0


def _format_convolution(name: str, f: Mapping) -> str:
    text = f"{name}({_lua_d(f['nInputPlane'])} -> {_lua_d(f['nOutputPlane'])}, "
    text += f"{_lua_d(f['kW'])}x{_lua_d(f['kH'])}"
    pad_w, pad_h = f.get("padW", 0), f.get("padH", 0)
    d_w, d_h = f.get("dW", 1), f.get("dH", 1)
    if d_w != 1 or d_h != 1 or pad_w != 0 or pad_h != 0:
        text += f", {_lua_d(d_w)},{_lua_d(d_h)}"
    if pad_w != 0 or pad_h != 0:
        text += f", {_lua_str(pad_w)},{_lua_str(pad_h)}"
    return text


def _format_spatial_convolution(name: str, f: Mapping) -> str:
    text = _format_convolution(name, f)
    return text + ")" if f.get("bias") is not None else text + ") without bias"


def _format_dilated_convolution(name: str, f: Mapping) -> str:
    text = _format_convolution(name, f)
    text += f", {_lua_str(f['dilationW'])},{_lua_str(f['dilationH'])}"
    return text + ")" if f.get("bias") is not None else text + ") without bias"


def _format_full_convolution(name: str, f: Mapping) -> str:
    text = _format_convolution(name, f)
    adj_w, adj_h = f.get("adjW", 0), f.get("adjH", 0)
    if adj_w != 0 or adj_h != 0:
        text += f", {_lua_str(adj_w)},{_lua_str(adj_h)}"
    return text + ")" if f.get("bias") is not None else text + ") without bias"


def _format_pooling(name: str, f: Mapping) -> str:
    text = f"{name}({_lua_d(f['kW'])}x{_lua_d(f['kH'])}, {_lua_d(f['dW'])},{_lua_d(f['dH'])}"
    pad_w, pad_h = f.get("padW"), f.get("padH")
    if (pad_w is not None or pad_h is not None) and (_nonzero(pad_w) or _nonzero(pad_h)):
        text += f", {_lua_str(pad_w)},{_lua_str(pad_h)}"
    return text + ")"


def _format_linear(name: str, f: Mapping) -> str:
    out_features, in_features = tensor_shape(f["weight"])
    text = f"{name}({in_features} -> {out_features})"
    return text if f.get("bias") is not None else text + " without bias"


def _format_batch_norm(name: str, f: Mapping) -> str:
    n_dim = f.get("nDim", _BATCH_NORM_DIMS.get(_nn_name(name)))
    return f"{name} ({_lua_d(n_dim)}D) ({tensor_numel(f['running_mean'])})"


def _format_dropout(name: str, f: Mapping) -> str:
    return f"{name}({float(f['p']):f})"


def _format_elu(name: str, f: Mapping) -> str:
    return f"{name} (alpha:{float(f['alpha']):f})"


def _format_leaky_relu(name: str, f: Mapping) -> str:
    return f"{name}({float(f['negval']):g})"


def _format_view(name: str, f: Mapping) -> str:
    return f"{name}({', '.join(_lua_str(n) for n in _number_list(f['size']))})"


def _format_reshape(name: str, f: Mapping) -> str:
    return f"{name}({'x'.join(_lua_str(n) for n in _number_list(f['size']))})"


def _format_padding(name: str, f: Mapping) -> str:
    pads = (_lua_d(f[key]) for key in ("pad_l", "pad_r", "pad_t", "pad_b"))
    return "{}(l={}, r={}, t={}, b={})".format(name, *pads)


def _format_select_table(name: str, f: Mapping) -> str:
    return f"{name}({_lua_str(f['index'])})"


def _format_rrelu(name: str, f: Mapping) -> str:
    return f"{name} (l:{float(f['lower']):f}, u:{float(f['upper']):f})"


_LEAF_FORMATTERS: dict[str, Callable[[str, Mapping], str]] = {
    "nn.SpatialConvolution": _format_spatial_convolution,
    "nn.SpatialConvolutionMM": _format_spatial_convolution,
    "nn.SpatialDepthWiseConvolution": _format_spatial_convolution,
    "nn.SpatialDilatedConvolution": _format_dilated_convolution,
    "nn.SpatialFullConvolution": _format_full_convolution,
    "nn.SpatialMaxPooling": _format_pooling,
    "nn.SpatialAveragePooling": _format_pooling,
    "nn.Linear": _format_linear,
    "nn.BatchNormalization": _format_batch_norm,
    "nn.SpatialBatchNormalization": _format_batch_norm,
    "nn.VolumetricBatchNormalization": _format_batch_norm,
    "nn.Dropout": _format_dropout,
    "nn.SpatialDropout": _format_dropout,
    "nn.VolumetricDropout": _format_dropout,
    "nn.ELU": _format_elu,
    "nn.LeakyReLU": _format_leaky_relu,
    "nn.RReLU": _format_rrelu,
    "nn.View": _format_view,
    "nn.Reshape": _format_reshape,
    "nn.SpatialZeroPadding": _format_padding,
    "nn.SpatialReflectionPadding": _format_padding,
    "nn.SpatialReplicationPadding": _format_padding,
    "nn.SelectTable": _format_select_table,
}


def _nn_name(class_name: str) -> str:
    """Map `cudnn.X` to `nn.X`, the class whose `__tostring__` it inherits."""
    if class_name.startswith("cudnn."):
        return "nn." + class_name[len("cudnn.") :]
    return class_name


def _format_sequential(children: list, ancestors: frozenset) -> str:
    # Sequential.lua writes the literal name 'nn.Sequential', not torch.type(self).
    text = "nn.Sequential {\n  [input"
    for i in range(1, len(children) + 1):
        text += f" -> ({i})"
    text += " -> output]"
    for i, child in enumerate(children, start=1):
        text += f"\n  ({i}): " + _format_node(child, ancestors).replace("\n", "\n  ")
    return text + "\n}"


def _format_branches(name: str, children: list, ancestors: frozenset) -> str:
    text = name + " {\n  input"
    for i, child in enumerate(children, start=1):
        child_text = _format_node(child, ancestors)
        if i == len(children):
            text += f"\n     `-> ({i}): " + child_text.replace("\n", "\n         ")
        else:
            text += f"\n    |`-> ({i}): " + child_text.replace("\n", "\n    |    ")
    return text + "\n     ... -> output\n}"


def _format_map_table(name: str, children: list, ancestors: frozenset) -> str:
    if not children:
        return name + " { }"
    return (
        name + " {\n  " + _format_node(children[0], ancestors).replace("\n", "\n        ") + "\n}"
    )


def _format_decorator(
    name: str, children: list, prefix_argument: str | None, ancestors: frozenset
) -> str:
    head = name if prefix_argument is None else f"{name}({prefix_argument})"
    if not children:
        return head
    return f"{head} @ {_format_node(children[0], ancestors)}"


def format_tree(node) -> str:
    """Format a module tree exactly as Torch7's `print(model)` does.

    Args:
        node: a Torch7 module as loaded by `frelu_tools.t7.load` (a TorchObject), or an
            architecture spec dict (`torch_class`, `fields`, `children`).

    Returns:
        The text `print(model)` writes, without its final newline.

    Raises:
        ModuleTreeError: a module contains itself, or the tree is nested deeper than
            Python's recursion limit allows.

    Example:
        >>> print(format_tree(load("data/resnet-possrelu-20-cifar10.t7")))
        nn.Sequential {
          [input -> (1) -> (2) -> (3) -> (4) -> (5) -> (6) -> (7) -> (8) -> (9) -> output]
          (1): cudnn.SpatialConvolution(3 -> 16, 3x3, 1,1, 1,1) without bias
          ...
    """
    try:
        return _format_node(node, frozenset())
    except RecursionError:
        raise ModuleTreeError(
            "the module tree is nested too deeply for Python's recursion limit "
            f"({sys.getrecursionlimit()})"
        ) from None


def _format_node(node, ancestors: frozenset) -> str:
    name = node_class(node)
    base = _nn_name(name)
    fields = node_fields(node)
    children = node_children(node)
    ancestors = ancestors | {id(node)}
    if any(id(child) in ancestors for child in children):
        raise ModuleTreeError(f"the module tree contains a cycle: {name} contains its own ancestor")

    if base == "nn.Sequential":
        return _format_sequential(children, ancestors)
    if base in _BRANCH_CONTAINERS:
        return _format_branches(name, children, ancestors)
    if base == "nn.MapTable":
        return _format_map_table(name, children, ancestors)
    if base in ("nn.Decorator", "nn.DontCast", "nn.NoBackprop"):
        return _format_decorator(name, children, None, ancestors)
    if base == "nn.GPU":
        return _format_decorator(name, children, _lua_str(fields.get("device")), ancestors)
    if base == "nn.DataParallelTable":
        # NOTE: cunn's own printout of DataParallelTable is not reproduced here (no
        # reference output exists); the wrapped model is shown in the decorator style.
        return _format_decorator(name, children, None, ancestors)

    formatter = _LEAF_FORMATTERS.get(base)
    if formatter is None:
        return name
    try:
        return formatter(name, fields)
    except (KeyError, TypeError, ValueError):
        # A module saved without a field its formatter reads prints by class name, like
        # a class Torch has no `__tostring__` for.
        return name
