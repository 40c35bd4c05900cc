"""Native builders against Torch7's printouts of every model file, and their initialisation."""

import json
import math
import re
from pathlib import Path

import pytest
import torch
from conftest import TEST_DATA

from frelu_tools.errors import FreluToolsError
from frelu_tools.models import (
    NET_TYPES,
    NOT_BUILT,
    InvalidDepthError,
    ModelChoiceError,
    UnknownNetTypeError,
    UnsupportedDatasetError,
    build,
    features,
    spec,
)
from frelu_tools.models.weights import walk
from frelu_tools.nn import FReLUBias, SReLU
from frelu_tools.show.tree import format_tree

ARCHITECTURES = TEST_DATA / "models" / "architectures"
ARCHITECTURE_FILES = sorted(ARCHITECTURES.glob("*.txt"))
# Torch7 built every ResNet in architectures/ at depth 20.
ARCHITECTURE_DEPTH = 20


def _architecture(path: Path) -> tuple[str, str, int | None]:
    net_type, dataset = path.stem.rsplit(".", 1)
    depth = ARCHITECTURE_DEPTH if NET_TYPES[net_type].has_depth else None
    return net_type, dataset, depth


def _printed_tree_and_count(path: Path) -> tuple[str, int]:
    # The last line is "-- N parameters", N being model:getParameters():nElement().
    lines = path.read_text().splitlines(keepends=True)
    match = re.fullmatch(r"-- (\d+) parameters\n?", lines[-1])
    assert match, f"{path.name}: last line {lines[-1]!r} is not a parameter count"
    return "".join(lines[:-1]), int(match.group(1))


def _parameter_count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _modules_of(model: torch.nn.Module, architecture: dict, torch_class: str):
    return [
        model.get_submodule(path)
        for path, node in walk(architecture)
        if node["torch_class"] == torch_class
    ]


def test_architecture_files_present():
    assert len(ARCHITECTURE_FILES) == 48


def test_every_cifar_net_type_has_architecture_files():
    printed = {_architecture(path)[:2] for path in ARCHITECTURE_FILES}
    cifar_nets = [name for name, net in NET_TYPES.items() if "cifar10" in net.datasets]
    for name in cifar_nets:
        assert (name, "cifar10") in printed
        assert (name, "cifar100") in printed
    assert {net for net, _ in printed} == set(cifar_nets)


@pytest.mark.parametrize("path", ARCHITECTURE_FILES, ids=lambda p: p.stem)
def test_spec_prints_as_torch(path):
    net_type, dataset, depth = _architecture(path)
    expected, _ = _printed_tree_and_count(path)

    printed = format_tree(spec(net_type, dataset, depth))

    assert printed.rstrip("\n") == expected.rstrip("\n")


@pytest.mark.parametrize("path", ARCHITECTURE_FILES, ids=lambda p: p.stem)
def test_build_parameter_count_as_torch(path):
    net_type, dataset, depth = _architecture(path)
    _, expected = _printed_tree_and_count(path)

    model = build(net_type, dataset, depth)

    assert _parameter_count(model) == expected


@pytest.mark.parametrize("net_type", sorted(NET_TYPES))
def test_build_forward_shape(net_type):
    net = NET_TYPES[net_type]
    dataset = "mnist" if net.datasets == ("mnist",) else "cifar100"
    depth = 8 if net.has_depth else None
    model = build(net_type, dataset, depth).eval()

    if dataset == "mnist":
        input, classes = torch.randn(3, 28, 28), 10
    else:
        input = torch.randn(3, 3, 32, 32)
        classes = 100
    with torch.no_grad():
        output = model(input)

    assert output.shape == (3, classes)
    assert torch.isfinite(output).all()


@pytest.mark.parametrize("net_type", sorted(NET_TYPES))
def test_build_backward_runs(net_type):
    # In-place FReLU biases follow in-place ReLUs in most FReLU networks; autograd must
    # still get the tensors it saved.
    net = NET_TYPES[net_type]
    dataset = net.datasets[0]
    model = build(net_type, dataset, 8 if net.has_depth else None)
    input = torch.randn(2, 28, 28) if dataset == "mnist" else torch.randn(2, 3, 32, 32)

    model(input).sum().backward()

    for name, parameter in model.named_parameters():
        assert parameter.grad is not None, name


