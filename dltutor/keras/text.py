"""Words as vectors in Keras: skip-gram and two text classifiers, twins of :mod:`dltutor.scratch.text`.

The third classifier, Embedding → LSTM → Dense, is :class:`dltutor.keras.RecurrentNet` with
``vocab_size``. Weight layouts (``Embedding``, ``Conv1D``) are in :mod:`dltutor.keras.layout`.
"""

from __future__ import annotations

from typing import Any

import keras

from dltutor.keras.attention import check_token_ids
from dltutor.specs import SkipGramSpec, TextCNNSpec, TextSpec


class SkipGram(keras.Model):
    """Two ``Embedding`` tables; rows ``[centre, context, noise...]`` in, (N, 1 + K) logits out.

    The twin of :class:`dltutor.scratch.SkipGram`, with the same initialisation (centre
    vectors uniform in ±0.5/D, context vectors zero).
    """

    def __init__(self, vocab_size: int, embed_dim: int, name: str | None = None) -> None:
        super().__init__(name=name)
        self.spec = SkipGramSpec(vocab_size, embed_dim)
        limit = 0.5 / embed_dim
        self.centre = keras.layers.Embedding(
            vocab_size,
            embed_dim,
            embeddings_initializer=keras.initializers.RandomUniform(-limit, limit),
        )
        self.context = keras.layers.Embedding(vocab_size, embed_dim, embeddings_initializer="zeros")
        self.build((None, 2))

    def build(self, input_shape: Any) -> None:
        self.centre.build((None,))
        self.context.build((None, None))
        self.built = True

    def call(self, x: Any) -> Any:
        x = check_token_ids(x, self.spec.vocab_size, name="x")
        u = self.centre(x[:, 0])  # (N, D)
        v = self.context(x[:, 1:])  # (N, 1 + K, D)
        return keras.ops.einsum("nd,njd->nj", u, v)

    @property
    def vectors(self) -> Any:
        """The word vectors to use afterwards: the centre table, as a NumPy array."""
        return keras.ops.convert_to_numpy(self.centre.embeddings)


class SkipGramSoftmax(SkipGram):
    """Skip-gram with the full softmax: centre ids (N, 1) in, logits over all V words out.

    The twin of :class:`dltutor.scratch.text.SkipGramSoftmax`, to be scored with
    ``SparseCategoricalCrossentropy(from_logits=True)`` against the context ids.
    """

    def call(self, x: Any) -> Any:
        x = check_token_ids(x, self.spec.vocab_size, name="x")
        if len(x.shape) != 2 or x.shape[1] != 1:
            raise ValueError(f"x must have shape (N, 1): centre ids; got shape {tuple(x.shape)}")
        u = self.centre(x[:, 0])  # (N, D)
        return keras.ops.matmul(u, keras.ops.transpose(self.context.embeddings))  # (N, V)


def skipgram_loss(labels: Any, logits: Any) -> Any:
    """Binary cross-entropy of each of the 1 + K logits, summed per row, averaged over rows."""
    labels = keras.ops.cast(labels, logits.dtype)
    losses = keras.ops.binary_crossentropy(labels, logits, from_logits=True)
    return keras.ops.mean(keras.ops.sum(losses, axis=-1))


class MaskedMean(keras.layers.Layer):
    """The mean over positions of the positions the mask keeps: (N, T, D) → (N, D).

    ``GlobalAveragePooling1D`` computes the same, but divides by zero — NaN — for a sentence
    that is all padding; here that sentence gets zeros, as in NumPy and PyTorch.
    """

    supports_masking = True

    def call(self, inputs: Any, mask: Any = None) -> Any:
        if mask is None:
            return keras.ops.mean(inputs, axis=1)
        weights = keras.ops.expand_dims(keras.ops.cast(mask, inputs.dtype), -1)  # (N, T, 1)
        count = keras.ops.maximum(keras.ops.sum(weights, axis=1), 1.0)
        return keras.ops.sum(inputs * weights, axis=1) / count

    def compute_mask(self, inputs: Any, mask: Any = None) -> None:
        return None  # one vector per sentence: nothing left to mask


class BagOfEmbeddings(keras.Sequential):
    """``Embedding(mask_zero=True)`` → :class:`MaskedMean` (the mean over the words, padding left
    out by the mask) → ``Dense``: the twin of :class:`dltutor.scratch.BagOfEmbeddings`."""

    def __init__(
        self, vocab_size: int, embed_dim: int, num_classes: int, name: str | None = None
    ) -> None:
        spec = TextSpec(vocab_size, embed_dim, num_classes)
        super().__init__(
            [
                keras.Input(shape=(None,), dtype="int32"),
                keras.layers.Embedding(vocab_size, embed_dim, mask_zero=True),
                MaskedMean(),
                keras.layers.Dense(num_classes),
            ],
            name=name,
        )
        self.spec = spec


class TextCNN(keras.Sequential):
    """``Embedding`` → ``Conv1D`` (ReLU) → ``GlobalMaxPooling1D`` → ``Dense`` (Kim, 2014)."""

    def __init__(
        self,
        vocab_size: int,
        embed_dim: int,
        num_classes: int,
        filters: int = 32,
        kernel_size: int = 3,
        name: str | None = None,
    ) -> None:
        spec = TextCNNSpec(vocab_size, embed_dim, num_classes, filters, kernel_size)
        super().__init__(
            [
                keras.Input(shape=(None,), dtype="int32"),
                keras.layers.Embedding(vocab_size, embed_dim),
                keras.layers.Conv1D(filters, kernel_size, activation="relu"),
                keras.layers.GlobalMaxPooling1D(),
                keras.layers.Dense(num_classes),
            ],
            name=name,
        )
        self.spec = spec
