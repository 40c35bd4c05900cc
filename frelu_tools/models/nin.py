"""Network in Network: `models/nin-*.lua` of frelu.torch.

Three groups of a spatial convolution and two 1x1 convolutions ("cccp" layers). Each
convolution is followed by its activation, with BN in between in the `-bn` files, and
pooling and `nn.Dropout(0.5)` separate the groups. The last 1x1 convolution has one channel per
class and an 8x8 average pooling reduces it to the class scores, so there is no
`nn.Linear`.
"""

from collections.abc import Callable
from dataclasses import dataclass

from frelu_tools.models import layers
from frelu_tools.models.layers import Spec


@dataclass(frozen=True)
class NINVariant:
    """The activation and pooling of one NIN model file.

    Attributes:
        activation: the activation after every convolution.
        bn: `SpatialBatchNormalization` between each convolution and its activation.
        second_pool: the pooling after the second group, "avg" in nin-relu.lua
            (`cudnn.SpatialAveragePooling(3,3,2,2)`) and "max" in the `-bn` files
            (`nn.SpatialMaxPooling(3,3,2,2)`). For CIFAR both have `:ceil()`.
    """

    activation: Callable[[], Spec]
    bn: bool
    second_pool: str


VARIANTS = {
    "nin-relu": NINVariant(lambda: layers.relu(True, cudnn=True), bn=False, second_pool="avg"),
    "nin-relu-bn": NINVariant(lambda: layers.relu(True, cudnn=True), bn=True, second_pool="max"),
    "nin-elu-bn": NINVariant(layers.elu, bn=True, second_pool="max"),
    "nin-possrelu-bn": NINVariant(layers.pos_srelu, bn=True, second_pool="max"),
    "nin-prelu-bn": NINVariant(layers.prelu, bn=True, second_pool="max"),
    "nin-srelu-bn": NINVariant(layers.shifted_relu, bn=True, second_pool="max"),
}


def _block_maker(variant: NINVariant):
    def block(n_input, n_output, kernel, stride=1, pad=0):
        # The Lua `Block(...)` helper: convolution, [BN,] activation.
        convolution = layers.convolution(
            n_input, n_output, kernel, kernel, stride, stride, pad, pad, bias=False
        )
        modules = [convolution]
        if variant.bn:
            modules.append(layers.spatial_batch_norm(n_output))
        modules.append(variant.activation())
        return layers.sequential(*modules)

    return block


def nin_spec(net_type: str, dataset: str) -> Spec:
    """Return the spec of the NIN `net_type` (a key of VARIANTS) for `dataset`."""
    variant = VARIANTS[net_type]
    if dataset == "imagenet":
        return _imagenet_nin(variant)

    classes = 100 if dataset == "cifar100" else 10
    block = _block_maker(variant)
    if variant.second_pool == "avg":
        second_pool = layers.average_pooling(3, 3, 2, 2, ceil_mode=True, cudnn=True)
    else:
        second_pool = layers.max_pooling(3, 3, 2, 2, ceil_mode=True)

    return layers.sequential(
        block(3, 192, 5, pad=2),  # conv1, 32x32
        block(192, 160, 1),  # cccp1
        block(160, 96, 1),  # cccp2
        layers.max_pooling(3, 3, 2, 2, ceil_mode=True),  # pool1, 16x16
        layers.dropout(0.5),
        block(96, 192, 5, pad=2),  # conv2
        block(192, 192, 1),  # cccp3
        block(192, 192, 1),  # cccp4
        second_pool,  # pool2, 8x8
        layers.dropout(0.5),
        block(192, 192, 3, pad=1),  # conv3
        block(192, 192, 1),  # cccp5
        block(192, classes, 1),  # cccp6
        layers.average_pooling(8, 8, 1, 1, cudnn=True),  # pool3, 1x1
        layers.view(classes, num_input_dims=3),
    )


def _imagenet_nin(variant: NINVariant) -> Spec:
    # NOTE: as written, nin-relu.lua's ImageNet network needs inputs of at least 227x227:
    # at 224x224 its floor-mode third pooling leaves 5x5, smaller than the final 6x6
    # average pooling. The `-bn` files pool with `:ceil()` there and take 224x224.
    block = _block_maker(variant)
    if variant.second_pool == "avg":
        second_pool = layers.average_pooling(3, 3, 2, 2, cudnn=True)
        third_pool = layers.max_pooling(3, 3, 2, 2)
    else:
        second_pool = layers.max_pooling(3, 3, 2, 2)
        third_pool = layers.max_pooling(3, 3, 2, 2, ceil_mode=True)

    return layers.sequential(
        block(3, 96, 11, stride=4),  # conv1
        block(96, 96, 1),  # cccp1
        block(96, 96, 1),  # cccp2
        layers.max_pooling(3, 3, 2, 2),  # pool1
        block(96, 256, 5, pad=2),  # conv2
        block(256, 256, 1),  # cccp3
        block(256, 256, 1),  # cccp4
        second_pool,  # pool2
        block(256, 384, 3, pad=1),  # conv3
        block(384, 384, 1),  # cccp5
        block(384, 384, 1),  # cccp6
        third_pool,  # pool3
        layers.dropout(0.5),
        block(384, 1024, 3, pad=1),  # conv4-1024
        block(1024, 1024, 1),  # cccp7-1024
        block(1024, 1000, 1),  # cccp8-1024
        layers.average_pooling(6, 6, 1, 1, cudnn=True),  # pool4
        layers.view(1000, num_input_dims=3),
    )
