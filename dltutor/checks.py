"""Input validation for every public function: errors that name what was expected and what came.

Validators live here and nowhere else; a new model or loader calls them with its own
argument names, so a message always speaks of an argument the caller actually passed.
"""

from __future__ import annotations

from collections.abc import Sequence
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


def as_index_array(value: Any, name: str, size: int) -> np.ndarray:
    """Return ``value`` as an int64 array of indices into a table of ``size`` rows.

    Token ids stay integers: an embedding looks rows up, it does not multiply by them.
    """
    array = np.asarray(value)
    if array.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integer ids, got {describe(array)}")
    if array.size and (array.min() < 0 or array.max() >= size):
        raise ValueError(
            f"{name} must lie in [0, {size}), got values from {array.min()} to {array.max()}"
        )
    return array.astype(np.int64, copy=False)


def as_label_array(value: Any, name: str, num_classes: int | None = None) -> np.ndarray:
    """Return ``value`` as an integer array of class labels, or raise a clear error.

    One label per example (shape (N,)), or per position of a sequence model (N, T).
    """
    array = np.asarray(value)
    if array.dtype.kind == "f" and array.size and np.all(array == np.round(array)):
        array = array.astype(np.int64)
    if array.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integer class labels, got {describe(array)}")
    if array.ndim == 0:
        raise ValueError(f"{name} must be 1-D (one label per example), got {describe(array)}")
    if array.size and array.min() < 0:
        raise ValueError(f"{name} must be non-negative class labels, got minimum {array.min()}")
    if num_classes is not None and array.size and array.max() >= num_classes:
        raise ValueError(
            f"{name} must be below the number of classes {num_classes}, got maximum {array.max()}"
        )
    return array.astype(np.int64)


def check_same_length(a: Any, b: Any, name_a: str, name_b: str) -> None:
    """Raise ``ValueError`` unless ``a`` and ``b`` have the same number of examples."""
    if len(a) != len(b):
        raise ValueError(
            f"{name_a} and {name_b} must have the same number of examples, "
            f"got {len(a)} and {len(b)}"
        )


def check_positive_int(value: Any, name: str) -> int:
    """Return ``value`` if it is a positive integer, else raise a clear error."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a positive integer, got {describe(value)} {value!r}")
    if value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value}")
    return int(value)


def check_non_negative_int(value: Any, name: str) -> int:
    """Return ``value`` if it is an integer ≥ 0, else raise a clear error."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


def check_positive_ints(
    values: Any, name: str, min_length: int = 1, length: int | None = None
) -> tuple[int, ...]:
    """Validate a sequence of positive integers, such as layer sizes or channel counts.

    ``length`` fixes the number of entries; otherwise at least ``min_length`` are needed.
    """
    if isinstance(values, (str, bytes)) or not isinstance(values, (Sequence, np.ndarray)):
        raise TypeError(f"{name} must be a sequence of integers, got {describe(values)}")
    entries = list(values)
    if length is not None and len(entries) != length:
        raise ValueError(f"{name} must have exactly {length} entries, got {entries}")
    if len(entries) < min_length:
        raise ValueError(f"{name} must have at least {min_length} entries, got {entries}")
    return tuple(check_positive_int(entry, f"each entry of {name}") for entry in entries)


def check_layer_sizes(layer_sizes: Any, name: str = "layer_sizes") -> list[int]:
    """Validate a stack's sizes ``[inputs, hidden..., outputs]``: at least two."""
    if isinstance(layer_sizes, (str, bytes)) or not hasattr(layer_sizes, "__len__"):
        raise TypeError(f"{name} must be a sequence of integers, got {describe(layer_sizes)}")
    if len(layer_sizes) < 2:
        raise ValueError(
            f"{name} must list at least the input and output sizes, got {list(layer_sizes)}"
        )
    return list(check_positive_ints(layer_sizes, name, min_length=2))


def check_choice(value: Any, choices: Sequence[Any], name: str) -> Any:
    """Return ``value`` if it is one of ``choices``, else raise ``ValueError`` listing them."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}, got {value!r}")
    return value


def split_weights(
    weights: Sequence[Any], counts: Sequence[int]
) -> list[tuple[int, list[np.ndarray]]]:
    """Cut a flat list of weight arrays into consecutive groups of ``counts`` arrays, one per layer.

    Returns ``(start, arrays)`` for each group, ``start`` being the group's first index in
    ``weights``. Raises ``ValueError`` unless the counts add up to ``len(weights)``, and the
    errors of :func:`as_float_array` (naming ``weights[i]``) for an array that is not one.
    """
    if len(weights) != sum(counts):
        raise ValueError(f"expected {sum(counts)} weight arrays, got {len(weights)}")
    groups, start = [], 0
    for count in counts:
        arrays = [as_float_array(weights[i], f"weights[{i}]") for i in range(start, start + count)]
        groups.append((start, arrays))
        start += count
    return groups
