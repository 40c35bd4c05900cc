"""CIFAR ResNets of the FReLU repository: `models/resnet*.lua`, `models/elu-resnet-*.lua`
and `models/preresnet.lua` of frelu.torch, all derived from fb.resnet.torch.

A CIFAR ResNet of depth 6n+2 starts with a 3x3 convolution to 16 channels. Three stages
of n basic blocks with 16, 32 and 64 channels follow, where the first block of the second
and third stage has stride 2. 8x8 average pooling, `nn.View(64)` and
`nn.Linear(64, classes)` end it. The variants
differ in where batch normalization and which activation sit; `ResNetVariant` records
exactly that, one instance per model file.
"""

from collections.abc import Callable
from dataclasses import dataclass

from frelu_tools.models import layers
from frelu_tools.models.layers import Spec

CLASSES = {"cifar10": 10, "cifar100": 100}
SHORTCUT_TYPES = ("A", "B", "C")

# `PosSReLU(1,nil,-1,0.1,false,true,true)` of resnet-possrelu.lua: gradient factor 0.1 and
# the positive-bias constraint, constrainedVal left at its default -0.1.
_FRELU_BLOCK = {"lr_decay": 0.1, "is_constrained": True, "constrained_value": -0.1}
# `PosSReLU(1,nil,-1,0.1,false,true,true,-0.0001)` of elu-resnet-possrelu-constrained.lua.
_FRELU_BLOCK_SMALL = {"lr_decay": 0.1, "is_constrained": True, "constrained_value": -0.0001}


def _cudnn_relu() -> Spec:
    return layers.relu(True, cudnn=True)


def _frelu_block() -> Spec:
    return layers.pos_srelu(**_FRELU_BLOCK)


def _frelu_block_small() -> Spec:
    return layers.pos_srelu(**_FRELU_BLOCK_SMALL)


@dataclass(frozen=True)
class ResNetVariant:
    """Placement of batch normalization and activations in one model file.

    Attributes:
        stem_bn: `SpatialBatchNormalization(16)` after the first convolution.
        stem_activation: the activation after the first convolution (and its BN).
        block_bn: BN after the first convolution of each residual branch (the second
            convolution always has BN).
        block_activation: the activation between the two convolutions of a branch.
        after_add: the activation after `nn.CAddTable`, or None for none.
        before_pool: an activation between the last stage and the average pooling, or None.
    """

    stem_bn: bool
    stem_activation: Callable[[], Spec]
    block_bn: bool
    block_activation: Callable[[], Spec]
    after_add: Callable[[], Spec] | None
    before_pool: Callable[[], Spec] | None


VARIANTS = {
    "resnet": ResNetVariant(
        stem_bn=True,
        stem_activation=_cudnn_relu,
        block_bn=True,
        block_activation=_cudnn_relu,
        after_add=_cudnn_relu,
        before_pool=None,
    ),
    "resnet-elu": ResNetVariant(
        stem_bn=True,
        stem_activation=layers.elu,
        block_bn=True,
        block_activation=layers.elu,
        after_add=layers.elu,
        before_pool=None,
    ),
    "resnet-possrelu": ResNetVariant(
        stem_bn=True,
        stem_activation=layers.pos_srelu,
        block_bn=True,
        block_activation=_frelu_block,
        after_add=_frelu_block,
        before_pool=None,
    ),
    "elu-resnet-possrelu": ResNetVariant(
        stem_bn=False,
        stem_activation=layers.pos_srelu,
        block_bn=True,
        block_activation=layers.pos_srelu,
        after_add=None,
        before_pool=layers.pos_srelu,
    ),
    "elu-resnet-possrelu-constrained": ResNetVariant(
        stem_bn=False,
        stem_activation=layers.pos_srelu,
        block_bn=True,
        block_activation=_frelu_block_small,
        after_add=None,
        before_pool=layers.pos_srelu,
    ),
    "elu-resnet-elu": ResNetVariant(
        stem_bn=False,
        stem_activation=layers.elu,
        block_bn=False,
        block_activation=layers.elu,
        after_add=None,
        before_pool=layers.elu,
    ),
}


def blocks_per_stage(depth: int) -> int:
    """Return n for a CIFAR ResNet of depth 6n+2; the caller has checked the depth."""
    return (depth - 2) // 6


def _shortcut(n_input: int, n_output: int, stride: int, shortcut_type: str, bn: bool) -> Spec:
    use_convolution = shortcut_type == "C" or (shortcut_type == "B" and n_input != n_output)
    if use_convolution:
        projection = [layers.convolution(n_input, n_output, 1, 1, stride, stride, bias=False)]
        if bn:
            projection.append(layers.spatial_batch_norm(n_output))
        return layers.sequential(*projection)

    if n_input != n_output:
        # Type A: subsample by a 1x1 average pooling, then append as many zero channels
        # (the input times 0) as it has, which doubles the channel count.
        return layers.sequential(
            layers.average_pooling(1, 1, stride, stride, cudnn=False),
            layers.concat(2, layers.identity(), layers.mul_constant(0)),
        )
    return layers.identity()


