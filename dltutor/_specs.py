"""Architectures described once, framework-free, and built by each of scratch, torch and keras.

A dense stack is a list of ``(fan_in, fan_out, activation)``, one entry per Linear/Dense
layer; ``activation`` is a name from ``dltutor._checks.ACTIVATIONS`` (an activation layer,
identity included) or ``None`` (no activation layer: the raw outputs, e.g. logits).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dltutor._checks import check_activation, check_layer_sizes

DenseStack = list[tuple[int, int, str | None]]


def dense_stack(layer_sizes: Any, activation: Any, last_activation: Any = None) -> DenseStack:
    """Linear layers between consecutive sizes; ``activation`` after each but the last, which gets ``last_activation``."""
    sizes = check_layer_sizes(layer_sizes)
    activation = check_activation(activation)
    last_activation = None if last_activation is None else check_activation(last_activation)
    pairs = list(zip(sizes[:-1], sizes[1:]))
    return [(fan_in, fan_out, activation if index < len(pairs) - 1 else last_activation)
            for index, (fan_in, fan_out) in enumerate(pairs)]


def stack_sizes(stack: DenseStack) -> list[int]:
    """The layer sizes ``[d_0, ..., d_L]`` a dense stack was built from."""
    return [fan_in for fan_in, _, _ in stack] + [stack[-1][1]]


def autoencoder_stacks(
    layer_sizes: Sequence[int], activation: str, code_activation: str | None, output_activation: str
) -> tuple[DenseStack, DenseStack]:
    """Encoder ``layer_sizes[0] → … → layer_sizes[-1]`` (the code) and its mirror-image decoder."""
    sizes = check_layer_sizes(layer_sizes)
    code_activation = activation if code_activation is None else code_activation
    encoder = dense_stack(sizes, activation, code_activation)
    decoder = dense_stack(sizes[::-1], activation, output_activation)
    return encoder, decoder
