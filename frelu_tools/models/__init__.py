"""Native PyTorch builders for every network of the FReLU repository (frelu.torch).

Each network is named by its `-netType`, the name of its Lua model file:

    >>> from frelu_tools.models import build, spec, NET_TYPES
    >>> model = build("resnet-possrelu", "cifar10", depth=20)
    >>> sorted(NET_TYPES)[:2]
    ['elu-resnet-elu', 'elu-resnet-possrelu']

`spec` returns the architecture as a spec dict of Torch7 class names and fields (the
format of `frelu_tools.port`). `build` turns it into a `torch.nn.Module` with
`port.build` and gives it the model file's initialisation (`frelu_tools.models.weights`).
A network built here has the same module tree and state_dict keys as `port.convert` of
a Torch7 model of the same net type, so a converted model's state_dict loads into it.
"""

import torch

from frelu_tools import port
from frelu_tools.models.catalog import (
    NET_TYPES,
    NOT_BUILT,
    InvalidDepthError,
    ModelChoiceError,
    NetType,
    UnknownNetTypeError,
    UnsupportedDatasetError,
    spec,
)
from frelu_tools.models.mnist import FEATURE_INDEX, features
from frelu_tools.models.weights import initialise

__all__ = [
    "FEATURE_INDEX",
    "NET_TYPES",
    "NOT_BUILT",
    "InvalidDepthError",
    "ModelChoiceError",
    "NetType",
    "UnknownNetTypeError",
    "UnsupportedDatasetError",
    "build",
    "features",
    "initialise",
    "spec",
]


def build(
    net_type: str,
    dataset: str,
    depth: int | None = None,
    *,
    shortcut_type: str | None = None,
    generator: torch.Generator | None = None,
) -> torch.nn.Module:
    """Build a freshly initialised network of the FReLU repository.

    Args:
        net_type, dataset, depth, shortcut_type: as for `spec`.
        generator: the random generator for the initial weights; None uses torch's
            global generator, so `torch.manual_seed` makes the result repeatable.

    Returns:
        The network in training mode, on the CPU, in float32.

    Raises:
        ModelChoiceError: as `spec` does.

    Example:
        >>> model = build("pelu-smallnet-possrelu-bn", "cifar100")
        >>> model(torch.zeros(2, 3, 32, 32)).shape
        torch.Size([2, 100])
    """
    architecture = spec(net_type, dataset, depth, shortcut_type=shortcut_type)
    model = port.build(architecture)
    initialise(model, architecture, generator)
    return model.train()
