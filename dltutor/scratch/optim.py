"""Gradient descent: move every parameter a small step against its gradient."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

import numpy as np

from dltutor.checks import describe
from dltutor.scratch.layers import Parameter

NamedParameters = Iterable[tuple[str, Parameter]]


class Optimizer(Protocol):
    """What :func:`dltutor.scratch.fit` needs of an optimiser: one update from the gradients.

    ``step`` receives ``model.parameters()``, ``(name, Parameter)`` pairs; the names are
    stable, so an optimiser with state (momentum, Adam's moments) keeps it by name.
    """

    def step(self, parameters: NamedParameters) -> None:
        """Update every parameter's ``value`` in place from its ``grad``."""
        ...


def clip_by_global_norm(gradients: list[np.ndarray], max_norm: float) -> float:
    r"""Scale all ``gradients`` in place so their joint norm is at most ``max_norm``; return the norm before.

    With :math:`\lVert g \rVert = \sqrt{\sum_k \lVert g_k \rVert^2}`, every :math:`g_k` is
    multiplied by :math:`\min(1, \text{max\_norm} / \lVert g \rVert)`: the direction is
    kept, only an exploding step is shortened (Pascanu et al., 2013).
    """
    if not max_norm > 0:
        raise ValueError(f"max_norm must be positive, got {max_norm!r}")
    norm = float(np.sqrt(sum(float(np.sum(g**2)) for g in gradients)))
    if norm > max_norm:
        for gradient in gradients:
            gradient *= max_norm / norm
    return norm


def gradients_of(parameters: NamedParameters) -> list[tuple[str, Parameter, np.ndarray]]:
    """``(name, parameter, gradient)`` for every parameter, or an error naming one without."""
    triples = []
    for name, parameter in parameters:
        if parameter.grad is None:
            raise RuntimeError(f"parameter {name!r} has no gradient: call backward before step")
        triples.append((name, parameter, parameter.grad))
    return triples


class SGD:
    r"""Plain (stochastic, mini-batch) gradient descent.

    :math:`\theta \leftarrow \theta - \eta\, \partial L / \partial \theta` for every parameter.

    Args:
        learning_rate: the step size :math:`\eta > 0`. Too small and training crawls;
            too large and the loss oscillates or diverges.
        max_grad_norm: if given, gradients are first clipped to this global norm
            (:func:`clip_by_global_norm`).
    """

    def __init__(self, learning_rate: float = 0.1, max_grad_norm: float | None = None) -> None:
        if isinstance(learning_rate, bool) or not isinstance(learning_rate, (int, float)):
            raise TypeError(f"learning_rate must be a number, got {describe(learning_rate)}")
        if not learning_rate > 0:
            raise ValueError(f"learning_rate must be positive, got {learning_rate}")
        self.learning_rate = float(learning_rate)
        if max_grad_norm is not None and not max_grad_norm > 0:
            raise ValueError(f"max_grad_norm must be positive, got {max_grad_norm!r}")
        self.max_grad_norm = max_grad_norm
        self.last_gradient_norm: float | None = None

    def step(self, parameters: NamedParameters) -> None:
        """Update every parameter in place from the gradient of the last ``backward``."""
        triples = gradients_of(parameters)
        if self.max_grad_norm is not None:
            self.last_gradient_norm = clip_by_global_norm(
                [g for _, _, g in triples], self.max_grad_norm
            )
        for _, parameter, gradient in triples:
            parameter.value -= self.learning_rate * gradient