def test_smallnet_has_100_outputs_for_cifar10():
    model = build("pelu-smallnet-relu", "cifar10").eval()
    with torch.no_grad():
        output = model(torch.randn(2, 3, 32, 32))
    assert output.shape == (2, 100)


# ResNets at other depths. A CIFAR ResNet of depth 6n+2 with shortcut type A has
# 3n blocks, each two 3x3 convolutions with BN; counted by hand from resnet.lua.


def _resnet_parameter_count(depth: int, classes: int) -> int:
    n = (depth - 2) // 6
    count = 3 * 16 * 9 + 2 * 16  # first convolution and its BN
    channels = 16
    for features_ in (16, 32, 64):
        for _ in range(n):
            count += channels * features_ * 9 + 2 * features_
            count += features_ * features_ * 9 + 2 * features_
            channels = features_
    return count + 64 * classes + classes


@pytest.mark.parametrize("depth", [8, 14, 32, 44, 56, 110])
def test_resnet_depth_parameter_count(depth):
    model = build("resnet", "cifar10", depth)
    assert _parameter_count(model) == _resnet_parameter_count(depth, 10)


@pytest.mark.parametrize("depth", [8, 32, 56])
def test_resnet_possrelu_depth_frelu_count(depth):
    n = (depth - 2) // 6
    architecture = spec("resnet-possrelu", "cifar100", depth)
    frelus = [node for _, node in walk(architecture) if node["torch_class"] == "nn.MyAdd"]
    # One after the first convolution, two in each of the 3n blocks.
    assert len(frelus) == 1 + 2 * 3 * n


@pytest.mark.parametrize(
    "net_type",
    [name for name, net in NET_TYPES.items() if net.has_depth],
)
def test_resnet_variants_at_depth_56(net_type):
    model = build(net_type, "cifar100", 56).eval()
    blocks = model.get_submodule("3")
    assert len(blocks) == 9
    with torch.no_grad():
        assert model(torch.randn(2, 3, 32, 32)).shape == (2, 100)


def test_resnet_shortcut_b_adds_projections():
    # Two projections (16->32, 32->64), each a 1x1 convolution and a BN.
    extra = 16 * 32 + 2 * 32 + 32 * 64 + 2 * 64
    model = build("resnet", "cifar10", 20, shortcut_type="B")
    assert _parameter_count(model) == _resnet_parameter_count(20, 10) + extra


def test_resnet_shortcut_c_projects_every_block():
    # Nine blocks: 1x1 convolution + BN on each shortcut.
    extra = 3 * (16 * 16 + 2 * 16) + (16 * 32 + 2 * 32) + 2 * (32 * 32 + 2 * 32)
    extra += (32 * 64 + 2 * 64) + 2 * (64 * 64 + 2 * 64)
    model = build("resnet", "cifar10", 20, shortcut_type="C")
    assert _parameter_count(model) == _resnet_parameter_count(20, 10) + extra


def test_preresnet_shortcut_b_has_no_bn():
    extra = 16 * 32 + 32 * 64
    model_a = build("preresnet", "cifar10", 20)
    model_b = build("preresnet", "cifar10", 20, shortcut_type="B")
    assert _parameter_count(model_b) == _parameter_count(model_a) + extra


# ImageNet networks. No Torch7 printout of them exists here; the ReLU ResNets with
# shortcut type B have exactly the parameters of torchvision's ResNets of the same depth.

TORCHVISION_RESNET_PARAMETERS = {
    18: 11_689_512,
    34: 21_797_672,
    50: 25_557_032,
    101: 44_549_160,
    152: 60_192_808,
}


@pytest.mark.parametrize("depth", sorted(TORCHVISION_RESNET_PARAMETERS))
def test_imagenet_resnet_parameter_count(depth):
    model = build("resnet", "imagenet", depth)
    assert _parameter_count(model) == TORCHVISION_RESNET_PARAMETERS[depth]


def test_imagenet_resnet_default_shortcut_b():
    default = spec("resnet", "imagenet", 18)
    explicit = spec("resnet", "imagenet", 18, shortcut_type="B")
    assert default == explicit
    assert default != spec("resnet", "imagenet", 18, shortcut_type="A")


