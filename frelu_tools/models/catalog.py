"""The networks of the FReLU repository by their `-netType` names, and their specs."""

from dataclasses import dataclass

from frelu_tools.errors import FreluToolsError
from frelu_tools.models import mnist, nin, resnet, smallnet
from frelu_tools.models.layers import Spec

CIFAR = ("cifar10", "cifar100")
CIFAR_AND_IMAGENET = ("cifar10", "cifar100", "imagenet")
MNIST = ("mnist",)

# The depths that the model files' assertion message names, after 8 and 14, the two
# smallest. Every 6n+2 with n >= 1 builds.
EXAMPLE_DEPTHS = (8, 14, 20, 32, 44, 56, 110, 1202)


class ModelChoiceError(FreluToolsError, ValueError):
    """A net type, data set, depth or shortcut type that no model file accepts."""


class UnknownNetTypeError(ModelChoiceError):
    """A `-netType` name that is not one of NET_TYPES."""


class UnsupportedDatasetError(ModelChoiceError):
    """A data set that the net type's model file does not build for."""


class InvalidDepthError(ModelChoiceError):
    """A ResNet depth that its model file rejects, or a depth given to a network without one."""


@dataclass(frozen=True)
class NetType:
    """One network of the repository.

    Attributes:
        name: the `-netType` name (the model file's name without `.lua`).
        description: one line on what distinguishes it.
        source: the file of frelu.torch that defines it.
        datasets: the data sets it builds for.
        has_depth: whether it takes a depth (the ResNets).
    """

    name: str
    description: str
    source: str
    datasets: tuple[str, ...]
    has_depth: bool = False


def _resnet(name: str, description: str) -> NetType:
    return NetType(name, description, f"models/{name}.lua", CIFAR_AND_IMAGENET, has_depth=True)


def _nin(name: str, description: str) -> NetType:
    return NetType(name, description, f"models/{name}.lua", CIFAR_AND_IMAGENET)


def _cifar(name: str, description: str) -> NetType:
    return NetType(name, description, f"models/{name}.lua", CIFAR)


def _mnist(name: str, description: str, source: str) -> NetType:
    return NetType(name, description, source, MNIST)


_NET_TYPES = [
    _resnet("resnet", "ResNet with ReLU, the baseline"),
    _resnet("resnet-elu", "ResNet with ELU in place of every ReLU"),
    _resnet(
        "resnet-possrelu",
        "ResNet with FReLU in place of every ReLU; in the blocks, bias gradient x0.1 and "
        "the positive-bias constraint",
    ),
    _resnet(
        "elu-resnet-possrelu",
        "ResNet with FReLU; no BN after the network's first convolution, no activation "
        "after each addition, one FReLU before the pooling",
    ),
    _resnet(
        "elu-resnet-possrelu-constrained",
        "elu-resnet-possrelu whose block FReLUs have bias gradient x0.1 and the "
        "positive-bias constraint",
    ),
    _resnet(
        "elu-resnet-elu",
        "ResNet with ELU; no BN after the network's or a block's first convolution, no "
        "activation after each addition, one ELU before the pooling",
    ),
    _resnet("preresnet", "pre-activation ResNet: BN and ReLU before each convolution"),
    _nin("nin-relu", "Network in Network with ReLU, no BN"),
    _nin("nin-relu-bn", "Network in Network with BN and ReLU"),
    _nin("nin-elu-bn", "Network in Network with BN and ELU"),
    _nin("nin-possrelu-bn", "Network in Network with BN and FReLU"),
    _nin("nin-prelu-bn", "Network in Network with BN and PReLU"),
    _nin("nin-srelu-bn", "Network in Network with BN and SReLU"),
    _cifar("pelu-smallnet-relu", "small network with ReLU; 100 outputs for any data set"),
    _cifar("pelu-smallnet-relu-bn", "small network with BN and ReLU; 100 outputs for any data set"),
    _cifar("pelu-smallnet-elu", "small network with ELU; 100 outputs for any data set"),
    _cifar("pelu-smallnet-elu-bn", "small network with BN and ELU; 100 outputs for any data set"),
    _cifar("pelu-smallnet-possrelu", "small network with FReLU; 100 outputs for any data set"),
    _cifar(
        "pelu-smallnet-possrelu-bn",
        "small network with BN and FReLU; 100 outputs for any data set",
    ),
    _cifar("pelu-smallnet-prelu", "small network with PReLU; 100 outputs for any data set"),
    _cifar(
        "pelu-smallnet-prelu-bn",
        "small network with BN and PReLU; 100 outputs for any data set",
    ),
    _cifar("pelu-smallnet-srelu", "small network with SReLU; 100 outputs for any data set"),
    _cifar(
        "pelu-smallnet-srelu-bn",
        "small network with BN and SReLU; 100 outputs for any data set",
    ),
    _cifar(
        "pelu-smallnet-posbn",
        "small network with plain nn.ReLU, each followed by BN; 100 outputs for any data set",
    ),
    _mnist(
        "mnist-relu",
        "MNIST network with a 2-D feature layer followed by ReLU",
        "mnist/mnist.lua",
    ),
    _mnist(
        "mnist-frelu",
        "MNIST network with a 2-D feature layer followed by FReLU",
        "mnist/mnist-frelu.lua",
    ),
]

