"""Input validation shared by the public functions: clear errors naming expected vs got."""

from __future__ import annotations

from typing import Any

import numpy as np


def describe(value: Any) -> str:
    """A short description of a value for error messages: type, dtype and shape."""
    if isinstance(value, np.ndarray):
        return f"array of dtype {value.dtype} and shape {value.shape}"
    return f"{type(value).__name__}"


def as_float_array(value: Any, name: str, ndim: int | None = None) -> np.ndarray:
    """Return ``value`` as a floating-point array, or raise a clear error.

    Integers and booleans are converted to float64; float32 and float64 keep their dtype.
    Raises ``TypeError`` for non-numeric data and ``ValueError`` for the wrong number of
    dimensions or for NaN or infinite entries.
    """
    if not isinstance(value, (np.ndarray, list, tuple, int, float, np.number)):
        raise TypeError(f"{name} must be a NumPy array of numbers, got {describe(value)}")
    array = np.asarray(value)
    if array.dtype.kind in "iub":
        array = array.astype(np.float64)
    elif array.dtype.kind != "f":
        raise TypeError(f"{name} must hold real numbers, got {describe(array)}")
    if ndim is not None and array.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got {describe(array)}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite, got NaN or infinite entries in {describe(array)}")
    return array


def as_label_array(value: Any, name: str, num_classes: int | None = None) -> np.ndarray:
    """Return ``value`` as a 1-D integer array of class labels, or raise a clear error."""
    array = np.asarray(value)
    if array.dtype.kind == "f" and array.size and np.all(array == np.round(array)):
        array = array.astype(np.int64)
    if array.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integer class labels, got {describe(array)}")
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one label per example), got {describe(array)}")
    if array.size and array.min() < 0:
        raise ValueError(f"{name} must be non-negative class labels, got minimum {array.min()}")
    if num_classes is not None and array.size and array.max() >= num_classes:
        raise ValueError(
            f"{name} must be below the number of classes {num_classes}, got maximum {array.max()}"
        )
    return array.astype(np.int64)


def check_same_length(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> None:
    """Raise ``ValueError`` unless ``a`` and ``b`` have the same number of examples."""
    if len(a) != len(b):
        raise ValueError(
            f"{name_a} and {name_b} must have the same number of examples, got {len(a)} and {len(b)}"
        )


def check_positive_int(value: Any, name: str) -> int:
    """Return ``value`` if it is a positive integer, else raise a clear error."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a positive integer, got {describe(value)} {value!r}")
    if value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value}")
    return int(value)


def check_layer_sizes(layer_sizes: Any) -> list[int]:
    """Validate an MLP's ``layer_sizes`` = [inputs, hidden..., outputs]."""
    if isinstance(layer_sizes, (str, bytes)) or not hasattr(layer_sizes, "__len__"):
        raise TypeError(f"layer_sizes must be a sequence of integers, got {describe(layer_sizes)}")
    if len(layer_sizes) < 2:
        raise ValueError(
            f"layer_sizes must list at least the input and output sizes, got {list(layer_sizes)}"
        )
    return [check_positive_int(size, "each entry of layer_sizes") for size in layer_sizes]


ACTIVATIONS = ("identity", "relu", "sigmoid", "tanh")


def check_activation(name: Any) -> str:
    """Validate an activation name shared by all three implementations."""
    if name not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {name!r}")
    return str(name)


def check_cnn_arguments(
    in_channels: Any,
    image_size: Any,
    num_classes: Any,
    channels: Any,
    convs_per_block: Any,
    hidden_units: Any,
) -> tuple[list[int], int]:
    """Validate a CNN's arguments; return the block channels and the side of the last feature map."""
    for value, name in [(in_channels, "in_channels"), (image_size, "image_size"), (num_classes, "num_classes"),
                        (convs_per_block, "convs_per_block"), (hidden_units, "hidden_units")]:
        check_positive_int(value, name)
    if isinstance(channels, (str, bytes)) or not hasattr(channels, "__len__") or len(channels) == 0:
        raise ValueError(f"channels must be a non-empty sequence of integers, got {channels!r}")
    blocks = [check_positive_int(c, "each entry of channels") for c in channels]
    final_size = int(image_size) // 2 ** len(blocks)
    if final_size < 1:
        raise ValueError(
            f"{len(blocks)} pooling blocks halve a {image_size}-pixel image to nothing: "
            f"use at most {int(np.log2(image_size))} entries in channels"
        )
    return blocks, final_size
