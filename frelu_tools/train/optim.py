"""SGD, learning-rate schedule and error rates with the semantics of the Torch7 scripts.

`optim.sgd` (torch/optim `sgd.lua`) does, per step on the flat parameter vector:

    g += weightDecay * x
    buf = g (first step), else buf = momentum * buf + (1 - dampening) * g
    g += momentum * buf (Nesterov), else g = buf
    x -= lr * g

`torch.optim.SGD` computes the same per parameter, first step included, which
tests/test_train_optim.py checks against a literal transcription. So the trainer uses
it on all parameters in one group: BN weights and biases and FReLU biases get weight
decay too, as in the fork.

One difference of defaults matters. `optim.sgd` sets `dampening = momentum` when the
caller gives none, as the MNIST scripts (`mnist/mnist.lua`) do, while the CIFAR trainer
(`train.lua`) passes dampening 0 with Nesterov.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch


@dataclass
class SGDSettings:
    """Optimizer and schedule of one configuration, in the fork's terms.

    Attributes:
        lr: base learning rate (`-LR`).
        momentum, dampening, nesterov, weight_decay: as `optim.sgd`'s config table.
        milestones: epochs (1-based) from which the rate is multiplied by one more
            factor `gamma`; CIFAR in `train.lua`: 81 and 122.
        gamma: the factor, 0.1 in every script.
    """

    lr: float = 0.1
    momentum: float = 0.9
    dampening: float = 0.0
    nesterov: bool = True
    weight_decay: float = 1e-4
    milestones: list[int] = field(default_factory=lambda: [81, 122])
    gamma: float = 0.1

    def learning_rate(self, epoch: int) -> float:
        """Rate of 1-based `epoch`: `lr * gamma ** (number of milestones <= epoch)`."""
        decay = sum(1 for milestone in self.milestones if epoch >= milestone)
        return self.lr * self.gamma**decay

    def to_dict(self) -> dict:
        return asdict(self)


def make_sgd(model: torch.nn.Module, settings: SGDSettings) -> torch.optim.SGD:
    """Build `torch.optim.SGD` over every parameter of `model`, in `named_parameters()` order."""
    return torch.optim.SGD(
        [parameter for _, parameter in model.named_parameters()],
        lr=settings.lr,
        momentum=settings.momentum,
        dampening=settings.dampening,
        nesterov=settings.nesterov,
        weight_decay=settings.weight_decay,
    )


def set_learning_rate(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def top_errors(output: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-1 and top-5 error of a batch in percent, as `Trainer:computeScore` in `train.lua`.

    With fewer than 5 classes the second value is the top-`num_classes` error (0).
    Returns 0-dim float64 tensors on the device of `output`, so no host sync happens
    here. Lua computes these in double precision, and float64 keeps the logged values
    equal to Torch7's also for batch sizes that are not a power of two.
    """
    k = min(5, output.shape[1])
    predictions = output.float().topk(k, dim=1, largest=True, sorted=True).indices
    correct = predictions.eq(target.view(-1, 1))
    batch_size = output.shape[0]
    top1 = 100.0 * (1.0 - correct[:, :1].sum().double() / batch_size)
    top5 = 100.0 * (1.0 - correct[:, :k].sum().double() / batch_size)
    return top1, top5
