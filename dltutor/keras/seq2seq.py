"""Sequence to sequence in Keras, the twins of :mod:`dltutor.scratch.seq2seq`.

Cross-attention is ``MultiHeadAttention`` called with a separate query and value,
``mha(decoder_stream, memory, attention_mask=m)`` with ``m`` (N, 1, S) True on real source
tokens (Keras takes the book's polarity). ``LayerNormalization(epsilon=1e-5)`` as in
:mod:`dltutor.keras.attention`. The weight mapping is :mod:`dltutor.keras.layout`'s.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from dltutor.checks import check_positive_int
from dltutor.keras.attention import EPSILON
from dltutor.scratch.attention import sinusoidal_positional_encoding
from dltutor.scratch.seq2seq import PAD, POSITIONS


def _normal() -> keras.initializers.Initializer:
    """N(0, 1) embedding rows, as in PyTorch and scratch."""
    return keras.initializers.RandomNormal(stddev=1.0)


class EncoderBlock(keras.Model):
    """Pre-LN encoder block with padded keys masked: layers in PyTorch's order."""

    def __init__(self, embed_dim: int, num_heads: int, ff_units: int) -> None:
        super().__init__()
        self.attention = keras.layers.MultiHeadAttention(num_heads, embed_dim // num_heads)
        self.linear1 = keras.layers.Dense(ff_units, activation="relu")
        self.linear2 = keras.layers.Dense(embed_dim)
        self.norm1 = keras.layers.LayerNormalization(epsilon=EPSILON)
        self.norm2 = keras.layers.LayerNormalization(epsilon=EPSILON)

    def call(self, x: Any, keys: Any) -> Any:
        """x (N, S, E); ``keys`` (N, 1, S) True on real tokens."""
        a = self.norm1(x)
        h = x + self.attention(a, a, attention_mask=keys)
        return h + self.linear2(self.linear1(self.norm2(h)))


class DecoderBlock(keras.Model):
    """Pre-LN decoder block: causal self-attention, cross-attention to the memory, feed-forward."""

    def __init__(self, embed_dim: int, num_heads: int, ff_units: int) -> None:
        super().__init__()
        self.self_attention = keras.layers.MultiHeadAttention(num_heads, embed_dim // num_heads)
        self.cross_attention = keras.layers.MultiHeadAttention(num_heads, embed_dim // num_heads)
        self.linear1 = keras.layers.Dense(ff_units, activation="relu")
        self.linear2 = keras.layers.Dense(embed_dim)
        self.norm1 = keras.layers.LayerNormalization(epsilon=EPSILON)
        self.norm2 = keras.layers.LayerNormalization(epsilon=EPSILON)
        self.norm3 = keras.layers.LayerNormalization(epsilon=EPSILON)

    def call(self, x: Any, memory: Any, keys: Any, return_scores: bool = False) -> Any:
        a = self.norm1(x)
        h = x + self.self_attention(a, a, use_causal_mask=True)
        c = self.norm2(h)
        attended, scores = self.cross_attention(
            c, memory, attention_mask=keys, return_attention_scores=True
        )
        g = h + attended
        y = g + self.linear2(self.linear1(self.norm3(g)))
        return (y, scores) if return_scores else y


class Seq2SeqTransformer(keras.Model):
    """The twin of :class:`dltutor.scratch.seq2seq.Seq2SeqTransformer`; called on a pair
    ``(source, target_in)`` of id arrays, it returns logits (N, T, ``target_vocab``)."""

    def __init__(
        self,
        source_vocab: int,
        target_vocab: int,
        context: int,
        embed_dim: int = 32,
        num_heads: int = 2,
        num_layers: int = 1,
        ff_units: int = 64,
        positions: str = "sinusoidal",
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        if positions not in POSITIONS:
            raise ValueError(f"positions must be one of {POSITIONS}, got {positions!r}")
        self.context, self.positions = check_positive_int(context, "context"), positions
        self.source_embedding = keras.layers.Embedding(
            source_vocab, embed_dim, embeddings_initializer=_normal()
        )
        self.target_embedding = keras.layers.Embedding(
            target_vocab, embed_dim, embeddings_initializer=_normal()
        )
        if positions == "learned":
            self.source_positions = keras.layers.Embedding(
                context, embed_dim, embeddings_initializer=_normal()
            )
            self.target_positions = keras.layers.Embedding(
                context, embed_dim, embeddings_initializer=_normal()
            )
        self.encoder = [EncoderBlock(embed_dim, num_heads, ff_units) for _ in range(num_layers)]
        self.encoder_norm = keras.layers.LayerNormalization(epsilon=EPSILON)
        self.decoder = [DecoderBlock(embed_dim, num_heads, ff_units) for _ in range(num_layers)]
        self.decoder_norm = keras.layers.LayerNormalization(epsilon=EPSILON)
        self.head = keras.layers.Dense(target_vocab)
        self._sinusoids = sinusoidal_positional_encoding(context, embed_dim).astype(np.float32)
        dummy = np.ones((1, 2), dtype=np.int32)
        self((dummy, dummy))  # build every layer

    def embed(self, ids: Any, side: int) -> Any:
        length = ids.shape[1]
        if length is not None and length > self.context:
            raise ValueError(
                f"ids must be (N, T) with T at most the context {self.context}, got {tuple(ids.shape)}"
            )
        x = (self.source_embedding, self.target_embedding)[side](ids)
        if self.positions == "learned":
            table = (self.source_positions, self.target_positions)[side]
            return x + table(keras.ops.arange(keras.ops.shape(ids)[1]))[None]
        return x + keras.ops.convert_to_tensor(self._sinusoids)[None, : keras.ops.shape(ids)[1]]

    def encode(self, source: Any) -> tuple[Any, Any]:
        """The memory (N, S, E) and the key mask (N, 1, S), True on real tokens."""
        keys = keras.ops.not_equal(source, PAD)[:, None, :]
        x = self.embed(source, 0)
        for block in self.encoder:
            x = block(x, keys)
        return self.encoder_norm(x), keys

    def call(self, inputs: Any, training: bool = False) -> Any:
        source, target_in = inputs
        memory, keys = self.encode(source)
        x = self.embed(target_in, 1)
        for block in self.decoder:
            x = block(x, memory, keys)
        return self.head(self.decoder_norm(x))  # (N, T, V)


class GRUSeq2Seq(keras.Model):
    """The twin of :class:`dltutor.scratch.seq2seq.GRUSeq2Seq`: a ``GRU`` encoder, a ``GRU``
    decoder called one step at a time with its state passed in, and additive attention
    from ``Dense`` layers; called on ``(source, target_in)``, it returns logits (N, T, V)."""

    def __init__(
        self,
        source_vocab: int,
        target_vocab: int,
        embed_dim: int = 32,
        hidden_size: int = 64,
        attention: bool = True,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        self.use_attention = attention
        self.source_embedding = keras.layers.Embedding(
            source_vocab, embed_dim, embeddings_initializer=_normal()
        )
        self.encoder = keras.layers.GRU(hidden_size, return_sequences=True)
        self.target_embedding = keras.layers.Embedding(
            target_vocab, embed_dim, embeddings_initializer=_normal()
        )
        if attention:
            self.query = keras.layers.Dense(hidden_size)
            self.key = keras.layers.Dense(hidden_size)
            self.score = keras.layers.Dense(1)
        self.decoder = keras.layers.GRU(hidden_size, return_state=True)
        self.output_layer = keras.layers.Dense(target_vocab)
        dummy = np.ones((1, 2), dtype=np.int32)
        self((dummy, dummy))  # build every layer

    def call(self, inputs: Any, training: bool = False) -> Any:
        source, target_in = inputs
        valid = keras.ops.not_equal(source, PAD)  # (N, S)
        states = self.encoder(self.source_embedding(source))  # (N, S, H)
        last = keras.ops.sum(keras.ops.cast(valid, "int32"), axis=1) - 1
        state = keras.ops.take_along_axis(states, last[:, None, None], axis=1)[:, 0]
        initial = state
        projected = self.key(states) if self.use_attention else None
        embedded = self.target_embedding(target_in)
        outputs = []
        for t in range(target_in.shape[1]):
            context = initial
            if projected is not None:
                hidden = keras.ops.tanh(self.query(state)[:, None] + projected)
                scores = keras.ops.where(valid, self.score(hidden)[..., 0], -np.inf)
                weights = keras.ops.softmax(scores, axis=-1)  # (N, S)
                context = keras.ops.sum(weights[..., None] * states, axis=1)
            step = keras.ops.concatenate([embedded[:, t], context], axis=1)[:, None]
            _, state = self.decoder(step, initial_state=state)
            outputs.append(keras.ops.concatenate([state, context], axis=1))
        return self.output_layer(keras.ops.stack(outputs, axis=1))  # (N, T, V)


def cross_attention_maps(
    model: Seq2SeqTransformer, source: np.ndarray, target_in: np.ndarray
) -> list[np.ndarray]:
    """Each decoder block's cross-attention weights, (N, H, T, S) per block."""
    source, target_in = (np.asarray(a, dtype=np.int32) for a in (source, target_in))
    memory, keys = model.encode(source)
    x = model.embed(target_in, 1)
    maps = []
    for block in model.decoder:
        x, scores = block(x, memory, keys, return_scores=True)
        maps.append(np.asarray(scores))
    return maps


def next_log_probs(model: keras.Model) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """The model as the function :func:`dltutor.scratch.seq2seq.beam_search` takes."""

    def function(source: np.ndarray, prefixes: np.ndarray) -> np.ndarray:
        logits = model((source.astype(np.int32), prefixes.astype(np.int32)), training=False)
        return np.asarray(tf.nn.log_softmax(tf.cast(logits[:, -1], tf.float64)))

    return function
