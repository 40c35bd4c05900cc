"""Training data sets: CIFAR-10/100, MNIST and a synthetic stand-in, as uint8 tensors.

Every reader returns an `ImageDataset`: pixels stay uint8 (N, C, H, W) so that a whole
data set fits in device memory (CIFAR-10 train is 150 MiB) and augmentation runs there
in batches. Labels are 0-based int64, also for the fork's cache files, which store
1-based labels.

Sources, looked up by `load_dataset(name, path)`:

- CIFAR: the "python version" archives `cifar-10-python.tar.gz` and
  `cifar-100-python.tar.gz` (read without extracting), their extracted folders
  `cifar-10-batches-py/` and `cifar-100-python/`, or the FReLU fork's cache
  `gen/cifar10.t7` / `gen/cifar100.t7` (written by its `datasets/cifar10-gen.lua`).
- MNIST: the four idx files, gzipped or not.
- `synthetic`: a generated set of the same shapes for smoke runs and tests.

Nothing is downloaded: a missing data set raises `DatasetNotFoundError` with the files
looked for and where to get them.
"""

from __future__ import annotations

import gzip
import io
import pickle
import struct
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from frelu_tools.errors import FreluToolsError

CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar.html"
MNIST_URL = "http://yann.lecun.com/exdb/mnist/"

# Per-channel mean and std on 0-255 pixels, from the fork's datasets/cifar10.lua and
# datasets/cifar100.lua (the CIFAR-100 values differ from CIFAR-10's).
CIFAR10_MEAN_STD = ((125.3, 123.0, 113.9), (63.0, 62.1, 66.7))
CIFAR100_MEAN_STD = ((129.3, 124.1, 112.4), (68.2, 65.4, 70.4))
# mnist/mnist.lua: (x - 127.5) * 0.0078125, i.e. a std of 128.
MNIST_MEAN_STD = ((127.5,), (128.0,))

DATASETS = ("cifar10", "cifar100", "mnist")


class DatasetNotFoundError(FreluToolsError, FileNotFoundError):
    """No file of a data set was found where it was looked for."""


class DatasetFormatError(FreluToolsError, ValueError):
    """A data set file exists but does not have the expected layout."""


@dataclass
class Split:
    """One split of a data set.

    Attributes:
        images: uint8 tensor (N, C, H, W).
        labels: int64 tensor (N,), 0-based class indices.
    """

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return self.images.shape[0]

    def to(self, device) -> Split:
        return Split(self.images.to(device), self.labels.to(device))


@dataclass
class ImageDataset:
    """A data set as the trainer uses it.

    Attributes:
        name: "cifar10", "cifar100" or "mnist".
        train, test: the two splits (the fork calls the test split "val").
        num_classes: number of classes of the data set.
        mean, std: per-channel normalisation constants on 0-255 pixels.
        source: the file or folder read, or "synthetic".
    """

    name: str
    train: Split
    test: Split
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    source: str

    def to(self, device) -> ImageDataset:
        return ImageDataset(
            self.name,
            self.train.to(device),
            self.test.to(device),
            self.num_classes,
            self.mean,
            self.std,
            self.source,
        )


def load_dataset(name: str, path: str | Path) -> ImageDataset:
    """Read data set `name` from `path`, or generate it when `path` is "synthetic".

    Args:
        name: "cifar10", "cifar100" or "mnist".
        path: a file (archive, cache `.t7`) or a folder that contains one of the
            accepted files. "synthetic" generates 128 training and 64 test images,
            "synthetic:N" generates N training and N // 2 test images.

    Raises:
        DatasetNotFoundError: nothing readable for `name` under `path`.
        DatasetFormatError: a file was found but has the wrong layout.
    """
    if name not in DATASETS:
        raise FreluToolsError(f"unknown data set {name!r}; expected one of {', '.join(DATASETS)}")
    if str(path) == "synthetic" or str(path).startswith("synthetic:"):
        return synthetic_dataset(name, *_synthetic_sizes(str(path)))
    path = Path(path)
    if name == "mnist":
        return _load_mnist(path)
    return _load_cifar(name, path)


def _synthetic_sizes(text: str) -> tuple[int, int]:
    if text == "synthetic":
        return 128, 64
    count = text.removeprefix("synthetic:")
    if not count.isdigit() or int(count) < 2:
        raise FreluToolsError(
            f"invalid data {text!r}; expected 'synthetic' or 'synthetic:N' with N >= 2 "
            "training images"
        )
    return int(count), int(count) // 2


