"""Converters for Torch7 containers, table layers and layers that reshape."""

from torch import nn

from frelu_tools import nn as t7nn
from frelu_tools.port.registry import register


def _zero_based(dimension: int) -> int:
    # Torch7 dimensions are 1-based, with negative values counting from the end.
    if dimension == 0:
        raise ValueError("dimension 0 is invalid in Torch7, whose dimensions start at 1")
    return dimension - 1 if dimension > 0 else dimension


@register("nn.Sequential", container=True)
def _sequential(fields, children):
    return nn.Sequential(*children)


@register("nn.ConcatTable", container=True)
def _concat_table(fields, children):
    return t7nn.ConcatTable(*children)


@register("nn.ParallelTable", container=True)
def _parallel_table(fields, children):
    return t7nn.ParallelTable(*children)


@register("nn.Concat", container=True, work_fields=("outputSize",))
def _concat(fields, children):
    return t7nn.Concat(_zero_based(int(fields["dimension"])), *children)


@register("nn.CAddTable")
def _cadd_table(fields, children):
    return t7nn.CAddTable(inplace=bool(fields.get("inplace", False)))


@register("nn.JoinTable", work_fields=("size",))
def _join_table(fields, children):
    num_input_dims = fields.get("nInputDims")
    return t7nn.JoinTable(
        _zero_based(int(fields["dimension"])),
        num_input_dims=None if num_input_dims is None else int(num_input_dims),
    )


@register("nn.Identity")
def _identity(fields, children):
    return nn.Identity()


@register("nn.Narrow")
def _narrow(fields, children):
    return t7nn.Narrow(
        _zero_based(int(fields["dimension"])),
        _zero_based(int(fields["index"])),
        int(fields.get("length", 1)),
    )


@register("nn.View")
def _view(fields, children):
    num_input_dims = fields.get("numInputDims")
    return t7nn.View(
        *fields["size"],
        num_input_dims=None if num_input_dims is None else int(num_input_dims),
    )


@register("nn.Reshape", work_fields=("batchsize",))
def _reshape(fields, children):
    return t7nn.Reshape(*fields["size"], batch_mode=fields.get("batchMode"))
