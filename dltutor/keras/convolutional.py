"""The convolutional classifier in Keras, the twin of :class:`dltutor.scratch.CNN`."""

from __future__ import annotations

from collections.abc import Sequence

import keras

from dltutor.keras.build import build_all
from dltutor.specs import CNNSpec


class CNN(keras.Sequential):
    r"""A small convolutional classifier, the twin of :class:`dltutor.scratch.CNN`.

    Blocks of [Conv2D 3×3 "same" → ReLU] × ``convs_per_block`` → MaxPooling2D 2×2, then
    Flatten → Dense(``hidden_units``, ReLU) → Dense(``num_classes``) (logits). Inputs are
    channels last, as Keras expects: (N, ``image_size``, ``image_size``, ``in_channels``).
    """

    def __init__(
        self,
        in_channels: int,
        image_size: int,
        num_classes: int,
        channels: Sequence[int] = (32, 64),
        convs_per_block: int = 1,
        hidden_units: int = 64,
        name: str | None = None,
    ) -> None:
        spec = CNNSpec(
            in_channels, image_size, num_classes, channels, convs_per_block, hidden_units
        )
        inputs = keras.Input(shape=(spec.image_size, spec.image_size, spec.in_channels))
        super().__init__([inputs, *build_all(spec.layers())], name=name)
        self.spec = spec