@pytest.mark.parametrize(
    ("net_type", "depth"),
    [
        ("resnet-possrelu", 18),
        ("resnet-possrelu", 50),
        ("elu-resnet-possrelu", 50),
        ("elu-resnet-possrelu-constrained", 18),
        ("resnet-elu", 50),
        ("elu-resnet-elu", 50),
        ("preresnet", 18),
        ("preresnet", 50),
    ],
)
def test_imagenet_resnet_forward_shape(net_type, depth):
    model = build(net_type, "imagenet", depth).eval()
    with torch.no_grad():
        output = model(torch.randn(1, 3, 224, 224))
    assert output.shape == (1, 1000)


def test_imagenet_bottleneck_bn_follows_file():
    # elu-resnet-possrelu.lua's bottleneck has BN only after its last convolution.
    first_block = spec("elu-resnet-possrelu", "imagenet", 50)["children"][3]["children"][0]
    branch = first_block["children"][0]["children"][0]
    classes = [node["torch_class"] for node in branch["children"]]
    assert classes == [
        "cudnn.SpatialConvolution",
        "nn.Sequential",
        "cudnn.SpatialConvolution",
        "nn.Sequential",
        "cudnn.SpatialConvolution",
        "nn.SpatialBatchNormalization",
    ]


def test_imagenet_frelu_stem_follows_file():
    # resnet-possrelu.lua constrains the stem FReLU on ImageNet only.
    imagenet = build("resnet-possrelu", "imagenet", 18)
    cifar = build("resnet-possrelu", "cifar10", 20)
    assert imagenet.get_submodule("2.1").constrained is True
    assert imagenet.get_submodule("2.1").grad_scale == 0.1
    assert cifar.get_submodule("2.1").constrained is False

    constrained = build("elu-resnet-possrelu-constrained", "imagenet", 18)
    assert constrained.get_submodule("1.1").constrained_value == -0.0001
    assert constrained.get_submodule("7.1").constrained_value == -0.0001


def test_preresnet_imagenet_first_block_has_no_preactivation():
    first_stage = spec("preresnet", "imagenet", 18)["children"][4]
    first_block, second_block = first_stage["children"]
    assert first_block["children"][0]["torch_class"] == "nn.ConcatTable"
    branch = second_block["children"][0]["children"][0]
    assert branch["children"][0]["torch_class"] == "nn.SpatialBatchNormalization"

    second_stage = spec("preresnet", "imagenet", 18)["children"][5]
    assert second_stage["children"][0]["children"][0]["torch_class"] == (
        "nn.SpatialBatchNormalization"
    )


def test_preresnet_imagenet_depth_200():
    architecture = spec("preresnet", "imagenet", 200)
    stages = architecture["children"][4:8]
    assert [len(stage["children"]) for stage in stages] == [3, 24, 36, 3]
    with pytest.raises(InvalidDepthError, match="18, 34, 50, 101, 152$"):
        spec("resnet", "imagenet", 200)


@pytest.mark.parametrize("net_type", ["nin-relu-bn", "nin-possrelu-bn", "nin-srelu-bn"])
def test_imagenet_nin_bn_forward_shape(net_type):
    model = build(net_type, "imagenet").eval()
    with torch.no_grad():
        output = model(torch.randn(1, 3, 224, 224))
    assert output.shape == (1, 1000)


def test_imagenet_nin_relu_needs_227_pixels():
    model = build("nin-relu", "imagenet").eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 227, 227)).shape == (1, 1000)
        with pytest.raises(RuntimeError):
            model(torch.randn(1, 3, 224, 224))


@pytest.mark.parametrize("depth", [20, 8, 200, None, 18.0, True])
def test_imagenet_resnet_invalid_depth_rejected(depth):
    with pytest.raises(InvalidDepthError) as error:
        spec("resnet-possrelu", "imagenet", depth)
    assert "18, 34, 50, 101, 152" in str(error.value)


# Rejected choices.


@pytest.mark.parametrize("depth", [2, 0, -4, 21, 34, 18, None])
def test_resnet_invalid_depth_rejected(depth):
    with pytest.raises(InvalidDepthError) as error:
        spec("resnet", "cifar10", depth)
    assert "6n+2" in str(error.value)
    assert "20, 32, 44, 56, 110, 1202" in str(error.value)


