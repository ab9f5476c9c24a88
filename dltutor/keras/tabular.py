"""An MLP for tables in Keras, the twin of :class:`dltutor.torch.tabular.TabularMLP`:
numeric columns in, categorical columns through learned embeddings (Guo and Berkhahn,
2016), batch normalisation optional."""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

from dltutor.scratch.tabular import CODE_TOLERANCE, category_codes, tabular_spec


class TabularMLP(keras.Model):
    r"""An MLP over ``num_numeric`` numeric columns and one embedding per categorical column.

    Input (N, num_numeric + C) floats: the numeric columns, then C columns of integer
    category codes. Each code becomes a learned vector, concatenated with the numeric
    columns and fed through ``hidden`` ReLU layers to ``outputs`` logits, (N, outputs).
    """

    def __init__(
        self,
        num_numeric: int,
        category_sizes: Sequence[int] = (),
        embedding_dim: int = 4,
        hidden: Sequence[int] = (64, 64),
        outputs: int = 2,
        batch_norm: bool = False,
        dropout: float = 0.0,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        self.spec = tabular_spec(
            num_numeric, category_sizes, embedding_dim, hidden, outputs, batch_norm, dropout
        )
        self.num_numeric = self.spec.num_numeric
        self.embeddings = [
            keras.layers.Embedding(size, self.spec.embedding_dim)
            for size in self.spec.category_sizes
        ]
        self.body = []
        for size in self.spec.hidden:
            self.body.append(keras.layers.Dense(size, "relu"))
            if batch_norm:
                # PyTorch's BatchNorm1d defaults: eps 1e-5, running stats kept with
                # weight 0.9 on the old value (torch's momentum=0.1)
                self.body.append(keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5))
            if dropout > 0:
                self.body.append(keras.layers.Dropout(dropout))
        self.head = keras.layers.Dense(self.spec.outputs)

    def call(self, x, training=None):
        expected = self.spec.input_width
        if len(x.shape) != 2 or (x.shape[1] is not None and x.shape[1] != expected):
            raise ValueError(f"x must be (N, {expected}), got shape {tuple(x.shape)}")
        numeric = x[:, : self.num_numeric]  # (N, num_numeric)
        codes = self._checked(x[:, self.num_numeric :])  # (N, C) whole numbers
        codes = keras.ops.cast(keras.ops.round(codes), "int32")
        vectors = [table(codes[:, j]) for j, table in enumerate(self.embeddings)]  # C × (N, e)
        h = keras.ops.concatenate([numeric, *vectors], axis=1)
        for layer in self.body:
            h = layer(h, training=training)
        return self.head(h)  # (N, outputs)

    def _checked(self, codes):
        """The codes, refused as :func:`category_codes` refuses them: at once when eager,
        through ``tf.debugging`` asserts (InvalidArgumentError) inside a graph."""
        sizes = self.spec.category_sizes
        if not sizes or isinstance(codes, keras.KerasTensor):
            return codes
        if tf.executing_eagerly():
            category_codes(np.asarray(codes), sizes)
            return codes
        message = f"category codes must be whole numbers in [0, size) for sizes {sizes}"
        asserts = [
            tf.debugging.assert_less_equal(
                tf.abs(codes - tf.round(codes)), tf.constant(CODE_TOLERANCE, codes.dtype), message
            ),
            tf.debugging.assert_non_negative(tf.round(codes), message=message),
            tf.debugging.assert_less(
                tf.round(codes), tf.constant(sizes, codes.dtype), message=message
            ),
        ]
        with tf.control_dependencies(asserts):
            return tf.identity(codes)
