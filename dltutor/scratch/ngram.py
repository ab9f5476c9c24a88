r"""A count-based n-gram language model with interpolated Witten–Bell smoothing.

The strongest simple competitor of a neural language model: count, in the training text,
how often each token followed each context of up to ``order - 1`` tokens, and predict from
the counts. Unsmoothed counts give probability 0 to whatever training never showed after a
context, and an infinite loss the first time held-out text does it. Witten–Bell smoothing
(Witten and Bell, 1991) mixes each context's counts with the next-shorter context's
distribution, as much as the context has shown new tokens: with :math:`h` the last
:math:`k` tokens and :math:`h'` the last :math:`k - 1`,

.. math::

    P_k(w \mid h) = \frac{c(h\,w) + u(h)\, P_{k-1}(w \mid h')}{c(h) + u(h)}, \qquad
    P_{-1}(w) = \frac{1}{V},

where :math:`c(h\,w)` counts ``w`` after :math:`h`, :math:`c(h) = \sum_w c(h\,w)`, and
:math:`u(h)` is the number of distinct tokens seen after :math:`h`. A context never seen
(:math:`c(h) = 0`) passes its shorter context's distribution on unchanged. Every level is
a mixture of counts and a distribution that sums to one, so every :math:`P_k` sums to one,
and the uniform floor :math:`1/V` keeps every probability above zero.
"""

from __future__ import annotations

import numpy as np

from dltutor.checks import check_ids, check_positive_int, describe


