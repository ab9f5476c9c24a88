r"""Training in practice, in NumPy: dropout, batch normalisation, L1 and L2 penalties, and
integrated gradients.

Dropout and batch normalisation behave differently in training and in evaluation
(:meth:`dltutor.scratch.Layer.train` / :meth:`~dltutor.scratch.Layer.eval`); the tests check
both modes against ``torch.nn`` and ``keras.layers``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from dltutor.checks import as_float_array, check_positive_int, describe
from dltutor.scratch.layers import Layer
from dltutor.scratch.optim import NamedParameters, Optimizer

# --- Dropout ---------------------------------------------------------------------------------


class Dropout(Layer):
    r"""Inverted dropout (Srivastava et al., 2014): in training, zero each value with probability ``p``.

    :math:`y = x \odot m / (1 - p)` with :math:`m_i \sim \text{Bernoulli}(1 - p)`: dividing the
    kept values by :math:`1 - p` keeps every output's expected value equal to its input, so
    in evaluation the layer is the identity and nothing needs rescaling. Backward is
    :math:`g \odot m / (1 - p)`. A network trained with dropout cannot rely on any single
    unit, which acts like training an ensemble of thinned networks.

    ``mask`` (a boolean array of the input's shape), when set, is used instead of a random
    one — to compare with a framework's mask in a test.
    """

    def __init__(self, p: float = 0.5, *, rng: np.random.Generator | None = None) -> None:
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p < 1:
            raise ValueError(f"p must be a probability in [0, 1), got {p!r}")
        self.p = float(p)
        self.rng = np.random.default_rng(rng)
        self.mask: np.ndarray | None = None
        self._scale: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = as_float_array(x, "x")
        if not self.training or self.p == 0:
            self._scale = None
            return x
        keep = self.mask if self.mask is not None else self.rng.random(x.shape) >= self.p
        if keep.shape != x.shape:
            raise ValueError(f"mask must have the input's shape {x.shape}, got {describe(keep)}")
        self._scale = keep / (1.0 - self.p)
        return x * self._scale

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        grad_output = as_float_array(grad_output, "grad_output")
        return grad_output if self._scale is None else grad_output * self._scale

    def __repr__(self) -> str:
        return f"Dropout(p={self.p})"


# --- Batch normalisation ---------------------------------------------------------------------


class BatchNorm(Layer):
    r"""Batch normalisation (Ioffe & Szegedy, 2015) of dense (N, C) or convolutional (N, C, H, W) inputs.

    In training each feature (channel) c is standardised with the mean :math:`\mu_c` and
    the *biased* variance :math:`\sigma^2_c` of the batch (over N, and H and W for images),
    then scaled and shifted by learned :math:`\gamma_c, \beta_c`:

    .. math::

        \hat x = \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}}, \qquad y = \gamma \hat x + \beta .

    Running averages :math:`r \leftarrow (1 - m) r + m \cdot \text{batch statistic}` replace
    the batch statistics in evaluation, so a prediction does not depend on the other
    examples of its batch. ``momentum`` is PyTorch's :math:`m` (0.1); Keras writes
    ``momentum = 1 - m`` (default 0.99). PyTorch stores the *unbiased* batch variance
    (times :math:`n/(n-1)`) in its running average, Keras the biased one:
    ``unbiased_running_var`` chooses. Backward, with :math:`n` values per feature and
    :math:`g = \partial L/\partial y`:

    .. math::

        \frac{\partial L}{\partial x} = \frac{\gamma}{\sqrt{\sigma^2 + \epsilon}}
        \Big(g - \overline{g} - \hat x\, \overline{g \hat x}\Big),

    with the bars averages over the feature's :math:`n` values.
    """

    def __init__(
        self,
        num_features: int,
        momentum: float = 0.1,
        eps: float = 1e-5,
        unbiased_running_var: bool = True,
        *,
        dtype: npt.DTypeLike = np.float64,
    ) -> None:
        super().__init__()
        self.num_features = check_positive_int(num_features, "num_features")
        if not 0 < momentum <= 1 or not eps > 0:
            raise ValueError(f"need momentum in (0, 1] and eps > 0, got {momentum!r} and {eps!r}")
        self.momentum, self.eps = float(momentum), float(eps)
        self.unbiased_running_var = bool(unbiased_running_var)
        self.gamma = self.add_parameter("gamma", np.ones(self.num_features, dtype=dtype))
        self.beta = self.add_parameter("beta", np.zeros(self.num_features, dtype=dtype))
        self.running_mean = np.zeros(self.num_features, dtype=dtype)
        self.running_var = np.ones(self.num_features, dtype=dtype)
        self._cache: tuple[np.ndarray, np.ndarray, tuple[int, ...]] | None = None

    def _axes(self, x: np.ndarray) -> tuple[tuple[int, ...], tuple[int, ...]]:
        if x.ndim not in (2, 4) or x.shape[1] != self.num_features:
            raise ValueError(
                f"BatchNorm expects (N, {self.num_features}) or (N, {self.num_features}, H, W), "
                f"got {describe(x)}"
            )
        axes = (0,) if x.ndim == 2 else (0, 2, 3)
        shape = (1, -1) if x.ndim == 2 else (1, -1, 1, 1)  # broadcast a per-feature vector
        return axes, shape

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = as_float_array(x, "x")
        axes, shape = self._axes(x)
        if self.training:
            n = x.size // self.num_features
            if n < 2:
                raise ValueError("BatchNorm needs more than one value per feature in training")
            mean, var = x.mean(axis=axes), x.var(axis=axes)  # biased: divide by n
            stored = var * n / (n - 1) if self.unbiased_running_var else var
            self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * mean
            self.running_var = (1 - self.momentum) * self.running_var + self.momentum * stored
        else:
            mean, var = self.running_mean, self.running_var
        inverse_std = 1.0 / np.sqrt(var + self.eps)
        normalised = (x - mean.reshape(shape)) * inverse_std.reshape(shape)
        self._cache = (normalised, inverse_std, axes)
        return self.gamma.value.reshape(shape) * normalised + self.beta.value.reshape(shape)

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        if self._cache is None:
            raise RuntimeError("BatchNorm.backward called before forward")
        normalised, inverse_std, axes = self._cache
        grad_output = as_float_array(grad_output, "grad_output")
        if grad_output.shape != normalised.shape:
            raise ValueError(
                f"grad_output must have shape {normalised.shape}, got {describe(grad_output)}"
            )
        shape = (1, -1) if normalised.ndim == 2 else (1, -1, 1, 1)
        self.gamma.grad = (grad_output * normalised).sum(axis=axes)
        self.beta.grad = grad_output.sum(axis=axes)
        scale = (self.gamma.value * inverse_std).reshape(shape)
        if not self.training:  # the statistics are constants: a per-feature affine map
            return grad_output * scale
        mean_grad = grad_output.mean(axis=axes, keepdims=True)
        mean_grad_normalised = (grad_output * normalised).mean(axis=axes, keepdims=True)
        return scale * (grad_output - mean_grad - normalised * mean_grad_normalised)

    def __repr__(self) -> str:
        return f"BatchNorm({self.num_features}, momentum={self.momentum})"


# --- Penalties on the weights ----------------------------------------------------------------


def is_kernel(name: str) -> bool:
    """Penalties apply to weight matrices and kernels (names ending in ``W``), not to biases or norms."""
    return name.split(".")[-1].startswith("W")


def penalty(parameters: NamedParameters, l1: float = 0.0, l2: float = 0.0) -> float:
    r""":math:`\lambda_1 \sum |w| + \lambda_2 \sum w^2` over the kernels (Keras' ``L1L2`` regulariser).

    Keras' ``L2(l2)`` has no factor ½, so its gradient is :math:`2\lambda_2 w`; PyTorch's
    ``weight_decay=λ`` adds :math:`\lambda w`: the same penalty for :math:`\lambda = 2\lambda_2`.
    """
    return float(
        sum(
            l1 * np.abs(p.value).sum() + l2 * (p.value**2).sum()
            for name, p in parameters
            if is_kernel(name)
        )
    )


def soft_threshold(w: np.ndarray, threshold: float) -> np.ndarray:
    r"""The proximal step of :math:`t \lVert w \rVert_1`: :math:`\operatorname{sign}(w)\max(|w| - t, 0)`.

    :math:`\operatorname{prox}_{t|\cdot|}(w) = \arg\min_u \tfrac12 (u - w)^2 + t|u|`: every
    weight moves ``threshold`` towards zero, and one closer than that lands *exactly* on it.
    """
    w = as_float_array(w, "w")
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or threshold < 0:
        raise ValueError(f"threshold must be a non-negative number, got {threshold!r}")
    return np.sign(w) * np.maximum(np.abs(w) - threshold, 0.0)


class WithPenalty:
    r"""An optimiser that also follows :func:`penalty`: :math:`\lambda_1 \operatorname{sign}(w) +
    2 \lambda_2 w` added to the gradient of every kernel.

    The L2 term pulls in proportion to the weight. The L1 term pulls every weight towards
    zero by the same amount, but as a *subgradient* step it overshoots: a weight near zero
    jumps from one side to the other and almost never lands on zero exactly. With
    ``proximal=True`` the L1 term is applied instead as a proximal step after the
    optimiser's update (proximal gradient descent, ISTA): :func:`soft_threshold` with
    :math:`t = \eta\lambda_1`, :math:`\eta` the step's learning rate — which sets small
    weights exactly to zero. It is exact proximal gradient descent for plain ``SGD``.
    """

    def __init__(
        self, optimizer: Optimizer, l1: float = 0.0, l2: float = 0.0, *, proximal: bool = False
    ) -> None:
        if l1 < 0 or l2 < 0:
            raise ValueError(f"l1 and l2 must be non-negative, got {l1!r} and {l2!r}")
        if proximal and not hasattr(optimizer, "learning_rate"):
            raise TypeError(
                "proximal=True needs an optimiser with a learning_rate (the step size of the "
                f"soft threshold), got {type(optimizer).__name__}"
            )
        self.optimizer, self.l1, self.l2 = optimizer, float(l1), float(l2)
        self.proximal = bool(proximal)

    def step(self, parameters: NamedParameters) -> None:
        parameters = list(parameters)
        l1_gradient = 0.0 if self.proximal else self.l1
        for name, parameter in parameters:
            if is_kernel(name) and parameter.grad is not None:
                parameter.grad = (
                    parameter.grad
                    + l1_gradient * np.sign(parameter.value)
                    + 2 * self.l2 * parameter.value
                )
        rate = float(getattr(self.optimizer, "learning_rate", 0.0))  # this step's rate
        self.optimizer.step(parameters)
        if self.proximal and self.l1:
            for name, parameter in parameters:
                if is_kernel(name):
                    parameter.value[...] = soft_threshold(parameter.value, rate * self.l1)


# --- Explanations: gradients with respect to the input -----------------------------------------


def input_gradients(model: Layer, x: np.ndarray, classes: np.ndarray) -> np.ndarray:
    r""":math:`\partial s_c / \partial x` for each example: the gradient of the score (logit) of
    class ``classes[n]`` with respect to input ``n``, by the model's own backward pass."""
    x = as_float_array(x, "x")
    classes = np.asarray(classes)
    was_training = model.training
    model.eval()
    try:
        scores = model.forward(x)
        upstream = np.zeros_like(scores)
        upstream[np.arange(len(x)), classes] = 1.0  # one score per example
        return model.backward(upstream)
    finally:
        model.train(was_training)


def gauss_legendre(steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of Gauss–Legendre quadrature on [0, 1]: exact for polynomials up to degree 2·steps − 1."""
    steps = check_positive_int(steps, "steps")
    nodes, weights = np.polynomial.legendre.leggauss(steps)  # on [-1, 1]
    return (nodes + 1) / 2, weights / 2


def integrated_gradients(
    gradient: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    baseline: np.ndarray | None = None,
    steps: int = 50,
) -> np.ndarray:
    r"""Integrated gradients (Sundararajan et al., 2017) of each input of ``x``.

    .. math::

        \text{IG}_i(x) = (x_i - b_i) \int_0^1 \frac{\partial f}{\partial x_i}\big(b + \alpha (x - b)\big)\, d\alpha,

    the integral by Gauss–Legendre quadrature at ``steps`` points. ``gradient(points)``
    returns :math:`\partial f/\partial x` at a batch of points of ``x``'s shape (for a
    classifier: the score of the class being explained, as :func:`input_gradients` gives).
    By the fundamental theorem of calculus the attributions add up to :math:`f(x) - f(b)`
    — *completeness* — where a saliency map :math:`|\partial f/\partial x|` explains only
    the neighbourhood of :math:`x`. ``baseline`` defaults to zeros (a black image).
    """
    x = as_float_array(x, "x")
    baseline = np.zeros_like(x) if baseline is None else as_float_array(baseline, "baseline")
    if baseline.shape != x.shape:
        raise ValueError(f"baseline must have x's shape {x.shape}, got {describe(baseline)}")
    nodes, weights = gauss_legendre(steps)
    total = np.zeros_like(x)
    for alpha, weight in zip(nodes, weights, strict=True):
        total += weight * gradient(baseline + alpha * (x - baseline))
    return (x - baseline) * total
