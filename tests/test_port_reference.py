"""Converted modules against Torch7's own outputs on the same input.

Tolerance: torch.allclose(rtol=1e-4, atol=1e-5) in float32 throughout.

Which state produced which output: a model under models/ was saved before its two
forward passes, so its evaluation output comes from the file's state. A file under
variants/ was saved after an evaluation pass and then a training pass, so its batch
normalisation running statistics already contain one update from the input. The tests
undo that update to get the state of the evaluation pass, and check that one training
pass from there reproduces the file's statistics.
"""

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import REFERENCE_DIR, TEST_DATA
from torch import nn

from frelu_tools.port import convert
from frelu_tools.t7 import load

RTOL, ATOL = 1e-4, 1e-5


def _models(folder: Path | None) -> list[Path]:
    if folder is None or not folder.is_dir():
        return []
    return sorted(
        path
        for path in folder.glob("*.t7")
        if ".input" not in path.name and ".output" not in path.name
    )


VARIANTS = _models(TEST_DATA / "port")
REFERENCE_VARIANTS = _models(REFERENCE_DIR / "variants" if REFERENCE_DIR else None)
REFERENCE_MODELS = _models(REFERENCE_DIR / "models" if REFERENCE_DIR else None)
needs_reference = pytest.mark.skipif(
    REFERENCE_DIR is None, reason="Torch7 reference files not found (FRELU_REFERENCE_DIR)"
)


def _tensor(path: Path) -> torch.Tensor:
    return torch.from_numpy(np.array(load(path), dtype=np.float32))


def _sibling(model: Path, suffix: str) -> Path:
    return model.with_name(model.name.removesuffix(".t7") + suffix)


def _batch_norms(module: nn.Module) -> list[tuple[str, nn.modules.batchnorm._BatchNorm]]:
    return [
        (name, child)
        for name, child in module.named_modules()
        if isinstance(child, nn.modules.batchnorm._BatchNorm)
    ]


def _batch_statistics(module: nn.Module, input: torch.Tensor) -> dict:
    # Inputs of each BN layer in a training pass; they do not depend on running statistics.
    probe = copy.deepcopy(module).train()
    statistics = {}

    def record(name):
        def hook(layer, args):
            x = args[0].detach().double()
            dims = [0] + list(range(2, x.dim()))
            statistics[name] = (x.mean(dims), x.var(dims, unbiased=True))

        return hook

    for name, layer in _batch_norms(probe):
        layer.register_forward_pre_hook(record(name))
    with torch.no_grad():
        probe(input.clone())
    return statistics


def _undo_training_pass(module: nn.Module, input: torch.Tensor) -> None:
    statistics = _batch_statistics(module, input)
    for name, layer in _batch_norms(module):
        mean, var = statistics[name]
        momentum = layer.momentum
        with torch.no_grad():
            layer.running_mean.copy_((layer.running_mean - momentum * mean) / (1 - momentum))
            layer.running_var.copy_((layer.running_var - momentum * var) / (1 - momentum))


def _check_against_torch7(model: Path, saved_after_passes: bool) -> None:
    module = convert(load(model))
    input = _tensor(_sibling(model, ".input.t7"))
    train_path = _sibling(model, ".output_train.t7")
    saved = {
        name: (layer.running_mean.clone(), layer.running_var.clone())
        for name, layer in _batch_norms(module)
    }
    if saved_after_passes and train_path.exists():
        _undo_training_pass(module, input)

    with torch.no_grad():
        output = module.eval()(input.clone())
    expected = _tensor(_sibling(model, ".output_eval.t7"))
    assert output.shape == expected.shape
    difference = (output - expected).abs().max().item()
    assert torch.allclose(output, expected, rtol=RTOL, atol=ATOL), f"max difference {difference}"

    if not train_path.exists():
        return
    with torch.no_grad():
        output = module.train()(input.clone())
    expected = _tensor(train_path)
    assert output.shape == expected.shape
    difference = (output - expected).abs().max().item()
    assert torch.allclose(output, expected, rtol=RTOL, atol=ATOL), f"max difference {difference}"

    if saved_after_passes:
        for name, layer in _batch_norms(module):
            mean, var = saved[name]
            assert torch.allclose(layer.running_mean, mean, rtol=RTOL, atol=ATOL), name
            assert torch.allclose(layer.running_var, var, rtol=RTOL, atol=ATOL), name


@pytest.mark.parametrize("model", VARIANTS, ids=lambda path: path.stem)
def test_variant_matches_torch7(model):
    _check_against_torch7(model, saved_after_passes=True)


@needs_reference
@pytest.mark.parametrize("model", REFERENCE_VARIANTS, ids=lambda path: path.stem)
def test_reference_variant_matches_torch7(model):
    _check_against_torch7(model, saved_after_passes=True)


@needs_reference
@pytest.mark.parametrize("model", REFERENCE_MODELS, ids=lambda path: path.stem)
def test_reference_model_matches_torch7(model):
    _check_against_torch7(model, saved_after_passes=False)


@needs_reference
@pytest.mark.parametrize("name", ["gpu_model", "dpt_model"])
def test_cuda_model_matches_torch7(name):
    formats = REFERENCE_DIR / "formats"
    module = convert(load(formats / f"{name}.t7"))
    input = _tensor(formats / "gpu_model.input.t7")
    with torch.no_grad():
        output = module(input)
    expected = _tensor(formats / "gpu_model.output_eval.t7")
    assert torch.allclose(output, expected, rtol=RTOL, atol=ATOL)


def test_variant_copies_present():
    assert len(VARIANTS) >= 52


@needs_reference
def test_constraint_restores_positive_bias():
    # Step 3 of the Torch7 trainer pushed one constrained FReLU bias positive; Torch7's
    # next forward pass restored it from biasCopy before computing this output.
    folder = REFERENCE_DIR / "trainstep" / "resnet-possrelu-8-cifar10"
    module = convert(load(folder / "model_3.t7"))
    frelu = module.get_submodule("3.0.2.1")
    assert frelu.constrained
    assert frelu.bias.item() > 0
    input = torch.from_numpy(np.array(load(folder / "batch.t7")["input"], dtype=np.float32))

    with torch.no_grad():
        output = module(input)

    expected = _tensor(folder / "output_eval_after.t7")
    assert torch.allclose(output, expected, rtol=RTOL, atol=ATOL)
    assert frelu.bias.item() == pytest.approx(-1e-4)
    assert torch.equal(frelu.bias_copy, frelu.bias.detach())
