"""Training speed of the reproduction trainer against a plain PyTorch training loop.

Both loops train the same freshly built network on the same synthetic CIFAR-shaped
data for the same number of iterations, one after the other in this process:

- trainer: `frelu_tools.train` as `frelu-tools reproduce` runs it: uint8 images kept on
  the training device, normalisation, flip and crop as batched tensor operations
  there, loss and errors kept on the device (no host sync per iteration).
- plain: the usual recipe. A `Dataset` normalises, flips and crops each image on the
  CPU, as torchvision's transforms do (written with plain torch because torchvision is
  not a dependency). A `DataLoader` with worker processes batches them, and the loop
  calls `.to(device)` per batch and `loss.item()` per iteration.

Usage:
    python benchmarks/train_speed.py [--device cuda] [--iterations 30] [--json out.json]

The two loops alternate `--repeats` times and each reports its best rate, so that load
from other processes on a shared machine biases neither. Without a GPU it runs on the
CPU and prints that it does. There the convolutions dominate and cost the same in both loops, so the
ratio stays near 1 and mostly measures the data pipeline.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from frelu_tools.train.augment import Augmentation
from frelu_tools.train.configs import select_configs
from frelu_tools.train.data import synthetic_dataset
from frelu_tools.train.loop import train_step
from frelu_tools.train.optim import make_sgd
from frelu_tools.train.run import build_model

NETWORKS = {
    "resnet-20": "resnet-possrelu-20-cifar10",
    "smallnet": "smallnet-frelu-bn-cifar100",
}


class PerImageDataset(Dataset):
    """CIFAR-style per-image CPU transform: normalise, random flip, pad by 4, random crop."""

    def __init__(self, images, labels, mean, std):
        self.images = images
        self.labels = labels
        self.mean = torch.tensor(mean).view(3, 1, 1)
        self.std = torch.tensor(std).view(3, 1, 1)

    def __len__(self):
        return len(self.images)

    def __getitem__(self, index):
        image = (self.images[index].float() - self.mean) / self.std
        if torch.rand(()) < 0.5:
            image = image.flip(2)
        image = F.pad(image, (4, 4, 4, 4))
        top, left = torch.randint(0, 9, (2,)).tolist()
        return image[:, top : top + 32, left : left + 32], self.labels[index]


def _synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_trainer(config, data, device, iterations, warmup, channels_last):
    torch.manual_seed(0)
    model, _ = build_model(config)
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    optimizer = make_sgd(model, config.sgd)
    images = data.train.images.to(device)
    labels = data.train.labels.to(device)
    transform = Augmentation(data.mean, data.std, train=True)
    generator = torch.Generator(device=device).manual_seed(0)
    batch = config.batch_size

    def step(i):
        start = (i * batch) % (len(images) - batch + 1)
        indices = torch.arange(start, start + batch, device=device)
        inputs = transform(images[indices], generator)
        if channels_last:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        return train_step(model, optimizer, inputs, labels[indices])

    for i in range(warmup):
        step(i)
    _synchronize(device)
    began = time.perf_counter()
    for i in range(iterations):
        result = step(i)
    float(result.loss)  # one sync at the end, as the trainer syncs once per epoch
    _synchronize(device)
    return iterations * batch / (time.perf_counter() - began)


def time_plain(config, data, device, iterations, warmup, workers, channels_last):
    torch.manual_seed(0)
    model, _ = build_model(config)
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(
        model.parameters(),
        lr=config.lr,
        momentum=0.9,
        nesterov=True,
        weight_decay=config.weight_decay,
    )
    dataset = PerImageDataset(data.train.images, data.train.labels, data.mean, data.std)
    loader = DataLoader(
        dataset,
        batch_size=config.batch_size,
        shuffle=True,
        drop_last=True,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        persistent_workers=workers > 0,
    )

    def batches():
        while True:
            yield from loader

    stream = batches()

    def step():
        inputs, targets = next(stream)
        inputs = inputs.to(device, non_blocking=True)
        targets = targets.to(device, non_blocking=True)
        if channels_last:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(inputs), targets)
        loss.backward()
        optimizer.step()
        return loss.item()

    for _ in range(warmup):
        step()
    _synchronize(device)
    began = time.perf_counter()
    for _ in range(iterations):
        step()
    _synchronize(device)
    return iterations * config.batch_size / (time.perf_counter() - began)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--iterations", type=int, default=20, help="timed iterations per loop")
    parser.add_argument("--warmup", type=int, default=3, help="untimed iterations first")
    parser.add_argument("--repeats", type=int, default=3, help="alternating timings per loop")
    parser.add_argument(
        "--workers", type=int, default=2, help="DataLoader workers of the plain loop"
    )
    parser.add_argument("--networks", nargs="+", default=list(NETWORKS), choices=list(NETWORKS))
    parser.add_argument("--channels-last", action="store_true", help="GPU: NHWC in both loops")
    parser.add_argument("--json", dest="json_path", help="also write the results to this file")
    args = parser.parse_args(argv)

    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
        machine = torch.cuda.get_device_name(device)
    else:
        machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, no GPU"
        print("No GPU used: timing on the CPU.")
    print(f"machine: {machine}; torch {torch.__version__}, {torch.get_num_threads()} threads")

    rows = []
    for network in args.networks:
        config = select_configs(NETWORKS[network])[0]
        data = synthetic_dataset(config.dataset, train_size=max(1024, 2 * config.batch_size))
        trainer_rates, plain_rates = [], []
        for _ in range(args.repeats):
            trainer_rates.append(
                time_trainer(config, data, device, args.iterations, args.warmup, args.channels_last)
            )
            plain_rates.append(
                time_plain(
                    config,
                    data,
                    device,
                    args.iterations,
                    args.warmup,
                    args.workers,
                    args.channels_last,
                )
            )
        trainer, plain = max(trainer_rates), max(plain_rates)
        rows.append(
            {
                "network": network,
                "config": config.name,
                "device": str(device),
                "trainer_images_per_s": trainer,
                "plain_images_per_s": plain,
                "ratio": trainer / plain,
                "trainer_all": trainer_rates,
                "plain_all": plain_rates,
            }
        )
        print(
            f"{network:10s} trainer {trainer:9.1f} img/s   plain {plain:9.1f} img/s   "
            f"ratio {trainer / plain:5.2f}"
        )

    if args.json_path:
        with open(args.json_path, "w", encoding="utf-8") as handle:
            json.dump(
                {
                    "machine": machine,
                    "iterations": args.iterations,
                    "repeats": args.repeats,
                    "results": rows,
                },
                handle,
                indent=2,
            )


if __name__ == "__main__":
    main()
