"""The trainer's SGD step against three steps of the fork's own Trainer in Torch7.

trainstep/resnet-possrelu-8-cifar10/ contains the model before (model_0.t7) and after each
step (model_K.t7), the optimizer state after each step (optimState_K.t7, a flat
momentum buffer), the logged loss and errors (losses.t7) and the evaluation output
after the third step. Some FReLU biases start at -1e-4, so the steps push them
positive and the constraint has to restore them at the next forward pass.
"""

import numpy as np
import pytest
import torch

from frelu_tools import port, t7
from frelu_tools.port.checkpoint import split_flat_buffer
from frelu_tools.train.loop import train_step
from frelu_tools.train.optim import SGDSettings, make_sgd

RTOL, ATOL = 1e-4, 1e-5


@pytest.fixture(scope="module")
def trainstep(request):
    from conftest import REFERENCE_DIR

    if REFERENCE_DIR is None:
        pytest.skip("Torch7 reference files not found: set FRELU_REFERENCE_DIR")
    folder = REFERENCE_DIR / "trainstep" / "resnet-possrelu-8-cifar10"

    model = port.convert(t7.load(folder / "model_0.t7"))
    model.train()
    batch = t7.load(folder / "batch.t7")
    inputs = torch.from_numpy(np.array(batch["input"]))
    targets = torch.from_numpy(np.array(batch["target"])) - 1  # Torch7 labels are 1-based
    optimizer = make_sgd(model, SGDSettings(lr=0.1))

    steps = []
    for k in (1, 2, 3):
        result = train_step(model, optimizer, inputs, targets)
        reference_obj = t7.load(folder / f"model_{k}.t7")
        reference = port.convert(reference_obj)
        optim_state = t7.load(folder / f"optimState_{k}.t7")
        buffers = split_flat_buffer(
            reference, port.named_sources(reference_obj), np.asarray(optim_state["dfdx"]).ravel()
        )
        steps.append(
            {
                "result": result,
                "state": {key: value.clone() for key, value in model.state_dict().items()},
                "momentum": {
                    name: optimizer.state[parameter]["momentum_buffer"].clone()
                    for name, parameter in model.named_parameters()
                },
                "reference_state": reference.state_dict(),
                "reference_momentum": buffers,
                "optim_state": optim_state,
            }
        )

    model.eval()
    with torch.no_grad():
        output_eval = model(inputs)
    return {
        "steps": steps,
        "losses": t7.load(folder / "losses.t7"),
        "output_eval": output_eval,
        "reference_output_eval": torch.from_numpy(
            np.array(t7.load(folder / "output_eval_after.t7"))
        ),
    }


@pytest.mark.parametrize("k", [1, 2, 3])
def test_step_parameters_and_buffers(trainstep, k):
    step = trainstep["steps"][k - 1]
    reference = step["reference_state"]
    assert set(step["state"]) == set(reference)
    compared = 0
    for key, expected in reference.items():
        if key.endswith("num_batches_tracked"):
            # PyTorch's step counter has no Torch7 counterpart, so a converted model
            # stores 0. It does not enter the computation while BN momentum is set.
            continue
        got = step["state"][key]
        assert torch.allclose(got, expected, rtol=RTOL, atol=ATOL), (
            f"step {k}, {key}: max difference {(got - expected).abs().max().item():.3g}"
        )
        compared += 1
    assert compared > 40


@pytest.mark.parametrize("k", [1, 2, 3])
def test_step_momentum_buffers(trainstep, k):
    step = trainstep["steps"][k - 1]
    for name, expected in step["reference_momentum"].items():
        got = step["momentum"][name]
        assert torch.allclose(got, expected, rtol=RTOL, atol=ATOL), (
            f"step {k}, momentum of {name}: max difference "
            f"{(got - expected).abs().max().item():.3g}"
        )


@pytest.mark.parametrize("k", [1, 2, 3])
def test_step_logged_loss_and_errors(trainstep, k):
    result = trainstep["steps"][k - 1]["result"]
    expected = trainstep["losses"][k - 1]
    assert result.loss.item() == pytest.approx(expected["loss"], rel=1e-5)
    assert result.top1_err.item() == pytest.approx(expected["top1"], abs=1e-4)
    assert result.top5_err.item() == pytest.approx(expected["top5"], abs=1e-4)


def test_step_optimizer_settings_match_torch7(trainstep):
    state = trainstep["steps"][0]["optim_state"]
    assert state["nesterov"] is True
    assert state["dampening"] == 0
    assert state["momentum"] == pytest.approx(0.9)
    assert state["weightDecay"] == pytest.approx(1e-4)
    assert state["learningRate"] == pytest.approx(0.1)


def test_steps_exercise_constraint(trainstep):
    # Some FReLU bias becomes positive after an update: the case the constraint handles.
    positive = [
        key
        for step in trainstep["steps"]
        for key, value in step["reference_state"].items()
        if key.endswith(".bias") and value.numel() == 1 and value.item() > 0
    ]
    assert positive


def test_eval_output_after_three_steps(trainstep):
    got, expected = trainstep["output_eval"], trainstep["reference_output_eval"]
    assert torch.allclose(got, expected, rtol=RTOL, atol=ATOL), (
        f"max difference {(got - expected).abs().max().item():.3g}"
    )


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_steps_on_gpu_match_torch7(reference_dir):
    # Full float32 on the GPU: TF32 would round products to 10 mantissa bits.
    folder = reference_dir / "trainstep" / "resnet-possrelu-8-cifar10"
    previous = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        model = port.convert(t7.load(folder / "model_0.t7"))
        model.train().cuda()
        batch = t7.load(folder / "batch.t7")
        inputs = torch.from_numpy(np.array(batch["input"])).cuda()
        targets = (torch.from_numpy(np.array(batch["target"])) - 1).cuda()
        optimizer = make_sgd(model, SGDSettings(lr=0.1))
        for _ in range(3):
            train_step(model, optimizer, inputs, targets)
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = previous

    reference = port.convert(t7.load(folder / "model_3.t7")).state_dict()
    state = model.state_dict()
    for key, expected in reference.items():
        if key.endswith("num_batches_tracked"):
            continue
        got = state[key].cpu()
        assert torch.allclose(got, expected, rtol=RTOL, atol=ATOL), (
            f"{key}: max difference {(got - expected).abs().max().item():.3g}"
        )
