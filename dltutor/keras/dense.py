"""The multilayer perceptron in Keras, the twin of :class:`dltutor.scratch.MLP`."""

from __future__ import annotations

from collections.abc import Sequence

import keras

from dltutor.keras.build import build_all
from dltutor.specs import MLPSpec


class MLP(keras.Sequential):
    r"""Multilayer perceptron, :math:`h^{(l)} = f(h^{(l-1)} W^{(l)} + b^{(l)})`, linear output.

    The twin of :class:`dltutor.scratch.MLP`: ``Dense`` layers whose kernels have the
    scratch layout (d_in, d_out), Glorot-uniform initialised with zero biases (Keras'
    defaults).
    """

    def __init__(
        self, layer_sizes: Sequence[int], activation: str = "relu", name: str | None = None
    ) -> None:
        spec = MLPSpec(layer_sizes, activation)
        super().__init__(
            [keras.Input(shape=(spec.layer_sizes[0],)), *build_all(spec.layers())], name=name
        )
        self.spec = spec
        self.layer_sizes = list(spec.layer_sizes)
        self.activation = activation
