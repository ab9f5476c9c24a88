"""Sampling text from a Keras language model, through :func:`dltutor.generate.sample_sequence`."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from dltutor.checks import check_context
from dltutor.data.text import CharVocabulary
from dltutor.generate import sample_sequence


def sample_text(
    model: keras.Model,
    vocabulary: CharVocabulary,
    prompt: str,
    length: int = 200,
    temperature: float = 0.8,
    seed: int = 0,
    context: int = 64,
) -> str:
    """Continue ``prompt`` by ``length`` characters sampled from ``model``.

    The twin of :func:`dltutor.torch.sample_text`, for a Keras model mapping token ids
    (1, T) to per-step logits (1, T, V).
    """
    context = check_context(context, model)  # a Transformer reads at most its own context
    # One compiled graph for every window length: an eager Keras call per character is ~50× slower.
    compiled = tf.function(
        lambda window: model(window, training=False)[0, -1],
        input_signature=[tf.TensorSpec((1, None), tf.int32)],
    )
    return sample_sequence(
        lambda window: compiled(window.astype(np.int32)).numpy(),
        vocabulary,
        prompt,
        length,
        temperature,
        seed,
        context,
    )
