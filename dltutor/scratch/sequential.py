"""The container: layers applied one after another, and backpropagation through all of them."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from dltutor.scratch.layers import Layer


class Sequential(Layer):
    r"""A chain of layers :math:`h^{(l)} = \text{layer}_l(h^{(l-1)})`, :math:`h^{(0)} = x`.

    Backpropagation is the chain rule applied from the last layer to the first: each
    layer turns dL/d(its output) into dL/d(its input) and stores its own parameter grads.
    """

    def __init__(self, layers: Iterable[Layer]) -> None:
        super().__init__()
        self.layers = list(layers)
        for index, layer in enumerate(self.layers):
            self.add_layer(str(index), layer)

    def forward(self, x: np.ndarray) -> np.ndarray:
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        for layer in reversed(self.layers):
            grad_output = layer.backward(grad_output)
        return grad_output

    def __repr__(self) -> str:
        inner = ", ".join(repr(layer) for layer in self.layers)
        return f"{type(self).__name__}([{inner}])"
