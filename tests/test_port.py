import json

import numpy as np
import pytest
import torch
from conftest import TEST_DATA
from torch import nn

from frelu_tools import nn as t7nn
from frelu_tools.errors import FreluToolsError
from frelu_tools.port import (
    CONVERTERS,
    ConversionError,
    UnknownClassError,
    build,
    convert,
    describe,
    named_sources,
)
from frelu_tools.t7 import TorchObject, load

VARIANTS = TEST_DATA / "port"


def _module(class_name: str, **fields) -> TorchObject:
    fields.setdefault("train", False)
    fields.setdefault("output", np.zeros(0, dtype=np.float32))
    fields.setdefault("gradInput", np.zeros(0, dtype=np.float32))
    return TorchObject(class_name, fields, 1)


def _sequential(*children) -> TorchObject:
    return _module("nn.Sequential", modules=list(children))


def _conv(n_in=3, n_out=4, mm=False, bias=True, **extra) -> TorchObject:
    weight = np.arange(n_out * n_in * 9, dtype=np.float32).reshape(n_out, n_in, 3, 3) / 100
    fields = dict(
        nInputPlane=n_in,
        nOutputPlane=n_out,
        kW=3,
        kH=3,
        dW=1,
        dH=1,
        padW=1,
        padH=1,
        weight=weight.reshape(n_out, -1) if mm else weight,
        gradWeight=np.zeros_like(weight),
        finput=np.zeros(0, dtype=np.float32),
    )
    if bias:
        fields["bias"] = np.linspace(-1, 1, n_out, dtype=np.float32)
        fields["gradBias"] = np.zeros(n_out, dtype=np.float32)
    fields.update(extra)
    return _module("nn.SpatialConvolutionMM" if mm else "nn.SpatialConvolution", **fields)


def test_describe_conv_spec():
    spec = describe(_sequential(_conv()))
    assert spec["torch_class"] == "nn.Sequential"
    assert spec["fields"] == {"train": False}
    (conv,) = spec["children"]
    assert conv["torch_class"] == "nn.SpatialConvolution"
    assert conv["fields"]["weight"] == {"tensor": [4, 3, 3, 3], "dtype": "float32"}
    assert conv["fields"]["bias"] == {"tensor": [4], "dtype": "float32"}
    assert conv["fields"]["kW"] == 3
    assert "children" not in conv


def test_describe_drops_gradients_and_buffers():
    fields = describe(_conv())["fields"]
    for name in ("gradWeight", "gradBias", "finput", "output", "gradInput"):
        assert name not in fields


def test_describe_without_bias():
    fields = describe(_conv(bias=False))["fields"]
    assert "bias" not in fields
    assert build(describe(_conv(bias=False))).bias is None


def test_describe_number_lists():
    view = _module("nn.View", size=np.array([-1], dtype=np.int64), numElements=1, numInputDims=3)
    assert describe(view)["fields"] == {
        "numElements": 1,
        "numInputDims": 3,
        "size": [-1],
        "train": False,
    }


def test_describe_drops_work_fields():
    pool = _module(
        "nn.SpatialMaxPooling",
        kW=2,
        kH=2,
        dW=2,
        dH=2,
        padW=0,
        padH=0,
        ceil_mode=False,
        iheight=32,
        iwidth=32,
        indices=np.zeros(0, dtype=np.int64),
    )
    fields = describe(pool)["fields"]
    assert "iheight" not in fields
    assert "indices" not in fields
    concat = _module("nn.Concat", dimension=2, outputSize=np.array([2, 6, 4, 4]), modules=[])
    assert "outputSize" not in describe(concat)["fields"]


def test_describe_is_json():
    spec = describe(load(VARIANTS / "concattable-caddtable.t7"))
    assert json.loads(json.dumps(spec)) == spec


def test_describe_real_frelu_fields():
    spec = describe(load(VARIANTS / "frelu-constrained.t7"))
    fields = spec["children"][0]["fields"]
    assert spec["children"][0]["torch_class"] == "nn.MyAdd"
    assert fields["isConstrained"] is True
    assert fields["lr_decay"] == pytest.approx(0.1)
    assert fields["constrainedVal"] == pytest.approx(-0.1)
    assert fields["biasCopy"] == {"tensor": [1], "dtype": "float32"}
    assert "gradBias" not in fields


def test_describe_unwraps_data_parallel_table():
    inner = _sequential(_conv())
    wrapper = _module("nn.DataParallelTable", modules=[inner], gpuAssignments=[1, 2])
    assert describe(wrapper) == describe(inner)
    assert list(named_sources(wrapper)) == ["0.weight", "0.bias"]


