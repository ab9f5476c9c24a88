"""Activation functions f and their derivatives f', and the layer that applies them.

Each function works elementwise on an array ``z`` of pre-activations.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dltutor.checks import as_float_array
from dltutor.scratch.layers import Layer
from dltutor.specs import check_activation


def sigmoid(z: np.ndarray) -> np.ndarray:
    r"""Logistic sigmoid :math:`\sigma(z) = 1 / (1 + e^{-z})`, in :math:`(0, 1)`.

    Computed as :math:`\tfrac12(1 + \tanh(z/2))`, which never overflows.
    """
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def sigmoid_derivative(z: np.ndarray) -> np.ndarray:
    r""":math:`\sigma'(z) = \sigma(z)\,(1 - \sigma(z))`; at most 1/4, at :math:`z = 0`."""
    s = sigmoid(z)
    return s * (1.0 - s)


def tanh(z: np.ndarray) -> np.ndarray:
    r"""Hyperbolic tangent :math:`\tanh(z) = (e^{z} - e^{-z}) / (e^{z} + e^{-z})`, in :math:`(-1, 1)`."""
    return np.tanh(z)


def tanh_derivative(z: np.ndarray) -> np.ndarray:
    r""":math:`\tanh'(z) = 1 - \tanh^2(z)`; at most 1, at :math:`z = 0`."""
    return 1.0 - np.tanh(z) ** 2


def relu(z: np.ndarray) -> np.ndarray:
    r"""Rectified linear unit :math:`\mathrm{ReLU}(z) = \max(0, z)`."""
    return np.maximum(z, 0.0)


def relu_derivative(z: np.ndarray) -> np.ndarray:
    r""":math:`\mathrm{ReLU}'(z) = 1` for :math:`z > 0`, else 0 (the frameworks' convention at 0)."""
    return (z > 0).astype(np.result_type(z, np.float32))


def identity(z: np.ndarray) -> np.ndarray:
    r"""The identity :math:`f(z) = z`, for output layers of regression models."""
    return z


def identity_derivative(z: np.ndarray) -> np.ndarray:
    r""":math:`f'(z) = 1`."""
    return np.ones_like(z)


Function = Callable[[np.ndarray], np.ndarray]

# Every name of dltutor.specs.ACTIVATIONS, with its derivative (a test checks the set).
FUNCTIONS: dict[str, tuple[Function, Function]] = {
    "identity": (identity, identity_derivative),
    "relu": (relu, relu_derivative),
    "sigmoid": (sigmoid, sigmoid_derivative),
    "tanh": (tanh, tanh_derivative),
}


class Activation(Layer):
    r"""Elementwise activation layer :math:`a = f(z)`.

    Backward is the chain rule through an elementwise function:
    :math:`\partial L / \partial z = \partial L / \partial a \odot f'(z)`.

    Args:
        name: one of ``"identity"``, ``"relu"``, ``"sigmoid"``, ``"tanh"``.
    """

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = check_activation(name)
        self.function, self.derivative = FUNCTIONS[self.name]
        self._z: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._z = as_float_array(x, "x")
        return self.function(self._z)

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        if self._z is None:
            raise RuntimeError("Activation.backward called before forward")
        grad_output = as_float_array(grad_output, "grad_output")
        if grad_output.shape != self._z.shape:
            raise ValueError(
                f"grad_output must have shape {self._z.shape}, got shape {grad_output.shape}"
            )
        return grad_output * self.derivative(self._z)

    def __repr__(self) -> str:
        return f"Activation({self.name!r})"
