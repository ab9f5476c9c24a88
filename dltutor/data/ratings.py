"""Explicit ratings generated from planted user and item factors, with popularity skew.

A rating is :math:`r_{ui} = \\mu + b_u + b_i + p_u \\cdot q_i + \\varepsilon`, the model of
Koren et al. (2009) with known factors, so the best possible prediction (the planted
score, off by the noise alone) is known. Which items a user rates is skewed towards
popular items (a Zipf law), as in real catalogues, and popular items are rated a little
higher on average.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dltutor.checks import check_fraction, check_positive_int, check_seed


@dataclass(frozen=True)
class Ratings:
    """``users``, ``items`` (R,) int64 ids and their ``ratings`` (R,) float64, with the
    planted parts: ``mean``, ``user_bias`` (U,), ``item_bias`` (I,), ``user_factors``
    (U, K), ``item_factors`` (I, K), the noise's standard deviation ``noise`` and each
    item's chance of being picked, ``popularity`` (I,)."""

    users: np.ndarray
    items: np.ndarray
    ratings: np.ndarray
    mean: float
    user_bias: np.ndarray
    item_bias: np.ndarray
    user_factors: np.ndarray
    item_factors: np.ndarray
    noise: float
    popularity: np.ndarray

    @property
    def num_users(self) -> int:
        return len(self.user_bias)

    @property
    def num_items(self) -> int:
        return len(self.item_bias)

    def planted_scores(self) -> np.ndarray:
        r"""The noise-free rating of every user for every item, (U, I): the ceiling."""
        return (
            self.mean
            + self.user_bias[:, None]
            + self.item_bias[None, :]
            + self.user_factors @ self.item_factors.T
        )

    def subset(self, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(users, items, ratings)`` of the ratings where ``mask`` (R,) is True."""
        return self.users[mask], self.items[mask], self.ratings[mask]


def make_ratings(
    num_users: int = 600,
    num_items: int = 300,
    rank: int = 4,
    per_user: int = 30,
    noise: float = 0.5,
    skew: float = 1.0,
    seed: int = 0,
) -> Ratings:
    """About ``per_user`` ratings by each of ``num_users`` users of ``num_items`` items.

    Users rate between ``per_user // 2`` and ``3 * per_user // 2`` distinct items, drawn
    with probability proportional to ``1 / (item rank + 10) ** skew``; factors are
    :math:`N(0, 1/\\sqrt{K})` entries, biases :math:`N(0, 0.4)` (items: plus a share of
    their popularity), noise :math:`N(0, \\text{noise}^2)`, around a mean of 3.5.
    """
    num_users = check_positive_int(num_users, "num_users")
    num_items = check_positive_int(num_items, "num_items")
    rank = check_positive_int(rank, "rank")
    per_user = check_positive_int(per_user, "per_user")
    seed = check_seed(seed)
    if 3 * per_user // 2 > num_items:
        raise ValueError(f"per_user must be at most 2/3 of num_items={num_items}, got {per_user}")
    if not noise >= 0 or not skew >= 0:
        raise ValueError(f"noise and skew must be non-negative, got {noise!r}, {skew!r}")
    rng = np.random.default_rng(seed)
    weights = 1.0 / (rng.permutation(num_items) + 10.0) ** skew  # (I,)
    popularity = weights / weights.sum()
    log_pop = np.log(popularity)
    item_bias = 0.4 * rng.standard_normal(num_items) + 0.3 * (log_pop - log_pop.mean()) / (
        log_pop.std() + 1e-12
    )
    user_bias = 0.4 * rng.standard_normal(num_users)
    scale = 1.0 / np.sqrt(np.sqrt(rank))
    user_factors = scale * rng.standard_normal((num_users, rank))
    item_factors = scale * rng.standard_normal((num_items, rank))
    counts = rng.integers(per_user // 2, 3 * per_user // 2 + 1, num_users)
    users = np.repeat(np.arange(num_users), counts)
    items = np.concatenate(
        [rng.choice(num_items, count, replace=False, p=popularity) for count in counts]
    )
    mean = 3.5
    planted = (
        mean
        + user_bias[users]
        + item_bias[items]
        + np.sum(user_factors[users] * item_factors[items], axis=1)
    )
    ratings = planted + noise * rng.standard_normal(len(users))
    return Ratings(
        users.astype(np.int64),
        items.astype(np.int64),
        ratings,
        mean,
        user_bias,
        item_bias,
        user_factors,
        item_factors,
        float(noise),
        popularity,
    )


@dataclass(frozen=True)
class RatingSplit:
    """Boolean masks over a :class:`Ratings`' rows: ``train``, ``validation``, ``test``
    (held out from users who also have training ratings) and ``cold`` (every rating of the
    ``cold_users``, who have none in training)."""

    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray
    cold: np.ndarray
    cold_users: np.ndarray


def split_ratings(
    data: Ratings,
    test_size: float = 0.2,
    validation_size: float = 0.1,
    cold_fraction: float = 0.05,
    seed: int = 0,
) -> RatingSplit:
    """Hold out ``test_size`` and ``validation_size`` of each user's ratings at random, and
    every rating of a fraction ``cold_fraction`` of the users (new users, for cold start)."""
    test_size = check_fraction(test_size, "test_size")
    validation_size = check_fraction(validation_size, "validation_size")
    cold_fraction = check_fraction(cold_fraction, "cold_fraction")
    seed = check_seed(seed)
    if test_size + validation_size >= 1:
        raise ValueError(
            f"test_size + validation_size must leave training data, got {test_size} + {validation_size}"
        )
    rng = np.random.default_rng(seed)
    cold_users = np.sort(
        rng.choice(data.num_users, max(1, round(cold_fraction * data.num_users)), replace=False)
    )
    cold = np.isin(data.users, cold_users)
    draw = rng.random(len(data.users))
    test = ~cold & (draw < test_size)
    validation = ~cold & (draw >= test_size) & (draw < test_size + validation_size)
    train = ~cold & ~test & ~validation
    return RatingSplit(train, validation, test, cold, cold_users)


@dataclass(frozen=True)
class RatingTask:
    """The evaluation protocol of a :class:`RatingSplit`, computed once: ``(x, y)`` pairs
    for each part — ``x`` (N, 2) int64 (user, item) ids, ``y`` (N, 1) ratings — the
    training mean ``mean``, each item's training ratings ``counts`` (I,) and those at or
    above the threshold ``liked_counts`` (I,), and for top-k lists the (U, I) masks
    ``seen`` (rated in training or validation: known, never recommended) and ``relevant``
    (a held-out test rating at or above the threshold)."""

    train: tuple[np.ndarray, np.ndarray]
    validation: tuple[np.ndarray, np.ndarray]
    test: tuple[np.ndarray, np.ndarray]
    cold: tuple[np.ndarray, np.ndarray]
    mean: float
    counts: np.ndarray
    liked_counts: np.ndarray
    seen: np.ndarray
    relevant: np.ndarray


def rating_pairs(
    data: Ratings, mask: np.ndarray, dtype: str = "float64"
) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` of the ratings where ``mask`` (R,) is True: x (N, 2) int64 (user, item)
    pairs, y (N, 1) ratings of ``dtype``."""
    mask = np.asarray(mask)
    if mask.shape != data.users.shape or mask.dtype != bool:
        raise ValueError(
            f"mask must be ({len(data.users)},) booleans, got {mask.dtype} {mask.shape}"
        )
    users, items, values = data.subset(mask)
    return np.stack([users, items], axis=1), values[:, None].astype(dtype)


def rating_task(
    data: Ratings, split: RatingSplit, threshold: float = 4.0, dtype: str = "float64"
) -> RatingTask:
    r"""The pairs, counts and top-k masks of ``split`` (see :class:`RatingTask`).

    An item is *relevant* for user u if u's held-out test rating of it is at least
    ``threshold``; ``seen`` marks the pairs in training or validation.
    """
    if not isinstance(split, RatingSplit):
        raise TypeError(f"split must be a RatingSplit, got {type(split).__name__}")
    parts = {
        name: rating_pairs(data, getattr(split, name), dtype)
        for name in ("train", "validation", "test", "cold")
    }
    (x_fit, y_fit), (x_val, _), (x_held, y_held) = (
        parts["train"],
        parts["validation"],
        parts["test"],
    )
    shape = (data.num_users, data.num_items)
    seen = np.zeros(shape, bool)
    seen[x_fit[:, 0], x_fit[:, 1]] = True
    seen[x_val[:, 0], x_val[:, 1]] = True
    relevant = np.zeros(shape, bool)
    liked = y_held[:, 0] >= threshold
    relevant[x_held[liked, 0], x_held[liked, 1]] = True
    counts = np.bincount(x_fit[:, 1], minlength=data.num_items)
    liked_counts = np.bincount(x_fit[y_fit[:, 0] >= threshold, 1], minlength=data.num_items)
    return RatingTask(
        parts["train"],
        parts["validation"],
        parts["test"],
        parts["cold"],
        float(y_fit.mean()),
        counts,
        liked_counts,
        seen,
        relevant,
    )


def rating_rmse(scores: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
    r"""Root mean squared error of the (U, I) ``scores`` on pairs ``x`` (N, 2) with ratings
    ``y`` (N, 1): :math:`\sqrt{\frac1N \sum_n (s_{u_n i_n} - r_n)^2}`."""
    scores = np.asarray(scores)
    x, y = np.asarray(x), np.asarray(y)
    if scores.ndim != 2 or x.ndim != 2 or x.shape[1] != 2 or y.shape != (len(x), 1):
        raise ValueError(
            f"scores must be (U, I), x (N, 2) and y (N, 1), got {scores.shape}, "
            f"{x.shape}, {y.shape}"
        )
    return float(np.sqrt(np.mean((scores[x[:, 0], x[:, 1]] - y[:, 0]) ** 2)))


def damped_biases(task: RatingTask, damping: float = 5.0) -> tuple[np.ndarray, np.ndarray]:
    r"""Biases-only baseline fitted on the training ratings: damped means
    :math:`b_i = \frac{\sum_{u} (r_{ui} - \mu)}{n_i + \lambda}` per item, then
    :math:`b_u = \frac{\sum_i (r_{ui} - \mu - b_i)}{n_u + \lambda}` per user, with
    :math:`\lambda` = ``damping``; returns ``(user_bias (U,), item_bias (I,))``, so the
    prediction is :math:`\mu + b_u + b_i`."""
    if not damping >= 0:
        raise ValueError(f"damping must be non-negative, got {damping!r}")
    num_users, num_items = task.seen.shape
    x, y = task.train
    residual = y[:, 0].astype(np.float64) - task.mean
    item = np.bincount(x[:, 1], residual, num_items) / (
        np.bincount(x[:, 1], minlength=num_items) + damping
    )
    residual = residual - item[x[:, 1]]
    user = np.bincount(x[:, 0], residual, num_users) / (
        np.bincount(x[:, 0], minlength=num_users) + damping
    )
    return user, item
