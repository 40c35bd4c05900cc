"""Converters for Torch7 layers with weights or windows: convolution, BN, pooling, Linear."""

import numpy as np
from torch import nn

from frelu_tools import nn as t7nn
from frelu_tools.port.registry import has_tensor, register, tensor_shape

_WEIGHT_BIAS = {"weight": "weight", "bias": "bias"}


def _pair(fields: dict, height: str, width: str, default: int = 0) -> tuple[int, int]:
    return int(fields.get(height, default)), int(fields.get(width, default))


def _conv_weight(name: str, array: np.ndarray, fields: dict) -> np.ndarray:
    # SpatialConvolutionMM, and old nn.SpatialConvolution files (see backCompatibility in
    # nn/SpatialConvolution.lua), keep the weight as nOutputPlane x (nInputPlane/groups *
    # kH * kW). Its element order is that of the 4-D form.
    if name != "weight" or array.ndim == 4:
        return array
    groups = int(fields.get("groups", 1))
    shape = (fields["nOutputPlane"], fields["nInputPlane"] // groups, fields["kH"], fields["kW"])
    return array.reshape(shape)


@register(
    "nn.SpatialConvolution",
    "nn.SpatialConvolutionMM",
    "cudnn.SpatialConvolution",
    "nn.SpatialDilatedConvolution",
    "cudnn.SpatialDilatedConvolution",
    state=_WEIGHT_BIAS,
    transform=_conv_weight,
)
def _convolution(fields, children):
    return nn.Conv2d(
        int(fields["nInputPlane"]),
        int(fields["nOutputPlane"]),
        kernel_size=_pair(fields, "kH", "kW"),
        stride=_pair(fields, "dH", "dW", 1),
        padding=_pair(fields, "padH", "padW"),
        dilation=_pair(fields, "dilationH", "dilationW", 1),
        groups=int(fields.get("groups", 1)),
        bias=has_tensor(fields, "bias"),
    )


@register("nn.SpatialFullConvolution", "cudnn.SpatialFullConvolution", state=_WEIGHT_BIAS)
def _full_convolution(fields, children):
    # Torch7's weight is nInputPlane x nOutputPlane/groups x kH x kW, as ConvTranspose2d's.
    return nn.ConvTranspose2d(
        int(fields["nInputPlane"]),
        int(fields["nOutputPlane"]),
        kernel_size=_pair(fields, "kH", "kW"),
        stride=_pair(fields, "dH", "dW", 1),
        padding=_pair(fields, "padH", "padW"),
        output_padding=_pair(fields, "adjH", "adjW"),
        groups=int(fields.get("groups", 1)),
        bias=has_tensor(fields, "bias"),
    )


def _running_var(name: str, array: np.ndarray, fields: dict) -> np.ndarray:
    # torch/nn before April 2016 (commit 26a5a7e) stored running_std = 1 / sqrt(var + eps).
    if name != "running_std":
        return array
    std = array.astype(np.float64)
    return (1.0 / (std * std) - fields["eps"]).astype(array.dtype)


_BATCH_NORM_STATE = {
    "weight": "weight",
    "bias": "bias",
    "running_mean": "running_mean",
    "running_var": "running_var",
    "running_std": "running_var",
}


def _batch_norm(module_class):
    # Torch7's momentum has PyTorch's meaning: running = (1 - momentum) * running
    # + momentum * batch statistic, with the unbiased batch variance for running_var.
    def build(fields, children):
        return module_class(
            tensor_shape(fields, "running_mean")[0],
            eps=float(fields.get("eps", 1e-5)),
            momentum=float(fields.get("momentum", 0.1)),
            affine=bool(fields.get("affine", has_tensor(fields, "weight"))),
        )

    return build


register(
    "nn.SpatialBatchNormalization",
    "cudnn.SpatialBatchNormalization",
    state=_BATCH_NORM_STATE,
    transform=_running_var,
)(_batch_norm(nn.BatchNorm2d))
register(
    "nn.BatchNormalization",
    "cudnn.BatchNormalization",
    state=_BATCH_NORM_STATE,
    transform=_running_var,
)(_batch_norm(nn.BatchNorm1d))


def _check_ceil_mode(fields: dict) -> None:
    # THNN drops a last window that would start in the padding only when there is
    # padding, but PyTorch always does. They differ only where a window can start past the
    # input, which needs a stride larger than the kernel.
    if not fields.get("ceil_mode", False) or fields.get("padW", 0) or fields.get("padH", 0):
        return
    if fields["dW"] > fields["kW"] or fields["dH"] > fields["kH"]:
        raise ValueError(
            "ceil mode without padding and with a stride larger than the kernel gives "
            "output sizes that PyTorch's pooling cannot reproduce"
        )


@register(
    "nn.SpatialMaxPooling",
    "cudnn.SpatialMaxPooling",
    work_fields=("iheight", "iwidth", "indices"),
)
def _max_pooling(fields, children):
    _check_ceil_mode(fields)
    return nn.MaxPool2d(
        kernel_size=_pair(fields, "kH", "kW"),
        stride=_pair(fields, "dH", "dW", 1),
        padding=_pair(fields, "padH", "padW"),
        dilation=_pair(fields, "dilationH", "dilationW", 1),
        ceil_mode=bool(fields.get("ceil_mode", False)),
    )


register("nn.SpatialDilatedMaxPooling", work_fields=("iheight", "iwidth", "indices"))(_max_pooling)


def _count_include_pad(fields: dict) -> bool:
    # cudnn.torch keeps the choice in `mode`; nn and the cudnn subclasses of nn classes in
    # `count_include_pad`. Files from before padding existed have neither: Torch7 includes it.
    mode = fields.get("mode")
    if isinstance(mode, str) and mode.startswith("CUDNN_POOLING_AVERAGE"):
        return mode == "CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING"
    return bool(fields.get("count_include_pad", True))


@register("nn.SpatialAveragePooling", "cudnn.SpatialAveragePooling")
def _average_pooling(fields, children):
    if fields.get("divide", True) is False:
        raise ValueError("divide=false (sum pooling of old files) is not supported")
    _check_ceil_mode(fields)
    return nn.AvgPool2d(
        kernel_size=_pair(fields, "kH", "kW"),
        stride=_pair(fields, "dH", "dW", 1),
        padding=_pair(fields, "padH", "padW"),
        ceil_mode=bool(fields.get("ceil_mode", False)),
        count_include_pad=_count_include_pad(fields),
    )


@register("nn.SpatialZeroPadding")
def _zero_padding(fields, children):
    # Negative padding crops, in Torch7 and in torch.nn.functional.pad alike.
    left = int(fields["pad_l"])
    return nn.ZeroPad2d(
        (
            left,
            int(fields.get("pad_r", left)),
            int(fields.get("pad_t", left)),
            int(fields.get("pad_b", left)),
        )
    )


@register("nn.SpatialUpSamplingNearest", work_fields=("inputSize", "outputSize"))
def _upsampling_nearest(fields, children):
    return t7nn.UpsamplingNearest(fields["scale_factor"])


@register("nn.Linear", state=_WEIGHT_BIAS, work_fields=("addBuffer",))
def _linear(fields, children):
    out_features, in_features = tensor_shape(fields, "weight")
    return nn.Linear(in_features, out_features, bias=has_tensor(fields, "bias"))
