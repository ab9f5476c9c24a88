"""Input validation for every public function: errors that name what was expected and what came.

Validators live here and nowhere else; a new model or loader calls them with its own
argument names, so a message always speaks of an argument the caller actually passed.
"""

from __future__ import annotations

import os
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
    if array.size == 0 and array.dtype.kind == "f":  # [] is float64 to NumPy: no ids, none wrong
        array = array.astype(np.int64)
    if array.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integer ids, got {describe(array)}")
    check_ids(array, size, name)
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


def check_number(value: Any, name: str, *, positive: bool = False) -> float:
    """Return ``value`` as a float if it is a finite real number (``positive``: also > 0).

    ``TypeError`` for anything that is not a number (a string, a bool, an array),
    ``ValueError`` for NaN, an infinity, or (with ``positive``) a number ≤ 0.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {describe(value)} {value!r:.40}")
    if not np.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if positive and not value > 0:
        raise ValueError(f"{name} must be positive, got {value!r}")
    return float(value)


def check_fraction(value: Any, name: str) -> float:
    """Return ``value`` if it is a fraction strictly between 0 and 1, else raise ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        raise ValueError(f"{name} must be a fraction strictly between 0 and 1, got {value!r}")
    return float(value)


def check_seed(
    value: Any, name: str = "seed", *, generator: bool = False, maximum: int | None = None
) -> Any:
    """Return ``value`` if it is a random seed: an integer ≥ 0 (at most ``maximum``).

    With ``generator=True`` a :class:`numpy.random.Generator` or ``None`` (fresh entropy) is
    accepted too, as :func:`numpy.random.default_rng` takes them. ``maximum`` is scikit-learn's
    limit, 2**32 - 1, for seeds passed on as ``random_state``. ``TypeError`` for another type
    (a string, a float, a bool), ``ValueError`` for an integer out of range.
    """
    if generator and (value is None or isinstance(value, np.random.Generator)):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        also = ", a numpy.random.Generator or None" if generator else ""
        raise TypeError(
            f"{name} must be a non-negative integer{also}, got {describe(value)} {value!r:.40}"
        )
    if value < 0 or (maximum is not None and value > maximum):
        limit = "" if maximum is None else f" and at most {maximum}"
        raise ValueError(f"{name} must be a non-negative integer{limit}, got {value}")
    return int(value)


def check_ids(ids: Any, size: int, name: str = "ids", size_name: str | None = None) -> None:
    """Raise ``ValueError`` unless every entry of ``ids`` lies in [0, ``size``).

    ``ids`` is a NumPy array or a tensor with ``.min()`` and ``.max()`` (PyTorch); anything
    else is read as a NumPy array. An empty ``ids`` passes. ``size_name`` names the size in
    the message (``"vocab_size"``). The cost is two reductions, and for a tensor on a GPU one
    wait for the device: cheap beside the embedding lookup it guards.
    """
    if not (hasattr(ids, "min") and hasattr(ids, "max") and hasattr(ids, "shape")):
        ids = np.asarray(ids)
    if 0 in tuple(ids.shape):
        return
    low, high = ids.min(), ids.max()
    if low < 0 or high >= size:
        low, high = (v.item() if hasattr(v, "item") else v for v in (low, high))
        named = f" ({size_name} = {size})" if size_name else ""
        came = f"{low}" if low == high else f"values from {low} to {high}"
        raise ValueError(f"{name} must lie in [0, {size}){named}, got {came}")


def check_id_sequences(shape: Any, context: int | None = None, name: str = "ids") -> None:
    """Raise ``ValueError`` unless ``shape`` is that of token ids (N, T), with T ≤ ``context``.

    ``shape`` is a tuple, ``torch.Size`` or ``tf.TensorShape``; a length not known until run
    time (``None``, in a traced graph) passes.
    """
    shape = tuple(shape)
    if len(shape) != 2:
        raise ValueError(f"{name} must have shape (N, T): token ids, got shape {shape}")
    if context is not None and shape[1] is not None and shape[1] > context:
        raise ValueError(
            f"{name} must have shape (N, T) with T at most the context length {context}, "
            f"got shape {shape}"
        )


def check_words(words: Any, name: str = "words") -> None:
    """Raise ``TypeError`` unless ``words`` is a sequence of strings: a tokenized sentence.

    Catches one string (not yet tokenized) and ids in place of words. Only the first entry is
    looked at, so the check costs the same for a sentence of any length.
    """
    expected = f"{name} must be a list of words (strings)"
    if isinstance(words, (str, bytes)):
        raise TypeError(f"{expected}, got a string {words!r:.40}: tokenize it first")
    if not isinstance(words, (Sequence, np.ndarray)):
        raise TypeError(f"{expected}, got {describe(words)} {words!r:.40}")
    if len(words) and not isinstance(words[0], str):
        raise TypeError(
            f"{expected}, got {describe(words)} whose first entry is "
            f"{describe(words[0])} {words[0]!r:.40}"
        )


def check_sentences(sentences: Any, name: str = "sentences") -> None:
    """Raise ``TypeError`` unless ``sentences`` is an iterable of sentences, not one string.

    Each sentence is then checked with :func:`check_words` as it is read.
    """
    if isinstance(sentences, (str, bytes)) or not hasattr(sentences, "__iter__"):
        raise TypeError(
            f"{name} must be a list of sentences, each a list of words (strings), "
            f"got {describe(sentences)} {sentences!r:.40}"
        )


def check_path(value: Any, name: str = "path") -> None:
    """Raise ``TypeError`` unless ``value`` is one path: a ``str`` or an ``os.PathLike``."""
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name} must be a path (str or pathlib.Path), got {describe(value)}")


def check_paths(values: Any, name: str = "files") -> None:
    """Raise ``TypeError`` if ``values``, meant as a list of paths, is one path (or not iterable).

    A single path would otherwise be read character by character.
    """
    if isinstance(values, (str, bytes, os.PathLike)):
        raise TypeError(
            f"{name} must be a list of paths, got one path {values!r:.80}: pass a list, [path]"
        )
    if not hasattr(values, "__iter__"):
        raise TypeError(f"{name} must be a list of paths, got {describe(values)}")


def check_context(context: Any, model: Any, name: str = "context") -> int:
    """Return ``context`` if it is a positive integer no longer than ``model.spec.context``.

    A model without a context length (a recurrent network) takes any ``context``.
    """
    context = check_positive_int(context, name)
    limit = getattr(getattr(model, "spec", None), "context", None)
    if limit is not None and context > limit:
        raise ValueError(
            f"{name} must be at most the model's context length {limit}, got {context}"
        )
    return context