@pytest.mark.parametrize("depth", [20.0, "20", True])
def test_resnet_depth_must_be_int(depth):
    with pytest.raises(InvalidDepthError):
        spec("resnet-possrelu", "cifar10", depth)


def test_depth_rejected_for_fixed_network():
    with pytest.raises(InvalidDepthError, match="depth=None"):
        spec("nin-relu", "cifar10", 20)


def test_unknown_net_type_lists_choices():
    with pytest.raises(UnknownNetTypeError) as error:
        build("resnet-frelu", "cifar10", 20)
    message = str(error.value)
    assert "'resnet-frelu'" in message
    for name in NET_TYPES:
        assert name in message


def test_not_built_net_type_gives_reason():
    with pytest.raises(UnknownNetTypeError, match="lr_decay"):
        spec("elu-resnet-possrelu-imagenet", "cifar10", 20)
    assert "elu-resnet-possrelu-imagenet" not in NET_TYPES
    assert set(NOT_BUILT).isdisjoint(NET_TYPES)


@pytest.mark.parametrize(
    ("net_type", "dataset"),
    [
        ("resnet", "mnist"),
        ("nin-relu", "mnist"),
        ("pelu-smallnet-relu", "imagenet"),
        ("mnist-frelu", "cifar10"),
    ],
)
def test_unsupported_dataset_lists_choices(net_type, dataset):
    with pytest.raises(UnsupportedDatasetError) as error:
        spec(net_type, dataset, 20 if NET_TYPES[net_type].has_depth else None)
    for valid in NET_TYPES[net_type].datasets:
        assert valid in str(error.value)


def test_invalid_shortcut_type_rejected():
    with pytest.raises(ModelChoiceError, match="A, B, C"):
        spec("resnet", "cifar10", 20, shortcut_type="D")
    with pytest.raises(ModelChoiceError, match="no shortcuts"):
        spec("nin-relu", "cifar10", shortcut_type="A")


def test_model_errors_are_user_errors():
    assert issubclass(ModelChoiceError, FreluToolsError)
    for error in (UnknownNetTypeError, UnsupportedDatasetError, InvalidDepthError):
        assert issubclass(error, ModelChoiceError)


def test_net_types_have_descriptions():
    for name, net in NET_TYPES.items():
        assert net.name == name
        assert net.description
        assert "\n" not in net.description
        assert net.source.endswith(".lua")


@pytest.mark.parametrize("net_type", ["resnet-possrelu", "nin-srelu-bn", "mnist-frelu"])
def test_spec_survives_json(net_type):
    # The .pt and .safetensors formats store the spec as JSON.
    net = NET_TYPES[net_type]
    architecture = spec(net_type, net.datasets[0], 8 if net.has_depth else None)
    assert json.loads(json.dumps(architecture, allow_nan=False)) == architecture


def test_spec_returns_fresh_dicts():
    first = spec("resnet", "cifar10", 8)
    first["children"].clear()
    assert spec("resnet", "cifar10", 8)["children"]


# Initialisation.


def test_conv_weight_std_follows_fan_out():
    torch.manual_seed(0)
    architecture = spec("nin-relu", "cifar10")
    model = build("nin-relu", "cifar10")
    # conv2: 96 -> 192, 5x5, 460,800 weights; n = kW*kH*nOutputPlane = 4800.
    conv = model.get_submodule("5.0")
    assert architecture["children"][5]["children"][0]["fields"]["nInputPlane"] == 96

    expected_std = math.sqrt(2 / (5 * 5 * 192))
    assert conv.weight.std().item() == pytest.approx(expected_std, rel=0.01)
    assert abs(conv.weight.mean().item()) < 0.01 * expected_std
    assert conv.bias is None


def test_conv_std_per_layer_in_resnet():
    torch.manual_seed(1)
    architecture = spec("resnet", "cifar10", 56)
    model = build("resnet", "cifar10", 56)
    convs = _modules_of(model, architecture, "cudnn.SpatialConvolution")
    # The 64-channel 3x3 convolutions (36,864 weights each), pooled.
    weights = torch.cat([c.weight.flatten() for c in convs if c.weight.shape == (64, 64, 3, 3)])
    assert weights.std().item() == pytest.approx(math.sqrt(2 / (3 * 3 * 64)), rel=0.01)


