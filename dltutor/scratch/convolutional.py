"""The convolutional classifier, built from :class:`dltutor.specs.CNNSpec`."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dltutor.scratch.build import build_all
from dltutor.scratch.sequential import Sequential
from dltutor.specs import CNNSpec


class CNN(Sequential):
    r"""A small convolutional classifier: blocks of [Conv 3×3 (padding 1) → ReLU] ×
    ``convs_per_block`` → MaxPool 2×2, then Flatten → Linear(``hidden_units``) → ReLU →
    Linear(``num_classes``).

    Inputs are channels first, (N, ``in_channels``, ``image_size``, ``image_size``); each
    block keeps the size through its convolutions and halves it by pooling. The twins in
    :mod:`dltutor.torch` and :mod:`dltutor.keras` take the same arguments.
    """

    def __init__(
        self,
        in_channels: int,
        image_size: int,
        num_classes: int,
        channels: Sequence[int] = (32, 64),
        convs_per_block: int = 1,
        hidden_units: int = 64,
        *,
        rng: np.random.Generator | None = None,
    ) -> None:
        self.spec = CNNSpec(
            in_channels,
            image_size,
            num_classes,
            channels,
            convs_per_block,
            hidden_units,
        )
        super().__init__(build_all(self.spec.layers(), np.random.default_rng(rng)))
