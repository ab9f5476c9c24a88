r"""Gradient checking: compare backprop's gradients with central finite differences.

For a scalar function :math:`L(\theta)`,

.. math::

    \frac{\partial L}{\partial \theta_i} \approx
    \frac{L(\theta + \varepsilon e_i) - L(\theta - \varepsilon e_i)}{2 \varepsilon},

with error :math:`O(\varepsilon^2)`. In float64 with :math:`\varepsilon = 10^{-6}` a
correct backward agrees to a relative error around :math:`10^{-8}` or better. Each entry
costs two forward passes, so for a large layer :func:`check_layer` can check a random
sample of entries (``max_entries``): a wrong backward is almost never right on a sample.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from dltutor.checks import as_float_array
from dltutor.scratch.layers import Layer
from dltutor.scratch.losses import Loss


def numerical_gradient_at(
    function: Callable[[], float], x: np.ndarray, indices: np.ndarray, eps: float = 1e-6
) -> np.ndarray:
    """Central differences of ``function()`` at the flat ``indices`` of ``x``, shape (len(indices),).

    ``x`` is perturbed in place, one entry at a time, and restored; ``function`` must read it.
    """
    if x.dtype != np.float64:
        raise TypeError(f"numerical_gradient needs a float64 array, got dtype {x.dtype}")
    flat_x = x.reshape(-1)  # a view into x
    if not np.shares_memory(flat_x, x):
        raise ValueError("numerical_gradient needs a contiguous array it can perturb in place")
    gradient = np.zeros(len(indices))
    for position, i in enumerate(indices):
        original = flat_x[i]
        flat_x[i] = original + eps
        loss_plus = function()
        flat_x[i] = original - eps
        loss_minus = function()
        flat_x[i] = original
        gradient[position] = (loss_plus - loss_minus) / (2 * eps)
    return gradient


def numerical_gradient(
    function: Callable[[], float], x: np.ndarray, eps: float = 1e-6
) -> np.ndarray:
    """Central-difference gradient of ``function()`` with respect to every entry of ``x``."""
    return numerical_gradient_at(function, x, np.arange(x.size), eps).reshape(x.shape)


def relative_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    """A scale-free distance between two gradients: ``max|a - n| / max(|a| + |n|)``, 0 if both are 0."""
    scale = np.max(np.abs(analytic) + np.abs(numeric))
    return 0.0 if scale == 0 else float(np.max(np.abs(analytic - numeric)) / scale)


def _as_tuple(value: Any) -> tuple[np.ndarray, ...]:
    return value if isinstance(value, tuple) else (value,)


def check_layer(
    layer: Layer,
    x: np.ndarray,
    rng: np.random.Generator,
    eps: float = 1e-6,
    max_entries: int | None = None,
) -> dict[str, float]:
    """Relative error of ``layer.backward`` against finite differences, per input and parameter.

    The scalar checked is :math:`L = \\sum_{ij} y_{ij} g_{ij}` for a fixed random
    :math:`g`, so :math:`\\partial L / \\partial y = g` exercises every output (a layer
    with several outputs gets one :math:`g` each). Returns ``{"x": err, "W": err, ...}``
    (names from ``layer.named_parameters()``); integer inputs (token ids) have no
    gradient and no ``"x"`` entry. With ``max_entries``, at most that many randomly chosen
    entries of each array are checked.
    """
    integer_input = np.asarray(x).dtype.kind in "iu"
    x = np.array(x) if integer_input else as_float_array(x, "x").astype(np.float64, copy=True)
    upstream = tuple(rng.standard_normal(part.shape) for part in _as_tuple(layer.forward(x)))

    def loss() -> float:
        outputs = _as_tuple(layer.forward(x))
        return float(sum(np.sum(y * g) for y, g in zip(outputs, upstream, strict=True)))

    def sample(size: int) -> np.ndarray:
        if max_entries is None or size <= max_entries:
            return np.arange(size)
        return rng.choice(size, max_entries, replace=False)

    layer.forward(x)
    arrays: dict[str, np.ndarray] = {} if integer_input else {"x": x}
    grad_x = layer.backward(upstream if len(upstream) > 1 else upstream[0])  # type: ignore[arg-type]
    analytic: dict[str, np.ndarray] = {} if integer_input else {"x": grad_x}
    analytic.update({name: value.copy() for name, value in layer.named_gradients().items()})
    arrays.update(layer.named_parameters())
    errors = {}
    for name, array in arrays.items():
        indices = sample(array.size)
        numeric = numerical_gradient_at(loss, array, indices, eps)
        errors[name] = relative_error(np.asarray(analytic[name]).reshape(-1)[indices], numeric)
    return errors


def check_loss(loss: Loss, prediction: np.ndarray, target: np.ndarray, eps: float = 1e-6) -> float:
    """Relative error of a loss' ``backward`` (dL/dprediction) against finite differences."""
    prediction = as_float_array(prediction, "prediction").astype(np.float64, copy=True)
    loss.forward(prediction, target)
    analytic = loss.backward()
    numeric = numerical_gradient(lambda: loss.forward(prediction, target), prediction, eps)
    return relative_error(analytic, numeric)
