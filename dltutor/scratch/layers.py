"""Parameters, the layer interface, the fully connected layer and the embedding.

Notation (the book's): a batch of inputs is a matrix ``x`` of shape (N, d_in), one
example per row; a layer computes ``y = f(x W + b)``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from dltutor.checks import as_float_array, as_index_array, check_positive_int, describe


@dataclass(eq=False)
class Parameter:
    """A learnable array and the gradient of the loss with respect to it, in one place.

    ``backward`` sets ``grad``; an optimiser updates ``value`` in place, so every layer
    that holds this parameter sees the new value.
    """

    value: np.ndarray
    grad: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        return self.value.shape


AnyLayer = TypeVar("AnyLayer", bound="Layer")


class Layer:
    """A differentiable step: ``forward`` keeps what ``backward`` needs.

    A layer owns named :class:`Parameter` objects (:meth:`add_parameter`) and may hold
    other layers (:meth:`add_layer`); :meth:`parameters` walks both, depth first, with
    dotted names such as ``"0.W"``. ``training`` is True by default; :meth:`eval` and
    :meth:`train` switch it for the layer and everything inside (dropout and batch
    normalisation behave differently in the two modes).
    """

    def __init__(self) -> None:
        self._parameters: dict[str, Parameter] = {}
        self._layers: dict[str, Layer] = {}
        self.training = True

    def add_parameter(self, name: str, value: np.ndarray) -> Parameter:
        """Register ``value`` as a learnable parameter called ``name``; return it."""
        parameter = Parameter(value)
        self._parameters[name] = parameter
        return parameter

    def add_layer(self, name: str, layer: AnyLayer) -> AnyLayer:
        """Register a layer inside this one; its parameters appear as ``"name.<param>"``."""
        if not isinstance(layer, Layer):
            raise TypeError(f"{type(self).__name__} takes Layer objects, got {describe(layer)}")
        self._layers[name] = layer
        return layer

    def parameters(self) -> Iterator[tuple[str, Parameter]]:
        """Every parameter of this layer and of the layers inside it, by name, in a fixed order."""
        yield from self._parameters.items()
        for prefix, layer in self._layers.items():
            for name, parameter in layer.parameters():
                yield f"{prefix}.{name}", parameter

    @property
    def params(self) -> Mapping[str, np.ndarray]:
        """This layer's own parameter arrays by name (read-only view; change arrays in place)."""
        return MappingProxyType({name: p.value for name, p in self._parameters.items()})

    @property
    def grads(self) -> Mapping[str, np.ndarray]:
        """This layer's own gradients from the last ``backward``, by parameter name."""
        return MappingProxyType(
            {name: p.grad for name, p in self._parameters.items() if p.grad is not None}
        )

    def named_parameters(self) -> dict[str, np.ndarray]:
        """The arrays of :meth:`parameters`, by name."""
        return {name: parameter.value for name, parameter in self.parameters()}

    def named_gradients(self) -> dict[str, np.ndarray]:
        """The gradients of the last ``backward``, under the names of :meth:`named_parameters`."""
        gradients = {name: parameter.grad for name, parameter in self.parameters()}
        missing = [name for name, grad in gradients.items() if grad is None]
        if missing:
            raise RuntimeError(f"no gradients for {missing} yet: call backward first")
        return {name: grad for name, grad in gradients.items() if grad is not None}

    def get_weights(self) -> list[np.ndarray]:
        """Copies of every parameter, in the order of :meth:`parameters`.

        For an MLP ``[W1, b1, W2, b2, ...]`` with W of shape (d_in, d_out); convolution
        kernels are (C_out, C_in, k, k), recurrent weights ``[W_x, W_h, b]``. This is the
        layout ``dltutor.torch.set_weights`` and ``dltutor.keras.set_weights`` take for
        every twin.
        """
        return [value.copy() for value in self.named_parameters().values()]

    def set_weights(self, weights: Sequence[np.ndarray]) -> None:
        """Overwrite the parameters, in place, from a list in the layout of :meth:`get_weights`."""
        current = list(self.parameters())
        if len(weights) != len(current):
            raise ValueError(f"expected {len(current)} weight arrays, got {len(weights)}")
        for (name, parameter), value in zip(current, weights, strict=True):
            value = as_float_array(value, f"weight {name!r}")
            if value.shape != parameter.shape:
                raise ValueError(
                    f"weight {name!r} must have shape {parameter.shape}, got {value.shape}"
                )
            parameter.value[...] = value  # in place: keeps the parameter's dtype and identity

    def gradients(self) -> list[np.ndarray]:
        """The gradients stored by the last ``backward``, in the layout of :meth:`get_weights`."""
        return list(self.named_gradients().values())

    def train(self, mode: bool = True) -> Layer:
        """Set training mode (or evaluation mode, ``mode=False``) here and in every inner layer."""
        self.training = bool(mode)
        for layer in self._layers.values():
            layer.train(mode)
        return self

    def eval(self) -> Layer:
        """Evaluation mode: the same as ``train(False)``."""
        return self.train(False)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Compute the layer's output for a batch ``x``."""
        raise NotImplementedError

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        """Given dLoss/doutput, set each parameter's ``grad`` and return dLoss/dinput."""
        raise NotImplementedError

    def predict(self, x: np.ndarray, batch_size: int = 256) -> Any:
        """Outputs for ``x`` in evaluation mode, a batch at a time so memory stays bounded."""
        return predict(self, x, batch_size)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x)


