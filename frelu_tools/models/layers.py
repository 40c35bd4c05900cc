"""Spec nodes for the Torch7 modules that the FReLU repository's model files create.

Each function returns one spec node, `{"torch_class", "fields"[, "children"]}`, with the
fields that the Torch7 constructor (torch/nn, cudnn.torch or `models/frelu/*.lua` of
frelu.torch) sets, under their Torch7 names. State tensors appear as
`{"tensor": shape, "dtype": "float32"}`. Buffers that only a forward or backward pass
fills (`output`, `gradInput`, `finput`, `noise`, ...) are left out, and so are the
fields every `nn.Module` has (`_type`, `train`).
"""

from typing import Any

Spec = dict[str, Any]


def tensor(*shape: int) -> dict[str, Any]:
    return {"tensor": list(shape), "dtype": "float32"}


def node(torch_class: str, fields: dict[str, Any] | None = None, children=None) -> Spec:
    spec: Spec = {"torch_class": torch_class, "fields": dict(fields or {})}
    if children is not None:
        spec["children"] = list(children)
    return spec


# Containers.


def sequential(*children: Spec) -> Spec:
    """`nn.Sequential` holding `children` in order."""
    return node("nn.Sequential", children=children)


def concat_table(*children: Spec) -> Spec:
    """`nn.ConcatTable`: every child gets the same input; the output is the list of outputs."""
    return node("nn.ConcatTable", children=children)


def concat(dimension: int, *children: Spec) -> Spec:
    """`nn.Concat(dimension)`: the children's outputs joined along the 1-based `dimension`."""
    return node("nn.Concat", {"dimension": dimension}, children)


# Convolutions and fully connected layers.


def convolution(
    n_input_plane: int,
    n_output_plane: int,
    kernel_w: int,
    kernel_h: int,
    stride_w: int = 1,
    stride_h: int = 1,
    pad_w: int = 0,
    pad_h: int | None = None,
    *,
    bias: bool,
    cudnn: bool = True,
) -> Spec:
    """`cudnn.SpatialConvolution` (or `nn.SpatialConvolution` with `cudnn=False`).

    Arguments follow the Torch7 constructor's order: nInputPlane, nOutputPlane, kW, kH,
    dW, dH, padW, padH, and padH defaults to padW as in Torch7. `bias=False` is the state
    after the model files' `ConvInit` sets `v.bias = nil`.
    """
    pad_h = pad_w if pad_h is None else pad_h
    fields: dict[str, Any] = {
        "nInputPlane": n_input_plane,
        "nOutputPlane": n_output_plane,
        "kW": kernel_w,
        "kH": kernel_h,
        "dW": stride_w,
        "dH": stride_h,
        "padW": pad_w,
        "padH": pad_h,
        "weight": tensor(n_output_plane, n_input_plane, kernel_h, kernel_w),
    }
    if bias:
        fields["bias"] = tensor(n_output_plane)
    if cudnn:
        fields["groups"] = 1
        return node("cudnn.SpatialConvolution", fields)
    return node("nn.SpatialConvolution", fields)


def linear(input_size: int, output_size: int) -> Spec:
    """`nn.Linear(inputSize, outputSize)`, with bias."""
    return node(
        "nn.Linear",
        {"weight": tensor(output_size, input_size), "bias": tensor(output_size)},
    )


def _batch_norm(torch_class: str, n_output: int) -> Spec:
    return node(
        torch_class,
        {
            "affine": True,
            "eps": 1e-5,
            "momentum": 0.1,
            "weight": tensor(n_output),
            "bias": tensor(n_output),
            "running_mean": tensor(n_output),
            "running_var": tensor(n_output),
        },
    )


def spatial_batch_norm(n_output: int) -> Spec:
    """`nn.SpatialBatchNormalization(nOutput)`: eps 1e-5, momentum 0.1, affine."""
    return _batch_norm("nn.SpatialBatchNormalization", n_output)


def batch_norm(n_output: int) -> Spec:
    """`nn.BatchNormalization(nOutput)` over 2-D input: eps 1e-5, momentum 0.1, affine."""
    return _batch_norm("nn.BatchNormalization", n_output)


# Activations.


def relu(inplace: bool, *, cudnn: bool) -> Spec:
    """`cudnn.ReLU(inplace)` or `nn.ReLU(inplace)`: a `nn.Threshold(0, 0)`."""
    fields: dict[str, Any] = {"threshold": 0, "val": 0, "inplace": inplace}
    if cudnn:
        fields["mode"] = "CUDNN_ACTIVATION_RELU"
        return node("cudnn.ReLU", fields)
    return node("nn.ReLU", fields)


def elu(alpha: float = 1, inplace: bool = True) -> Spec:
    """`nn.ELU(alpha, inplace)`; the model files all use `nn.ELU(1, true)`."""
    return node("nn.ELU", {"alpha": alpha, "inplace": inplace})


def prelu() -> Spec:
    """`nn.PReLU()`: one slope shared by every channel (`nOutputPlane` 0)."""
    return node("nn.PReLU", {"nOutputPlane": 0, "weight": tensor(1)})


