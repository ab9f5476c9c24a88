"""Text as numbers: characters and their ids, next-token training pairs, and text that ships with Python."""

from __future__ import annotations

import numpy as np

from dltutor.checks import check_positive_int, describe


def load_python_docs_text() -> str:
    """The help texts of Python's keywords and topics (module ``pydoc_data.topics``, standard library).

    English technical prose and code, on every Python install: 465 thousand characters
    on Python 3.11; the size varies between Python versions.
    """
    from pydoc_data.topics import topics

    return "\n\n".join(topics[key] for key in sorted(topics))


class CharVocabulary:
    """The characters of a text, each with an integer id: ``encode`` text → ids, ``decode`` ids → text."""

    def __init__(self, text: str) -> None:
        if not isinstance(text, str) or not text:
            raise ValueError(f"text must be a non-empty string, got {text!r:.40}")
        self.characters = sorted(set(text))
        self._ids = {character: index for index, character in enumerate(self.characters)}

    @property
    def size(self) -> int:
        return len(self.characters)

    def encode(self, text: str) -> np.ndarray:
        unknown = sorted(set(text) - self._ids.keys())
        if unknown:
            raise ValueError(f"text has characters outside the vocabulary: {unknown[:10]}")
        return np.fromiter((self._ids[c] for c in text), dtype=np.int64, count=len(text))

    def decode(self, ids: np.ndarray) -> str:
        return "".join(self.characters[int(i)] for i in np.asarray(ids).ravel())


def next_token_pairs(ids: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Cut a token sequence into non-overlapping pieces of ``length``: inputs and the same shifted by one.

    Returns ``x`` and ``y`` of shape (N, length), int64, with ``y[n, t] = x[n, t + 1]`` in the text.
    """
    ids = np.asarray(ids)
    if ids.ndim != 1 or ids.dtype.kind not in "iu":
        raise ValueError(f"ids must be a 1-D array of integers, got {describe(ids)}")
    length = check_positive_int(length, "length")
    count = (len(ids) - 1) // length
    if count < 1:
        raise ValueError(
            f"need more than {length} tokens to make one piece of length {length}, got {len(ids)}"
        )
    x = ids[: count * length].reshape(count, length)
    y = ids[1 : count * length + 1].reshape(count, length)
    return x.astype(np.int64), y.astype(np.int64)
