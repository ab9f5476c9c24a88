r"""Recommendation from scratch: matrix factorisation and a two-tower scorer.

Matrix factorisation (Koren et al., 2009) predicts a rating as

.. math::

    \hat r_{ui} = \mu + b_u + b_i + p_u \cdot q_i ,

a global mean :math:`\mu`, a bias per user and per item, and a dot product of learned
vectors. A two-tower model (Covington et al., 2016) keeps the dot product but computes
each side's vector with a small network, a *tower*; any features of the user or the item
could enter there. Scoring every item for a user is one matrix product either way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dltutor.checks import as_float_array, as_index_array, check_positive_int, describe
from dltutor.data.ratings import RatingTask, rating_rmse
from dltutor.scratch.activations import Activation
from dltutor.scratch.layers import Embedding, Layer, Linear
from dltutor.scratch.losses import MSELoss
from dltutor.scratch.optim import Adam
from dltutor.scratch.train import fit


def _pairs(x: np.ndarray, num_users: int, num_items: int) -> tuple[np.ndarray, np.ndarray]:
    """Split (N, 2) integer (user, item) pairs into two (N,) id arrays."""
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"x must be (N, 2) pairs of (user, item) ids, got {describe(x)}")
    return as_index_array(x[:, 0], "user ids", num_users), as_index_array(
        x[:, 1], "item ids", num_items
    )


class MatrixFactorization(Layer):
    r"""Biased matrix factorisation, :math:`\hat r_{ui} = \mu + b_u + b_i + p_u \cdot q_i`.

    Input: (N, 2) integer pairs (user, item); output (N, 1). Parameters: ``P`` (U, K),
    ``Q`` (I, K), ``user_bias`` (U,), ``item_bias`` (I,); :math:`\mu` is fixed (set it to
    the training mean). Backward, with :math:`g_n = \partial L / \partial \hat r_n`: each
    pair adds :math:`g_n q_i` to row u of :math:`\partial L/\partial P`, :math:`g_n p_u`
    to row i of :math:`\partial L/\partial Q`, and :math:`g_n` to both biases — a
    scatter-add, as for an embedding. Factors start small (:math:`N(0, 0.1^2)`), biases at 0.
    """

    def __init__(
        self,
        num_users: int,
        num_items: int,
        rank: int,
        mean: float = 0.0,
        *,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        self.num_users = check_positive_int(num_users, "num_users")
        self.num_items = check_positive_int(num_items, "num_items")
        self.rank = check_positive_int(rank, "rank")
        self.mean = float(mean)
        rng = np.random.default_rng(rng)
        self.P = self.add_parameter("P", 0.1 * rng.standard_normal((num_users, rank)))
        self.Q = self.add_parameter("Q", 0.1 * rng.standard_normal((num_items, rank)))
        self.user_bias = self.add_parameter("user_bias", np.zeros(num_users))
        self.item_bias = self.add_parameter("item_bias", np.zeros(num_items))
        self._ids: tuple[np.ndarray, np.ndarray] | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        users, items = self._ids = _pairs(x, self.num_users, self.num_items)
        p, q = self.P.value[users], self.Q.value[items]  # (N, K) each
        dot = np.sum(p * q, axis=1)  # (N,)
        rating = self.mean + self.user_bias.value[users] + self.item_bias.value[items] + dot
        return rating[:, None]  # (N, 1)

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        if self._ids is None:
            raise RuntimeError("MatrixFactorization.backward called before forward")
        users, items = self._ids
        g = as_float_array(grad_output, "grad_output").reshape(-1)  # (N,)
        if len(g) != len(users):
            raise ValueError(f"grad_output must have {len(users)} rows, got {len(g)}")
        grad_p, grad_q = np.zeros_like(self.P.value), np.zeros_like(self.Q.value)
        np.add.at(grad_p, users, g[:, None] * self.Q.value[items])
        np.add.at(grad_q, items, g[:, None] * self.P.value[users])
        self.P.grad, self.Q.grad = grad_p, grad_q
        self.user_bias.grad = np.bincount(users, g, self.num_users)
        self.item_bias.grad = np.bincount(items, g, self.num_items)
        return np.zeros((len(users), 2))  # ids have no gradient

    def scores(self) -> np.ndarray:
        """Predicted ratings of every user for every item, (U, I)."""
        return (
            self.mean
            + self.user_bias.value[:, None]
            + self.item_bias.value[None, :]
            + self.P.value @ self.Q.value.T
        )


@dataclass(frozen=True)
class TwoTowerSpec:
    """The two-tower model the scratch, PyTorch and Keras ``TwoTower`` build: per side an
    embedding of ``embedding_dim``, a ReLU layer of ``hidden`` units and a linear layer to
    ``output_dim``; the score is ``mean`` plus the dot product of the two outputs."""

    num_users: int
    num_items: int
    embedding_dim: int = 16
    hidden: int = 32
    output_dim: int = 16  # the dot product's dimension: as many as the factors need
    mean: float = 0.0  # the training ratings' mean, so the towers learn deviations

    def __post_init__(self) -> None:
        for name in ("num_users", "num_items", "embedding_dim", "hidden", "output_dim"):
            check_positive_int(getattr(self, name), name)
        object.__setattr__(self, "mean", float(self.mean))


class Tower(Layer):
    r"""One side of a two-tower model: :math:`t(\text{id}) = \mathrm{ReLU}(E_{\text{id}}
    W_1 + b_1)\, W_2 + b_2`, an embedding then two linear layers. (N,) ids → (N, D)."""

    def __init__(
        self,
        count: int,
        embedding_dim: int,
        hidden: int,
        output_dim: int,
        *,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        rng = np.random.default_rng(rng)
        self.embedding = self.add_layer("embedding", Embedding(count, embedding_dim, rng=rng))
        self.hidden = self.add_layer("hidden", Linear(embedding_dim, hidden, rng=rng))
        self.relu = Activation("relu")
        self.output = self.add_layer("output", Linear(hidden, output_dim, rng=rng))

    def forward(self, ids: np.ndarray) -> np.ndarray:
        vectors = self.embedding.forward(ids)  # (N, E)
        return self.output.forward(self.relu.forward(self.hidden.forward(vectors)))  # (N, D)


class TwoTower(Layer):
    r"""Two towers and a dot product: :math:`\hat r_{ui} = \mu + u(u) \cdot v(i)`.

    Input (N, 2) (user, item) pairs, output (N, 1). ``scores`` rates every item for every
    user with one product of the towers' outputs, :math:`U V^\top`. Forward only: the
    twins in ``dltutor.torch.recommend`` and ``dltutor.keras.recommend`` train, and their
    weights load here (``get_weights`` order: user tower, then item tower).
    """

    def __init__(
        self,
        num_users: int,
        num_items: int,
        embedding_dim: int = 16,
        hidden: int = 32,
        output_dim: int = 16,
        mean: float = 0.0,
        *,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        self.spec = spec = TwoTowerSpec(
            num_users, num_items, embedding_dim, hidden, output_dim, mean
        )
        rng = np.random.default_rng(rng)
        self.num_users, self.num_items, self.mean = spec.num_users, spec.num_items, spec.mean
        sizes = (spec.embedding_dim, spec.hidden, spec.output_dim)
        self.user_tower = self.add_layer("user_tower", Tower(spec.num_users, *sizes, rng=rng))
        self.item_tower = self.add_layer("item_tower", Tower(spec.num_items, *sizes, rng=rng))

    def forward(self, x: np.ndarray) -> np.ndarray:
        users, items = _pairs(x, self.num_users, self.num_items)
        u = self.user_tower.forward(users)  # (N, D)
        v = self.item_tower.forward(items)  # (N, D)
        return self.mean + np.sum(u * v, axis=1, keepdims=True)  # (N, 1)

    def scores(self) -> np.ndarray:
        """Predicted ratings of every user for every item, (U, I): :math:`\\mu + U V^\\top`."""
        u = self.user_tower.forward(np.arange(self.num_users))  # (U, D)
        v = self.item_tower.forward(np.arange(self.num_items))  # (I, D)
        return self.mean + u @ v.T


def picked_and_liked(
    predicted: np.ndarray, item_counts: np.ndarray, threshold: float, spread: float
) -> np.ndarray:
    r"""Rank scores for "the user will rate item i *and* rate it at least ``threshold``".

    A held-out item counts as a hit only if the user picked it and liked it. Taking the
    two as independent, with the chance of a pick estimated by the item's share of the
    training ratings and the rating as the prediction plus Gaussian noise of sd
    ``spread``:

    .. math::

        s_{ui} = \log \frac{n_i + 1}{\sum_j (n_j + 1)}
                 + \log \Phi\Big(\frac{\hat r_{ui} - \text{threshold}}{\text{spread}}\Big).

    ``predicted`` (U, I) ratings, ``item_counts`` (I,) training ratings per item; returns
    (U, I) log-probabilities (higher ranks first).
    """
    from scipy.special import log_ndtr

    predicted = as_float_array(predicted, "predicted", ndim=2)
    counts = as_float_array(item_counts, "item_counts", ndim=1)
    if counts.shape[0] != predicted.shape[1] or (counts < 0).any():
        raise ValueError(
            f"item_counts must be {predicted.shape[1]} non-negative counts, got {describe(counts)}"
        )
    if not spread > 0:
        raise ValueError(f"spread must be positive, got {spread!r}")
    pick = np.log((counts + 1.0) / (counts + 1.0).sum())  # (I,)
    return pick[None, :] + log_ndtr((predicted - threshold) / spread)  # (U, I)


def baseline_rankers(task: RatingTask) -> dict[str, np.ndarray]:
    r"""The simple competitors for top-k lists, (U, I) scores each: ``"popularity"``, the
    item's count of training ratings :math:`n_i`, and ``"liked popularity"``, its count of
    training ratings at or above the task's threshold, ties broken by :math:`n_i`."""
    if not isinstance(task, RatingTask):
        raise TypeError(f"task must be a RatingTask, got {type(task).__name__}")
    shape = task.seen.shape
    counts = task.counts.astype(np.float64)
    return {
        "popularity": np.broadcast_to(counts, shape),
        "liked popularity": np.broadcast_to(task.liked_counts + 1e-3 * counts, shape),
    }


