"""Decoding: turn a model's next-token logits into text, one sampled token at a time.

Framework-neutral: the model enters as a function from token ids to logits, so the same
loop serves the scratch, PyTorch and Keras language models.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dltutor.checks import check_number, check_positive_int, check_seed
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
    temperature = check_number(temperature, "temperature", positive=True)
    length = check_positive_int(length, "length")
    context = check_positive_int(context, "context")
    rng = np.random.default_rng(check_seed(seed))
    if isinstance(vocabulary, str) or not hasattr(vocabulary, "size"):
        raise TypeError(f"vocabulary must be a CharVocabulary, got {type(vocabulary).__name__}")
    if not isinstance(prompt, str):
        raise TypeError(f"prompt must be a string, got {type(prompt).__name__} {prompt!r:.40}")
    if not prompt:
        raise ValueError("prompt must be a non-empty string (the model needs a start), got ''")
    ids = list(vocabulary.encode(prompt))
    for _ in range(length):
        logits = np.asarray(next_logits(np.array([ids[-context:]])), dtype=np.float64)  # (V,)
        if logits.shape != (vocabulary.size,):
            raise ValueError(
                f"next_logits must return one logit per token of the vocabulary, shape "
                f"({vocabulary.size},), got shape {logits.shape}"
            )
        if not np.isfinite(logits).all():
            raise ValueError("next_logits returned NaN or infinite logits: has training diverged?")
        logits = logits / temperature
        probabilities = np.exp(logits - logits.max())
        ids.append(int(rng.choice(len(probabilities), p=probabilities / probabilities.sum())))
    return vocabulary.decode(np.array(ids))
