"""An MLP for tables in Keras, the twin of :class:`dltutor.torch.tabular.TabularMLP`:
numeric columns in, categorical columns through learned embeddings (Guo and Berkhahn,
2016), batch normalisation optional."""

from __future__ import annotations

from collections.abc import Sequence

import keras

from dltutor.scratch.tabular import tabular_spec


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
                self.body.append(keras.layers.BatchNormalization())
            if dropout > 0:
                self.body.append(keras.layers.Dropout(dropout))
        self.head = keras.layers.Dense(self.spec.outputs)

    def call(self, x, training=None):
        numeric = x[:, : self.num_numeric]  # (N, num_numeric)
        codes = keras.ops.cast(x[:, self.num_numeric :], "int32")  # (N, C)
        vectors = [table(codes[:, j]) for j, table in enumerate(self.embeddings)]  # C × (N, e)
        h = keras.ops.concatenate([numeric, *vectors], axis=1)
        for layer in self.body:
            h = layer(h, training=training)
        return self.head(h)  # (N, outputs)
