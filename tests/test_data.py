"""Offline datasets: shipped, generated from a seed, or read from local IDX files the tests write."""

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from dltutor import data


def write_idx(path: Path, array: np.ndarray, type_code: int, compress: bool = False) -> Path:
    """Write an IDX file by the format's definition (big-endian), independently of the reader."""
    header = bytes([0, 0, type_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    big_endian = array.astype(array.dtype.newbyteorder(">"))
    payload = header + big_endian.tobytes()
    if compress:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(payload))
    else:
        path.write_bytes(payload)
    return path


def write_mnist(folder: Path, split: str, num: int, compress: bool, rng: np.random.Generator):
    prefix = "train" if split == "train" else "t10k"
    images = rng.integers(0, 256, size=(num, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=num, dtype=np.uint8)
    write_idx(folder / f"{prefix}-images-idx3-ubyte", images, 0x08, compress)
    write_idx(folder / f"{prefix}-labels-idx1-ubyte", labels, 0x08, compress)
    return images, labels


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("split", ["train", "test"])
def test_load_mnist_reads_standard_files(tmp_path: Path, split: str, compress: bool, rng) -> None:
    images, labels = write_mnist(tmp_path, split, 5, compress, rng)
    x, y = data.load_mnist(tmp_path, split=split)
    assert x.shape == (5, 28, 28) and x.dtype == np.float32
    np.testing.assert_allclose(x, images / 255.0, rtol=1e-6)
    assert y.dtype == np.int64
    np.testing.assert_array_equal(y, labels)
    raw, _ = data.load_mnist(tmp_path, split=split, normalize=False)
    np.testing.assert_array_equal(raw, images)


@pytest.mark.parametrize(
    "type_code, dtype",
    [
        (0x08, np.uint8),
        (0x09, np.int8),
        (0x0B, np.int16),
        (0x0C, np.int32),
        (0x0D, np.float32),
        (0x0E, np.float64),
    ],
)
def test_read_idx_every_type(tmp_path: Path, type_code: int, dtype, rng) -> None:
    array = (100 * rng.standard_normal((3, 4, 2))).astype(dtype)
    path = write_idx(tmp_path / "array.idx", array, type_code)
    result = data.read_idx(path)
    assert result.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(result, array)


def test_missing_mnist_folder_names_path_and_files(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-folder"
    with pytest.raises(FileNotFoundError, match="no-such-folder.*train-images-idx3-ubyte"):
        data.load_mnist(missing)


def test_missing_mnist_file_names_it(tmp_path: Path, rng) -> None:
    write_mnist(tmp_path, "train", 2, False, rng)
    (tmp_path / "train-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match=r"train-labels-idx1-ubyte.*" + str(tmp_path)):
        data.load_mnist(tmp_path)


def test_read_idx_rejects_other_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.write_bytes(b"PK\x03\x04 not an idx file")
    with pytest.raises(ValueError, match="not an IDX file"):
        data.read_idx(bad)


def test_read_idx_rejects_truncated_data(tmp_path: Path) -> None:
    path = write_idx(tmp_path / "t", np.zeros((4, 4), dtype=np.uint8), 0x08)
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(ValueError, match="holds 13 data bytes.*needs 16"):
        data.read_idx(path)


def test_bad_split_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'train' or 'test', got 'validation'"):
        data.load_mnist(tmp_path, split="validation")


def test_digits_split() -> None:
    digits = data.load_digits(test_size=0.2, validation_size=0.1, seed=0)
    sizes = [len(digits.x_train), len(digits.x_val), len(digits.x_test)]
    assert sum(sizes) == 1797
    assert abs(sizes[2] - 0.2 * 1797) <= 1 and abs(sizes[1] - 0.1 * 1797) <= 1
    assert digits.x_train.shape[1] == 64
    assert 0.0 <= digits.x_train.min() and digits.x_train.max() == 1.0
    assert set(np.unique(digits.y_test)) == set(range(10))  # stratified: every class in every part
    unflat = data.load_digits(flatten=False)
    assert unflat.x_train.shape[1:] == (8, 8)


def test_digits_split_is_seeded() -> None:
    a, b, c = data.load_digits(seed=3), data.load_digits(seed=3), data.load_digits(seed=4)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    assert not np.array_equal(a.x_train, c.x_train)


def test_make_linear() -> None:
    x, y = data.make_linear(2000, slope=2.0, intercept=1.0, noise=0.1, seed=0)
    assert x.shape == y.shape == (2000, 1)
    slope, intercept = np.polyfit(x[:, 0], y[:, 0], 1)
    assert abs(slope - 2.0) < 0.02 and abs(intercept - 1.0) < 0.02
    np.testing.assert_array_equal(y, data.make_linear(2000, noise=0.1, seed=0)[1])


def test_make_moons() -> None:
    x, y = data.make_moons(100, noise=0.1, seed=0)
    assert x.shape == (100, 2) and y.shape == (100,)
    assert sorted(np.unique(y)) == [0, 1]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"test_size": 0.0}, "test_size must be a fraction"),
        ({"validation_size": 1.5}, "validation_size must be a fraction"),
        ({"test_size": 0.6, "validation_size": 0.5}, "must leave training data"),
    ],
)
def test_bad_split_fractions(kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        data.load_digits(**kwargs)


def test_split_rejects_mismatched_lengths() -> None:
    with pytest.raises(ValueError, match="same number of examples, got 10 and 9"):
        data.split(np.zeros((10, 2)), np.zeros(9))


def write_cifar_batch(path: Path, images: np.ndarray, labels: np.ndarray) -> None:
    """Write a batch in CIFAR-10's python format: rows of 1024 R, 1024 G, 1024 B values."""
    import pickle

    rows = images.transpose(0, 3, 1, 2).reshape(len(images), -1)  # (N, 32, 32, 3) -> (N, 3072)
    path.write_bytes(
        pickle.dumps({b"batch_label": b"test", b"labels": list(map(int, labels)), b"data": rows})
    )


@pytest.mark.parametrize(
    "split, names", [("train", [f"data_batch_{i}" for i in range(1, 6)]), ("test", ["test_batch"])]
)
def test_load_cifar10_reads_python_batches(tmp_path: Path, split, names, rng) -> None:
    expected_images, expected_labels = [], []
    for name in names:
        images = rng.integers(0, 256, size=(3, 32, 32, 3), dtype=np.uint8)
        labels = rng.integers(0, 10, size=3)
        write_cifar_batch(tmp_path / name, images, labels)
        expected_images.append(images)
        expected_labels.append(labels)
    x, y = data.load_cifar10(tmp_path, split=split, normalize=False)
    assert x.shape == (3 * len(names), 32, 32, 3) and x.dtype == np.uint8
    np.testing.assert_array_equal(x, np.concatenate(expected_images))
    np.testing.assert_array_equal(y, np.concatenate(expected_labels))
    x_float, _ = data.load_cifar10(tmp_path, split=split)
    assert x_float.dtype == np.float32 and x_float.max() <= 1.0


def test_cifar10_red_channel_comes_first(tmp_path: Path) -> None:
    import pickle

    row = np.zeros((1, 3072), dtype=np.uint8)
    row[0, :1024] = 255  # the first 1024 values are the red plane
    (tmp_path / "test_batch").write_bytes(pickle.dumps({b"data": row, b"labels": [3]}))
    x, y = data.load_cifar10(tmp_path, split="test", normalize=False)
    assert (x[0, :, :, 0] == 255).all() and (x[0, :, :, 1:] == 0).all() and y[0] == 3


def test_missing_cifar10_names_files_and_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=f"test_batch in {tmp_path}.*cifar-10-batches-py"):
        data.load_cifar10(tmp_path, split="test")


