"""Gradient descent: move every parameter a small step against its gradient."""

from __future__ import annotations

from dltutor._checks import describe
from dltutor.scratch.network import Sequential


class SGD:
    r"""Plain (stochastic, mini-batch) gradient descent :math:`\theta \leftarrow \theta - \eta\, \partial L / \partial \theta`.

    Args:
        learning_rate: the step size :math:`\eta > 0`. Too small and training crawls;
            too large and the loss oscillates or diverges.
    """

    def __init__(self, learning_rate: float = 0.1) -> None:
        if isinstance(learning_rate, bool) or not isinstance(learning_rate, (int, float)):
            raise TypeError(f"learning_rate must be a number, got {describe(learning_rate)}")
        if not learning_rate > 0:
            raise ValueError(f"learning_rate must be positive, got {learning_rate}")
        self.learning_rate = float(learning_rate)

    def step(self, model: Sequential) -> None:
        """Update ``model``'s parameters in place from the gradients of its last ``backward``."""
        for parameter, gradient in model.parameters():
            parameter -= self.learning_rate * gradient
