"""Sequence data offline: long-range toy tasks, a simulated physical series, and text that ships with Python."""

from __future__ import annotations

import numpy as np

from dltutor.checks import as_float_array, check_number, check_positive_int, check_seed, describe


def make_adding_problem(
    num_examples: int = 3000, length: int = 40, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """The adding problem (Hochreiter & Schmidhuber, 1997): add the two marked numbers of a long sequence.

    Each step carries a random value in [0, 1) and a marker, 1 at exactly two steps — one in
    each half of the sequence — and 0 elsewhere. The target is the sum of the two marked
    values. Predicting the mean, 1, scores a mean squared error of about 1/6; doing better
    requires remembering a value across up to ``length`` steps.
    Returns ``x`` (N, T, 2) float32 and ``y`` (N, 1) float32.
    """
    num_examples = check_positive_int(num_examples, "num_examples")
    length = check_positive_int(length, "length")
    if length < 2:
        raise ValueError(f"length must be at least 2 to hold two markers, got {length}")
    rng = np.random.default_rng(check_seed(seed))
    values = rng.random((num_examples, length))
    markers = np.zeros((num_examples, length))
    rows = np.arange(num_examples)
    markers[rows, rng.integers(0, length // 2, size=num_examples)] = 1.0
    markers[rows, rng.integers(length // 2, length, size=num_examples)] = 1.0
    x = np.stack([values, markers], axis=-1)  # (N, T, 2)
    y = (values * markers).sum(axis=1, keepdims=True)  # (N, 1)
    return x.astype(np.float32), y.astype(np.float32)


def make_lorenz(num_steps: int = 3000, dt: float = 0.05, seed: int = 0) -> np.ndarray:
    r"""The Lorenz system, a model of atmospheric convection, sampled every ``dt``: shape (num_steps, 3).

    :math:`\dot x = \sigma (y - x)`, :math:`\dot y = x (\rho - z) - y`, :math:`\dot z = x y - \beta z`
    with the classic :math:`\sigma = 10, \rho = 28, \beta = 8/3`, integrated by SciPy from a
    seeded start; the first 500 samples (the transient) are dropped.
    """
    from scipy.integrate import solve_ivp

    num_steps = check_positive_int(num_steps, "num_steps")
    dt = check_number(dt, "dt", positive=True)  # an infinite step would never finish
    seed = check_seed(seed)
    sigma, rho, beta = 10.0, 28.0, 8.0 / 3.0

    def derivative(_: float, state: np.ndarray) -> list[float]:
        x, y, z = state
        return [sigma * (y - x), x * (rho - z) - y, x * y - beta * z]

    start = np.random.default_rng(seed).normal(0.0, 1.0, size=3) + np.array([1.0, 1.0, 20.0])
    times = np.arange(num_steps + 500) * dt
    solution = solve_ivp(derivative, (0.0, times[-1]), start, t_eval=times, rtol=1e-8, atol=1e-8)
    return solution.y.T[500:]  # (num_steps, 3)


def sliding_windows(series: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs of ``window`` consecutive steps and the step that follows each, for one-step forecasting.

    ``series`` has shape (T,) or (T, D). Returns ``x`` (T - window, window, D) and ``y`` (T - window, D).
    """
    series = as_float_array(series, "series")
    if series.ndim == 1:
        series = series[:, None]
    if series.ndim != 2:
        raise ValueError(f"series must have shape (T,) or (T, D), got {describe(series)}")
    window = check_positive_int(window, "window")
    if window >= len(series):
        raise ValueError(
            f"window must be shorter than the series ({len(series)} steps), got {window}"
        )
    x = np.lib.stride_tricks.sliding_window_view(
        series, window, axis=0
    )  # (T - window + 1, D, window)
    return np.ascontiguousarray(x[:-1].transpose(0, 2, 1)), series[window:].copy()


def make_reversal(
    num_examples: int = 4000, length: int = 16, vocab_size: int = 10, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Random digit strings and the same strings reversed: ``x``, ``y`` (N, ``length``) int64.

    Position i of the output must copy position ``length - 1 - i`` of the input: a task
    that one attention head solves by looking at the mirror position.
    """
    num_examples = check_positive_int(num_examples, "num_examples")
    length = check_positive_int(length, "length")
    vocab_size = check_positive_int(vocab_size, "vocab_size")
    rng = np.random.default_rng(check_seed(seed))
    x = rng.integers(0, vocab_size, size=(num_examples, length))
    return x, x[:, ::-1].copy()


def make_associative_recall(
    num_examples: int = 4000,
    pairs: int = 8,
    num_keys: int = 16,
    num_values: int = 10,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Key-value pairs, then a query key: predict the value stored with it.

    A sequence reads ``k_1 v_1 k_2 v_2 ... k_P v_P ? k_q`` (length 2P + 2) with ``pairs``
    distinct keys. Token ids: keys ``0 .. num_keys - 1``, values ``num_keys ..
    num_keys + num_values - 1``, the query marker ``num_keys + num_values`` (the vocabulary
    size is ``num_keys + num_values + 1``). Returns ``x`` (N, 2P + 2) and ``y`` (N,): the
    value token of the queried key. Guessing scores ``1 / num_values``.
    """
    num_examples = check_positive_int(num_examples, "num_examples")
    pairs = check_positive_int(pairs, "pairs")
    num_keys, num_values = (
        check_positive_int(num_keys, "num_keys"),
        check_positive_int(num_values, "num_values"),
    )
    if pairs > num_keys:
        raise ValueError(
            f"pairs must be at most num_keys ({num_keys}) to keep the keys distinct, got {pairs}"
        )
    rng = np.random.default_rng(check_seed(seed))
    keys = np.argsort(rng.random((num_examples, num_keys)), axis=1)[:, :pairs]  # distinct keys
    values = num_keys + rng.integers(0, num_values, size=(num_examples, pairs))
    asked = rng.integers(0, pairs, size=num_examples)
    rows = np.arange(num_examples)
    x = np.empty((num_examples, 2 * pairs + 2), dtype=np.int64)
    x[:, 0 : 2 * pairs : 2], x[:, 1 : 2 * pairs : 2] = keys, values
    x[:, -2], x[:, -1] = num_keys + num_values, keys[rows, asked]  # "?" and the query key
    return x, values[rows, asked]
