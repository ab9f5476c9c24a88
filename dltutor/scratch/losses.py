"""Loss functions: a scalar L that measures how far predictions are from targets.

``forward(prediction, target)`` returns L; ``backward()`` returns dL/dprediction.
Both losses average over the batch, as ``torch.nn`` and ``keras.losses`` do by default.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from dltutor.checks import as_float_array, as_label_array, check_same_length, describe


class Loss(Protocol):
    """What a training loop needs of a loss: the value, then its gradient."""

    def forward(self, prediction: np.ndarray, target: Any) -> float:
        """The scalar loss of ``prediction`` against ``target``; keeps what ``backward`` needs."""
        ...

    def backward(self) -> np.ndarray:
        """dL/dprediction for the last ``forward``."""
        ...


def softmax(z: np.ndarray) -> np.ndarray:
    r"""Softmax over the last axis: :math:`p_k = e^{z_k} / \sum_j e^{z_j}`.

    Subtracting :math:`\max_j z_j` first changes nothing mathematically and prevents overflow.
    """
    shifted = z - z.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def log_softmax(z: np.ndarray) -> np.ndarray:
    r""":math:`\log p_k = z_k - \log \sum_j e^{z_j}`, computed stably (log-sum-exp)."""
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def sigmoid_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    r"""Binary cross-entropy of ``labels`` in [0, 1] against :math:`\sigma(z)`, entry by entry.

    :math:`-y \log \sigma(z) - (1 - y) \log(1 - \sigma(z)) = \text{softplus}(z) - y z`,
    written as :math:`\max(z, 0) - y z + \log(1 + e^{-|z|})` so no exponential overflows.
    """
    return np.maximum(logits, 0) - logits * labels + np.log1p(np.exp(-np.abs(logits)))


class MSELoss:
    r"""Mean squared error :math:`L = \frac{1}{M} \sum_i (\hat y_i - y_i)^2` over all M entries.

    Gradient: :math:`\partial L / \partial \hat y = \frac{2}{M} (\hat y - y)`.
    """

    def __init__(self) -> None:
        self._difference: np.ndarray | None = None

    def forward(self, prediction: np.ndarray, target: np.ndarray) -> float:
        prediction = as_float_array(prediction, "prediction")
        target = as_float_array(target, "target")
        if prediction.shape != target.shape:
            raise ValueError(
                f"prediction and target must have the same shape, got {prediction.shape} and {target.shape}"
            )
        self._difference = prediction - target
        return float(np.mean(self._difference**2))

    def backward(self) -> np.ndarray:
        if self._difference is None:
            raise RuntimeError("MSELoss.backward called before forward")
        return 2.0 * self._difference / self._difference.size

    __call__ = forward


class CrossEntropyLoss:
    r"""Softmax cross-entropy on logits, for integer class labels.

    With :math:`p = \mathrm{softmax}(z)` and one-hot targets :math:`y`,
    :math:`L = -\frac{1}{N} \sum_n \log p_{n, y_n}`. The softmax and the log cancel in
    the gradient, which is why the two are fused:

    .. math::

        \frac{\partial L}{\partial z} = \frac{1}{N} (p - y).

    Logits (N, K) go with labels (N,); logits (N, T, K) with labels (N, T), one class per
    position (a sequence model), and N is then the number of positions N·T.
    """

    def __init__(self) -> None:
        self._probabilities: np.ndarray | None = None
        self._labels: np.ndarray | None = None

    def _check(self, logits: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        logits = as_float_array(logits, "logits")
        if logits.ndim < 2:
            raise ValueError(f"logits must be (N, K) or (N, T, K), got {describe(logits)}")
        labels = as_label_array(labels, "labels", num_classes=logits.shape[-1])
        if labels.shape != logits.shape[:-1]:
            check_same_length(logits, labels, "logits", "labels")
            raise ValueError(
                f"labels must have shape {logits.shape[:-1]} for logits of shape "
                f"{logits.shape}, got {describe(labels)}"
            )
        if labels.size == 0:
            raise ValueError(f"logits must hold at least one example, got {describe(logits)}")
        return logits.reshape(-1, logits.shape[-1]), labels.reshape(-1)

    def forward(self, logits: np.ndarray, labels: np.ndarray) -> float:
        rows, flat_labels = self._check(logits, labels)  # (M, K), (M,)
        log_p = log_softmax(rows)  # (M, K)
        self._probabilities = np.exp(log_p).reshape(np.shape(logits))
        self._labels = flat_labels
        return float(-np.mean(log_p[np.arange(len(flat_labels)), flat_labels]))

    def backward(self) -> np.ndarray:
        if self._probabilities is None or self._labels is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        shape = self._probabilities.shape
        grad = self._probabilities.reshape(-1, shape[-1]).copy()  # (M, K)
        grad[np.arange(len(self._labels)), self._labels] -= 1.0  # p - one_hot(y)
        return (grad / len(self._labels)).reshape(shape)

    __call__ = forward


class SequenceCrossEntropyLoss(CrossEntropyLoss):
    """Cross-entropy of per-step logits (N, T, V) against per-step labels (N, T), averaged
    over all N·T positions: the loss of a language model. The twin of
    :class:`dltutor.torch.SequenceCrossEntropyLoss`."""

    def forward(self, logits: np.ndarray, labels: np.ndarray) -> float:
        logits = as_float_array(logits, "logits")
        if logits.ndim != 3:
            raise ValueError(f"logits must be (N, T, V), got {describe(logits)}")
        return super().forward(logits, labels)

    __call__ = forward


# --- the tabular chapter: losses that outliers do not drag ------------------------------


def _difference(prediction: np.ndarray, target: np.ndarray) -> np.ndarray:
    prediction = as_float_array(prediction, "prediction")
    target = as_float_array(target, "target")
    if prediction.shape != target.shape:
        raise ValueError(
            f"prediction and target must have the same shape, got {prediction.shape} and {target.shape}"
        )
    return prediction - target


class MAELoss:
    r"""Mean absolute error :math:`L = \frac{1}{M} \sum_i |\hat y_i - y_i|` over all M entries.

    Gradient: :math:`\partial L / \partial \hat y = \frac{1}{M} \operatorname{sign}(\hat y - y)`
    (0 where they are equal, as in PyTorch). A constant fitted under it is a median.
    """

    def __init__(self) -> None:
        self._difference: np.ndarray | None = None

    def forward(self, prediction: np.ndarray, target: np.ndarray) -> float:
        self._difference = _difference(prediction, target)
        return float(np.mean(np.abs(self._difference)))

    def backward(self) -> np.ndarray:
        if self._difference is None:
            raise RuntimeError("MAELoss.backward called before forward")
        return np.sign(self._difference) / self._difference.size

    __call__ = forward


class HuberLoss:
    r"""Huber's loss (Huber, 1964): quadratic for small errors, linear for large ones.

    With :math:`d = \hat y - y`,

    .. math::

        \ell_\delta(d) = \begin{cases} \tfrac12 d^2 & |d| \le \delta \\
        \delta\,(|d| - \tfrac12 \delta) & |d| > \delta \end{cases},
        \qquad \frac{\partial \ell_\delta}{\partial d} = \operatorname{clip}(d, -\delta, \delta),

    averaged over all M entries: ``torch.nn.HuberLoss(delta=δ)`` and
    ``keras.losses.Huber(delta=δ)``. An outlier pulls with force at most δ, whatever its size.
    """

    def __init__(self, delta: float = 1.0) -> None:
        if not (isinstance(delta, (int, float)) and delta > 0):
            raise ValueError(f"delta must be a positive number, got {delta!r}")
        self.delta = float(delta)
        self._difference: np.ndarray | None = None

    def forward(self, prediction: np.ndarray, target: np.ndarray) -> float:
        d = self._difference = _difference(prediction, target)
        small = np.abs(d) <= self.delta
        loss = np.where(small, 0.5 * d**2, self.delta * (np.abs(d) - 0.5 * self.delta))
        return float(np.mean(loss))

    def backward(self) -> np.ndarray:
        if self._difference is None:
            raise RuntimeError("HuberLoss.backward called before forward")
        d = self._difference
        return np.clip(d, -self.delta, self.delta) / d.size

    __call__ = forward
