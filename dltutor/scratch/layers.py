"""The layer interface and the fully connected layer, forward and backward side by side.

Notation (the book's): a batch of inputs is a matrix ``x`` of shape (N, d_in), one
example per row; a layer computes ``y = f(x W + b)``.
"""

from __future__ import annotations

import numpy as np

from dltutor._checks import as_float_array, check_positive_int, describe


class Layer:
    """A differentiable step: ``forward`` keeps what ``backward`` needs.

    ``params`` maps names to parameter arrays (updated in place by an optimizer);
    after ``backward``, ``grads`` maps the same names to dLoss/dparam.
    """

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Compute the layer's output for a batch ``x``."""
        raise NotImplementedError

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        """Given dLoss/doutput, store dLoss/dparams in ``grads`` and return dLoss/dinput."""
        raise NotImplementedError

    def named_parameters(self) -> dict[str, np.ndarray]:
        """Every parameter of this layer (and of layers inside it), by name, in a fixed order."""
        return dict(self.params)

    def named_gradients(self) -> dict[str, np.ndarray]:
        """The gradients of the last ``backward``, under the names of :meth:`named_parameters`."""
        missing = [name for name in self.params if name not in self.grads]
        if missing:
            raise RuntimeError(f"no gradients for {missing} yet: call backward first")
        return {name: self.grads[name] for name in self.params}

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x)


def glorot_uniform(
    fan_in: int, fan_out: int, rng: np.random.Generator, dtype: type = np.float64
) -> np.ndarray:
    r"""Glorot (Xavier) uniform initialisation: :math:`W_{ij} \sim U(-a, a)`, :math:`a = \sqrt{6 / (d_{in} + d_{out})}`.

    It keeps the variance of activations and gradients roughly equal across layers
    (Glorot & Bengio, 2010); it is also Keras' default for ``Dense``.
    """
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=(fan_in, fan_out)).astype(dtype)


class Linear(Layer):
    r"""Fully connected layer :math:`y = xW + b`.

    Shapes: ``x`` (N, d_in), ``W`` (d_in, d_out), ``b`` (d_out,), ``y`` (N, d_out).
    Backward, with :math:`g = \partial L / \partial y`:

    .. math::

        \frac{\partial L}{\partial W} = x^\top g, \qquad
        \frac{\partial L}{\partial b} = \sum_n g_n, \qquad
        \frac{\partial L}{\partial x} = g W^\top .
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        rng: np.random.Generator | None = None,
        dtype: type = np.float64,
    ) -> None:
        super().__init__()
        self.in_features = check_positive_int(in_features, "in_features")
        self.out_features = check_positive_int(out_features, "out_features")
        rng = np.random.default_rng() if rng is None else rng
        self.params["W"] = glorot_uniform(self.in_features, self.out_features, rng, dtype)
        self.params["b"] = np.zeros(self.out_features, dtype=dtype)
        self._x: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = as_float_array(x, "x", ndim=2)
        if x.shape[1] != self.in_features:
            raise ValueError(
                f"Linear expects inputs of shape (N, {self.in_features}), got {describe(x)}"
            )
        self._x = x
        return x @ self.params["W"] + self.params["b"]  # (N, d_out)

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        if self._x is None:
            raise RuntimeError("Linear.backward called before forward")
        grad_output = as_float_array(grad_output, "grad_output", ndim=2)
        expected = (self._x.shape[0], self.out_features)
        if grad_output.shape != expected:
            raise ValueError(f"grad_output must have shape {expected}, got {describe(grad_output)}")
        self.grads["W"] = self._x.T @ grad_output  # (d_in, d_out)
        self.grads["b"] = grad_output.sum(axis=0)  # (d_out,)
        return grad_output @ self.params["W"].T  # (N, d_in)

    def __repr__(self) -> str:
        return f"Linear({self.in_features}, {self.out_features})"
