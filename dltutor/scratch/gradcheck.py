"""Gradient checking: compare backprop's gradients with central finite differences.

For a scalar function :math:`L(\\theta)`,

.. math::

    \\frac{\\partial L}{\\partial \\theta_i} \\approx
    \\frac{L(\\theta + \\varepsilon e_i) - L(\\theta - \\varepsilon e_i)}{2 \\varepsilon},

with error :math:`O(\\varepsilon^2)`. In float64 with :math:`\\varepsilon = 10^{-6}` a
correct backward agrees to a relative error around :math:`10^{-8}` or better.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dltutor._checks import as_float_array
from dltutor.scratch.layers import Layer
from dltutor.scratch.losses import Loss


def numerical_gradient(function: Callable[[], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central-difference gradient of ``function()`` with respect to the array ``x``.

    ``x`` is perturbed in place, one entry at a time, and restored; ``function`` must read it.
    """
    if x.dtype != np.float64:
        raise TypeError(f"numerical_gradient needs a float64 array, got dtype {x.dtype}")
    gradient = np.zeros_like(x)
    flat_x, flat_gradient = x.reshape(-1), gradient.reshape(-1)  # views into x and gradient
    for i in range(flat_x.size):
        original = flat_x[i]
        flat_x[i] = original + eps
        loss_plus = function()
        flat_x[i] = original - eps
        loss_minus = function()
        flat_x[i] = original
        flat_gradient[i] = (loss_plus - loss_minus) / (2 * eps)
    return gradient


def relative_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    """A scale-free distance between two gradients: ``max|a - n| / max(|a| + |n|)``, 0 if both are 0."""
    scale = np.max(np.abs(analytic) + np.abs(numeric))
    return 0.0 if scale == 0 else float(np.max(np.abs(analytic - numeric)) / scale)


def check_layer(
    layer: Layer, x: np.ndarray, rng: np.random.Generator, eps: float = 1e-6
) -> dict[str, float]:
    """Relative error of ``layer.backward`` against finite differences, per input and parameter.

    The scalar checked is :math:`L = \\sum_{ij} y_{ij} g_{ij}` for a fixed random
    :math:`g`, so :math:`\\partial L / \\partial y = g` exercises every output. Returns
    ``{"x": err, "W": err, ...}`` (names from ``layer.named_parameters()``).
    """
    x = as_float_array(x, "x").astype(np.float64, copy=True)
    upstream = rng.standard_normal(layer.forward(x).shape)

    def loss() -> float:
        return float(np.sum(layer.forward(x) * upstream))

    layer.forward(x)
    analytic = {"x": layer.backward(upstream)}
    analytic.update({name: value.copy() for name, value in layer.named_gradients().items()})
    errors = {"x": relative_error(analytic["x"], numerical_gradient(loss, x, eps))}
    for name, parameter in layer.named_parameters().items():
        errors[name] = relative_error(analytic[name], numerical_gradient(loss, parameter, eps))
    return errors


def check_loss(loss: Loss, prediction: np.ndarray, target: np.ndarray, eps: float = 1e-6) -> float:
    """Relative error of a loss' ``backward`` (dL/dprediction) against finite differences."""
    prediction = as_float_array(prediction, "prediction").astype(np.float64, copy=True)
    loss.forward(prediction, target)
    analytic = loss.backward()
    numeric = numerical_gradient(lambda: loss.forward(prediction, target), prediction, eps)
    return relative_error(analytic, numeric)
