"""The n-gram language model: a hand-worked example, a plain-Python reference, and the
properties every smoothed model must have (each distribution sums to one, nothing gets 0)."""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dltutor.scratch.ngram import NGramLanguageModel


def witten_bell(train: list[int], vocab_size: int, order: int, context: tuple[int, ...]):
    """P(w | context) for every w, straight from the recursion, with dictionaries."""
    counts: Counter[tuple[int, ...]] = Counter()
    for k in range(order):
        for t in range(k, len(train)):
            counts[tuple(train[t - k : t + 1])] += 1
    probabilities = [1.0 / vocab_size] * vocab_size
    context = context[len(context) - min(len(context), order - 1) :]
    for k in range(len(context) + 1):
        h = context[len(context) - k :]
        after = {w: counts[(*h, w)] for w in range(vocab_size) if counts[(*h, w)]}
        total, types = sum(after.values()), len(after)
        if total:
            probabilities = [
                (after.get(w, 0) + types * probabilities[w]) / (total + types)
                for w in range(vocab_size)
            ]
    return np.array(probabilities)


def test_a_hand_worked_bigram_example() -> None:
    # "a b a b a c": unigram counts 3, 2, 1 of N = 6 with u = 3 kinds, so
    # P(w) = (c(w) + 3 * 1/3) / (6 + 3) = 4/9, 3/9, 2/9. After "a" came b, b, c: c = 3, u = 2,
    # P(w | a) = (c(a w) + 2 P(w)) / 5 = 8/45, 24/45, 13/45. "c" was never followed by
    # anything: its context is unseen and P(w | c) = P(w).
    model = NGramLanguageModel(2, 3).fit(np.array([0, 1, 0, 1, 0, 2]))
    np.testing.assert_allclose(model.probabilities([]), [4 / 9, 3 / 9, 2 / 9], rtol=1e-14)
    np.testing.assert_allclose(model.probabilities([0]), [8 / 45, 24 / 45, 13 / 45], rtol=1e-14)
    np.testing.assert_allclose(model.probabilities([1]), [22 / 27, 3 / 27, 2 / 27], rtol=1e-14)
    np.testing.assert_allclose(model.probabilities([2]), [4 / 9, 3 / 9, 2 / 9], rtol=1e-14)
    np.testing.assert_allclose(model.probabilities([1, 0]), model.probabilities([0]))


@settings(max_examples=40, deadline=None)
@given(
    train=st.lists(st.integers(0, 3), min_size=1, max_size=40),
    order=st.integers(1, 4),
    seed=st.integers(0, 2**16),
)
def test_matches_the_recursion_written_with_dictionaries(train, order, seed) -> None:
    vocab_size = 5  # token 4 never occurs in training
    model = NGramLanguageModel(order, vocab_size).fit(np.array(train))
    ids = np.random.default_rng(seed).integers(0, vocab_size, size=(2, 6))
    predicted = model.predict(ids)
    for n, t in itertools.product(range(2), range(6)):
        expected = witten_bell(train, vocab_size, order, tuple(ids[n, : t + 1]))
        np.testing.assert_allclose(predicted[n, t], expected, rtol=1e-12)


@pytest.mark.parametrize("order", [1, 2, 3])
def test_every_context_gives_a_distribution_with_no_zero(order: int) -> None:
    vocab_size = 4
    train = np.random.default_rng(order).integers(0, 3, size=30)  # token 3 never seen
    model = NGramLanguageModel(order, vocab_size).fit(train)
    for length in range(order):  # every context, seen or not, up to order - 1 tokens
        for context in itertools.product(range(vocab_size), repeat=length):
            p = model.probabilities(np.array(context, dtype=np.int64))
            np.testing.assert_allclose(p.sum(), 1.0, rtol=1e-14)
            assert (p > 0).all(), (context, p)


def test_windows_do_not_read_across_their_start() -> None:
    model = NGramLanguageModel(3, 6).fit(np.random.default_rng(0).integers(0, 6, size=200))
    ids = np.random.default_rng(1).integers(0, 6, size=(3, 5))
    predicted = model.predict(ids)
    for n, t in itertools.product(range(3), range(5)):
        np.testing.assert_array_equal(predicted[n, t], model.probabilities(ids[n, : t + 1]))


def test_cross_entropy_is_the_mean_negative_log_probability() -> None:
    model = NGramLanguageModel(2, 4).fit(np.array([0, 1, 2, 3, 0, 1, 2]))
    inputs, targets = np.array([[0, 1, 2]]), np.array([[1, 2, 0]])
    p = model.predict(inputs)[0]
    expected = -np.mean(np.log([p[0, 1], p[1, 2], p[2, 0]]))
    assert model.cross_entropy(inputs, targets) == pytest.approx(expected, rel=1e-14)
    # the counts' own text is predicted better than by the uniform model
    assert model.cross_entropy(inputs, targets) < np.log(4)


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="order must be a positive integer"):
        NGramLanguageModel(0, 5)
    with pytest.raises(ValueError, match="vocab_size"):
        NGramLanguageModel(2, 0)
    with pytest.raises(ValueError, match=r"vocab_size \*\* order must stay below 2\*\*62"):
        NGramLanguageModel(10, 100)
    model = NGramLanguageModel(2, 3)
    with pytest.raises(ValueError, match=r"no counts yet: call fit\(ids\) first"):
        model.predict(np.zeros((1, 2), dtype=np.int64))
    with pytest.raises(ValueError, match="non-empty 1-D array of token ids"):
        model.fit(np.zeros((2, 2), dtype=np.int64))
    with pytest.raises(ValueError, match="non-empty 1-D array of token ids"):
        model.fit(np.array([0.5, 1.0]))
    with pytest.raises(
        ValueError, match=r"ids must lie in \[0, 3\) \(vocab_size = 3\), got values from 0 to 3"
    ):
        model.fit(np.array([0, 1, 3]))
    model.fit(np.array([0, 1, 2]))
    with pytest.raises(ValueError, match=r"ids must be token ids of shape \(N, T\)"):
        model.predict(np.array([0, 1]))
    with pytest.raises(ValueError, match=r"targets must have the shape of inputs \(1, 2\)"):
        model.cross_entropy(np.array([[0, 1]]), np.array([[0, 1, 2]]))