def test_conv_bias_zero_where_kept():
    for net_type in ("pelu-smallnet-srelu", "pelu-smallnet-posbn"):
        architecture = spec(net_type, "cifar10")
        model = build(net_type, "cifar10")
        for conv in _modules_of(model, architecture, "cudnn.SpatialConvolution"):
            assert conv.bias is not None
            assert torch.count_nonzero(conv.bias) == 0


def test_conv_bias_dropped_elsewhere():
    architecture = spec("pelu-smallnet-srelu-bn", "cifar10")
    model = build("pelu-smallnet-srelu-bn", "cifar10")
    for conv in _modules_of(model, architecture, "cudnn.SpatialConvolution"):
        assert conv.bias is None


@pytest.mark.parametrize(
    ("net_type", "torch_class"),
    [
        ("resnet", "nn.SpatialBatchNormalization"),
        ("pelu-smallnet-possrelu-bn", "nn.BatchNormalization"),
    ],
)
def test_bn_weight_one_bias_zero(net_type, torch_class):
    architecture = spec(net_type, "cifar100", 20 if NET_TYPES[net_type].has_depth else None)
    model = build(net_type, "cifar100", 20 if NET_TYPES[net_type].has_depth else None)
    bns = _modules_of(model, architecture, torch_class)
    assert bns
    for bn in bns:
        assert torch.equal(bn.weight, torch.ones_like(bn.weight))
        assert torch.equal(bn.bias, torch.zeros_like(bn.bias))
        assert torch.equal(bn.running_mean, torch.zeros_like(bn.running_mean))
        assert torch.equal(bn.running_var, torch.ones_like(bn.running_var))
        assert bn.eps == 1e-5
        assert bn.momentum == 0.1


def test_linear_torch_default_weight_zero_bias():
    torch.manual_seed(2)
    architecture = spec("pelu-smallnet-relu", "cifar10")
    model = build("pelu-smallnet-relu", "cifar10")
    first, second = _modules_of(model, architecture, "nn.Linear")

    bound = 1 / math.sqrt(2048)
    assert first.weight.abs().max().item() <= bound
    # uniform(-b, b) has standard deviation b / sqrt(3).
    assert first.weight.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.01)
    assert torch.count_nonzero(first.bias) == 0
    assert second.weight.abs().max().item() <= 1 / math.sqrt(512)
    assert torch.count_nonzero(second.bias) == 0


def test_frelu_bias_minus_one():
    architecture = spec("resnet-possrelu", "cifar10", 20)
    model = build("resnet-possrelu", "cifar10", 20)
    biases = _modules_of(model, architecture, "nn.MyAdd")
    assert len(biases) == 19
    for frelu in biases:
        assert isinstance(frelu, FReLUBias)
        assert torch.equal(frelu.bias.detach(), torch.tensor([-1.0]))
        assert torch.equal(frelu.bias_copy, torch.tensor([-1.0]))


def test_frelu_options_follow_model_file():
    model = build("resnet-possrelu", "cifar10", 20)
    stem = model.get_submodule("2.1")
    block = model.get_submodule("3.0.0.0.2.1")
    after_add = model.get_submodule("3.0.2.1")
    assert (stem.grad_scale, stem.constrained) == (1, False)
    assert (block.grad_scale, block.constrained, block.constrained_value) == (0.1, True, -0.1)
    assert (after_add.grad_scale, after_add.constrained) == (0.1, True)

    model = build("elu-resnet-possrelu-constrained", "cifar10", 20)
    block = model.get_submodule("2.0.0.0.2.1")
    assert (block.grad_scale, block.constrained, block.constrained_value) == (0.1, True, -0.0001)
    assert model.get_submodule("1.1").constrained is False
    assert model.get_submodule("5.1").constrained is False

    model = build("elu-resnet-possrelu", "cifar10", 20)
    block = model.get_submodule("2.0.0.0.2.1")
    assert (block.grad_scale, block.constrained) == (1, False)


def test_srelu_threshold_minus_one():
    architecture = spec("nin-srelu-bn", "cifar10")
    model = build("nin-srelu-bn", "cifar10")
    thresholds = _modules_of(model, architecture, "nn.SReLU")
    assert len(thresholds) == 9
    for srelu in thresholds:
        assert isinstance(srelu, SReLU)
        assert torch.equal(srelu.bias.detach(), torch.tensor([-1.0]))