def _basic_block(
    variant: ResNetVariant, n_input: int, n_output: int, stride: int, shortcut_type: str
) -> Spec:
    branch = [layers.convolution(n_input, n_output, 3, 3, stride, stride, 1, 1, bias=False)]
    if variant.block_bn:
        branch.append(layers.spatial_batch_norm(n_output))
    branch.append(variant.block_activation())
    branch.append(layers.convolution(n_output, n_output, 3, 3, 1, 1, 1, 1, bias=False))
    branch.append(layers.spatial_batch_norm(n_output))

    block = [
        layers.concat_table(
            layers.sequential(*branch),
            _shortcut(n_input, n_output, stride, shortcut_type, bn=True),
        ),
        layers.cadd_table(True),
    ]
    if variant.after_add is not None:
        block.append(variant.after_add())
    return layers.sequential(*block)


def resnet_spec(net_type: str, classes: int, depth: int, shortcut_type: str = "A") -> Spec:
    """Return the spec of the CIFAR ResNet `net_type` (a key of VARIANTS) at `depth`."""
    variant = VARIANTS[net_type]
    count = blocks_per_stage(depth)

    model = [layers.convolution(3, 16, 3, 3, 1, 1, 1, 1, bias=False)]
    if variant.stem_bn:
        model.append(layers.spatial_batch_norm(16))
    model.append(variant.stem_activation())

    channels = 16
    for features, stride in ((16, 1), (32, 2), (64, 2)):
        stage = []
        for i in range(count):
            stage.append(
                _basic_block(variant, channels, features, stride if i == 0 else 1, shortcut_type)
            )
            channels = features
        model.append(layers.sequential(*stage))

    if variant.before_pool is not None:
        model.append(variant.before_pool())
    model.append(layers.average_pooling(8, 8, 1, 1, cudnn=True))
    model.append(layers.view(64, num_input_dims=3))
    model.append(layers.linear(64, classes))
    return layers.sequential(*model)


def _share_grad_input_key(spec: Spec, key: str) -> Spec:
    # preresnet.lua's ShareGradInput(module, key) tags some BN layers so that Torch7's
    # -shareGradInput memory sharing keeps them apart; the tag is saved with the model.
    spec["fields"]["__shareGradInputKey"] = key
    return spec


def _preact_block(
    n_input: int, n_output: int, stride: int, preact: str, shortcut_type: str
) -> Spec:
    # "both_preact" puts BN + ReLU before the split, so the shortcut also receives the
    # normalized input. "branch" puts them at the start of the residual branch only.
    block = []
    branch = []
    if preact == "both_preact":
        block.append(_share_grad_input_key(layers.spatial_batch_norm(n_input), "preact"))
        block.append(_cudnn_relu())
    else:
        branch.append(layers.spatial_batch_norm(n_input))
        branch.append(_cudnn_relu())
    branch.append(layers.convolution(n_input, n_output, 3, 3, stride, stride, 1, 1, bias=False))
    branch.append(layers.spatial_batch_norm(n_output))
    branch.append(_cudnn_relu())
    branch.append(layers.convolution(n_output, n_output, 3, 3, 1, 1, 1, 1, bias=False))

    block.append(
        layers.concat_table(
            layers.sequential(*branch),
            _shortcut(n_input, n_output, stride, shortcut_type, bn=False),
        )
    )
    block.append(layers.cadd_table(True))
    return layers.sequential(*block)


def preresnet_spec(classes: int, depth: int, shortcut_type: str = "A") -> Spec:
    """Return the spec of `models/preresnet.lua`'s CIFAR pre-activation ResNet at `depth`.

    The first block of every stage normalizes before the split ("both_preact"), the
    others at the start of the residual branch; BN + ReLU follow the last stage.
    """
    count = blocks_per_stage(depth)
    model = [layers.convolution(3, 16, 3, 3, 1, 1, 1, 1, bias=False)]

    channels = 16
    for features, stride in ((16, 1), (32, 2), (64, 2)):
        stage = []
        for i in range(count):
            if i == 0:
                stage.append(
                    _preact_block(channels, features, stride, "both_preact", shortcut_type)
                )
            else:
                stage.append(_preact_block(channels, features, 1, "branch", shortcut_type))
            channels = features
        model.append(layers.sequential(*stage))

    model.append(_share_grad_input_key(layers.spatial_batch_norm(channels), "last"))
    model.append(_cudnn_relu())
    model.append(layers.average_pooling(8, 8, 1, 1, cudnn=True))
    model.append(layers.view(64, num_input_dims=3))
    model.append(layers.linear(64, classes))
    return layers.sequential(*model)
