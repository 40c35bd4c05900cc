"""Data set readers and the batched augmentation, on small files generated in tmp_path."""

import gzip
import io
import pickle
import struct
import tarfile

import numpy as np
import pytest
import torch

from frelu_tools.train.augment import Augmentation, normalize, random_crop, random_flip
from frelu_tools.train.data import (
    CIFAR10_MEAN_STD,
    CIFAR100_MEAN_STD,
    DatasetFormatError,
    DatasetNotFoundError,
    load_dataset,
    read_idx,
    synthetic_dataset,
)


def _cifar_batch(count, label_key, offset):
    data = (np.arange(count * 3072, dtype=np.int64).reshape(count, 3072) + offset) % 256
    return {b"data": data.astype(np.uint8), label_key: [(offset + i) % 10 for i in range(count)]}


def _write_cifar10(folder, count=3):
    folder.mkdir(parents=True)
    batches = {}
    for i in range(1, 6):
        batches[f"data_batch_{i}"] = _cifar_batch(count, b"labels", i)
    batches["test_batch"] = _cifar_batch(count, b"labels", 7)
    for name, batch in batches.items():
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    return batches


def _tar(source_folder, archive, arcname):
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(source_folder, arcname=arcname)


def test_cifar10_extracted_folder(tmp_path):
    batches = _write_cifar10(tmp_path / "cifar-10-batches-py")
    data = load_dataset("cifar10", tmp_path)
    assert data.train.images.shape == (15, 3, 32, 32)
    assert data.train.images.dtype == torch.uint8
    assert data.test.images.shape == (3, 3, 32, 32)
    assert data.num_classes == 10
    assert (data.mean, data.std) == CIFAR10_MEAN_STD
    # Row layout: 1024 red, then 1024 green, then 1024 blue values, row-major.
    first = batches["data_batch_1"][b"data"][0]
    assert torch.equal(data.train.images[0, 1, 0], torch.from_numpy(first[1024:1056]))
    assert data.train.labels[:3].tolist() == [1, 2, 3]


def test_cifar10_archive(tmp_path):
    _write_cifar10(tmp_path / "src" / "cifar-10-batches-py")
    archive = tmp_path / "cifar-10-python.tar.gz"
    _tar(tmp_path / "src" / "cifar-10-batches-py", archive, "cifar-10-batches-py")
    for where in (archive, tmp_path):
        data = load_dataset("cifar10", where)
        assert len(data.train) == 15
        assert data.source == str(archive)


def test_cifar100_archive_fine_labels(tmp_path):
    folder = tmp_path / "src" / "cifar-100-python"
    folder.mkdir(parents=True)
    for name, count in (("train", 4), ("test", 2)):
        batch = _cifar_batch(count, b"fine_labels", 0)
        batch[b"fine_labels"] = [99, 0, 50, 7][:count]
        batch[b"coarse_labels"] = [0] * count
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    archive = tmp_path / "cifar-100-python.tar.gz"
    _tar(folder, archive, "cifar-100-python")
    data = load_dataset("cifar100", archive)
    assert data.train.labels.tolist() == [99, 0, 50, 7]
    assert data.num_classes == 100
    assert (data.mean, data.std) == CIFAR100_MEAN_STD


def test_fork_cache_labels_become_zero_based(reference_dir):
    from frelu_tools import t7

    path = reference_dir / "formats" / "cifar10_gen_small.t7"
    raw = t7.load(path)
    data = load_dataset("cifar10", path)
    assert data.train.images.shape[1:] == (3, 32, 32)
    assert data.train.labels.tolist() == (np.asarray(raw["train"]["labels"]) - 1).tolist()
    assert data.test.labels.min() >= 0
    assert torch.equal(data.train.images, torch.from_numpy(np.asarray(raw["train"]["data"])))


def test_cifar_missing_names_files_and_source(tmp_path):
    with pytest.raises(DatasetNotFoundError) as error:
        load_dataset("cifar10", tmp_path)
    message = str(error.value)
    assert "cifar-10-python.tar.gz" in message
    assert "cifar10.t7" in message
    assert "https://www.cs.toronto.edu/~kriz/cifar.html" in message


def test_cifar_pickle_with_code_rejected(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()

    class Evil:
        def __reduce__(self):
            return (print, ("should not run",))

    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (folder / name).write_bytes(pickle.dumps({b"data": Evil()}))
    with pytest.raises(DatasetFormatError, match="not allowed"):
        load_dataset("cifar10", tmp_path)


def _idx(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def _write_mnist(folder, gz: bool):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (6, 28, 28)),
        "train-labels-idx1-ubyte": np.arange(6) % 10,
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (4, 28, 28)),
        "t10k-labels-idx1-ubyte": np.array([9, 8, 7, 6]),
    }
    for name, array in arrays.items():
        raw = _idx(array)
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(raw))
        else:
            (folder / name).write_bytes(raw)
    return arrays


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_idx(tmp_path, gz):
    arrays = _write_mnist(tmp_path, gz)
    data = load_dataset("mnist", tmp_path)
    assert data.train.images.shape == (6, 1, 28, 28)
    assert data.test.labels.tolist() == [9, 8, 7, 6]
    expected = torch.from_numpy(arrays["train-images-idx3-ubyte"].astype(np.uint8))
    assert torch.equal(data.train.images[:, 0], expected)
    assert data.mean == (127.5,)
    assert data.std == (128.0,)


