"""The IDX file format (MNIST, Fashion-MNIST, KMNIST) read from a local folder.

An IDX file is a 4-byte magic number -- two zero bytes, a type code, the number of
dimensions -- then each dimension as a big-endian uint32, then the data, big-endian.
"""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np

from dltutor.checks import describe

_IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read one IDX file (optionally gzip-compressed, by its ``.gz`` suffix) into an array."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no IDX file at {path}")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as stream:
        raw = stream.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise ValueError(
            f"{path} is not an IDX file: expected magic bytes 00 00 <type> <ndim>, got {raw[:4].hex(' ')}"
        )
    dtype, ndim = _IDX_TYPES[raw[2]], raw[3]
    header_size = 4 + 4 * ndim
    if len(raw) < header_size:
        raise ValueError(
            f"{path} is truncated: its header needs {header_size} bytes, got {len(raw)}"
        )
    shape = struct.unpack(f">{ndim}I", raw[4:header_size])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header_size != expected:
        raise ValueError(
            f"{path} holds {len(raw) - header_size} data bytes, but its header {shape} needs {expected}"
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header_size).reshape(shape)
    return data.astype(dtype.newbyteorder("="))  # native byte order, a writable copy


def _find(folder: Path, stem: str) -> Path | None:
    for name in (
        stem,
        stem + ".gz",
        stem.replace("-idx", ".idx"),
        stem.replace("-idx", ".idx") + ".gz",
    ):
        if (folder / name).is_file():
            return folder / name
    return None


def load_mnist(
    path: str | os.PathLike[str], split: str = "train", normalize: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Load MNIST (or any dataset in its layout, such as Fashion-MNIST) from a local folder.

    The folder must hold the four standard IDX files, gzipped or not:
    ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
    ``t10k-labels-idx1-ubyte``. Nothing is downloaded.

    Returns ``images`` of shape (N, 28, 28) -- float32 in [0, 1] if ``normalize``, else
    uint8 -- and ``labels`` of shape (N,), int64.
    """
    if split not in _MNIST_FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    folder = Path(path)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"MNIST folder {folder} does not exist: create it and put the IDX files "
            f"{', '.join(n for pair in _MNIST_FILES.values() for n in pair)} (or their .gz) in it"
        )
    found = {stem: _find(folder, stem) for stem in _MNIST_FILES[split]}
    missing = [stem for stem, file in found.items() if file is None]
    if missing:
        raise FileNotFoundError(
            f"missing {', '.join(missing)} (or .gz) in {folder}: put the standard MNIST IDX files there"
        )
    images_stem, labels_stem = _MNIST_FILES[split]
    images = read_idx(found[images_stem])  # type: ignore[arg-type]
    labels = read_idx(found[labels_stem])  # type: ignore[arg-type]
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(
            f"expected images (N, rows, cols) and labels (N,), got {describe(images)} and {describe(labels)}"
        )
    labels = labels.astype(np.int64)
    if normalize:
        return images.astype(np.float32) / 255.0, labels
    return images, labels
