"""Colour images offline: CIFAR-10 read from a local copy, and shapes drawn from a seed.

Images are returned channels last, (N, H, W, 3), the layout of image files, matplotlib and
Keras; for PyTorch and the scratch layers use ``x.transpose(0, 3, 1, 2)``.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np

from dltutor.checks import check_positive_int, check_seed

CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
_CIFAR10_FILES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}


def load_cifar10(
    path: str | os.PathLike[str], split: str = "train", normalize: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Load CIFAR-10 from a local copy of its "python version" (``cifar-10-batches-py``).

    The folder must hold ``data_batch_1`` … ``data_batch_5`` (train) and ``test_batch``
    (test), each a pickled dict with ``b"data"`` (10000, 3072) uint8 rows — 1024 red, then
    1024 green, then 1024 blue values of a 32×32 image — and ``b"labels"``. Nothing is
    downloaded. Pickle files can run code when loaded: only load files you trust.

    Returns images (N, 32, 32, 3), float32 in [0, 1] if ``normalize`` else uint8, and
    labels (N,) int64; class names are in ``CIFAR10_CLASSES``.
    """
    if split not in _CIFAR10_FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    folder = Path(path)
    names = _CIFAR10_FILES[split]
    missing = [name for name in names if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"missing {', '.join(missing)} in {folder}: put the files of CIFAR-10's python "
            f"version (the cifar-10-batches-py folder) there"
        )
    images, labels = [], []
    for name in names:
        with open(folder / name, "rb") as stream:
            batch = pickle.load(stream, encoding="bytes")
        if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
            raise ValueError(
                f"{folder / name} is not a CIFAR-10 batch: expected a dict with b'data' and b'labels'"
            )
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(data) != len(batch[b"labels"]):
            raise ValueError(
                f"{folder / name}: expected data of shape (N, 3072) and N labels, got {data.shape}"
            )
        images.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))  # (N, 32, 32, 3)
        labels.append(np.asarray(batch[b"labels"], dtype=np.int64))
    x, y = np.concatenate(images), np.concatenate(labels)
    return (x.astype(np.float32) / 255.0 if normalize else x), y


SHAPE_CLASSES = ("disc", "square", "triangle", "ring")


def make_shapes(
    num_examples: int = 2000, image_size: int = 16, noise: float = 0.05, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Colour images of one shape each — disc, square, triangle or ring — to classify by shape.

    Each image has a random background colour, a shape of random colour, size and position,
    and Gaussian pixel noise, so neither colour nor position gives the class away.
    Returns ``x`` (N, S, S, 3) float32 in [0, 1] and ``y`` (N,) int64 indexing ``SHAPE_CLASSES``.
    """
    num_examples = check_positive_int(num_examples, "num_examples")
    image_size = check_positive_int(image_size, "image_size")
    if image_size < 8:
        raise ValueError(
            f"image_size must be at least 8 pixels to draw the shapes, got {image_size}"
        )
    rng = np.random.default_rng(check_seed(seed))
    labels = rng.integers(0, len(SHAPE_CLASSES), size=num_examples)
    rows, cols = np.mgrid[0:image_size, 0:image_size] + 0.5  # pixel centres
    images = np.empty((num_examples, image_size, image_size, 3), dtype=np.float32)
    for index, label in enumerate(labels):
        radius = rng.uniform(0.22, 0.38) * image_size
        centre_r, centre_c = rng.uniform(radius, image_size - radius, size=2)
        dr, dc = rows - centre_r, cols - centre_c
        if label == 0:  # disc
            mask = dr**2 + dc**2 <= radius**2
        elif label == 1:  # square
            half = 0.85 * radius
            mask = (np.abs(dr) <= half) & (np.abs(dc) <= half)
        elif label == 2:  # triangle, apex up
            mask = (dr <= radius * 0.8) & (dr >= -radius) & (np.abs(dc) <= (dr + radius) * 0.6)
        else:  # ring
            distance = np.sqrt(dr**2 + dc**2)
            mask = (distance <= radius) & (distance >= 0.55 * radius)
        background, foreground = rng.uniform(0, 1, size=3), rng.uniform(0, 1, size=3)
        while np.abs(foreground - background).sum() < 0.6:  # keep the shape visible
            foreground = rng.uniform(0, 1, size=3)
        images[index] = np.where(mask[..., None], foreground, background)
    images += noise * rng.standard_normal(images.shape).astype(np.float32)
    return np.clip(images, 0.0, 1.0), labels.astype(np.int64)


def shift_images(images: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Move each image ``rows`` pixels down and ``cols`` right (negative: up, left), filling with 0.

    ``images`` has shape (N, H, W) or (N, H, W, C); the result has the same shape.
    """
    images = np.asarray(images)
    if images.ndim not in (3, 4):
        raise ValueError(
            f"images must have shape (N, H, W) or (N, H, W, C), got shape {images.shape}"
        )
    for value, name in [(rows, "rows"), (cols, "cols")]:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{name} must be an integer number of pixels, got {value!r}")
    height, width = images.shape[1:3]
    shifted = np.zeros_like(images)
    if abs(rows) >= height or abs(cols) >= width:
        return shifted
    target = (
        slice(None),
        slice(max(rows, 0), height + min(rows, 0)),
        slice(max(cols, 0), width + min(cols, 0)),
    )
    source = (
        slice(None),
        slice(max(-rows, 0), height + min(-rows, 0)),
        slice(max(-cols, 0), width + min(-cols, 0)),
    )
    shifted[target] = images[source]
    return shifted


def augment_with_shifts(
    images: np.ndarray,
    labels: np.ndarray,
    offsets: tuple[tuple[int, int], ...] = ((1, 0), (-1, 0), (0, 1), (0, -1)),
) -> tuple[np.ndarray, np.ndarray]:
    """The images and, for each (rows, cols) offset, a shifted copy; labels repeated to match."""
    labels = np.asarray(labels)
    if len(images) != len(labels):
        raise ValueError(
            f"images and labels must have the same number of examples, got {len(images)} and {len(labels)}"
        )
    copies = [np.asarray(images)] + [shift_images(images, rows, cols) for rows, cols in offsets]
    return np.concatenate(copies), np.tile(labels, len(copies))


def random_shifts(images: np.ndarray, max_shift: int = 1, seed: int = 0) -> np.ndarray:
    """Each image moved by its own random offset, rows and cols each uniform in [-max_shift, max_shift]."""
    images = np.asarray(images)
    if isinstance(max_shift, bool) or not isinstance(max_shift, (int, np.integer)) or max_shift < 0:
        raise ValueError(f"max_shift must be a non-negative integer, got {max_shift!r}")
    offsets = np.random.default_rng(check_seed(seed)).integers(
        -max_shift, max_shift + 1, size=(len(images), 2)
    )
    shifted = np.empty_like(images)
    for index, (rows, cols) in enumerate(offsets):
        shifted[index] = shift_images(images[index : index + 1], int(rows), int(cols))[0]
    return shifted
