r"""Data parallelism in NumPy: many workers, one big batch, and the ring all-reduce that joins them.

Data-parallel training gives each of K workers a copy of the model and 1/K of every batch.
Each computes the gradient of its own mean loss; averaging the K gradients gives exactly the
gradient of the mean loss over the whole batch — when the shards are equal in size — so K
workers take the same steps as one worker with a K-times larger batch. The average is an
*all-reduce*: every worker must end with the sum of everyone's vectors. This module computes
both in one process, so the equivalence and the communication pattern can be checked and
seen; PyTorch's ``DistributedDataParallel`` and TensorFlow's ``MirroredStrategy`` do the same
across processes and devices.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dltutor.checks import as_float_array, check_positive_int, check_same_length
from dltutor.scratch.layers import Layer
from dltutor.scratch.losses import Loss


def shard(x: np.ndarray, workers: int) -> list[np.ndarray]:
    """Split a batch into ``workers`` consecutive shards, as equal as possible (sizes differ by ≤ 1)."""
    workers = check_positive_int(workers, "workers")
    if workers > len(x):
        raise ValueError(f"cannot split {len(x)} examples among {workers} workers")
    return np.array_split(np.asarray(x), workers)


def worker_gradients(
    model: Layer, loss: Loss, x: np.ndarray, y: np.ndarray, workers: int
) -> list[list[np.ndarray]]:
    """Each worker's gradients of the mean loss on its own shard of ``(x, y)``, in worker order.

    The model is the same for every worker (one set of weights, as after a broadcast).
    """
    check_same_length(x, y, "x", "y")
    found = []
    for x_part, y_part in zip(shard(x, workers), shard(y, workers), strict=True):
        loss.forward(model.forward(x_part), y_part)
        model.backward(loss.backward())
        found.append([g.copy() for g in model.gradients()])
    return found


def average(
    gradients: list[list[np.ndarray]], weights: np.ndarray | None = None
) -> list[np.ndarray]:
    """The mean over workers of each gradient array (weighted by ``weights``, e.g. shard sizes).

    With equal shards the plain mean is the big batch's gradient. With unequal shards it is
    not: each worker's mean gives its examples a different weight, and only weighting by
    shard size (``weights``) restores the big-batch gradient — the "uneven last batch" trap.
    """
    if not gradients:
        raise ValueError("no workers' gradients to average")
    shares = np.full(len(gradients), 1.0 / len(gradients))
    if weights is not None:
        weights = as_float_array(weights, "weights", ndim=1)
        if len(weights) != len(gradients) or (weights < 0).any() or weights.sum() == 0:
            raise ValueError(f"weights must be {len(gradients)} non-negative numbers, not all 0")
        shares = weights / weights.sum()
    return [
        sum(share * worker[i] for share, worker in zip(shares, gradients, strict=True))
        for i in range(len(gradients[0]))
    ]


@dataclass(frozen=True)
class Transfer:
    """One message of an all-reduce: at ``step``, ``sender`` sends chunk ``chunk`` to ``receiver``."""

    phase: str  # "reduce-scatter" or "all-gather"
    step: int
    sender: int
    receiver: int
    chunk: int


def ring_allreduce(vectors: list[np.ndarray]) -> tuple[list[np.ndarray], list[Transfer]]:
    r"""Sum K workers' vectors so that every worker ends with the total, passing messages round a ring.

    Each vector is cut into K chunks. **Reduce-scatter**, K − 1 steps: at step s worker i
    sends its running sum of chunk :math:`(i - s) \bmod K` to worker :math:`i + 1`, which adds
    it to its own; afterwards worker i holds the complete sum of chunk :math:`(i + 1) \bmod K`.
    **All-gather**, K − 1 steps: the complete chunks travel once more round the ring, each
    overwriting the receiver's copy. Every worker sends :math:`2 (K - 1)` messages of
    :math:`n / K` numbers — :math:`2 (K - 1) n / K < 2n` in all, however many workers there are
    (Patarasuk and Yuan, 2009). Returns each worker's result and the log of messages.
    """
    if not vectors:
        raise ValueError("need at least one worker's vector")
    vectors = [as_float_array(v, f"vectors[{i}]", ndim=1).copy() for i, v in enumerate(vectors)]
    if len({v.shape for v in vectors}) != 1:
        raise ValueError(
            f"every worker's vector must have the same length, got {[len(v) for v in vectors]}"
        )
    workers = len(vectors)
    chunks = [np.array_split(v, workers) for v in vectors]  # chunks[worker][chunk], views
    log: list[Transfer] = []
    for step in range(workers - 1):  # reduce-scatter
        sent = [
            (i, (i - step) % workers, chunks[i][(i - step) % workers].copy())
            for i in range(workers)
        ]
        for sender, chunk, values in sent:  # all send at once, then all receive
            receiver = (sender + 1) % workers
            chunks[receiver][chunk] += values
            log.append(Transfer("reduce-scatter", step, sender, receiver, chunk))
    for step in range(workers - 1):  # all-gather
        sent = [
            (i, (i + 1 - step) % workers, chunks[i][(i + 1 - step) % workers].copy())
            for i in range(workers)
        ]
        for sender, chunk, values in sent:
            receiver = (sender + 1) % workers
            chunks[receiver][chunk][...] = values
            log.append(Transfer("all-gather", step, sender, receiver, chunk))
    return vectors, log


def allreduce_seconds(
    numbers: int,
    workers: int,
    algorithm: str = "ring",
    bytes_per_number: int = 4,
    bandwidth: float = 1e9,
    latency: float = 1e-5,
) -> float:
    r"""The time an all-reduce of ``numbers`` values over ``workers`` takes in the α–β model.

    A message of m bytes costs :math:`\alpha + m / \beta` (``latency`` α in seconds,
    ``bandwidth`` β in bytes per second). **ring**: :math:`2 (K - 1)` steps, each moving
    :math:`n / K` values on every link at once — :math:`2 (K - 1)(\alpha + \frac{n}{K\beta})`.
    **naive** (everyone sends to worker 0, which sends the sum back): worker 0's link carries
    :math:`2 (K - 1)` full messages — :math:`2 (K - 1)(\alpha + \frac{n}{\beta})`, growing with K.
    """
    numbers = check_positive_int(numbers, "numbers")
    workers = check_positive_int(workers, "workers")
    size = numbers * bytes_per_number
    if algorithm == "ring":
        return 2 * (workers - 1) * (latency + size / workers / bandwidth)
    if algorithm == "naive":
        return 2 * (workers - 1) * (latency + size / bandwidth)
    raise ValueError(f"algorithm must be 'ring' or 'naive', got {algorithm!r}")


def fit_alpha_beta(sizes: np.ndarray, seconds: np.ndarray, workers: int) -> tuple[float, float]:
    r"""Fit the ring all-reduce's latency α (seconds) and β (seconds per byte) to measured times.

    The ring's time for a message of n bytes over K workers (see :func:`allreduce_seconds`,
    where β is ``1 / bandwidth``):

    .. math:: T(n) = 2 (K - 1)\,\alpha + \frac{2 (K - 1)}{K}\, n\, \beta

    is linear in α and β, so measured times at several sizes give them by least squares.
    The times span orders of magnitude (a 1 KiB message is latency, a 64 MiB one bandwidth),
    so the fit minimises *relative* errors — each equation divided by its measured time —
    and keeps both values non-negative. ``sizes`` in bytes, ``seconds`` per all-reduce.
    """
    from scipy.optimize import nnls

    sizes = as_float_array(sizes, "sizes", ndim=1)
    seconds = as_float_array(seconds, "seconds", ndim=1)
    check_same_length(sizes, seconds, "sizes", "seconds")
    workers = check_positive_int(workers, "workers")
    if workers < 2:
        raise ValueError(f"an all-reduce needs at least 2 workers to communicate, got {workers}")
    if len(np.unique(sizes)) < 2:
        raise ValueError(f"need at least two different message sizes, got {np.unique(sizes)}")
    if sizes.min() <= 0 or seconds.min() <= 0:
        raise ValueError("sizes and seconds must be positive")
    hops = 2 * (workers - 1)
    design = np.column_stack([np.full_like(sizes, hops), hops / workers * sizes])  # (M, 2)
    (alpha, beta), _ = nnls(design / seconds[:, None], np.ones_like(seconds))
    return float(alpha), float(beta)