def synthetic_dataset(
    name: str, train_size: int = 128, test_size: int = 64, seed: int = 0
) -> ImageDataset:
    """Generate a small learnable data set with the shapes and classes of `name`.

    Each class has a random template image; a sample is its class template plus
    uniform noise, clipped to 0-255. The same arguments always give the same data.
    """
    num_classes = {"cifar10": 10, "cifar100": 100, "mnist": 10}[name]
    shape = (1, 28, 28) if name == "mnist" else (3, 32, 32)
    generator = torch.Generator().manual_seed(seed)
    templates = torch.randint(0, 256, (num_classes, *shape), generator=generator)

    def make(size: int) -> Split:
        labels = torch.arange(size) % num_classes
        labels = labels[torch.randperm(size, generator=generator)]
        noise = torch.randint(-48, 49, (size, *shape), generator=generator)
        images = (templates[labels] + noise).clamp(0, 255).to(torch.uint8)
        return Split(images, labels.to(torch.int64))

    mean, std = _mean_std(name)
    return ImageDataset(
        name, make(train_size), make(test_size), num_classes, mean, std, "synthetic"
    )


def _mean_std(name: str):
    return {
        "cifar10": CIFAR10_MEAN_STD,
        "cifar100": CIFAR100_MEAN_STD,
        "mnist": MNIST_MEAN_STD,
    }[name]


# --- CIFAR ----------------------------------------------------------------------------

_CIFAR_LAYOUT = {
    # archive name, folder inside it, train members, test members, label key
    "cifar10": (
        "cifar-10-python.tar.gz",
        "cifar-10-batches-py",
        [f"data_batch_{i}" for i in range(1, 6)],
        ["test_batch"],
        b"labels",
    ),
    "cifar100": (
        "cifar-100-python.tar.gz",
        "cifar-100-python",
        ["train"],
        ["test"],
        b"fine_labels",
    ),
}


def _cifar_candidates(name: str, path: Path) -> list[Path]:
    archive, folder, _, _, _ = _CIFAR_LAYOUT[name]
    if path.is_file():
        return [path]
    return [
        path / archive,
        path / folder,
        path / "gen" / f"{name}.t7",
        path / f"{name}.t7",
        path,
    ]


