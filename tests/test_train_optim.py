"""SGD semantics, learning-rate schedule and error rates of the trainer."""

import pytest
import torch

from frelu_tools.nn import FReLUBias
from frelu_tools.train.configs import select_configs
from frelu_tools.train.optim import SGDSettings, make_sgd, set_learning_rate, top_errors


def optim_sgd_reference(x, dfdx, state, lr, momentum, dampening, nesterov, weight_decay):
    """Transcription of torch/optim's sgd.lua (learningRateDecay 0) on flat tensors."""
    dfdx = dfdx.clone()
    if weight_decay != 0:
        dfdx.add_(x, alpha=weight_decay)
    if momentum != 0:
        if "dfdx" not in state:
            state["dfdx"] = dfdx.clone()
        else:
            state["dfdx"].mul_(momentum).add_(dfdx, alpha=1 - dampening)
        if nesterov:
            dfdx.add_(state["dfdx"], alpha=momentum)
        else:
            dfdx = state["dfdx"]
    x.add_(dfdx, alpha=-lr)


@pytest.mark.parametrize(
    "momentum, dampening, nesterov, weight_decay",
    [
        (0.9, 0.0, True, 1e-4),  # train.lua (CIFAR)
        (0.9, 0.9, False, 5e-4),  # mnist/mnist.lua: optim.sgd's default dampening = momentum
    ],
)
def test_sgd_matches_optim_sgd(momentum, dampening, nesterov, weight_decay):
    generator = torch.Generator().manual_seed(0)
    start = torch.randn(50, generator=generator, dtype=torch.float64)
    gradients = [torch.randn(50, generator=generator, dtype=torch.float64) for _ in range(4)]
    learning_rates = [0.1, 0.1, 0.01, 0.01]

    x_ref, state = start.clone(), {}
    for gradient, lr in zip(gradients, learning_rates, strict=True):
        optim_sgd_reference(x_ref, gradient, state, lr, momentum, dampening, nesterov, weight_decay)

    parameter = torch.nn.Parameter(start.clone())
    model = torch.nn.Module()
    model.weight = parameter
    settings = SGDSettings(
        lr=0.1,
        momentum=momentum,
        dampening=dampening,
        nesterov=nesterov,
        weight_decay=weight_decay,
    )
    optimizer = make_sgd(model, settings)
    for gradient, lr in zip(gradients, learning_rates, strict=True):
        set_learning_rate(optimizer, lr)
        parameter.grad = gradient.clone()
        optimizer.step()

    assert torch.allclose(parameter.detach(), x_ref, rtol=0, atol=1e-14)
    assert torch.allclose(optimizer.state[parameter]["momentum_buffer"], state["dfdx"], atol=1e-14)


def test_sgd_covers_every_parameter():
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU(), FReLUBias()
    )
    optimizer = make_sgd(model, SGDSettings())
    in_optimizer = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert in_optimizer == {id(p) for p in model.parameters()}
    assert len(optimizer.param_groups) == 1
    assert optimizer.param_groups[0]["weight_decay"] == pytest.approx(1e-4)


def test_frelu_grad_scale_before_weight_decay():
    # nn.MyAdd multiplies the loss gradient by lr_decay; optim.sgd then adds the weight
    # decay term unscaled.
    layer = FReLUBias(size=1, init=-0.5, grad_scale=0.1)
    model = torch.nn.Sequential(layer)
    optimizer = make_sgd(model, SGDSettings(lr=1.0, momentum=0.9, nesterov=True, weight_decay=0.01))
    inputs = torch.ones(4, 3)
    model(inputs).sum().backward()
    assert layer.bias.grad.item() == pytest.approx(0.1 * 12)
    optimizer.step()
    gradient = 0.1 * 12 + 0.01 * -0.5
    expected = -0.5 - 1.0 * (gradient + 0.9 * gradient)  # first step: buffer = gradient
    assert layer.bias.item() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize(
    "epoch, expected", [(1, 0.1), (80, 0.1), (81, 0.01), (121, 0.01), (122, 0.001), (200, 0.001)]
)
def test_cifar_schedule(epoch, expected):
    assert SGDSettings(lr=0.1).learning_rate(epoch) == pytest.approx(expected)


@pytest.mark.parametrize("epoch, expected", [(39, 0.01), (40, 0.001), (61, 0.001), (62, 1e-4)])
def test_mnist_schedule(epoch, expected):
    config = select_configs("mnist-relu")[0]
    assert config.sgd.learning_rate(epoch) == pytest.approx(expected)
    assert config.sgd.nesterov is False
    assert config.sgd.dampening == pytest.approx(0.9)


def test_top_errors_counts_ranks():
    output = torch.tensor(
        [
            [0.9, 0.1, 0.0, 0.0, 0.0, 0.0, 0.0],  # target 0: top-1 hit
            [0.1, 0.9, 0.5, 0.4, 0.3, 0.2, 0.0],  # target 5: rank 5, top-5 hit only
            [0.1, 0.9, 0.5, 0.4, 0.3, 0.2, 0.0],  # target 6: rank 7, miss
            [0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0],  # target 2: top-1 hit
        ]
    )
    target = torch.tensor([0, 5, 6, 2])
    top1, top5 = top_errors(output, target)
    assert top1.item() == pytest.approx(50.0)
    assert top5.item() == pytest.approx(25.0)


def test_top_errors_fewer_than_five_classes():
    output = torch.tensor([[0.2, 0.8], [0.9, 0.1]])
    top1, top5 = top_errors(output, torch.tensor([0, 0]))
    assert top1.item() == pytest.approx(50.0)
    assert top5.item() == pytest.approx(0.0)


def test_top_errors_double_precision_as_lua():
    from frelu_tools.train.logfile import best_line

    output = torch.eye(3)
    top1, _ = top_errors(output, torch.tensor([0, 2, 1]))
    assert top1.item() == 100.0 * (1.0 - 1.0 / 3.0)
    # Lua's print writes numbers with %.14g.
    assert best_line(True, top1.item(), 0.0) == " ! Best model \t66.666666666667\t0"