def test_prelu_slope_quarter():
    architecture = spec("pelu-smallnet-prelu", "cifar10")
    model = build("pelu-smallnet-prelu", "cifar10")
    slopes = _modules_of(model, architecture, "nn.PReLU")
    assert len(slopes) == 4
    for prelu in slopes:
        assert torch.equal(prelu.weight.detach(), torch.tensor([0.25]))


def test_build_seeded_is_repeatable():
    torch.manual_seed(3)
    first = build("resnet-possrelu", "cifar10", 8).state_dict()
    torch.manual_seed(3)
    second = build("resnet-possrelu", "cifar10", 8).state_dict()
    for key in first:
        assert torch.equal(first[key], second[key]), key


def test_build_generator_is_used():
    first = build("resnet", "cifar10", 8, generator=torch.Generator().manual_seed(4))
    second = build("resnet", "cifar10", 8, generator=torch.Generator().manual_seed(4))
    third = build("resnet", "cifar10", 8, generator=torch.Generator().manual_seed(5))
    assert torch.equal(first.get_submodule("0").weight, second.get_submodule("0").weight)
    assert not torch.equal(first.get_submodule("0").weight, third.get_submodule("0").weight)


def test_build_returns_training_mode():
    model = build("nin-possrelu-bn", "cifar10")
    assert model.training
    assert all(module.training for module in model.modules())


# MNIST networks.

MNIST_PARAMETERS = (
    (1 * 32 + 32 * 32 + 32 * 64 + 64 * 64 + 64 * 128 + 128 * 128) * 25  # conv weights
    + (32 + 32 + 64 + 64 + 128 + 128)  # conv biases
    + 1152 * 2
    + 2
    + 2 * 10
    + 10
)


def test_mnist_relu_structure():
    architecture = spec("mnist-relu", "mnist")
    classes = [child["torch_class"] for child in architecture["children"]]
    assert classes == [
        "nn.Reshape",
        "nn.Sequential",
        "nn.Sequential",
        "nn.Sequential",
        "nn.View",
        "nn.Linear",
        "cudnn.ReLU",
        "nn.Linear",
    ]
    block = [child["torch_class"] for child in architecture["children"][1]["children"]]
    assert block == [
        "cudnn.SpatialConvolution",
        "cudnn.ReLU",
        "cudnn.SpatialConvolution",
        "cudnn.ReLU",
        "nn.SpatialMaxPooling",
    ]
    conv = architecture["children"][3]["children"][2]["fields"]
    assert (conv["nInputPlane"], conv["nOutputPlane"], conv["kW"], conv["padW"]) == (
        128,
        128,
        5,
        2,
    )
    assert _parameter_count(build("mnist-relu", "mnist")) == MNIST_PARAMETERS


def test_mnist_frelu_has_frelu_after_features():
    architecture = spec("mnist-frelu", "mnist")
    activation = architecture["children"][6]
    assert [c["torch_class"] for c in activation["children"]] == ["cudnn.ReLU", "nn.MyAdd"]
    assert activation["children"][1]["fields"]["inplace"] is False

    model = build("mnist-frelu", "mnist")
    assert _parameter_count(model) == MNIST_PARAMETERS + 1
    assert torch.equal(model.get_submodule("6.1").bias.detach(), torch.tensor([-1.0]))


@pytest.mark.parametrize("net_type", ["mnist-relu", "mnist-frelu"])
def test_mnist_features_are_linear_output(net_type):
    torch.manual_seed(5)
    model = build(net_type, "mnist").eval()
    images = torch.randn(4, 28, 28)
    with torch.no_grad():
        points = features(model, images)
        logits = model(images)
        expected = model.get_submodule("7")(model.get_submodule("6")(points))

    assert points.shape == (4, 2)
    torch.testing.assert_close(logits, expected)


def test_mnist_features_single_image():
    model = build("mnist-relu", "mnist").eval()
    with torch.no_grad():
        assert features(model, torch.randn(1, 28, 28)).shape == (1, 2)


def test_mnist_features_rejects_other_models():
    with pytest.raises(ValueError, match="mnist-relu"):
        features(build("pelu-smallnet-relu", "cifar10"), torch.randn(1, 3, 32, 32))