class NGramLanguageModel:
    """Next-token probabilities from counts of up to ``order - 1`` tokens of context.

    ``fit(ids)`` counts a 1-D token sequence; ``predict(ids)`` returns, for token ids
    (N, T), the distribution of the token after each position (N, T, V), conditioned on
    the tokens of the same row up to that position (at most ``order - 1`` of them): the
    input and output of a neural language model, so both are scored on the same windows.
    """

    def __init__(self, order: int, vocab_size: int) -> None:
        self.order = check_positive_int(order, "order")
        self.vocab_size = check_positive_int(vocab_size, "vocab_size")
        if float(self.vocab_size) ** self.order >= 2.0**62:
            raise ValueError(
                f"vocab_size ** order must stay below 2**62 (contexts are coded as int64), "
                f"got {self.vocab_size} ** {self.order}"
            )
        # One entry per context length k = 0 .. order - 1, each sorted by code:
        self._contexts: list[np.ndarray] = []  # the contexts seen, coded in base V
        self._totals: list[np.ndarray] = []  # c(h)
        self._types: list[np.ndarray] = []  # u(h)
        self._pairs: list[np.ndarray] = []  # (context, next token) seen, coded h * V + w
        self._pair_counts: list[np.ndarray] = []  # c(h w)

    def _code(self, windows: np.ndarray) -> np.ndarray:
        """Base-V code of each row of ``windows`` (M, k): one int64 per context."""
        code = np.zeros(len(windows), dtype=np.int64)
        for column in range(windows.shape[1]):
            code = code * self.vocab_size + windows[:, column]
        return code

    def fit(self, ids: np.ndarray) -> NGramLanguageModel:
        """Count every (context, next token) pair of the 1-D sequence ``ids``, for every
        context length below ``order``; returns the model."""
        ids = np.asarray(ids)
        if ids.ndim != 1 or ids.dtype.kind not in "iu" or len(ids) == 0:
            raise ValueError(f"ids must be a non-empty 1-D array of token ids, got {describe(ids)}")
        check_ids(ids, self.vocab_size, size_name="vocab_size")
        ids = ids.astype(np.int64)
        self._contexts, self._totals, self._types = [], [], []
        self._pairs, self._pair_counts = [], []
        for k in range(self.order):
            if k >= len(ids):  # too short a text for contexts this long: none seen
                windows = np.zeros((0, k + 1), dtype=np.int64)
            else:
                windows = np.lib.stride_tricks.sliding_window_view(ids, k + 1)  # (M, k + 1)
            pairs, counts = np.unique(self._code(windows), return_counts=True)
            contexts, first = np.unique(pairs // self.vocab_size, return_index=True)
            self._pairs.append(pairs)
            self._pair_counts.append(counts)
            self._contexts.append(contexts)
            self._totals.append(np.add.reduceat(counts, first))  # c(h): pairs sorted by h
            self._types.append(np.diff(np.append(first, len(pairs))))  # u(h)
        return self

    def _check_fitted(self) -> None:
        if not self._pairs:
            raise ValueError("the model has no counts yet: call fit(ids) first")

    def _smooth(
        self, k: int, context: np.ndarray, shorter: np.ndarray, tokens: np.ndarray | None = None
    ) -> np.ndarray:
        """P_k for contexts of length k (coded, (M,)), from P_{k-1} of their shorter
        contexts (M, C): Witten–Bell's mixture, or P_{k-1} itself for a context never seen.
        The C columns are the next tokens ``tokens`` (M, C), or every token (C = V)."""
        v = self.vocab_size
        contexts, pairs = self._contexts[k], self._pairs[k]
        if len(contexts) == 0:  # no context of this length in training
            return shorter
        row = np.minimum(np.searchsorted(contexts, context), len(contexts) - 1)
        seen = contexts[row] == context  # (M,)
        total = np.where(seen, self._totals[k][row], 0).astype(float)  # c(h)
        types = np.where(seen, self._types[k][row], 0).astype(float)  # u(h)
        if tokens is None:
            tokens = np.arange(v)[None]  # every next token
        pair = context[:, None] * v + tokens  # (M, C)
        found = np.minimum(np.searchsorted(pairs, pair), len(pairs) - 1)
        count = np.where(pairs[found] == pair, self._pair_counts[k][found], 0)  # c(h w)
        mixed = (count + types[:, None] * shorter) / np.maximum(total + types, 1.0)[:, None]
        return np.where(seen[:, None], mixed, shorter)

    def predict(self, ids: np.ndarray) -> np.ndarray:
        """(N, T, V) probabilities of the token after each position of ``ids`` (N, T).

        Position t of a row is conditioned on tokens max(0, t - order + 2) .. t of that
        row: a window never reads across its start, as a neural model's cannot.
        """
        return self._probabilities(ids, None)

    def probabilities(self, context: np.ndarray) -> np.ndarray:
        """(V,) distribution of the token after ``context``, a 1-D sequence of ids of which
        the last ``order - 1`` count; an empty context gives the unigram level."""
        self._check_fitted()
        context = np.asarray(context, dtype=np.int64).reshape(-1)
        if len(context) == 0:
            uniform = np.full((1, self.vocab_size), 1.0 / self.vocab_size)
            return self._smooth(0, np.zeros(1, dtype=np.int64), uniform)[0]
        return self.predict(context[None])[0, -1]

    def cross_entropy(self, inputs: np.ndarray, targets: np.ndarray) -> float:
        r"""Mean held-out loss in nats per token, :math:`-\frac{1}{NT}\sum \ln P(y_{nt})`,
        of ``targets`` (N, T) after ``inputs`` (N, T): the loss a neural model reports.
        Only the targets' probabilities are computed: V times less work than ``predict``."""
        return float(-np.log(self._probabilities(inputs, targets)).mean())

    def _probabilities(self, ids: np.ndarray, targets: np.ndarray | None) -> np.ndarray:
        """``predict(ids)`` (N, T, V), or with ``targets`` (N, T) only their probabilities."""
        self._check_fitted()
        ids = np.asarray(ids)
        if ids.ndim != 2 or ids.dtype.kind not in "iu" or 0 in ids.shape:
            raise ValueError(f"ids must be token ids of shape (N, T), got {describe(ids)}")
        check_ids(ids, self.vocab_size, size_name="vocab_size")
        ids = ids.astype(np.int64)
        n, t, v = *ids.shape, self.vocab_size
        columns = v
        if targets is not None:
            targets = np.asarray(targets)
            if targets.shape != ids.shape:
                raise ValueError(
                    f"targets must have the shape of inputs {ids.shape}, got {describe(targets)}"
                )
            check_ids(targets, v, "targets", "vocab_size")
            columns = 1
        # column j + 1: the distribution after a context that ends at position j (0: none yet)
        probabilities = np.full((n, t + 1, columns), 1.0 / v)  # P_{-1}, uniform
        for k in range(min(self.order, t + 1)):
            # contexts of length k ending at positions k - 1 .. t - 1 (k = 0: the empty one)
            windows = np.lib.stride_tricks.sliding_window_view(ids, k, axis=1)[:, : t - k + 1]
            context = self._code(windows.reshape(n * (t - k + 1), k))  # (M,)
            shorter = probabilities[:, k:].reshape(-1, columns)  # P_{k-1} there, (M, C)
            tokens = None
            if targets is not None:  # the token that came after each context
                after = np.concatenate([np.zeros((n, 1), np.int64), targets], axis=1)
                tokens = after[:, k:].reshape(-1, 1).astype(np.int64)
            smoothed = self._smooth(k, context, shorter, tokens)
            probabilities[:, k:] = smoothed.reshape(n, -1, columns)
        return probabilities[:, 1:, 0] if targets is not None else probabilities[:, 1:]


def held_out_losses(
    train_ids: np.ndarray,
    inputs: np.ndarray,
    targets: np.ndarray,
    vocab_size: int,
    orders: range | list[int],
) -> dict[int, float]:
    """Nats per token on ``(inputs, targets)`` (N, T) of a model of each order fitted on
    ``train_ids``: choose the order on text held out *from the training text*, so that
    the test text informs nothing."""
    return {
        order: NGramLanguageModel(order, vocab_size).fit(train_ids).cross_entropy(inputs, targets)
        for order in orders
    }
