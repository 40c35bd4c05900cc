"""ResNets of the FReLU repository: `models/resnet*.lua`, `models/elu-resnet-*.lua` and
`models/preresnet.lua` of frelu.torch, all derived from fb.resnet.torch.

A CIFAR ResNet of depth 6n+2 starts with a 3x3 convolution to 16 channels. Three stages
of n basic blocks with 16, 32 and 64 channels follow, where the first block of the second
and third stage has stride 2. 8x8 average pooling, `nn.View(64)` and
`nn.Linear(64, classes)` end it.

An ImageNet ResNet (depth 18, 34, 50, 101 or 152; 200 for preresnet) starts with a 7x7
convolution to 64 channels with stride 2 and a 3x3 max pooling with stride 2. Four
stages of basic blocks (18, 34) or bottleneck blocks (50 and deeper) with 64, 128, 256
and 512 base channels follow, then 7x7 average pooling, `nn.View` and
`nn.Linear(..., 1000)`.

The variants differ in where batch normalization and which activation sit;
`ResNetVariant` records exactly that, one instance per model file.
"""

from collections.abc import Callable
from dataclasses import dataclass

from frelu_tools.models import layers
from frelu_tools.models.layers import Spec

SHORTCUT_TYPES = ("A", "B", "C")

# The `-shortcutType` that opts.lua picks when none is given.
DEFAULT_SHORTCUT_TYPE = {"cifar10": "A", "cifar100": "A", "imagenet": "B"}

# ImageNet depth -> (blocks per stage, block kind), the `cfg` table of the model files.
IMAGENET_STAGES = {
    18: ((2, 2, 2, 2), "basic"),
    34: ((3, 4, 6, 3), "basic"),
    50: ((3, 4, 6, 3), "bottleneck"),
    101: ((3, 4, 23, 3), "bottleneck"),
    152: ((3, 8, 36, 3), "bottleneck"),
}
# preresnet.lua has one more.
PRERESNET_IMAGENET_STAGES = {**IMAGENET_STAGES, 200: ((3, 24, 36, 3), "bottleneck")}

