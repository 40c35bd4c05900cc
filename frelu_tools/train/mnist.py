"""The MNIST feature experiment: 2-D test features of trained mnist-relu / mnist-frelu runs.

Training itself is an ordinary run of the `mnist-relu` and `mnist-frelu` configurations
(optim.sgd without Nesterov and with its default dampening = momentum, weight decay
5e-4, LR 0.01 with x0.1 from epoch 40 and x0.01 from epoch 62, 78 epochs, pixels
`(x - 127.5) / 128`, no augmentation).

NOTE: `mnist/mnist.lua` takes batches `t .. t + size - 1` with
`size = min(t + 128, N) - t`, which skips the last training image of every epoch and the
last test image, and it reports the test accuracy over all N. This trainer uses every
image in both splits and reports the error rate, as the CIFAR trainer does.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from frelu_tools.train import checkpoints
from frelu_tools.train.augment import Augmentation
from frelu_tools.train.configs import RunConfig
from frelu_tools.train.data import ImageDataset
from frelu_tools.train.run import build_model, run_paths

PANEL_TITLES = {"mnist-relu": "ReLU", "mnist-frelu": "FReLU"}


@torch.no_grad()
def compute_test_features(
    checkpoint: dict, config: RunConfig, dataset: ImageDataset, batch_size: int = 500
) -> tuple[np.ndarray, np.ndarray]:
    """Compute the 2-D features of every test image under a trained checkpoint.

    Returns:
        features (N, 2) and labels (N,) as numpy arrays.
    """
    from frelu_tools.models import features

    model, _ = build_model(config, checkpoint.get("architecture"))
    model.load_state_dict(checkpoint["state_dict"])
    model.eval()
    transform = Augmentation(dataset.mean, dataset.std, train=False)
    chunks = []
    for start in range(0, len(dataset.test), batch_size):
        images = dataset.test.images[start : start + batch_size]
        chunks.append(features(model, transform(images, None)))
    return torch.cat(chunks).numpy(), dataset.test.labels.numpy()


def write_feature_plot(
    out_dir: Path, configs: list[RunConfig], seed: int, dataset: ImageDataset
) -> Path | None:
    """Plot the test features of the MNIST runs of `seed` under `out_dir`, side by side.

    Panels follow `configs` order (ReLU before FReLU when both are given); a run without
    a checkpoint is left out. Writes `out_dir/mnist-features-seed<seed>.png`.

    Returns:
        The PNG path, or None when no run has a checkpoint yet.
    """
    from frelu_tools.plots.features import plot_features

    ordered = sorted(
        configs,
        key=lambda c: (
            list(PANEL_TITLES).index(c.net_type)
            if c.net_type in PANEL_TITLES
            else len(PANEL_TITLES)
        ),
    )
    panels = []
    for config in ordered:
        folder = run_paths(out_dir, config, seed)[2]
        if not (folder / checkpoints.LATEST).is_file():
            continue
        checkpoint = checkpoints.load_resume_checkpoint(folder)
        points, labels = compute_test_features(checkpoint, config, dataset)
        title = f"{PANEL_TITLES.get(config.net_type, config.name)} (epoch {checkpoint['epoch']})"
        panels.append((title, points, labels))
    if not panels:
        return None
    return plot_features(panels, Path(out_dir) / f"mnist-features-seed{seed}.png", force=True)
