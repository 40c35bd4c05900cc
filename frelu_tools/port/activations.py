"""Converters for Torch7 element-wise layers, FReLU's bias and SReLU."""

from torch import nn

from frelu_tools import nn as t7nn
from frelu_tools.port.registry import register


def _inplace(fields: dict) -> bool:
    return bool(fields.get("inplace", False))


@register("nn.ReLU", "cudnn.ReLU")
def _relu(fields, children):
    # nn.ReLU is a Threshold(0, 0) in Torch7 and keeps both fields.
    threshold, value = fields.get("threshold", 0), fields.get("val", 0)
    if threshold == 0 and value == 0:
        return nn.ReLU(inplace=_inplace(fields))
    return nn.Threshold(threshold, value, inplace=_inplace(fields))


@register("nn.Threshold")
def _threshold(fields, children):
    return nn.Threshold(fields["threshold"], fields["val"], inplace=_inplace(fields))


@register("nn.ELU")
def _elu(fields, children):
    return nn.ELU(alpha=fields.get("alpha", 1.0), inplace=_inplace(fields))


@register("nn.LeakyReLU")
def _leaky_relu(fields, children):
    return nn.LeakyReLU(negative_slope=fields.get("negval", 0.01), inplace=_inplace(fields))


@register("nn.PReLU", state={"weight": "weight"})
def _prelu(fields, children):
    # nOutputPlane 0 is one slope shared by all channels. Otherwise THNN takes channels
    # from dimension 1, or 0 of a 1-D input, as torch.nn.PReLU does.
    return nn.PReLU(num_parameters=max(int(fields.get("nOutputPlane", 0)), 1))


@register("nn.HardTanh")
def _hardtanh(fields, children):
    return nn.Hardtanh(
        fields.get("min_val", -1.0), fields.get("max_val", 1.0), inplace=_inplace(fields)
    )


@register("nn.Tanh", "cudnn.Tanh")
def _tanh(fields, children):
    return nn.Tanh()


@register("nn.Sigmoid", "cudnn.Sigmoid")
def _sigmoid(fields, children):
    return nn.Sigmoid()


@register("nn.SoftMax")
def _softmax(fields, children):
    return t7nn.SoftMax()


@register("nn.LogSoftMax")
def _log_softmax(fields, children):
    return t7nn.LogSoftMax()


# cudnn.SoftMax and cudnn.LogSoftMax set CUDNN_SOFTMAX_MODE_INSTANCE at every forward
# pass, whatever their `mode` field contains. The Spatial variants keep `mode`, by default
# the channel mode, which normalises along the dimension THNN's rule picks.
@register("cudnn.SoftMax")
def _cudnn_softmax(fields, children):
    return t7nn.SoftMax(instance=True)


@register("cudnn.LogSoftMax")
def _cudnn_log_softmax(fields, children):
    return t7nn.LogSoftMax(instance=True)


def _instance_mode(fields: dict) -> bool:
    return fields.get("mode", "CUDNN_SOFTMAX_MODE_CHANNEL") == "CUDNN_SOFTMAX_MODE_INSTANCE"


@register("cudnn.SpatialSoftMax")
def _cudnn_spatial_softmax(fields, children):
    return t7nn.SoftMax(instance=_instance_mode(fields))


@register("cudnn.SpatialLogSoftMax")
def _cudnn_spatial_log_softmax(fields, children):
    return t7nn.LogSoftMax(instance=_instance_mode(fields))


@register("nn.Dropout")
def _dropout(fields, children):
    # Files from before Dropout had `v2` scale like version 1, and so does Torch7 with them.
    return t7nn.Dropout(
        p=fields.get("p", 0.5),
        v1=not fields.get("v2", False),
        inplace=_inplace(fields),
        stochastic_inference=bool(fields.get("stochastic_inference", False)),
    )


def _constant(fields: dict) -> float:
    constant = fields.get("constant_scalar")
    if not isinstance(constant, int | float) or isinstance(constant, bool):
        raise ValueError("only a number constant_scalar is supported, not a tensor")
    return constant


@register("nn.MulConstant")
def _mul_constant(fields, children):
    return t7nn.MulConstant(_constant(fields), inplace=_inplace(fields))


@register("nn.AddConstant")
def _add_constant(fields, children):
    return t7nn.AddConstant(_constant(fields), inplace=_inplace(fields))


@register("nn.MyAdd", state={"bias": "bias", "biasCopy": "bias_copy"})
def _frelu_bias(fields, children):
    num_input_dims = fields.get("numInputDims")
    return t7nn.FReLUBias(
        size=int(fields["size"]),
        init=0.0,
        # A missing lr_decay makes Torch7's backward pass fail; its forward pass ignores it.
        grad_scale=float(fields.get("lr_decay", 1.0)),
        constrained=bool(fields.get("isConstrained", False)),
        constrained_value=float(fields.get("constrainedVal", 0.0)),
        num_input_dims=None if num_input_dims is None else int(num_input_dims),
        inplace=_inplace(fields),
    )


@register("nn.SReLU", state={"bias": "bias"})
def _srelu(fields, children):
    return t7nn.SReLU(size=int(fields.get("size", 1)), init=0.0, inplace=_inplace(fields))
