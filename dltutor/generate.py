"""Decoding: turn a model's next-token logits into text, one sampled token at a time.

Framework-neutral: the model enters as a function from token ids to logits, so the same
loop serves the scratch, PyTorch and Keras language models.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dltutor.checks import check_positive_int
from dltutor.data.text import CharVocabulary


def sample_sequence(
    next_logits: Callable[[np.ndarray], np.ndarray],
    vocabulary: CharVocabulary,
    prompt: str,
    length: int = 200,
    temperature: float = 0.8,
    seed: int = 0,
    context: int = 64,
) -> str:
    """Continue ``prompt`` by ``length`` characters, each drawn from softmax(logits / ``temperature``).

    ``next_logits`` maps the ids of the last ``context`` characters, shape (1, T), to the
    logits of the next one, shape (V,) — the only part that depends on the framework.
    Low temperatures pick likely characters; 1 samples the model's own distribution.
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature!r}")
    rng = np.random.default_rng(seed)
    ids = list(vocabulary.encode(prompt))
    for _ in range(check_positive_int(length, "length")):
        logits = (
            np.asarray(next_logits(np.array([ids[-context:]])), dtype=np.float64) / temperature
        )  # (V,)
        probabilities = np.exp(logits - logits.max())
        ids.append(int(rng.choice(len(probabilities), p=probabilities / probabilities.sum())))
    return vocabulary.decode(np.array(ids))