def test_cifar10_rejects_other_pickles(tmp_path: Path) -> None:
    import pickle

    (tmp_path / "test_batch").write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(ValueError, match="not a CIFAR-10 batch"):
        data.load_cifar10(tmp_path, split="test")


def test_make_shapes() -> None:
    x, y = data.make_shapes(200, image_size=12, seed=1)
    assert x.shape == (200, 12, 12, 3) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert set(np.unique(y)) == set(range(len(data.SHAPE_CLASSES)))
    np.testing.assert_array_equal(x, data.make_shapes(200, image_size=12, seed=1)[0])
    with pytest.raises(ValueError, match="at least 8 pixels to draw the shapes, got 4"):
        data.make_shapes(10, image_size=4)


def test_add_gaussian_noise() -> None:
    x = np.full((200, 50), 0.5)
    noisy = data.add_gaussian_noise(x, std=0.1, seed=0)
    assert noisy.dtype == np.float32 and noisy.shape == x.shape
    assert abs(float(np.std(noisy - x)) - 0.1) < 0.005
    np.testing.assert_array_equal(noisy, data.add_gaussian_noise(x, std=0.1, seed=0))
    assert data.add_gaussian_noise(np.zeros((10, 10)), std=1.0).min() == 0.0  # clipped
    assert data.add_gaussian_noise(np.zeros((10, 10)), std=1.0, clip=False).min() < 0.0
    with pytest.raises(ValueError, match="std must be a non-negative number"):
        data.add_gaussian_noise(x, std=-1.0)
