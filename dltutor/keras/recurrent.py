"""Copying recurrent weights from :mod:`dltutor.scratch` into Keras ``SimpleRNN``, ``LSTM`` and ``GRU``.

Keras stores ``kernel`` (D, G·H), ``recurrent_kernel`` (H, G·H) and ``bias`` — the scratch
layout, with the same gate order: LSTM i, f, c (our g), o; GRU z, r, h (our n). A GRU with
``reset_after=True`` (the default) has a bias of shape (2, G·H): input side, recurrent side
(scratch ``b`` and ``b_h``). With ``reset_after=False`` every bias is only added, so Keras keeps
one vector, the sum ``b + b_h``.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

from dltutor.checks import as_float_array, check_layer_sizes, check_positive_int
from dltutor.data.sequences import CharVocabulary, sample_sequence


def set_recurrent_weights(layer: keras.layers.Layer, weights: Sequence[np.ndarray]) -> None:
    """Load scratch weights — ``[W_x, W_h, b]``, or ``[W_x, W_h, b, b_h]`` for a GRU — into a built Keras layer."""
    if not isinstance(layer, (keras.layers.SimpleRNN, keras.layers.LSTM, keras.layers.GRU)):
        raise TypeError(f"expected keras.layers.SimpleRNN, LSTM or GRU, got {type(layer).__name__}")
    arrays = [as_float_array(w, f"weights[{index}]").astype(np.float32) for index, w in enumerate(weights)]
    if isinstance(layer, keras.layers.GRU):
        if len(arrays) != 4:
            raise ValueError(f"GRU needs 4 weight arrays [W_x, W_h, b, b_h], got {len(arrays)}")
        W_x, W_h, b, b_h = arrays
        bias = np.stack([b, b_h]) if layer.cell.reset_after else b + b_h
        layer.set_weights([W_x, W_h, bias])
    else:
        if len(arrays) != 3:
            raise ValueError(f"{type(layer).__name__} needs 3 weight arrays [W_x, W_h, b], got {len(arrays)}")
        layer.set_weights(arrays)


_LAYERS = {"rnn": keras.layers.SimpleRNN, "lstm": keras.layers.LSTM, "gru": keras.layers.GRU}


class RecurrentNet(keras.Sequential):
    """A recurrent layer and a dense head, the twin of :class:`dltutor.torch.RecurrentNet`.

    ``kind`` "rnn" (``SimpleRNN``), "lstm" or "gru" with ``hidden_size`` units; inputs (N, T,
    ``input_size``), or token ids (N, T) with an ``Embedding`` when ``vocab_size`` is given;
    outputs from the last step, or from every step with ``return_sequences=True``. Logits:
    pair with ``from_logits=True`` losses.
    """

    def __init__(
        self,
        kind: str,
        input_size: int,
        hidden_size: int,
        output_size: int,
        vocab_size: int | None = None,
        return_sequences: bool = False,
        name: str | None = None,
    ) -> None:
        if kind not in _LAYERS:
            raise ValueError(f"kind must be one of {sorted(_LAYERS)}, got {kind!r}")
        check_layer_sizes([input_size, hidden_size, output_size])
        if vocab_size is None:
            front: list[keras.layers.Layer] = [keras.Input(shape=(None, input_size))]
        else:
            front = [keras.Input(shape=(None,), dtype="int32"), keras.layers.Embedding(check_positive_int(vocab_size, "vocab_size"), input_size)]
        super().__init__(
            [*front, _LAYERS[kind](hidden_size, return_sequences=return_sequences), keras.layers.Dense(output_size)],
            name=name,
        )


def sample_text(
    model: keras.Model,
    vocabulary: CharVocabulary,
    prompt: str,
    length: int = 200,
    temperature: float = 0.8,
    seed: int = 0,
    context: int = 64,
) -> str:
    """Continue ``prompt`` by ``length`` characters sampled from ``model`` (see :func:`dltutor.data.sample_sequence`).

    The twin of :func:`dltutor.torch.sample_text`, for a Keras model mapping token ids (1, T) to
    per-step logits (1, T, V).
    """
    # One compiled graph for every window length: an eager Keras call per character is ~50× slower.
    compiled = tf.function(
        lambda window: model(window, training=False)[0, -1],
        input_signature=[tf.TensorSpec((1, None), tf.int32)],
    )
    return sample_sequence(
        lambda window: compiled(window.astype(np.int32)).numpy(), vocabulary, prompt, length, temperature, seed, context
    )
