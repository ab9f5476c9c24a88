"""The multilayer perceptron: Linear layers with activations between them."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from dltutor.scratch.build import build_all
from dltutor.scratch.sequential import Sequential
from dltutor.specs import MLPSpec


class MLP(Sequential):
    r"""Multilayer perceptron: Linear layers with an activation between them.

    ``layer_sizes = [d_0, d_1, ..., d_L]`` gives
    :math:`h^{(l)} = f(h^{(l-1)} W^{(l)} + b^{(l)})` for the hidden layers and a linear
    output :math:`\hat y = h^{(L-1)} W^{(L)} + b^{(L)}` (logits for classification).
    ``MLP([1, 1])`` is linear regression.
    """

    def __init__(
        self,
        layer_sizes: Sequence[int],
        activation: str = "relu",
        *,
        rng: np.random.Generator | None = None,
        dtype: npt.DTypeLike = np.float64,
    ) -> None:
        self.spec = MLPSpec(layer_sizes, activation)
        super().__init__(build_all(self.spec.layers(), np.random.default_rng(rng), dtype))
        self.layer_sizes = list(self.spec.layer_sizes)
        self.activation = activation
