"""Keras layers from framework-free layer specs: the one place a spec meets Keras.

Keras layers are channels last, (N, H, W, C); the specs describe the same layers as the
scratch and PyTorch twins, which are channels first.
"""

from __future__ import annotations

from collections.abc import Iterable

import keras

from dltutor import specs

ACTIVATIONS: dict[str, str] = {
    "identity": "linear",
    "relu": "relu",
    "sigmoid": "sigmoid",
    "tanh": "tanh",
}
"""Every name of :data:`dltutor.specs.ACTIVATIONS` as a Keras activation (a test checks the set)."""


def build(layer: specs.LayerSpec) -> keras.layers.Layer:
    """The Keras layer for one layer spec (Glorot-uniform kernels, zero biases: Keras' defaults)."""
    match layer:
        case specs.Dense(_, fan_out, activation):
            return keras.layers.Dense(fan_out, activation=_activation(activation))
        case specs.Conv(_, out_channels, kernel_size, padding, activation):
            if 2 * padding != kernel_size - 1:
                raise ValueError(f"Keras builds only 'same' convolutions here, got {layer!r}")
            return keras.layers.Conv2D(
                out_channels, kernel_size, padding="same", activation=_activation(activation)
            )
        case specs.ConvTranspose(_, out_channels, kernel_size, stride, activation):
            return keras.layers.Conv2DTranspose(
                out_channels, kernel_size, strides=stride, activation=_activation(activation)
            )
        case specs.MaxPool(size):
            return keras.layers.MaxPooling2D(size)
        case specs.Flatten():
            return keras.layers.Flatten()  # (N, H, W, C) -> (N, H·W·C): see dltutor.keras.layout
        case _:
            raise TypeError(f"no Keras layer for {layer!r}")


def _activation(name: str | None) -> str | None:
    return None if name is None else ACTIVATIONS[name]


def build_all(layers: Iterable[specs.LayerSpec]) -> list[keras.layers.Layer]:
    """The Keras layers of a whole stack of layer specs, in order."""
    return [build(layer) for layer in layers]
