"""The reproduction trainer: the FReLU fork's training step, data pipeline and logs in PyTorch.

    >>> from frelu_tools.train import select_configs, load_dataset, train_run
    >>> config = select_configs("resnet-possrelu-20-cifar10")[0]
    >>> data = load_dataset(config.dataset, "synthetic")
    >>> result = train_run(config, 0, data, "out", RunOptions(epochs=2))

Modules: `data` (CIFAR, MNIST and synthetic readers), `augment` (batched flip and crop
on the device), `optim` (SGD settings, schedule, error rates), `loop` (step, epoch,
evaluation), `logfile` (text log and metrics.jsonl), `checkpoints`, `run` (one run),
`configs` (the files under reproduce/).
"""

from frelu_tools.train.configs import (
    ConfigError,
    RunConfig,
    all_configs,
    parse_seeds,
    select_configs,
)
from frelu_tools.train.data import (
    DatasetFormatError,
    DatasetNotFoundError,
    ImageDataset,
    load_dataset,
    synthetic_dataset,
)
from frelu_tools.train.loop import evaluate, train_epoch, train_step
from frelu_tools.train.optim import SGDSettings, make_sgd, top_errors
from frelu_tools.train.run import RunOptions, RunResult, StopRequest, train_run

__all__ = [
    "ConfigError",
    "DatasetFormatError",
    "DatasetNotFoundError",
    "ImageDataset",
    "RunConfig",
    "RunOptions",
    "RunResult",
    "SGDSettings",
    "StopRequest",
    "all_configs",
    "evaluate",
    "load_dataset",
    "make_sgd",
    "parse_seeds",
    "select_configs",
    "synthetic_dataset",
    "top_errors",
    "train_epoch",
    "train_run",
    "train_step",
]