def test_mnist_missing_lists_files(tmp_path):
    with pytest.raises(DatasetNotFoundError) as error:
        load_dataset("mnist", tmp_path)
    assert "t10k-labels-idx1-ubyte" in str(error.value)
    assert "yann.lecun.com" in str(error.value)


def test_mnist_missing_path_is_named(tmp_path):
    path = tmp_path / "nodata"
    with pytest.raises(DatasetNotFoundError) as error:
        load_dataset("mnist", path)
    assert f"mnist not found: {path} does not exist." in str(error.value)
    assert "yann.lecun.com" in str(error.value)


def test_idx_truncated(tmp_path):
    path = tmp_path / "cut-idx1-ubyte"
    path.write_bytes(_idx(np.arange(10))[:-3])
    with pytest.raises(DatasetFormatError, match="declares 10 bytes"):
        read_idx(path)


def test_synthetic_shapes_and_repeatable():
    from frelu_tools.errors import FreluToolsError

    first = synthetic_dataset("cifar100", train_size=40, test_size=20)
    second = synthetic_dataset("cifar100", train_size=40, test_size=20)
    assert first.train.images.shape == (40, 3, 32, 32)
    assert first.num_classes == 100
    assert torch.equal(first.train.images, second.train.images)
    assert synthetic_dataset("mnist").train.images.shape[1:] == (1, 28, 28)
    assert load_dataset("mnist", "synthetic").source == "synthetic"
    assert len(load_dataset("cifar10", "synthetic:20").test) == 10
    with pytest.raises(FreluToolsError, match="synthetic:N"):
        load_dataset("cifar10", "synthetic:x")


def test_unknown_dataset_name():
    from frelu_tools.errors import FreluToolsError

    with pytest.raises(FreluToolsError, match="unknown data set"):
        load_dataset("svhn", "synthetic")


# --- augmentation -----------------------------------------------------------------------


def test_normalize_per_channel():
    images = torch.full((1, 3, 2, 2), 200, dtype=torch.uint8)
    mean, std = CIFAR10_MEAN_STD
    out = normalize(images, mean, std)
    for channel in range(3):
        expected = (200 - mean[channel]) / std[channel]
        assert torch.allclose(out[0, channel], torch.full((2, 2), expected))


def test_random_crop_matches_per_image_slices():
    images = torch.arange(5 * 2 * 6 * 6, dtype=torch.float32).reshape(5, 2, 6, 6)
    out = random_crop(images, 2, torch.Generator().manual_seed(3))

    generator = torch.Generator().manual_seed(3)
    top = torch.randint(0, 5, (5,), generator=generator)
    left = torch.randint(0, 5, (5,), generator=generator)
    padded = torch.nn.functional.pad(images, (2, 2, 2, 2))
    for i in range(5):
        window = padded[i, :, top[i] : top[i] + 6, left[i] : left[i] + 6]
        assert torch.equal(out[i], window), f"image {i}"


def test_random_flip_matches_per_image():
    images = torch.arange(8 * 1 * 2 * 3, dtype=torch.float32).reshape(8, 1, 2, 3)
    out = random_flip(images, torch.Generator().manual_seed(5))
    flips = torch.rand(8, generator=torch.Generator().manual_seed(5)) < 0.5
    assert 0 < int(flips.sum()) < 8
    for i in range(8):
        expected = images[i].flip(2) if flips[i] else images[i]
        assert torch.equal(out[i], expected), f"image {i}"


def test_padding_is_zero_after_normalisation():
    # datasets/cifar10.lua normalises first, so padded pixels are 0, not -mean/std.
    images = torch.full((64, 3, 32, 32), 255, dtype=torch.uint8)
    mean, std = CIFAR10_MEAN_STD
    out = Augmentation(mean, std, train=True)(images, torch.Generator().manual_seed(0))
    assert out.shape == (64, 3, 32, 32)
    inside = (255 - mean[0]) / std[0]
    channel = out[:, 0]
    assert torch.all((channel == 0) | torch.isclose(channel, torch.tensor(inside)))
    assert (out == 0).any()


def test_test_transform_only_normalises():
    images = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    mean, std = CIFAR10_MEAN_STD
    out = Augmentation(mean, std, train=False)(images, None)
    assert torch.equal(out, normalize(images, mean, std))


def test_pickle_protocol_of_real_batches_loads(tmp_path):
    # The real archives were written by Python 2 (protocol 2, numpy's _reconstruct).
    folder = tmp_path / "cifar-10-batches-py"
    _write_cifar10(folder, count=1)
    buffer = io.BytesIO((folder / "test_batch").read_bytes())
    assert buffer.read(2) == b"\x80\x02"
