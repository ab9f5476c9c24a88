"""The convolutional classifier in PyTorch, the twin of :class:`dltutor.scratch.CNN`."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from dltutor.specs import CNNSpec
from dltutor.torch.build import build


class CNN(nn.Sequential):
    r"""A small convolutional classifier, the twin of :class:`dltutor.scratch.CNN`.

    Blocks of [Conv 3×3 (padding 1) → ReLU] × ``convs_per_block`` → MaxPool 2×2, then
    Flatten → Linear(``hidden_units``) → ReLU → Linear(``num_classes``). Inputs are
    channels first, (N, ``in_channels``, ``image_size``, ``image_size``); outputs are
    logits. Its modules are numbered as the scratch model's layers: ``cnn[0]`` is the first
    convolution.
    """

    def __init__(
        self,
        in_channels: int,
        image_size: int,
        num_classes: int,
        channels: Sequence[int] = (32, 64),
        convs_per_block: int = 1,
        hidden_units: int = 64,
    ) -> None:
        spec = CNNSpec(
            in_channels, image_size, num_classes, channels, convs_per_block, hidden_units
        )
        super().__init__(*(module for layer in spec.layers() for module in build(layer)))
        self.spec = spec

    def __getitem__(self, index: int | slice) -> nn.Module:
        """``cnn[0]`` is a layer; ``cnn[:2]`` an ``nn.Sequential`` of those layers (not a CNN)."""
        if isinstance(index, slice):
            return nn.Sequential(*list(self)[index])
        return super().__getitem__(index)