def predict(model: Layer, x: np.ndarray, batch_size: int = 256) -> Any:
    """``model``'s outputs for ``x`` in evaluation mode, ``batch_size`` examples at a time.

    Batching bounds memory: a convolution's im2col matrix for 60,000 MNIST images at once
    would take tens of GB. The model's training mode is restored afterwards. A model with
    several outputs (the VAE's ``(logits, mu, log_var)``) gives a tuple of arrays.
    """
    batch_size = check_positive_int(batch_size, "batch_size")
    x = np.asarray(x)
    was_training = model.training
    model.eval()
    try:
        outputs = [
            model.forward(x[start : start + batch_size]) for start in range(0, len(x), batch_size)
        ]
    finally:
        model.train(was_training)
    if isinstance(outputs[0], tuple):  # a model with several outputs, such as the VAE
        return tuple(np.concatenate(parts) for parts in zip(*outputs, strict=True))
    return np.concatenate(outputs)


def glorot_uniform(
    fan_in: int,
    fan_out: int,
    rng: np.random.Generator,
    dtype: npt.DTypeLike = np.float64,
    shape: tuple[int, ...] | None = None,
) -> np.ndarray:
    r"""Glorot (Xavier) uniform initialisation: :math:`W_{ij} \sim U(-a, a)`.

    :math:`a = \sqrt{6 / (d_{in} + d_{out})}` keeps the variance of activations and
    gradients roughly equal across layers (Glorot & Bengio, 2010); it is also Keras'
    default. ``shape`` defaults to (fan_in, fan_out); a convolution passes its kernel shape
    with fan-in :math:`C_{in} k^2` and fan-out :math:`C_{out} k^2`.
    """
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    size = (fan_in, fan_out) if shape is None else shape
    return rng.uniform(-limit, limit, size=size).astype(dtype)


class Linear(Layer):
    r"""Fully connected layer :math:`y = xW + b`.

    Shapes: ``x`` (N, d_in), ``W`` (d_in, d_out), ``b`` (d_out,), ``y`` (N, d_out). Any
    leading axes are batch axes: a Transformer applies it to (N, T, d_in).
    Backward, with :math:`g = \partial L / \partial y` and the batch axes flattened:

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
        dtype: npt.DTypeLike = np.float64,
    ) -> None:
        super().__init__()
        self.in_features = check_positive_int(in_features, "in_features")
        self.out_features = check_positive_int(out_features, "out_features")
        rng = np.random.default_rng(rng)
        weight = glorot_uniform(self.in_features, self.out_features, rng, dtype)
        self.weight = self.add_parameter("W", weight)
        self.bias = self.add_parameter("b", np.zeros(self.out_features, dtype=dtype))
        self._x: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = as_float_array(x, "x")
        if x.ndim < 2 or x.shape[-1] != self.in_features:
            raise ValueError(
                f"Linear expects inputs of shape (N, {self.in_features}), got {describe(x)}"
            )
        self._x = x
        return x @ self.weight.value + self.bias.value  # (..., d_out)

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        if self._x is None:
            raise RuntimeError("Linear.backward called before forward")
        grad_output = as_float_array(grad_output, "grad_output")
        expected = (*self._x.shape[:-1], self.out_features)
        if grad_output.shape != expected:
            raise ValueError(f"grad_output must have shape {expected}, got {describe(grad_output)}")
        rows = self._x.reshape(-1, self.in_features)  # (N·..., d_in)
        grad_rows = grad_output.reshape(-1, self.out_features)  # (N·..., d_out)
        self.weight.grad = rows.T @ grad_rows  # (d_in, d_out)
        self.bias.grad = grad_rows.sum(axis=0)  # (d_out,)
        return grad_output @ self.weight.value.T  # (..., d_in)

    def __repr__(self) -> str:
        return f"Linear({self.in_features}, {self.out_features})"


class Embedding(Layer):
    r"""A table of vectors looked up by integer id: :math:`y_{n,t} = E_{x_{n,t}}`.

    Shapes: ids ``x`` (N, T) (any shape), table ``E`` (num_embeddings, embedding_dim),
    ``y`` (N, T, embedding_dim). Ids stay integers. Backward adds each position's
    gradient onto the row it read, :math:`\partial L/\partial E_v = \sum_{(n,t): x_{n,t}=v}
    g_{n,t}` — a scatter-add, so an id that occurs twice gets both contributions. Ids have
    no gradient: ``backward`` returns zeros of their shape. Rows start as
    :math:`N(0, 1)` samples, as in PyTorch.
    """

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        *,
        rng: np.random.Generator | None = None,
        dtype: npt.DTypeLike = np.float64,
    ) -> None:
        super().__init__()
        self.num_embeddings = check_positive_int(num_embeddings, "num_embeddings")
        self.embedding_dim = check_positive_int(embedding_dim, "embedding_dim")
        rng = np.random.default_rng(rng)
        table = rng.standard_normal((self.num_embeddings, self.embedding_dim)).astype(dtype)
        self.weight = self.add_parameter("W", table)
        self._ids: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._ids = as_index_array(x, "ids", self.num_embeddings)
        return self.weight.value[self._ids]  # (..., embedding_dim)

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        if self._ids is None:
            raise RuntimeError("Embedding.backward called before forward")
        grad_output = as_float_array(grad_output, "grad_output")
        expected = (*self._ids.shape, self.embedding_dim)
        if grad_output.shape != expected:
            raise ValueError(f"grad_output must have shape {expected}, got {describe(grad_output)}")
        grad = np.zeros_like(self.weight.value)
        np.add.at(grad, self._ids.ravel(), grad_output.reshape(-1, self.embedding_dim))
        self.weight.grad = grad
        return np.zeros(self._ids.shape)  # ids are not differentiable

    def __repr__(self) -> str:
        return f"Embedding({self.num_embeddings}, {self.embedding_dim})"
