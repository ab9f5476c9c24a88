"""The two-tower recommender in Keras, the twin of :class:`dltutor.scratch.recommend.TwoTower`."""

from __future__ import annotations

import keras
import numpy as np

from dltutor.checks import check_positive_int
from dltutor.scratch.recommend import TwoTowerSpec


class Tower(keras.Model):
    r""":math:`t(\text{id}) = \mathrm{ReLU}(E_{\text{id}} W_1 + b_1) W_2 + b_2`: (N,) ids → (N, D)."""

    def __init__(
        self, count: int, embedding_dim: int, hidden: int, output_dim: int, name: str | None = None
    ) -> None:
        super().__init__(name=name)
        self.embedding = keras.layers.Embedding(check_positive_int(count, "count"), embedding_dim)
        self.hidden = keras.layers.Dense(hidden, activation="relu")
        self.output_layer = keras.layers.Dense(output_dim)

    def call(self, ids):
        return self.output_layer(self.hidden(self.embedding(ids)))  # (N, D)


class TwoTower(keras.Model):
    r"""Two towers and a dot product, :math:`\hat r_{ui} = \mu + u(u) \cdot v(i)`.

    Input (N, 2) integer (user, item) pairs, output (N, 1); the same layers in the same
    order as the scratch model, so :func:`dltutor.keras.set_weights` loads its weights
    once the model is built.
    """

    def __init__(
        self,
        num_users: int,
        num_items: int,
        embedding_dim: int = 16,
        hidden: int = 32,
        output_dim: int = 16,
        mean: float = 0.0,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        self.spec = spec = TwoTowerSpec(
            num_users, num_items, embedding_dim, hidden, output_dim, mean
        )
        self.num_users, self.num_items, self.mean = spec.num_users, spec.num_items, spec.mean
        sizes = (spec.embedding_dim, spec.hidden, spec.output_dim)
        self.user_tower = Tower(spec.num_users, *sizes)
        self.item_tower = Tower(spec.num_items, *sizes)
        self(np.zeros((1, 2), dtype=np.int32))  # build the weights

    def call(self, x):
        u = self.user_tower(x[:, 0])  # (N, D)
        v = self.item_tower(x[:, 1])  # (N, D)
        return self.mean + keras.ops.sum(u * v, axis=1, keepdims=True)  # (N, 1)

    def scores(self) -> np.ndarray:
        """Predicted ratings of every user for every item, (U, I): one matrix product."""
        u = self.user_tower.predict_on_batch(np.arange(self.num_users))  # (U, D)
        v = self.item_tower.predict_on_batch(np.arange(self.num_items))  # (I, D)
        return self.mean + u @ v.T