def test_unknown_classes_listed_with_paths():
    model = _sequential(
        _conv(),
        _module("nn.Foo"),
        _sequential(_module("nn.ReLU", inplace=True), _module("cudnn.Bar")),
        _module("nn.Baz", modules=[_module("nn.Qux")]),
    )
    with pytest.raises(UnknownClassError) as raised:
        describe(model)
    assert raised.value.unknown == [
        ("1", "nn.Foo"),
        ("2.1", "cudnn.Bar"),
        ("3", "nn.Baz"),
        ("3.0", "nn.Qux"),
    ]
    message = str(raised.value)
    assert "nn.Foo at module 1" in message
    assert "cudnn.Bar at module 2.1" in message
    assert isinstance(raised.value, FreluToolsError)


def test_unknown_root_class():
    with pytest.raises(UnknownClassError, match="nn.gModule at the root module"):
        convert(_module("nn.gModule"))


def test_build_rejects_unknown_spec():
    spec = {
        "torch_class": "nn.Sequential",
        "fields": {},
        "children": [
            {"torch_class": "nn.Nope", "fields": {}},
        ],
    }
    with pytest.raises(UnknownClassError, match="nn.Nope at module 0"):
        build(spec)


def test_build_has_convert_state_dict_keys():
    obj = load(VARIANTS / "frelu-layer.t7")
    built = build(describe(obj))
    converted = convert(obj)
    assert list(built.state_dict()) == list(converted.state_dict())
    assert list(converted.state_dict()) == ["0.1.bias", "0.1.bias_copy"]


def test_convert_returns_eval_module():
    assert convert(_sequential(_conv())).training is False


def test_named_sources_are_reader_arrays():
    obj = load(VARIANTS / "bn-spatial.t7")
    sources = named_sources(obj)
    bn = obj["modules"][0]
    assert list(sources) == ["0.weight", "0.bias", "0.running_mean", "0.running_var"]
    assert sources["0.running_var"] is bn["running_var"]
    assert "0.num_batches_tracked" in convert(obj).state_dict()


def test_conv_mm_weight_layout():
    mm = convert(_conv(mm=True))
    plain = convert(_conv())
    assert mm.weight.shape == (4, 3, 3, 3)
    assert torch.equal(mm.weight, plain.weight)


def test_conv_groups_and_dilation():
    weight = np.ones((4, 1, 3, 3), dtype=np.float32)
    obj = _conv(n_in=2, n_out=4, groups=2, weight=weight, dilationW=2, dilationH=1)
    obj.fields["weight"] = np.ones((4, 1, 3, 3), dtype=np.float32)
    obj.class_name = "cudnn.SpatialConvolution"
    module = convert(obj)
    assert module.groups == 2
    assert module.weight.shape == (4, 1, 3, 3)


def test_running_std_becomes_running_var():
    var = np.array([0.5, 2.0], dtype=np.float32)
    bn = _module(
        "nn.SpatialBatchNormalization",
        eps=1e-5,
        momentum=0.1,
        affine=False,
        running_mean=np.zeros(2, dtype=np.float32),
        running_std=(1 / np.sqrt(var + 1e-5)).astype(np.float32),
    )
    module = convert(bn)
    assert torch.allclose(module.running_var, torch.from_numpy(var), rtol=1e-5)
    assert list(named_sources(bn)) == ["running_mean", "running_var"]


def test_batch_norm_kinds():
    fields = dict(
        eps=1e-3,
        momentum=0.2,
        affine=True,
        weight=np.ones(5, dtype=np.float32),
        bias=np.zeros(5, dtype=np.float32),
        running_mean=np.zeros(5, dtype=np.float32),
        running_var=np.ones(5, dtype=np.float32),
    )
    spatial = convert(_module("nn.SpatialBatchNormalization", **fields))
    flat = convert(_module("nn.BatchNormalization", **fields))
    assert isinstance(spatial, nn.BatchNorm2d)
    assert isinstance(flat, nn.BatchNorm1d)
    assert spatial.momentum == pytest.approx(0.2)
    assert spatial.eps == pytest.approx(1e-3)


def test_frelu_bias_fields():
    obj = _module(
        "nn.MyAdd",
        size=3,
        bias=np.array([-1, 0.5, 2], dtype=np.float32),
        biasCopy=np.array([-1, -0.5, -2], dtype=np.float32),
        gradBias=np.zeros(3),
        inplace=True,
        numInputDims=3,
        lr_decay=0.1,
        isConstrained=True,
        constrainedVal=-0.1,
    )
    module = convert(obj)
    assert isinstance(module, t7nn.FReLUBias)
    assert module.grad_scale == pytest.approx(0.1)
    assert module.constrained is True
    assert module.num_input_dims == 3
    assert module.inplace is True
    assert torch.equal(module.bias_copy, torch.tensor([-1.0, -0.5, -2.0]))
    # the constraint applies at the first forward pass of the converted module
    output = module(torch.zeros(3, 1, 1))
    assert torch.equal(output.flatten(), torch.tensor([-1.0, -0.5, -2.0]))


def test_prelu_shared_and_channel():
    shared = convert(_module("nn.PReLU", nOutputPlane=0, weight=np.full(1, 0.25, np.float32)))
    channel = convert(_module("nn.PReLU", nOutputPlane=3, weight=np.full(3, 0.1, np.float32)))
    assert shared.num_parameters == 1
    assert channel.num_parameters == 3