NET_TYPES: dict[str, NetType] = {net.name: net for net in _NET_TYPES}
"""Every buildable network by its `-netType` name."""

NOT_BUILT = {
    "elu-resnet-possrelu-imagenet": (
        "its basic block passes `true` as the FReLU bias's gradient factor (lr_decay), so "
        "Torch7 fails on the first backward pass through one. With bottleneck blocks "
        "(ImageNet, depth 50 and more) it is elu-resnet-possrelu; build that instead"
    ),
}
"""Model files of the repository that have no builder, with the reason."""


def _check_net_type(net_type: str) -> NetType:
    if net_type in NOT_BUILT:
        raise UnknownNetTypeError(f"net type {net_type!r} is not supported: {NOT_BUILT[net_type]}")
    if net_type not in NET_TYPES:
        raise UnknownNetTypeError(
            f"unknown net type {net_type!r}; valid net types: {', '.join(NET_TYPES)}"
        )
    return NET_TYPES[net_type]


def check_depth(net: NetType, dataset: str, depth: int | None) -> None:
    """Raise InvalidDepthError unless `net`'s model file accepts `depth` for `dataset`."""
    if not net.has_depth:
        if depth is not None:
            raise InvalidDepthError(
                f"{net.name} has a fixed depth, but depth={depth} was given; pass depth=None"
            )
        return

    if dataset == "imagenet":
        stages = resnet.IMAGENET_STAGES
        if net.name == "preresnet":
            stages = resnet.PRERESNET_IMAGENET_STAGES
        valid = ", ".join(str(d) for d in stages)
        if isinstance(depth, bool) or not isinstance(depth, int) or depth not in stages:
            raise InvalidDepthError(
                f"invalid depth {depth!r} for {net.name} on ImageNet; valid depths: {valid}"
            )
        return

    valid = ", ".join(str(d) for d in EXAMPLE_DEPTHS)
    if depth is None:
        raise InvalidDepthError(f"{net.name} needs a depth: 6n+2 for n >= 1, e.g. {valid}")
    # The Lua files only assert (depth - 2) % 6 == 0, which also lets 2 and negative
    # depths through, but with no blocks the 16-channel output fails at nn.View(64).
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
        raise InvalidDepthError(
            f"invalid depth {depth!r} for {net.name}: a CIFAR ResNet has depth 6n+2 for "
            f"n >= 1, e.g. {valid}"
        )


def spec(
    net_type: str, dataset: str, depth: int | None = None, *, shortcut_type: str | None = None
) -> Spec:
    """Return the architecture spec of a network of the FReLU repository.

    The spec mirrors the Lua model file module for module, with the Torch7 class names
    it creates (`cudnn.*` included) and their Torch7 fields. `frelu_tools.port.build`
    therefore turns it into the same module tree and state_dict keys as `port.convert`
    of a Torch7 model of that net type.

    Args:
        net_type: a `-netType` name, one of NET_TYPES.
        dataset: "cifar10" or "cifar100"; also "imagenet" for the ResNets and NIN, and
            "mnist" for the MNIST networks only.
        depth: the ResNets' depth: 6n+2 for n >= 1 on CIFAR, 18, 34, 50, 101 or 152 on
            ImageNet (also 200 for preresnet). None for every other network.
        shortcut_type: the ResNets' `-shortcutType`: "A" (zero-padded identity), "B"
            (1x1 convolution where the channel count changes) or "C" (1x1 convolution on
            every block). None takes opts.lua's default, "A" on CIFAR and "B" on ImageNet.

    Returns:
        The spec dict: `torch_class`, `fields` and `children`.

    Raises:
        ModelChoiceError: an unknown net type, a data set, depth or shortcut type the
            model file does not accept; the message lists the valid choices.

    Example:
        >>> s = spec("resnet-possrelu", "cifar10", 20)
        >>> s["children"][2]["children"][1]["torch_class"]
        'nn.MyAdd'
    """
    net = _check_net_type(net_type)
    if dataset not in net.datasets:
        raise UnsupportedDatasetError(
            f"{net_type} does not build for data set {dataset!r}; valid data sets: "
            f"{', '.join(net.datasets)}"
        )
    check_depth(net, dataset, depth)
    if not net.has_depth and shortcut_type is not None:
        raise ModelChoiceError(f"{net_type} has no shortcuts; leave shortcut_type at None")
    if net.has_depth:
        shortcut_type = shortcut_type or resnet.DEFAULT_SHORTCUT_TYPE[dataset]
        if shortcut_type not in resnet.SHORTCUT_TYPES:
            raise ModelChoiceError(
                f"invalid shortcut type {shortcut_type!r}; valid: "
                f"{', '.join(resnet.SHORTCUT_TYPES)}"
            )

    if net_type == "preresnet":
        return resnet.preresnet_spec(dataset, depth, shortcut_type)
    if net_type in resnet.VARIANTS:
        return resnet.resnet_spec(net_type, dataset, depth, shortcut_type)
    if net_type in nin.VARIANTS:
        return nin.nin_spec(net_type, dataset)
    if net_type in smallnet.VARIANTS:
        return smallnet.smallnet_spec(net_type)
    return mnist.mnist_spec(net_type)
