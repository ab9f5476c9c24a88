"""PyTorch modules from framework-free layer specs: the one place a spec meets PyTorch."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from torch import nn

from dltutor import specs

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "identity": nn.Identity,
    "relu": nn.ReLU,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
}
"""Every name of :data:`dltutor.specs.ACTIVATIONS` as a PyTorch module (a test checks the set)."""


Weighted = TypeVar("Weighted", nn.Linear, nn.Conv1d, nn.Conv2d, nn.ConvTranspose2d)


def glorot(module: Weighted) -> Weighted:
    """Glorot-uniform weights and zero biases, the scratch and Keras initialisation."""
    nn.init.xavier_uniform_(module.weight)
    assert module.bias is not None  # every spec layer has a bias
    nn.init.zeros_(module.bias)
    return module


def build(layer: specs.LayerSpec) -> list[nn.Module]:
    """The PyTorch modules for one layer spec, its activation (if any) last."""
    module: nn.Module
    match layer:
        case specs.Dense(fan_in, fan_out, _):
            module = glorot(nn.Linear(fan_in, fan_out))
        case specs.Conv(in_channels, out_channels, kernel_size, padding, _):
            module = glorot(nn.Conv2d(in_channels, out_channels, kernel_size, padding=padding))
        case specs.ConvTranspose(in_channels, out_channels, kernel_size, stride, _):
            module = glorot(
                nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride=stride)
            )
        case specs.MaxPool(size):
            return [nn.MaxPool2d(size)]
        case specs.Flatten():
            return [nn.Flatten()]  # (N, C, H, W) -> (N, C·H·W), the scratch order
        case _:
            raise TypeError(f"no PyTorch module for {layer!r}")
    return [module] if layer.activation is None else [module, ACTIVATIONS[layer.activation]()]


def build_all(layers: Iterable[specs.LayerSpec]) -> nn.Sequential:
    """An ``nn.Sequential`` of the modules of a whole stack of layer specs, in order."""
    return nn.Sequential(*(module for layer in layers for module in build(layer)))
