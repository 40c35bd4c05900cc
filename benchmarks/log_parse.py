"""Measure how fast `frelu_tools.logs.read_log` parses a full-length training log.

Writes a log of the size the FReLU fork's CIFAR runs wrote (200 epochs of 391 training
batches of 128 images and 79 test batches: about 95,000 lines), in the fork's format and
in fb.resnet.torch's, then reads each several times and prints the best wall-clock
time, the best CPU time of the process (less sensitive to other load on the machine)
and the lines per second of wall-clock time.

Usage:
    python benchmarks/log_parse.py [--epochs 200] [--repeat 5]
"""

import argparse
import random
import tempfile
import time
from pathlib import Path

from frelu_tools.logs import read_log

TRAIN_BATCHES = 391  # ceil(50,000 / 128)
TEST_BATCHES = 79  # ceil(10,000 / 128)


def write_log(path: Path, epochs: int, upstream: bool) -> int:
    """Write a synthetic log to `path` and return its number of lines."""
    rng = random.Random(0)
    lines = [
        "+ th main.lua -dataset cifar10 -nGPU 1 -batchSize 128 -netType resnet-possrelu "
        f"-nEpochs {epochs} -depth 20 -LR 0.1 -manualSeed 0",
        "=> Creating model from file: models/resnet-possrelu.lua",
        " | ResNet-20 CIFAR-10",
    ]
    for epoch in range(1, epochs + 1):
        lr = 0.1 * (0.1 ** ((epoch >= 81) + (epoch >= 122)))
        progress = epoch / epochs
        lines.append(
            f"=> Training epoch # {epoch}"
            if upstream
            else f"=> Training epoch # {epoch} with LR = {lr:.5f}"
        )
        for i in range(1, TRAIN_BATCHES + 1):
            top1 = max(0.0, 60 * (1 - progress) + rng.uniform(-5, 5))
            lines.append(
                f" | Epoch: [{epoch}][{i}/{TRAIN_BATCHES}]    Time {rng.uniform(0.05, 0.1):.3f}  "
                f"Data {rng.uniform(0, 0.01):.3f}  Err {2.3 * (1 - progress) + 0.01:1.4f}  "
                f"top1 {top1:7.3f}  top5 {top1 / 5:7.3f}"
            )
        test_top1 = 10 + 50 * (1 - progress)
        for i in range(1, TEST_BATCHES + 1):
            lines.append(
                f" | Test: [{epoch}][{i}/{TEST_BATCHES}]    Time 0.020  Data 0.001  "
                f"top1 {test_top1:7.3f} ({test_top1:7.3f})  top5   1.000 (  1.000)"
            )
        if upstream:
            lines.append(f" * Finished epoch # {epoch}     top1: {test_top1:7.3f}  top5:   1.000")
        else:
            lines.append(
                f" * Epoch # {epoch}     train-top1: {30 * (1 - progress):7.3f}  train-top5:   "
                f"1.000  test-top1: {test_top1:7.3f}  test-top5:   1.000"
            )
        lines.append("")
        lines.append(f" ! Best model \t{test_top1}\t1\t")
    path.write_text("\n".join(lines) + "\n")
    return len(lines)


def measure(path: Path, repeat: int) -> tuple[float, float]:
    """Return the best wall-clock and the best CPU time of `repeat` reads of `path`."""
    best_wall = best_cpu = float("inf")
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        read_log(path)
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    return best_wall, best_cpu


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=200, help="epochs in the generated log")
    parser.add_argument("--repeat", type=int, default=5, help="reads per log; the best counts")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        for name, upstream in (("frelu.torch", False), ("fb.resnet.torch", True)):
            path = Path(folder) / "cifar10" / "resnet-possrelu-20-seed0.log"
            path.parent.mkdir(exist_ok=True)
            lines = write_log(path, args.epochs, upstream)
            size = path.stat().st_size / 1e6
            wall, cpu = measure(path, args.repeat)
            print(
                f"{name:16s} {lines:7d} lines  {size:5.1f} MB  wall {wall:.3f} s  "
                f"CPU {cpu:.3f} s  {lines / wall:10,.0f} lines/s"
            )


if __name__ == "__main__":
    main()
