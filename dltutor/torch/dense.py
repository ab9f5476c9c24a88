"""The multilayer perceptron in PyTorch, the twin of :class:`dltutor.scratch.MLP`."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from dltutor.specs import MLPSpec
from dltutor.torch.build import build_all


class MLP(nn.Module):
    r"""Multilayer perceptron, :math:`h^{(l)} = f(h^{(l-1)} W^{(l)} + b^{(l)})`, linear output.

    The twin of :class:`dltutor.scratch.MLP`: same arguments, Glorot-uniform weights and
    zero biases. ``nn.Linear`` stores :math:`W^\top` (shape (d_out, d_in));
    :func:`dltutor.torch.get_weights` and :func:`dltutor.torch.set_weights` convert.
    """

    def __init__(self, layer_sizes: Sequence[int], activation: str = "relu") -> None:
        super().__init__()
        self.spec = MLPSpec(layer_sizes, activation)
        self.layers = build_all(self.spec.layers())
        self.layer_sizes = list(self.spec.layer_sizes)
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)  # (N, d_in) -> (N, d_out)