def my_add(
    size: int = 1,
    lr_decay: float = 1,
    is_constrained: bool = False,
    constrained_value: float = -0.1,
    inplace: bool = True,
    num_input_dims: int | None = None,
) -> Spec:
    """`nn.MyAdd`, FReLU's learnable bias (`models/frelu/MyAdd.lua`).

    The initial bias value is not a field of the Torch7 object, so it is not in the spec:
    `frelu_tools.models.build` fills it. An unset `numInputDims` (nil) is absent.
    """
    fields: dict[str, Any] = {
        "size": size,
        "bias": tensor(size),
        "biasCopy": tensor(size),
        "inplace": inplace,
        "lr_decay": lr_decay,
        "isConstrained": is_constrained,
        "constrainedVal": constrained_value,
    }
    if num_input_dims is not None:
        fields["numInputDims"] = num_input_dims
    return node("nn.MyAdd", fields)


def pos_srelu(
    lr_decay: float = 1,
    is_constrained: bool = False,
    constrained_value: float = -0.1,
) -> Spec:
    """FReLU as `models/frelu/PosSReLU.lua` builds it: `nn.Sequential(nn.ReLU(true), nn.MyAdd)`.

    Defaults are those of `PosSReLU(1)`: a layer-wise bias, gradient factor 1, no constraint,
    in place. The model files pass `lr_decay` 0.1 and `isConstrained` true for the FReLUs
    inside residual blocks of some ResNets.
    """
    return sequential(
        relu(True, cudnn=False),
        my_add(
            lr_decay=lr_decay,
            is_constrained=is_constrained,
            constrained_value=constrained_value,
            inplace=True,
        ),
    )


def srelu(inplace: bool = True) -> Spec:
    """`nn.SReLU`, `max(x, b)` with one learnable threshold (`models/frelu/SReLU.lua`)."""
    return node("nn.SReLU", {"size": 1, "bias": tensor(1), "inplace": inplace})


def shifted_relu() -> Spec:
    """`ShiftedReLU()` of `models/frelu/ShiftedReLU.lua`: `nn.Sequential(nn.SReLU(-1, true))`."""
    return sequential(srelu(inplace=True))


# Pooling, reshaping and the rest.


def max_pooling(
    kernel_w: int,
    kernel_h: int,
    stride_w: int,
    stride_h: int,
    pad_w: int = 0,
    pad_h: int = 0,
    *,
    ceil_mode: bool = False,
) -> Spec:
    """`nn.SpatialMaxPooling(kW, kH, dW, dH, padW, padH)`, with `:ceil()` for `ceil_mode`."""
    return node(
        "nn.SpatialMaxPooling",
        {
            "kW": kernel_w,
            "kH": kernel_h,
            "dW": stride_w,
            "dH": stride_h,
            "padW": pad_w,
            "padH": pad_h,
            "ceil_mode": ceil_mode,
        },
    )


def average_pooling(
    kernel_w: int,
    kernel_h: int,
    stride_w: int,
    stride_h: int,
    *,
    ceil_mode: bool = False,
    cudnn: bool,
) -> Spec:
    """`cudnn.SpatialAveragePooling` or `nn.SpatialAveragePooling(kW, kH, dW, dH)`.

    Padding is 0 and padded zeros count in the average (`count_include_pad`), the Torch7
    defaults; `ceil_mode` is `:ceil()`.
    """
    torch_class = "cudnn.SpatialAveragePooling" if cudnn else "nn.SpatialAveragePooling"
    return node(
        torch_class,
        {
            "kW": kernel_w,
            "kH": kernel_h,
            "dW": stride_w,
            "dH": stride_h,
            "padW": 0,
            "padH": 0,
            "ceil_mode": ceil_mode,
            "count_include_pad": True,
            "divide": True,
        },
    )


def dropout(p: float) -> Spec:
    """`nn.Dropout(p)`: the default v2 form, which scales by 1/(1-p) in training."""
    return node("nn.Dropout", {"p": p, "v2": True, "stochastic_inference": False})


def view(*size: int, num_input_dims: int | None = None) -> Spec:
    """`nn.View(size...)`, with `:setNumInputDims(num_input_dims)` when it is given."""
    num_elements = 1
    for dim in size:
        if dim >= 0:
            num_elements *= dim
    fields: dict[str, Any] = {"size": list(size), "numElements": num_elements}
    if num_input_dims is not None:
        fields["numInputDims"] = num_input_dims
    return node("nn.View", fields)


def reshape(*size: int) -> Spec:
    """`nn.Reshape(size...)`, batch mode decided from the input as in Torch7."""
    num_elements = 1
    for dim in size:
        num_elements *= dim
    return node("nn.Reshape", {"size": list(size), "nelement": num_elements})


def identity() -> Spec:
    return node("nn.Identity")


def mul_constant(constant: float, inplace: bool = False) -> Spec:
    return node("nn.MulConstant", {"constant_scalar": constant, "inplace": inplace})


def cadd_table(inplace: bool) -> Spec:
    return node("nn.CAddTable", {"inplace": inplace})
