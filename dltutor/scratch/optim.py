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


class Adam:
    r"""Adam (Kingma & Ba, 2015): a step from running means of the gradient and its square.

    For every parameter, with :math:`g` its gradient at step :math:`t`:

    .. math::

        m \leftarrow \beta_1 m + (1 - \beta_1) g, \qquad
        v \leftarrow \beta_2 v + (1 - \beta_2) g^2, \qquad
        \theta \leftarrow \theta - \eta\, \frac{m / (1 - \beta_1^t)}{\sqrt{v / (1 - \beta_2^t)} + \epsilon},

    the form of ``torch.optim.Adam`` (:math:`\epsilon` outside the square root). The moments
    are kept per parameter name, so the same optimiser can step a model from ``parameters()``.
    """

    def __init__(
        self,
        learning_rate: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        max_grad_norm: float | None = None,
    ) -> None:
        if isinstance(learning_rate, bool) or not isinstance(learning_rate, (int, float)):
            raise TypeError(f"learning_rate must be a number, got {describe(learning_rate)}")
        if not learning_rate > 0:
            raise ValueError(f"learning_rate must be positive, got {learning_rate}")
        if len(betas) != 2 or not all(0 <= beta < 1 for beta in betas):
            raise ValueError(f"betas must be two numbers in [0, 1), got {betas!r}")
        if not eps > 0:
            raise ValueError(f"eps must be positive, got {eps!r}")
        if max_grad_norm is not None and not max_grad_norm > 0:
            raise ValueError(f"max_grad_norm must be positive, got {max_grad_norm!r}")
        self.learning_rate, self.betas, self.eps = float(learning_rate), betas, float(eps)
        self.max_grad_norm = max_grad_norm
        self.steps = 0
        self.moments: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # name -> (m, v)

    def step(self, parameters: NamedParameters) -> None:
        """One Adam update of every parameter, in place, from the gradients of the last ``backward``."""
        triples = gradients_of(parameters)
        if self.max_grad_norm is not None:
            clip_by_global_norm([g for _, _, g in triples], self.max_grad_norm)
        self.steps += 1
        beta1, beta2 = self.betas
        for name, parameter, gradient in triples:
            m, v = self.moments.get(name, (np.zeros_like(gradient), np.zeros_like(gradient)))
            m = beta1 * m + (1 - beta1) * gradient
            v = beta2 * v + (1 - beta2) * gradient**2
            self.moments[name] = (m, v)
            m_hat, v_hat = m / (1 - beta1**self.steps), v / (1 - beta2**self.steps)
            parameter.value -= self.learning_rate * m_hat / (np.sqrt(v_hat) + self.eps)
