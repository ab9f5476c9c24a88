"""Scratch layers from framework-free layer specs: the one place a spec meets NumPy."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

from dltutor import specs
from dltutor.scratch.activations import Activation
from dltutor.scratch.conv import Conv2D, ConvTranspose2D
from dltutor.scratch.layers import Layer, Linear
from dltutor.scratch.pooling import Flatten, MaxPool2D


def build(
    layer: specs.LayerSpec, rng: np.random.Generator, dtype: npt.DTypeLike = np.float64
) -> list[Layer]:
    """The scratch layers for one layer spec, its activation (if any) last."""
    built: list[Layer]
    match layer:
        case specs.Dense(fan_in, fan_out, _):
            built = [Linear(fan_in, fan_out, rng=rng, dtype=dtype)]
        case specs.Conv(in_channels, out_channels, kernel_size, padding, _):
            built = [
                Conv2D(
                    in_channels, out_channels, kernel_size, padding=padding, rng=rng, dtype=dtype
                )
            ]
        case specs.ConvTranspose(in_channels, out_channels, kernel_size, stride, _):
            built = [
                ConvTranspose2D(
                    in_channels, out_channels, kernel_size, stride, rng=rng, dtype=dtype
                )
            ]
        case specs.MaxPool(size):
            return [MaxPool2D(size)]
        case specs.Flatten():
            return [Flatten()]
        case _:
            raise TypeError(f"no scratch layer for {layer!r}")
    return built if layer.activation is None else [*built, Activation(layer.activation)]


def build_all(
    layers: Iterable[specs.LayerSpec], rng: np.random.Generator, dtype: npt.DTypeLike = np.float64
) -> list[Layer]:
    """The scratch layers of a whole stack of layer specs, in order."""
    return [built for layer in layers for built in build(layer, rng, dtype)]