IMAGENET_CLASSES = 1000

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
        stem_bn: BN after the first convolution.
        stem_activation: the activation after the first convolution (and its BN).
        block_bn: BN after every convolution of a residual branch but the last, which
            always has BN.
        block_activation: the activation between the convolutions of a branch.
        after_add: the activation after `nn.CAddTable`, or None for none.
        before_pool: an activation between the last stage and the average pooling, or None.
        bottleneck_bn: `block_bn` for bottleneck blocks, where some files differ.
        imagenet_stem_activation: `stem_activation` of the ImageNet network where it
            differs from the CIFAR one.
        imagenet_before_pool: `before_pool` of the ImageNet network where it differs.
    """

    stem_bn: bool
    stem_activation: Callable[[], Spec]
    block_bn: bool
    block_activation: Callable[[], Spec]
    after_add: Callable[[], Spec] | None
    before_pool: Callable[[], Spec] | None
    bottleneck_bn: bool
    imagenet_stem_activation: Callable[[], Spec] | None = None
    imagenet_before_pool: Callable[[], Spec] | None = None


VARIANTS = {
    "resnet": ResNetVariant(
        stem_bn=True,
        stem_activation=_cudnn_relu,
        block_bn=True,
        block_activation=_cudnn_relu,
        after_add=_cudnn_relu,
        before_pool=None,
        bottleneck_bn=True,
    ),
    "resnet-elu": ResNetVariant(
        stem_bn=True,
        stem_activation=layers.elu,
        block_bn=True,
        block_activation=layers.elu,
        after_add=layers.elu,
        before_pool=None,
        bottleneck_bn=True,
    ),
    "resnet-possrelu": ResNetVariant(
        stem_bn=True,
        stem_activation=layers.pos_srelu,
        block_bn=True,
        block_activation=_frelu_block,
        after_add=_frelu_block,
        before_pool=None,
        bottleneck_bn=True,
        imagenet_stem_activation=_frelu_block,
    ),
    "elu-resnet-possrelu": ResNetVariant(
        stem_bn=False,
        stem_activation=layers.pos_srelu,
        block_bn=True,
        block_activation=layers.pos_srelu,
        after_add=None,
        before_pool=layers.pos_srelu,
        bottleneck_bn=False,
    ),
    "elu-resnet-possrelu-constrained": ResNetVariant(
        stem_bn=False,
        stem_activation=layers.pos_srelu,
        block_bn=True,
        block_activation=_frelu_block_small,
        after_add=None,
        before_pool=layers.pos_srelu,
        bottleneck_bn=False,
        imagenet_stem_activation=_frelu_block_small,
        imagenet_before_pool=_frelu_block_small,
    ),
    "elu-resnet-elu": ResNetVariant(
        stem_bn=False,
        stem_activation=layers.elu,
        block_bn=False,
        block_activation=layers.elu,
        after_add=None,
        before_pool=layers.elu,
        bottleneck_bn=False,
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


def _residual(variant: ResNetVariant, branch: list[Spec], shortcut: Spec) -> Spec:
    block = [
        layers.concat_table(layers.sequential(*branch), shortcut),
        layers.cadd_table(True),
    ]
    if variant.after_add is not None:
        block.append(variant.after_add())
    return layers.sequential(*block)


def _basic_block(
    variant: ResNetVariant, n_input: int, features: int, stride: int, shortcut_type: str
) -> tuple[Spec, int]:
    branch = [layers.convolution(n_input, features, 3, 3, stride, stride, 1, 1, bias=False)]
    if variant.block_bn:
        branch.append(layers.spatial_batch_norm(features))
    branch.append(variant.block_activation())
    branch.append(layers.convolution(features, features, 3, 3, 1, 1, 1, 1, bias=False))
    branch.append(layers.spatial_batch_norm(features))

    shortcut = _shortcut(n_input, features, stride, shortcut_type, bn=True)
    return _residual(variant, branch, shortcut), features


def _bottleneck_block(
    variant: ResNetVariant, n_input: int, features: int, stride: int, shortcut_type: str
) -> tuple[Spec, int]:
    # 1x1 down to `features`, 3x3 with the stride, 1x1 up to 4 * `features`.
    n_output = 4 * features
    branch = [layers.convolution(n_input, features, 1, 1, 1, 1, 0, 0, bias=False)]
    if variant.bottleneck_bn:
        branch.append(layers.spatial_batch_norm(features))
    branch.append(variant.block_activation())
    branch.append(layers.convolution(features, features, 3, 3, stride, stride, 1, 1, bias=False))
    if variant.bottleneck_bn:
        branch.append(layers.spatial_batch_norm(features))
    branch.append(variant.block_activation())
    branch.append(layers.convolution(features, n_output, 1, 1, 1, 1, 0, 0, bias=False))
    branch.append(layers.spatial_batch_norm(n_output))

    shortcut = _shortcut(n_input, n_output, stride, shortcut_type, bn=True)
    return _residual(variant, branch, shortcut), n_output


def _stages(make_block, widths, counts, strides, channels: int) -> tuple[list[Spec], int]:
    # One nn.Sequential per stage; only a stage's first block has the stride. Returns the
    # stages and the channel count after the last one.
    stages = []
    for features, count, stride in zip(widths, counts, strides, strict=True):
        stage = []
        for i in range(count):
            block, channels = make_block(channels, features, stride if i == 0 else 1, i)
            stage.append(block)
        stages.append(layers.sequential(*stage))
    return stages, channels


def resnet_spec(net_type: str, dataset: str, depth: int, shortcut_type: str) -> Spec:
    """Return the spec of the ResNet `net_type` (a key of VARIANTS) for `dataset`."""
    variant = VARIANTS[net_type]
    if dataset == "imagenet":
        return _imagenet_resnet(variant, depth, shortcut_type)

    def make_block(channels, features, stride, _):
        return _basic_block(variant, channels, features, stride, shortcut_type)

    model = [layers.convolution(3, 16, 3, 3, 1, 1, 1, 1, bias=False)]
    if variant.stem_bn:
        model.append(layers.spatial_batch_norm(16))
    model.append(variant.stem_activation())

    count = blocks_per_stage(depth)
    stages, _ = _stages(make_block, (16, 32, 64), (count,) * 3, (1, 2, 2), 16)
    model.extend(stages)

    if variant.before_pool is not None:
        model.append(variant.before_pool())
    model.append(layers.average_pooling(8, 8, 1, 1, cudnn=True))
    model.append(layers.view(64, num_input_dims=3))
    model.append(layers.linear(64, 100 if dataset == "cifar100" else 10))
    return layers.sequential(*model)


def _imagenet_resnet(variant: ResNetVariant, depth: int, shortcut_type: str) -> Spec:
    # NOTE: no Torch7 printout of an ImageNet network was available to test against. The
    # ReLU networks with shortcut type B have torchvision's parameter counts; the other
    # variants are checked only against a reading of their model files.
    counts, kind = IMAGENET_STAGES[depth]
    block_of_kind = _basic_block if kind == "basic" else _bottleneck_block

    def make_block(channels, features, stride, _):
        return block_of_kind(variant, channels, features, stride, shortcut_type)

    model = [layers.convolution(3, 64, 7, 7, 2, 2, 3, 3, bias=False)]
    if variant.stem_bn:
        model.append(layers.spatial_batch_norm(64))
    model.append((variant.imagenet_stem_activation or variant.stem_activation)())
    model.append(layers.max_pooling(3, 3, 2, 2, 1, 1))

    stages, channels = _stages(make_block, (64, 128, 256, 512), counts, (1, 2, 2, 2), 64)
    model.extend(stages)

    before_pool = variant.imagenet_before_pool or variant.before_pool
    if before_pool is not None:
        model.append(before_pool())
    model.append(layers.average_pooling(7, 7, 1, 1, cudnn=True))
    model.append(layers.view(channels, num_input_dims=3))
    model.append(layers.linear(channels, IMAGENET_CLASSES))
    return layers.sequential(*model)


# preresnet.lua.


def _share_grad_input_key(spec: Spec, key: str) -> Spec:
    # preresnet.lua's ShareGradInput(module, key) tags some BN layers so that Torch7's
    # -shareGradInput memory sharing keeps them apart; the tag is saved with the model.
    spec["fields"]["__shareGradInputKey"] = key
    return spec


def _preactivation(n_input: int, preact: str) -> tuple[list[Spec], list[Spec]]:
    # Returns the modules before the split and those that start the residual branch.
    # "both_preact" puts BN + ReLU before the split, so the shortcut also receives the
    # normalized input. "branch" puts them at the start of the residual branch only,
    # and "no_preact" (the first block of an ImageNet network) has neither.
    if preact == "both_preact":
        bn = _share_grad_input_key(layers.spatial_batch_norm(n_input), "preact")
        return [bn, _cudnn_relu()], []
    if preact == "branch":
        return [], [layers.spatial_batch_norm(n_input), _cudnn_relu()]
    return [], []


def _preact_block(
    n_input: int, features: int, stride: int, preact: str, shortcut_type: str
) -> tuple[Spec, int]:
    block, branch = _preactivation(n_input, preact)
    branch.append(layers.convolution(n_input, features, 3, 3, stride, stride, 1, 1, bias=False))
    branch.append(layers.spatial_batch_norm(features))
    branch.append(_cudnn_relu())
    branch.append(layers.convolution(features, features, 3, 3, 1, 1, 1, 1, bias=False))

    shortcut = _shortcut(n_input, features, stride, shortcut_type, bn=False)
    block.append(layers.concat_table(layers.sequential(*branch), shortcut))
    block.append(layers.cadd_table(True))
    return layers.sequential(*block), features


def _preact_bottleneck(
    n_input: int, features: int, stride: int, preact: str, shortcut_type: str
) -> tuple[Spec, int]:
    n_output = 4 * features
    block, branch = _preactivation(n_input, preact)
    branch.append(layers.convolution(n_input, features, 1, 1, 1, 1, 0, 0, bias=False))
    branch.append(layers.spatial_batch_norm(features))
    branch.append(_cudnn_relu())
    branch.append(layers.convolution(features, features, 3, 3, stride, stride, 1, 1, bias=False))
    branch.append(layers.spatial_batch_norm(features))
    branch.append(_cudnn_relu())
    branch.append(layers.convolution(features, n_output, 1, 1, 1, 1, 0, 0, bias=False))

    shortcut = _shortcut(n_input, n_output, stride, shortcut_type, bn=False)
    block.append(layers.concat_table(layers.sequential(*branch), shortcut))
    block.append(layers.cadd_table(True))
    return layers.sequential(*block), n_output


def preresnet_spec(dataset: str, depth: int, shortcut_type: str) -> Spec:
    """Return the spec of `models/preresnet.lua`'s pre-activation ResNet for `dataset`.

    The first block of every stage normalizes before the split ("both_preact"), the
    others at the start of the residual branch, except that the first block of an
    ImageNet network has no preactivation. BN + ReLU follow the last stage.
    """
    imagenet = dataset == "imagenet"
    if imagenet:
        counts, kind = PRERESNET_IMAGENET_STAGES[depth]
        widths, strides = (64, 128, 256, 512), (1, 2, 2, 2)
    else:
        counts, kind = (blocks_per_stage(depth),) * 3, "basic"
        widths, strides = (16, 32, 64), (1, 2, 2)
    block_of_kind = _preact_block if kind == "basic" else _preact_bottleneck

    def make_block(channels, features, stride, index):
        if index > 0:
            preact = "branch"
        elif imagenet and features == widths[0]:
            preact = "no_preact"
        else:
            preact = "both_preact"
        return block_of_kind(channels, features, stride, preact, shortcut_type)

    if imagenet:
        model = [
            layers.convolution(3, 64, 7, 7, 2, 2, 3, 3, bias=False),
            layers.spatial_batch_norm(64),
            _cudnn_relu(),
            layers.max_pooling(3, 3, 2, 2, 1, 1),
        ]
        stem_channels, pool, classes = 64, 7, IMAGENET_CLASSES
    else:
        model = [layers.convolution(3, 16, 3, 3, 1, 1, 1, 1, bias=False)]
        stem_channels, pool, classes = 16, 8, 100 if dataset == "cifar100" else 10

    stages, channels = _stages(make_block, widths, counts, strides, stem_channels)
    model.extend(stages)

    model.append(_share_grad_input_key(layers.spatial_batch_norm(channels), "last"))
    model.append(_cudnn_relu())
    model.append(layers.average_pooling(pool, pool, 1, 1, cudnn=True))
    model.append(layers.view(channels, num_input_dims=3))
    model.append(layers.linear(channels, classes))
    return layers.sequential(*model)
