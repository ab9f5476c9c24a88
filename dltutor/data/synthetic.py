"""Datasets generated from a seed: the same arrays on every machine, no files needed."""

from __future__ import annotations

import numpy as np

from dltutor.checks import check_positive_int, check_seed


def _check_non_negative(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ValueError(f"{name} must be a non-negative number, got {value!r}")
    return float(value)


def make_linear(
    num_examples: int = 100,
    slope: float = 2.0,
    intercept: float = 1.0,
    noise: float = 0.1,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    r"""Points on a noisy line :math:`y = a x + c + \epsilon`, :math:`\epsilon \sim N(0, \sigma^2)`.

    ``x`` is uniform on [-1, 1]. Returns ``x, y`` of shape (N, 1) each, float64.
    """
    num_examples = check_positive_int(num_examples, "num_examples")
    noise = _check_non_negative(noise, "noise")
    rng = np.random.default_rng(check_seed(seed))
    x = rng.uniform(-1.0, 1.0, size=(num_examples, 1))
    y = slope * x + intercept + noise * rng.standard_normal((num_examples, 1))
    return x, y


def make_moons(
    num_examples: int = 400, noise: float = 0.2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles (scikit-learn's generator): ``x`` (N, 2) float64, ``y`` (N,) int64.

    No straight line separates the classes, so a model needs a hidden layer.
    """
    from sklearn.datasets import make_moons as sklearn_make_moons

    from dltutor.data.tabular import SKLEARN_SEEDS

    seed = check_seed(seed, maximum=SKLEARN_SEEDS)
    num_examples = check_positive_int(num_examples, "num_examples")
    noise = _check_non_negative(noise, "noise")
    x, y = sklearn_make_moons(n_samples=num_examples, noise=noise, random_state=seed)
    return x.astype(np.float64), y.astype(np.int64)


def add_gaussian_noise(
    x: np.ndarray, std: float = 0.3, seed: int = 0, clip: bool = True
) -> np.ndarray:
    r"""``x`` plus noise :math:`N(0, \sigma^2)` per entry, clipped to [0, 1] (pixel range) unless ``clip=False``.

    Returns a new float32 array: the inputs of a denoising autoencoder.
    """
    from dltutor.checks import as_float_array

    x = as_float_array(x, "x")
    std = _check_non_negative(std, "std")
    noisy = x + std * np.random.default_rng(check_seed(seed)).standard_normal(x.shape)
    return (np.clip(noisy, 0.0, 1.0) if clip else noisy).astype(np.float32)
