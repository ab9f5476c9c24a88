"""The Transformer in Keras, the twin of :class:`dltutor.scratch.Transformer`.

Keras' ``MultiHeadAttention`` takes masks with True = may attend (the book's polarity) and
builds the causal mask itself (``use_causal_mask``); ``LayerNormalization`` is given
``epsilon=1e-5``, PyTorch's and the scratch default (Keras' own default, 1e-3, differs by
up to 2.6e-3 on unit-variance rows). The weight mapping is in :mod:`dltutor.keras.layout`.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf

from dltutor.checks import check_id_sequences, check_ids
from dltutor.scratch.attention import sinusoidal_positional_encoding
from dltutor.specs import TransformerSpec

EPSILON = 1e-5  # LayerNorm epsilon of PyTorch and of the scratch layer


def check_token_ids(ids: Any, size: int, context: int | None = None, name: str = "ids") -> Any:
    """``ids``, checked to be token ids (N, T) with T at most ``context``, each in [0, ``size``).

    Called eagerly (``model(x)``), or while tracing with the length known, a bad input raises
    ``ValueError`` (:func:`dltutor.checks.check_ids`). In a traced graph (``fit``, ``predict``,
    ``tf.function``), where the ids and perhaps the length are known only when the graph runs,
    ``tf.debugging`` asserts raise ``InvalidArgumentError`` with the same message: two
    reductions over the ids per call. (XLA compiles asserts away: under ``jit_compile`` a GPU
    reads zeros for ids out of range, as it does without the check.) Use the ids returned:
    in a graph they carry the asserts, which so run before the lookup.
    """
    check_id_sequences(ids.shape, context, name)  # static: works while tracing too
    if isinstance(ids, keras.KerasTensor):  # a symbolic input: no values to check
        return ids
    if tf.executing_eagerly():
        check_ids(np.asarray(ids), size, name, "vocab_size")
        return ids
    message = f"{name} must lie in [0, {size}) (vocab_size = {size})"
    asserts = [
        tf.debugging.assert_non_negative(ids, message=message),
        tf.debugging.assert_less(ids, tf.cast(size, ids.dtype), message=message),
    ]
    if context is not None and ids.shape[1] is None:
        too_long = f"{name} must have shape (N, T) with T at most the context length {context}"
        asserts.append(tf.debugging.assert_less_equal(tf.shape(ids)[1], context, message=too_long))
    with tf.control_dependencies(asserts):
        return tf.identity(ids)


class TransformerBlock(keras.Model):
    """The pre-LN block: ``x + MHA(LN1(x))``, then ``h + Dense(Dense_relu(LN2(h)))``.

    Its layers are created in the order of ``torch.nn.TransformerEncoderLayer``'s
    parameters: attention, ``linear1``, ``linear2``, ``norm1``, ``norm2``.
    """

    def __init__(
        self, embed_dim: int, num_heads: int, ff_units: int, causal: bool, name: str | None = None
    ) -> None:
        super().__init__(name=name)
        self.attention = keras.layers.MultiHeadAttention(num_heads, embed_dim // num_heads)
        self.linear1 = keras.layers.Dense(ff_units, activation="relu")
        self.linear2 = keras.layers.Dense(embed_dim)
        self.norm1 = keras.layers.LayerNormalization(epsilon=EPSILON)
        self.norm2 = keras.layers.LayerNormalization(epsilon=EPSILON)
        self.causal = causal

    def call(self, x: tf.Tensor) -> tf.Tensor:
        normalised = self.norm1(x)
        h = x + self.attention(normalised, normalised, use_causal_mask=self.causal)
        return h + self.linear2(self.linear1(self.norm2(h)))


class Transformer(keras.Model):
    """Embedding → + sinusoidal positions → pre-LN blocks → LayerNorm → Dense, on token ids (N, T).

    The twin of :class:`dltutor.scratch.Transformer`: the same arguments, the same layers in
    the same order; outputs are per-position logits (N, T, ``vocab_size``).
    """

    def __init__(
        self,
        vocab_size: int,
        context: int,
        embed_dim: int = 32,
        num_heads: int = 2,
        num_layers: int = 1,
        ff_units: int = 64,
        causal: bool = True,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        self.spec = spec = TransformerSpec(
            vocab_size, context, embed_dim, num_heads, num_layers, ff_units, causal
        )
        # N(0, 1) rows, as in PyTorch and scratch: Keras' default (uniform in ±0.05) would
        # leave the token vectors tiny beside the unit-amplitude positional encoding.
        self.embedding = keras.layers.Embedding(
            spec.vocab_size,
            spec.embed_dim,
            embeddings_initializer=keras.initializers.RandomNormal(stddev=1.0),
        )
        self.blocks = [
            TransformerBlock(spec.embed_dim, spec.num_heads, spec.ff_units, spec.causal)
            for _ in range(spec.num_layers)
        ]
        self.norm = keras.layers.LayerNormalization(epsilon=EPSILON)
        self.head = keras.layers.Dense(spec.vocab_size)
        encoding = sinusoidal_positional_encoding(spec.context, spec.embed_dim)
        self._positions = encoding.astype(np.float32)  # (T_max, E), a constant
        self(np.zeros((1, spec.context), dtype=np.int32))  # build every layer

    def embed(self, ids: tf.Tensor) -> tf.Tensor:
        """Token embeddings plus the sinusoidal encoding of their positions, (N, T, E).

        Too long a sequence, or ids outside the vocabulary, raise an error that says so
        (:func:`check_token_ids`).
        """
        ids = check_token_ids(ids, self.spec.vocab_size, self.spec.context)
        length = ids.shape[1] if ids.shape[1] is not None else keras.ops.shape(ids)[1]
        positions = keras.ops.convert_to_tensor(self._positions)[:length]  # (T, E)
        return keras.ops.add(self.embedding(ids), positions[None])

    def call(self, ids: tf.Tensor, training: bool = False) -> tf.Tensor:
        x = self.embed(ids)
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x))  # (N, T, V)


def attention_maps(model: Transformer, ids: np.ndarray) -> list[np.ndarray]:
    """The attention weights of every block for token ids (N, T): a list of (N, H, T, T)."""
    x = model.embed(np.asarray(ids, dtype=np.int32))
    maps = []
    for block in model.blocks:
        normalised = block.norm1(x)
        _, scores = block.attention(
            normalised, normalised, use_causal_mask=block.causal, return_attention_scores=True
        )
        maps.append(np.asarray(scores))
        x = block(x)
    return maps
