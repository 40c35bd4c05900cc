"""The small CIFAR network of frelu.torch's `models/pelu-smallnet-*.lua` files.

Three blocks of a 3x3 convolution, [BN,] activation, 2x2 max pooling and
`nn.Dropout(0.2)` with 32, 64 and 128 channels (32x32 -> 4x4), then
`nn.View(-1)`, `nn.Linear(2048, 512)`, [BN,] activation, `nn.Dropout(0.5)` and
`nn.Linear(512, 100)`. pelu-smallnet-posbn.lua puts each BN after the activation.

NOTE: the model files never read `opt.dataset`, so the network ends in 100 outputs for
CIFAR-10 too; it is reproduced as written.
"""

from collections.abc import Callable
from dataclasses import dataclass

from frelu_tools.models import layers
from frelu_tools.models.layers import Spec

CLASSES = 100


@dataclass(frozen=True)
class SmallNetVariant:
    """The activation, BN and convolution bias of one small-network file.

    Attributes:
        activation: the activation of every block and after the first `nn.Linear`.
        bn: `nn.SpatialBatchNormalization` after each convolution and
            `nn.BatchNormalization(512)` after the first `nn.Linear`.
        conv_bias: the convolutions keep a bias (zeroed). Most files drop it, but
            pelu-smallnet-posbn.lua and pelu-smallnet-srelu.lua zero it instead.
        bn_after_activation: BN follows the activation instead of preceding it.
    """

    activation: Callable[[], Spec]
    bn: bool
    conv_bias: bool = False
    bn_after_activation: bool = False


def _cudnn_relu() -> Spec:
    return layers.relu(True, cudnn=True)


def _nn_relu() -> Spec:
    return layers.relu(True, cudnn=False)


VARIANTS = {
    "pelu-smallnet-relu": SmallNetVariant(_cudnn_relu, bn=False),
    "pelu-smallnet-relu-bn": SmallNetVariant(_cudnn_relu, bn=True),
    "pelu-smallnet-elu": SmallNetVariant(layers.elu, bn=False),
    "pelu-smallnet-elu-bn": SmallNetVariant(layers.elu, bn=True),
    "pelu-smallnet-possrelu": SmallNetVariant(layers.pos_srelu, bn=False),
    "pelu-smallnet-possrelu-bn": SmallNetVariant(layers.pos_srelu, bn=True),
    "pelu-smallnet-prelu": SmallNetVariant(layers.prelu, bn=False),
    "pelu-smallnet-prelu-bn": SmallNetVariant(layers.prelu, bn=True),
    "pelu-smallnet-srelu": SmallNetVariant(layers.shifted_relu, bn=False, conv_bias=True),
    "pelu-smallnet-srelu-bn": SmallNetVariant(layers.shifted_relu, bn=True),
    # "posbn": BN after the activation, which is plain nn.ReLU (not cudnn.ReLU, not FReLU).
    "pelu-smallnet-posbn": SmallNetVariant(
        _nn_relu, bn=True, conv_bias=True, bn_after_activation=True
    ),
}


def smallnet_spec(net_type: str) -> Spec:
    """Return the spec of the small network `net_type` (a key of VARIANTS)."""
    variant = VARIANTS[net_type]

    def normalized_activation(bn):
        if not variant.bn:
            return [variant.activation()]
        if variant.bn_after_activation:
            return [variant.activation(), bn]
        return [bn, variant.activation()]

    def conv_block(n_input, n_output):
        modules = [layers.convolution(n_input, n_output, 3, 3, 1, 1, 1, 1, bias=variant.conv_bias)]
        modules.extend(normalized_activation(layers.spatial_batch_norm(n_output)))
        modules.append(layers.max_pooling(2, 2, 2, 2))
        modules.append(layers.dropout(0.2))
        return layers.sequential(*modules)

    classifier = [layers.view(-1, num_input_dims=3), layers.linear(2048, 512)]
    classifier.extend(normalized_activation(layers.batch_norm(512)))
    classifier.append(layers.dropout(0.5))
    classifier.append(layers.linear(512, CLASSES))

    return layers.sequential(
        conv_block(3, 32),  # 16x16
        conv_block(32, 64),  # 8x8
        conv_block(64, 128),  # 4x4
        *classifier,
    )
