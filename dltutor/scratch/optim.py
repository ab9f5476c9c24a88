"""Gradient descent and its refinements: momentum, Nesterov, RMSProp, Adam, AdamW, weight decay,
learning-rate schedules.

PyTorch and Keras implement the same ideas with small differences of form — where epsilon
sits, how momentum meets a changing learning rate, whether weight decay is an L2 term in the
gradient or a separate shrinking step. Each optimiser here takes ``form="torch"`` (the
default) or ``form="keras"`` and then matches that framework step for step; the tests run
both for 50 steps against ``torch.optim`` and ``keras.optimizers``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Protocol

import numpy as np

from dltutor.checks import describe
from dltutor.scratch.layers import Parameter

NamedParameters = Iterable[tuple[str, Parameter]]
Schedule = Callable[[int], float]
"""A learning rate that changes: step number (0 for the first update) → learning rate."""
LearningRate = float | Schedule
FORMS = ("torch", "keras")


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


# --- Learning-rate schedules ---------------------------------------------------------------


def constant(learning_rate: float) -> Schedule:
    """The same learning rate at every step."""
    rate = _check_rate(learning_rate)
    return lambda step: rate


def step_decay(learning_rate: float, factor: float, every: int) -> Schedule:
    r"""Drop by ``factor`` every ``every`` steps: :math:`\eta_t = \eta_0 \cdot
    \text{factor}^{\lfloor t / \text{every} \rfloor}`.

    ``torch.optim.lr_scheduler.StepLR`` when stepped once per update; Keras'
    ``ExponentialDecay(staircase=True)``.
    """
    rate = _check_rate(learning_rate)
    every = _check_steps(every, "every")
    return lambda step: rate * factor ** (step // every)


def exponential_decay(learning_rate: float, rate: float, decay_steps: int = 1) -> Schedule:
    r""":math:`\eta_t = \eta_0 \cdot \text{rate}^{t / \text{decay\_steps}}` (Keras' ``ExponentialDecay``)."""
    initial = _check_rate(learning_rate)
    decay_steps = _check_steps(decay_steps, "decay_steps")
    return lambda step: initial * rate ** (step / decay_steps)


def cosine_decay(
    learning_rate: float, total_steps: int, warmup_steps: int = 0, final: float = 0.0
) -> Schedule:
    r"""Linear warm-up to ``learning_rate`` over ``warmup_steps``, then half a cosine down to ``final``.

    .. math::

        \eta_t = \eta_\text{final} + \tfrac12 (\eta_0 - \eta_\text{final})
        \big(1 + \cos(\pi \tfrac{t - t_w}{T - t_w})\big), \qquad t_w \le t \le T .

    Warm-up keeps Adam's first, poorly estimated steps small (a Transformer needs it);
    the cosine spends most steps near the top and lands softly.
    """
    initial = _check_rate(learning_rate)
    total_steps = _check_steps(total_steps, "total_steps")
    if not 0 <= warmup_steps < total_steps:
        raise ValueError(f"warmup_steps must be in [0, {total_steps}), got {warmup_steps!r}")

    def schedule(step: int) -> float:
        if step < warmup_steps:
            return initial * (step + 1) / warmup_steps
        progress = min(1.0, (step - warmup_steps) / (total_steps - warmup_steps))
        return final + 0.5 * (initial - final) * (1 + math.cos(math.pi * progress))

    return schedule


def _check_rate(learning_rate: float) -> float:
    if isinstance(learning_rate, bool) or not isinstance(learning_rate, (int, float)):
        raise TypeError(
            f"learning_rate must be a number or a schedule, got {describe(learning_rate)}"
        )
    if not learning_rate > 0:
        raise ValueError(f"learning_rate must be positive, got {learning_rate}")
    return float(learning_rate)


def _check_steps(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


# --- The optimisers -------------------------------------------------------------------------


class _Optimizer:
    """What every optimiser here shares: the learning rate or schedule, clipping, weight decay."""

    def __init__(
        self,
        learning_rate: LearningRate,
        weight_decay: float,
        decoupled: bool,
        form: str,
        max_grad_norm: float | None,
    ) -> None:
        self.schedule: Schedule = (
            learning_rate if callable(learning_rate) else constant(learning_rate)
        )
        if (
            isinstance(weight_decay, bool)
            or not isinstance(weight_decay, (int, float))
            or weight_decay < 0
        ):
            raise ValueError(f"weight_decay must be a non-negative number, got {weight_decay!r}")
        if form not in FORMS:
            raise ValueError(f"form must be one of {FORMS}, got {form!r}")
        if max_grad_norm is not None and not max_grad_norm > 0:
            raise ValueError(f"max_grad_norm must be positive, got {max_grad_norm!r}")
        self.weight_decay, self.decoupled, self.form = float(weight_decay), bool(decoupled), form
        self.max_grad_norm = max_grad_norm
        self.last_gradient_norm: float | None = None
        self.steps = 0  # updates done so far
        self.state: dict[str, dict[str, np.ndarray]] = {}  # parameter name -> its buffers

    @property
    def learning_rate(self) -> float:
        """The learning rate the next step will use."""
        return self.schedule(self.steps)

    def step(self, parameters: NamedParameters) -> None:
        """Update every parameter in place from the gradient of the last ``backward``."""
        triples = gradients_of(parameters)
        if self.max_grad_norm is not None:
            self.last_gradient_norm = clip_by_global_norm(
                [g for _, _, g in triples], self.max_grad_norm
            )
        rate = self.schedule(self.steps)
        self.steps += 1
        for name, parameter, gradient in triples:
            if self.weight_decay and self.decoupled:
                # decoupled weight decay: shrink the weights, apart from the gradient step
                parameter.value -= rate * self.weight_decay * parameter.value
            elif self.weight_decay:
                gradient = gradient + self.weight_decay * parameter.value  # L2 in the gradient
            state = self.state.setdefault(name, {})
            parameter.value -= self._update(gradient, state, rate)

    def _update(
        self, gradient: np.ndarray, state: dict[str, np.ndarray], rate: float
    ) -> np.ndarray:
        """The amount to subtract from one parameter."""
        raise NotImplementedError


class SGD(_Optimizer):
    r"""Stochastic gradient descent, with momentum and Nesterov momentum.

    Plain: :math:`\theta \leftarrow \theta - \eta g`. With momentum :math:`\mu`, a velocity
    accumulates past gradients so that steps build up along a consistent direction and
    cancel across an oscillating one. The two frameworks write it differently:

    - ``form="torch"``: :math:`b \leftarrow \mu b + g` (the first :math:`b = g`),
      :math:`\theta \leftarrow \theta - \eta b`; Nesterov steps with :math:`g + \mu b`.
    - ``form="keras"``: :math:`m \leftarrow \mu m - \eta g`, :math:`\theta \leftarrow \theta + m`;
      Nesterov: :math:`\theta \leftarrow \theta + \mu m - \eta g`.

    With a constant :math:`\eta` they are the same (:math:`m = -\eta b`); once :math:`\eta`
    changes they are not — Keras' velocity remembers the old rates. ``weight_decay`` adds
    :math:`\lambda \theta` to the gradient (an L2 penalty of :math:`\tfrac\lambda2
    \lVert\theta\rVert^2`, as ``torch.optim.SGD``), or with ``decoupled=True`` shrinks
    :math:`\theta` by :math:`\eta\lambda\theta` apart from the step (as Keras does for any
    ``weight_decay``).
    """

    def __init__(
        self,
        learning_rate: LearningRate = 0.1,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
        decoupled: bool = False,
        form: str = "torch",
        max_grad_norm: float | None = None,
    ) -> None:
        super().__init__(learning_rate, weight_decay, decoupled, form, max_grad_norm)
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")
        if nesterov and not momentum:
            raise ValueError("nesterov=True needs a momentum above 0")
        self.momentum, self.nesterov = float(momentum), bool(nesterov)

    def _update(
        self, gradient: np.ndarray, state: dict[str, np.ndarray], rate: float
    ) -> np.ndarray:
        mu = self.momentum
        if not mu:
            return rate * gradient
        if self.form == "torch":
            buffer = state["buffer"] = (
                gradient.copy() if "buffer" not in state else mu * state["buffer"] + gradient
            )
            return rate * (gradient + mu * buffer if self.nesterov else buffer)
        velocity = state["velocity"] = mu * state.get("velocity", 0.0) - rate * gradient
        return -(mu * velocity - rate * gradient if self.nesterov else velocity)


class RMSProp(_Optimizer):
    r"""RMSProp (Hinton's lecture 6e): divide each gradient by a running root mean square of its own history.

    :math:`s \leftarrow \rho s + (1 - \rho) g^2` and :math:`\theta \leftarrow \theta - \eta\,
    g / \sqrt{s}`, so every parameter moves at a similar pace whatever the scale of its
    gradient. The frameworks guard the division differently: ``form="torch"`` uses
    :math:`\sqrt{s} + \epsilon` (defaults :math:`\eta = 10^{-2}`, :math:`\rho = 0.99`,
    :math:`\epsilon = 10^{-8}`), ``form="keras"`` :math:`\sqrt{s + \epsilon}` (Keras' defaults
    are :math:`10^{-3}`, 0.9 and :math:`10^{-7}`). Pass the hyper-parameters you compare.
    """

    def __init__(
        self,
        learning_rate: LearningRate = 1e-2,
        rho: float = 0.99,
        eps: float = 1e-8,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        decoupled: bool = False,
        form: str = "torch",
        max_grad_norm: float | None = None,
    ) -> None:
        super().__init__(learning_rate, weight_decay, decoupled, form, max_grad_norm)
        if not 0 <= rho < 1 or not 0 <= momentum < 1 or not eps >= 0:
            raise ValueError(
                f"need rho and momentum in [0, 1) and eps >= 0, got {rho}, {momentum}, {eps}"
            )
        self.rho, self.eps, self.momentum = float(rho), float(eps), float(momentum)

    def _update(
        self, gradient: np.ndarray, state: dict[str, np.ndarray], rate: float
    ) -> np.ndarray:
        square = state["square"] = (
            self.rho * state.get("square", 0.0) + (1 - self.rho) * gradient**2
        )
        scaled = gradient / (
            np.sqrt(square) + self.eps if self.form == "torch" else np.sqrt(square + self.eps)
        )
        if not self.momentum:
            return rate * scaled
        if self.form == "torch":  # b <- mu b + g / rms, step eta b
            buffer = state["buffer"] = self.momentum * state.get("buffer", 0.0) + scaled
            return rate * buffer
        velocity = state["velocity"] = self.momentum * state.get("velocity", 0.0) + rate * scaled
        return velocity


class Adam(_Optimizer):
    r"""Adam (Kingma & Ba, 2015): a step from running means of the gradient and its square.

    .. math::

        m \leftarrow \beta_1 m + (1 - \beta_1) g, \qquad
        v \leftarrow \beta_2 v + (1 - \beta_2) g^2, \qquad
        \theta \leftarrow \theta - \eta\, \frac{m / (1 - \beta_1^t)}{\sqrt{v / (1 - \beta_2^t)} + \epsilon}

    is ``form="torch"`` (the paper's Algorithm 1). ``form="keras"`` puts epsilon after the
    bias correction has been folded into the step size, :math:`\theta \leftarrow \theta -
    \eta \frac{\sqrt{1 - \beta_2^t}}{1 - \beta_1^t} \frac{m}{\sqrt v + \hat\epsilon}` (the
    paper's "epsilon hat"): the same for :math:`\epsilon = 0`, and no single pair of
    epsilons makes the two agree at every step. Keras' default epsilon is :math:`10^{-7}`,
    PyTorch's :math:`10^{-8}`. ``weight_decay`` is an L2 term in the gradient, as in
    ``torch.optim.Adam``; with ``decoupled=True`` it is AdamW's decay (:class:`AdamW`).
    """

    def __init__(
        self,
        learning_rate: LearningRate = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        decoupled: bool = False,
        form: str = "torch",
        max_grad_norm: float | None = None,
    ) -> None:
        super().__init__(learning_rate, weight_decay, decoupled, form, max_grad_norm)
        if len(betas) != 2 or not all(0 <= beta < 1 for beta in betas):
            raise ValueError(f"betas must be two numbers in [0, 1), got {betas!r}")
        if not eps >= 0:
            raise ValueError(f"eps must be non-negative, got {eps!r}")
        self.betas, self.eps = (float(betas[0]), float(betas[1])), float(eps)

    @property
    def moments(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """(m, v) of every parameter, by name."""
        return {name: (state["m"], state["v"]) for name, state in self.state.items()}

    def _update(
        self, gradient: np.ndarray, state: dict[str, np.ndarray], rate: float
    ) -> np.ndarray:
        beta1, beta2 = self.betas
        t = self.steps
        m = state["m"] = beta1 * state.get("m", 0.0) + (1 - beta1) * gradient
        v = state["v"] = beta2 * state.get("v", 0.0) + (1 - beta2) * gradient**2
        if self.form == "torch":
            return rate * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + self.eps)
        step_size = rate * math.sqrt(1 - beta2**t) / (1 - beta1**t)
        return step_size * m / (np.sqrt(v) + self.eps)


class AdamW(Adam):
    r"""Adam with decoupled weight decay (Loshchilov & Hutter, 2019): :math:`\theta \leftarrow
    \theta - \eta\lambda\theta` apart from the Adam step.

    In Adam with an L2 term, the decay passes through the division by :math:`\sqrt v` and
    shrinks weights with large gradients less; decoupled, every weight shrinks at the same
    rate. ``weight_decay`` defaults to PyTorch's 0.01 (Keras' ``AdamW`` uses 0.004).
    """

    def __init__(
        self,
        learning_rate: LearningRate = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        form: str = "torch",
        max_grad_norm: float | None = None,
    ) -> None:
        super().__init__(learning_rate, betas, eps, weight_decay, True, form, max_grad_norm)
