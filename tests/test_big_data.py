"""Data parallelism in NumPy: averaged worker gradients against the big batch, and the ring all-reduce."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dltutor import scratch
from dltutor.scratch import big_data


def classifier_and_batch(rng: np.random.Generator, size: int):
    model = scratch.MLP([5, 7, 3], activation="tanh", rng=rng)
    return model, rng.standard_normal((size, 5)), rng.integers(0, 3, size)


def big_batch_gradients(model, x, y) -> list[np.ndarray]:
    loss = scratch.CrossEntropyLoss()
    loss.forward(model.forward(x), y)
    model.backward(loss.backward())
    return [g.copy() for g in model.gradients()]


@pytest.mark.parametrize("workers", [1, 2, 4, 8])
def test_averaged_worker_gradients_are_the_big_batch_gradient(workers, rng) -> None:
    model, x, y = classifier_and_batch(rng, 32)  # 32 splits evenly for every count here
    parts = big_data.worker_gradients(model, scratch.CrossEntropyLoss(), x, y, workers)
    for ours, whole in zip(big_data.average(parts), big_batch_gradients(model, x, y), strict=True):
        np.testing.assert_allclose(ours, whole, rtol=1e-12, atol=1e-15)


def test_uneven_shards_need_weights(rng) -> None:
    model, x, y = classifier_and_batch(rng, 10)  # 3 workers: shards of 4, 3 and 3
    parts = big_data.worker_gradients(model, scratch.CrossEntropyLoss(), x, y, 3)
    whole = big_batch_gradients(model, x, y)
    plain = big_data.average(parts)
    weighted = big_data.average(parts, weights=np.array([4, 3, 3]))
    assert max(np.abs(a - b).max() for a, b in zip(plain, whole, strict=True)) > 1e-4
    for ours, expected in zip(weighted, whole, strict=True):
        np.testing.assert_allclose(ours, expected, rtol=1e-12, atol=1e-15)


@given(
    workers=st.integers(1, 6),
    length=st.integers(1, 20),
    seed=st.integers(0, 2**16),
)
def test_ring_allreduce_gives_every_worker_the_sum(workers, length, seed) -> None:
    rng = np.random.default_rng(seed)
    vectors = [rng.standard_normal(length) for _ in range(workers)]
    results, log = big_data.ring_allreduce(vectors)
    total = np.sum(vectors, axis=0)
    for result in results:
        np.testing.assert_allclose(result, total, rtol=1e-12, atol=1e-12)
    # 2 (K - 1) steps, every worker sends one chunk to its right-hand neighbour per step
    assert len(log) == 2 * (workers - 1) * workers
    assert all(t.receiver == (t.sender + 1) % workers for t in log)
    assert set(Counter(t.sender for t in log).values()) <= {2 * (workers - 1)}


def test_allreduce_cost_model() -> None:
    ring = [big_data.allreduce_seconds(10**7, k, "ring", latency=0.0) for k in (2, 4, 8, 64)]
    naive = [big_data.allreduce_seconds(10**7, k, "naive", latency=0.0) for k in (2, 4, 8, 64)]
    assert ring[0] == pytest.approx(naive[0] / 2)  # two workers: both links busy at once
    assert all(a < b for a, b in zip(naive, naive[1:]))  # the root's link carries ever more
    assert ring[-1] < 2 * 4e7 / 1e9  # bounded by 2n / bandwidth, whatever K
    with pytest.raises(ValueError, match="'ring' or 'naive'"):
        big_data.allreduce_seconds(10, 2, "tree")


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="cannot split 3 examples among 4 workers"):
        big_data.shard(np.zeros((3, 2)), 4)
    with pytest.raises(ValueError, match="same length"):
        big_data.ring_allreduce([np.zeros(3), np.zeros(4)])
