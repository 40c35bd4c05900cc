"""Native builders against the real Torch7 models of the reference folder.

Each reference model was built by the repository's own model file, given distinct FReLU
biases, SReLU thresholds and BN running statistics, and saved by Torch7. Its converted
weights must load into the native network of the same net type, and the native network
must then reproduce Torch7's outputs.
"""

import numpy as np
import pytest
import torch
from conftest import REFERENCE_DIR

from frelu_tools import port, t7
from frelu_tools.models import build, spec
from frelu_tools.models.weights import walk

# Reference model name -> the (net_type, dataset, depth) its model file was run with.
REFERENCE_MODELS = {
    "smallnet-srelu": ("pelu-smallnet-srelu", "cifar100", None),
    "smallnet-possrelu-bn": ("pelu-smallnet-possrelu-bn", "cifar100", None),
    "nin-possrelu-bn": ("nin-possrelu-bn", "cifar100", None),
    "resnet-20-cifar10": ("resnet", "cifar10", 20),
    "resnet-possrelu-20-cifar10": ("resnet-possrelu", "cifar10", 20),
    "resnet-possrelu-56-cifar10": ("resnet-possrelu", "cifar10", 56),
    "elu-resnet-possrelu-20-cifar100": ("elu-resnet-possrelu", "cifar100", 20),
    "elu-resnet-possrelu-constrained-20-cifar10": (
        "elu-resnet-possrelu-constrained",
        "cifar10",
        20,
    ),
    "resnet-elu-20-cifar10": ("resnet-elu", "cifar10", 20),
    "elu-resnet-elu-20-cifar100": ("elu-resnet-elu", "cifar100", 20),
    "preresnet-20-cifar10": ("preresnet", "cifar10", 20),
}

# Models that Torch7 trained with the repository's main.lua (runs/) or its Trainer
# (trainstep/), at depth 8. d_cifar10_resnet-8 ran upstream fb.resnet.torch, whose
# models/resnet.lua builds the same network.
TRAINED_MODELS = {
    "runs/a_cifar10_resnet-possrelu-8_seed0/checkpoints/model_best.t7": (
        "resnet-possrelu",
        "cifar10",
        8,
    ),
    "runs/c_cifar10_elu-resnet-possrelu-8_seed0/checkpoints/model_best.t7": (
        "elu-resnet-possrelu",
        "cifar10",
        8,
    ),
    "runs/d_cifar10_resnet-8_seed0/checkpoints/model_2.t7": ("resnet", "cifar10", 8),
    "trainstep/resnet-possrelu-8-cifar10/model_0.t7": ("resnet-possrelu", "cifar10", 8),
}

TRAINSTEP = "trainstep/resnet-possrelu-8-cifar10"

# Fields of every saved nn.Module that specs from the builders leave out: the tensor
# type (`:float()` or `:cuda()` sets it) and the training flag.
RUNTIME_FIELDS = {"_type", "train"}

RTOL, ATOL = 1e-4, 1e-5

pytestmark = pytest.mark.skipif(
    REFERENCE_DIR is None, reason="Torch7 reference files not found (FRELU_REFERENCE_DIR)"
)


def _model_file(reference_dir, name, suffix=""):
    return reference_dir / "models" / f"{name}{suffix}.t7"


def _native_with_reference_weights(reference_dir, name):
    net_type, dataset, depth = REFERENCE_MODELS[name]
    converted = port.convert(t7.load(_model_file(reference_dir, name)))
    native = build(net_type, dataset, depth)
    native.load_state_dict(converted.state_dict())
    return native


def test_reference_models_all_listed(reference_dir):
    present = {
        path.name.removesuffix(".t7")
        for path in (reference_dir / "models").glob("*.t7")
        if not path.name.endswith((".input.t7", ".output_eval.t7", ".output_train.t7"))
    }
    assert present == set(REFERENCE_MODELS)


@pytest.mark.parametrize("name", sorted(REFERENCE_MODELS))
def test_converted_state_dict_fits_build(reference_dir, name):
    net_type, dataset, depth = REFERENCE_MODELS[name]
    converted = port.convert(t7.load(_model_file(reference_dir, name))).state_dict()
    native = build(net_type, dataset, depth).state_dict()

    assert list(converted) == list(native)
    for key, value in native.items():
        assert converted[key].shape == value.shape, key
        assert converted[key].dtype == value.dtype, key


def _assert_spec_matches_described(described_spec, native_spec):
    described = list(walk(described_spec))
    native = list(walk(native_spec))

    assert [(path, node["torch_class"]) for path, node in described] == [
        (path, node["torch_class"]) for path, node in native
    ]
    for (path, reference), (_, mine) in zip(described, native, strict=True):
        reference_fields = {
            key: value for key, value in reference["fields"].items() if key not in RUNTIME_FIELDS
        }
        assert mine["fields"] == reference_fields, f"{path} {mine['torch_class']}"


@pytest.mark.parametrize("name", sorted(REFERENCE_MODELS))
def test_spec_matches_described_reference(reference_dir, name):
    net_type, dataset, depth = REFERENCE_MODELS[name]
    described = port.describe(t7.load(_model_file(reference_dir, name)))
    _assert_spec_matches_described(described, spec(net_type, dataset, depth))


@pytest.mark.parametrize("path", sorted(TRAINED_MODELS))
def test_spec_matches_trained_model(reference_dir, path):
    net_type, dataset, depth = TRAINED_MODELS[path]
    obj = t7.load(reference_dir / path)

    _assert_spec_matches_described(port.describe(obj), spec(net_type, dataset, depth))

    converted = port.convert(obj).state_dict()
    native = build(net_type, dataset, depth).state_dict()
    assert list(converted) == list(native)
    for key, value in native.items():
        assert converted[key].shape == value.shape, key


def test_native_reproduces_trained_step_output(reference_dir):
    # After three SGD steps one constrained FReLU bias of model_3 is positive, and the
    # forward pass must restore it from bias_copy first, as Torch7 did.
    folder = reference_dir / TRAINSTEP
    native = build("resnet-possrelu", "cifar10", 8)
    native.load_state_dict(port.convert(t7.load(folder / "model_3.t7")).state_dict())
    input = torch.from_numpy(np.array(t7.load(folder / "batch.t7")["input"]))
    expected = np.array(t7.load(folder / "output_eval_after.t7"))

    with torch.no_grad():
        output = native.eval()(input)

    np.testing.assert_allclose(output.numpy(), expected, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("name", sorted(REFERENCE_MODELS))
def test_native_reproduces_eval_output(reference_dir, name):
    native = _native_with_reference_weights(reference_dir, name).eval()
    input = torch.from_numpy(np.array(t7.load(_model_file(reference_dir, name, ".input"))))
    expected = np.array(t7.load(_model_file(reference_dir, name, ".output_eval")))

    with torch.no_grad():
        output = native(input)

    np.testing.assert_allclose(output.numpy(), expected, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize(
    "name",
    [
        name
        for name in sorted(REFERENCE_MODELS)
        if REFERENCE_DIR is not None and _model_file(REFERENCE_DIR, name, ".output_train").is_file()
    ],
)
def test_native_reproduces_train_output(reference_dir, name):
    # Training mode normalizes with the batch's statistics instead of the running ones.
    native = _native_with_reference_weights(reference_dir, name).train()
    input = torch.from_numpy(np.array(t7.load(_model_file(reference_dir, name, ".input"))))
    expected = np.array(t7.load(_model_file(reference_dir, name, ".output_train")))

    with torch.no_grad():
        output = native(input)

    np.testing.assert_allclose(output.numpy(), expected, rtol=RTOL, atol=ATOL)