def _load_cifar(name: str, path: Path) -> ImageDataset:
    archive, folder, train_members, test_members, label_key = _CIFAR_LAYOUT[name]
    num_classes = 10 if name == "cifar10" else 100
    mean, std = _mean_std(name)

    for candidate in _cifar_candidates(name, path):
        if candidate.is_file() and candidate.suffix == ".t7":
            train, test = _read_fork_cache(candidate, num_classes)
        elif candidate.is_file() and candidate.name.endswith((".tar.gz", ".tgz", ".tar")):
            train, test = _read_cifar_archive(
                candidate, folder, train_members, test_members, label_key
            )
        elif candidate.is_dir() and all(
            (candidate / member).is_file() for member in train_members + test_members
        ):
            train = _read_cifar_batches(
                [candidate / m for m in train_members], label_key, candidate
            )
            test = _read_cifar_batches([candidate / m for m in test_members], label_key, candidate)
        else:
            continue
        _check_labels(train, num_classes, candidate)
        _check_labels(test, num_classes, candidate)
        return ImageDataset(name, train, test, num_classes, mean, std, str(candidate))

    if not path.exists():
        where = f"{path} does not exist"
    else:
        looked = _cifar_candidates(name, path)[:-1] if path.is_dir() else [path]
        where = f"looked for {', '.join(str(p) for p in looked)}"
    raise DatasetNotFoundError(
        f"{name} not found: {where}. "
        f"Download the python version ({archive}) from {CIFAR_URL} and pass its file "
        "or folder with --data, or use --data synthetic for a smoke run"
    )


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler for the CIFAR batches: numpy arrays, lists and dicts only, no code."""

    _allowed = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        # Python 3 pickles of protocol 2 rebuild bytes objects with it.
        ("_codecs", "encode"),
    }

    def find_class(self, module, name):
        if (module, name) not in self._allowed:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed")
        return super().find_class(module, name)


def _unpickle_batch(data: bytes, where) -> dict:
    try:
        batch = _NumpyOnlyUnpickler(io.BytesIO(data), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as error:
        raise DatasetFormatError(f"{where}: not a CIFAR python batch ({error})") from None
    if not isinstance(batch, dict) or b"data" not in batch:
        raise DatasetFormatError(f"{where}: not a CIFAR python batch (no b'data' entry)")
    return batch


def _batches_to_split(batches: list[tuple[dict, str]], label_key: bytes) -> Split:
    images, labels = [], []
    for batch, where in batches:
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        if data.ndim != 2 or data.shape[1] != 3072:
            raise DatasetFormatError(f"{where}: data has shape {data.shape}, expected (N, 3072)")
        if label_key not in batch:
            raise DatasetFormatError(f"{where}: no {label_key!r} entry")
        images.append(data.reshape(-1, 3, 32, 32))
        labels.append(np.asarray(batch[label_key], dtype=np.int64))
    return Split(torch.from_numpy(np.concatenate(images)), torch.from_numpy(np.concatenate(labels)))


def _read_cifar_batches(files: list[Path], label_key: bytes, where: Path) -> Split:
    return _batches_to_split(
        [(_unpickle_batch(f.read_bytes(), f), str(f)) for f in files], label_key
    )


def _read_cifar_archive(
    archive: Path, folder: str, train_members, test_members, label_key
) -> tuple[Split, Split]:
    try:
        with tarfile.open(archive) as tar:

            def read(member: str):
                where = f"{archive}:{folder}/{member}"
                try:
                    handle = tar.extractfile(f"{folder}/{member}")
                except KeyError:
                    handle = None
                if handle is None:
                    raise DatasetFormatError(f"{archive}: member {folder}/{member} not found")
                return _unpickle_batch(handle.read(), where), where

            train = _batches_to_split([read(m) for m in train_members], label_key)
            test = _batches_to_split([read(m) for m in test_members], label_key)
    except tarfile.TarError as error:
        raise DatasetFormatError(f"{archive}: not a readable tar archive ({error})") from None
    return train, test


def _read_fork_cache(path: Path, num_classes: int) -> tuple[Split, Split]:
    from frelu_tools import t7

    cache = t7.load(path)
    splits = []
    for key in ("train", "val"):
        entry = cache.get(key) if isinstance(cache, dict) else None
        if not isinstance(entry, dict) or "data" not in entry or "labels" not in entry:
            raise DatasetFormatError(
                f"{path}: expected the fork's cache layout, a table with "
                f"train/val entries holding data and labels (missing {key!r})"
            )
        images = np.ascontiguousarray(entry["data"], dtype=np.uint8)
        if images.ndim != 4 or images.shape[1:] != (3, 32, 32):
            raise DatasetFormatError(f"{path}: {key}.data has shape {images.shape}")
        # The cache stores 1-based labels (datasets/cifar10-gen.lua adds 1).
        labels = np.asarray(entry["labels"], dtype=np.int64).reshape(-1) - 1
        splits.append(Split(torch.from_numpy(images), torch.from_numpy(labels)))
    return splits[0], splits[1]


def _check_labels(split: Split, num_classes: int, where) -> None:
    if len(split.labels) != len(split.images):
        raise DatasetFormatError(
            f"{where}: {len(split.images)} images but {len(split.labels)} labels"
        )
    if len(split.labels) and (split.labels.min() < 0 or split.labels.max() >= num_classes):
        raise DatasetFormatError(
            f"{where}: labels outside 0..{num_classes - 1} "
            f"(found {int(split.labels.min())}..{int(split.labels.max())})"
        )


# --- MNIST ----------------------------------------------------------------------------

_MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def _find_mnist_file(folder: Path, stem: str) -> Path | None:
    for base in (folder, folder / "MNIST" / "raw", folder / "raw"):
        for name in (stem, stem + ".gz", stem.replace("-idx", ".idx")):
            if (base / name).is_file():
                return base / name
    return None


def read_idx(path: Path) -> np.ndarray:
    """Read one idx file (the MNIST format), gzipped or not, as a uint8 array."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DatasetFormatError(f"{path}: not an idx file of unsigned bytes")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetFormatError(f"{path}: idx header cut short")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    count = int(np.prod(shape))
    if len(raw) - header != count:
        raise DatasetFormatError(
            f"{path}: idx header declares {count} bytes of data, file contains {len(raw) - header}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _load_mnist(path: Path) -> ImageDataset:
    if not path.exists():
        raise DatasetNotFoundError(
            f"mnist not found: {path} does not exist. Download the four files from "
            f"{MNIST_URL} and pass their folder with --data, or use --data synthetic"
        )
    folder = path if path.is_dir() else path.parent
    found = {key: _find_mnist_file(folder, stem) for key, stem in _MNIST_FILES.items()}
    missing = [_MNIST_FILES[key] for key, value in found.items() if value is None]
    if missing:
        raise DatasetNotFoundError(
            f"mnist not found in {folder}: missing {', '.join(missing)} (each may end in "
            f".gz). Download the four files from {MNIST_URL}, or use --data synthetic"
        )
    splits = []
    for prefix in ("train", "test"):
        images = read_idx(found[f"{prefix}_images"])
        labels = read_idx(found[f"{prefix}_labels"]).astype(np.int64)
        if images.ndim != 3:
            raise DatasetFormatError(f"{found[prefix + '_images']}: expected N x 28 x 28 images")
        split = Split(torch.from_numpy(images.copy()).unsqueeze(1), torch.from_numpy(labels))
        _check_labels(split, 10, found[f"{prefix}_labels"])
        splits.append(split)
    mean, std = _mean_std("mnist")
    return ImageDataset("mnist", splits[0], splits[1], 10, mean, std, str(folder))