def test_dropout_versions():
    v1 = convert(_module("nn.Dropout", p=0.3, v2=False))
    v2 = convert(_module("nn.Dropout", p=0.3, v2=True))
    old = convert(_module("nn.Dropout", p=0.3))
    assert v1.v1 is True
    assert v2.v1 is False
    assert old.v1 is True


def test_relu_with_threshold_fields():
    assert isinstance(convert(_module("nn.ReLU", threshold=0, val=0, inplace=True)), nn.ReLU)
    shifted = convert(_module("nn.ReLU", threshold=0.5, val=0.5))
    assert isinstance(shifted, nn.Threshold)


def test_dimension_fields_become_zero_based():
    narrow = convert(_module("nn.Narrow", dimension=2, index=3, length=-1))
    join = convert(_module("nn.JoinTable", dimension=-1, size=np.array([2, 3])))
    assert (narrow.dim, narrow.start, narrow.length) == (1, 2, -1)
    assert join.dim == -1


def test_cudnn_average_pooling_mode():
    fields = dict(kW=3, kH=3, dW=2, dH=2, padW=1, padH=1, ceil_mode=False)
    exclude = _module(
        "cudnn.SpatialAveragePooling", mode="CUDNN_POOLING_AVERAGE_COUNT_EXCLUDE_PADDING", **fields
    )
    assert convert(exclude).count_include_pad is False
    assert convert(_module("nn.SpatialAveragePooling", **fields)).count_include_pad is True


def test_cudnn_softmax_modes():
    assert convert(_module("cudnn.SoftMax", mode="CUDNN_SOFTMAX_MODE_CHANNEL")).instance
    assert convert(_module("cudnn.LogSoftMax")).instance
    assert not convert(_module("cudnn.SpatialSoftMax")).instance
    spatial = _module("cudnn.SpatialSoftMax", mode="CUDNN_SOFTMAX_MODE_INSTANCE")
    assert convert(spatial).instance
    assert not convert(_module("nn.SoftMax")).instance


def test_tensor_constant_rejected():
    obj = _sequential(_module("nn.AddConstant", constant_scalar=np.ones(3, np.float32)))
    with pytest.raises(ConversionError, match="nn.AddConstant at module 0: only a number"):
        convert(obj)


def test_sum_pooling_rejected():
    obj = _module("nn.SpatialAveragePooling", kW=2, kH=2, dW=2, dH=2, divide=False)
    with pytest.raises(ConversionError, match="divide=false"):
        convert(obj)


def test_ceil_mode_past_input_rejected():
    obj = _module("nn.SpatialMaxPooling", kW=1, kH=1, dW=2, dH=2, padW=0, padH=0, ceil_mode=True)
    with pytest.raises(ConversionError, match="ceil mode"):
        convert(obj)


def test_shape_mismatch_rejected():
    obj = _conv()
    obj.fields["bias"] = np.zeros(5, dtype=np.float32)
    with pytest.raises(ConversionError, match="bias has shape \\[5\\]"):
        convert(obj)


def test_missing_field_rejected():
    message = "nn.SpatialZeroPadding at the root module: the field pad_l is missing"
    with pytest.raises(ConversionError, match=message):
        convert(_module("nn.SpatialZeroPadding"))


@pytest.mark.parametrize(
    "class_name",
    [
        "nn.Sequential",
        "nn.ConcatTable",
        "nn.ParallelTable",
        "nn.CAddTable",
        "nn.Concat",
        "nn.JoinTable",
        "nn.Identity",
        "nn.Narrow",
        "nn.View",
        "nn.Reshape",
        "nn.SpatialConvolution",
        "nn.SpatialConvolutionMM",
        "cudnn.SpatialConvolution",
        "nn.SpatialDilatedConvolution",
        "nn.SpatialFullConvolution",
        "nn.SpatialBatchNormalization",
        "cudnn.SpatialBatchNormalization",
        "nn.BatchNormalization",
        "nn.SpatialMaxPooling",
        "cudnn.SpatialMaxPooling",
        "nn.SpatialAveragePooling",
        "cudnn.SpatialAveragePooling",
        "nn.SpatialZeroPadding",
        "nn.SpatialUpSamplingNearest",
        "nn.Linear",
        "nn.ReLU",
        "cudnn.ReLU",
        "nn.ELU",
        "nn.PReLU",
        "nn.LeakyReLU",
        "nn.Threshold",
        "nn.HardTanh",
        "nn.Tanh",
        "nn.Sigmoid",
        "nn.SoftMax",
        "nn.LogSoftMax",
        "nn.Dropout",
        "nn.MulConstant",
        "nn.AddConstant",
        "nn.MyAdd",
        "nn.SReLU",
    ],
)
def test_registered(class_name):
    assert class_name in CONVERTERS