def picks_ranker(scores: np.ndarray, task: RatingTask, threshold: float = 4.0) -> np.ndarray:
    """:func:`picked_and_liked` for predicted ratings ``scores`` (U, I), with the task's
    training counts and, as the spread, the predictions' RMSE on the validation ratings."""
    if not isinstance(task, RatingTask):
        raise TypeError(f"task must be a RatingTask, got {type(task).__name__}")
    spread = rating_rmse(scores, *task.validation)
    return picked_and_liked(scores, task.counts, threshold, spread)


def fit_factorization(
    task: RatingTask,
    rank: int,
    seed: int,
    learning_rate: float = 0.02,
    weight_decay: float = 1e-4,
    epochs: int = 60,
    batch_size: int = 256,
    patience: int = 5,
) -> MatrixFactorization:
    r""":class:`MatrixFactorization` of ``rank`` with :math:`\mu` the training mean, trained
    on the task's training ratings with the book's ``fit``: MSE, Adam with an L2 penalty
    ``weight_decay``, stopped ``patience`` epochs after the best validation loss and rolled
    back to it. Factors start from ``numpy.random.default_rng(seed)``."""
    if not isinstance(task, RatingTask):
        raise TypeError(f"task must be a RatingTask, got {type(task).__name__}")
    num_users, num_items = task.seen.shape
    model = MatrixFactorization(
        num_users, num_items, rank, mean=task.mean, rng=np.random.default_rng(seed)
    )
    (x, y), (x_val, y_val) = task.train, task.validation
    fit(
        model,
        MSELoss(),
        Adam(learning_rate, weight_decay=weight_decay),
        x,
        y.astype(np.float64),
        epochs=epochs,
        batch_size=batch_size,
        seed=seed,
        validation_data=(x_val, y_val.astype(np.float64)),
        patience=patience,
    )
    return model
