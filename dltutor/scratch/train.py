"""A model-agnostic training loop for the scratch networks: forward, loss, backward, step."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from dltutor._checks import as_float_array, check_positive_int, check_same_length
from dltutor.metrics import accuracy
from dltutor.scratch.losses import CrossEntropyLoss, Loss
from dltutor.scratch.network import Sequential
from dltutor.scratch.optim import SGD


def minibatches(
    num_examples: int, batch_size: int, rng: np.random.Generator | None = None
) -> Iterator[np.ndarray]:
    """Yield index arrays that cover ``range(num_examples)`` in batches, shuffled if ``rng`` is given."""
    num_examples = check_positive_int(num_examples, "num_examples")
    batch_size = check_positive_int(batch_size, "batch_size")
    order = rng.permutation(num_examples) if rng is not None else np.arange(num_examples)
    for start in range(0, num_examples, batch_size):
        yield order[start : start + batch_size]


def _check_inputs(x: np.ndarray) -> np.ndarray:
    """A batch-first float array of any rank ≥ 2: (N, features) or (N, C, H, W); layers check the rest."""
    x = as_float_array(x, "x")
    if x.ndim < 2:
        raise ValueError(f"x must be batch first with at least 2 dimensions, got shape {x.shape}")
    return x


def _prepare_targets(loss: Loss, y: np.ndarray, name: str) -> np.ndarray:
    return np.asarray(y) if isinstance(loss, CrossEntropyLoss) else as_float_array(y, name)


def evaluate(
    model: Sequential, loss: Loss, x: np.ndarray, y: np.ndarray
) -> dict[str, float]:
    """Loss (and accuracy, for a classifier) of ``model`` on the whole of ``x, y``."""
    x = _check_inputs(x)
    y = _prepare_targets(loss, y, "y")
    check_same_length(x, y, "x", "y")
    output = model.forward(x)
    result = {"loss": loss.forward(output, y)}
    if isinstance(loss, CrossEntropyLoss):
        result["accuracy"] = accuracy(y, output)
    return result


def fit(
    model: Sequential,
    loss: Loss,
    optimizer: SGD,
    x: np.ndarray,
    y: np.ndarray,
    *,
    epochs: int,
    batch_size: int,
    rng: np.random.Generator | None = None,
    validation_data: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, list[float]]:
    """Train ``model`` by mini-batch gradient descent; return the per-epoch history.

    Each step: ``output = model.forward(x_batch)``, ``L = loss.forward(output, y_batch)``,
    ``model.backward(loss.backward())``, ``optimizer.step(model)``.
    The history has ``"loss"`` (mean over the epoch's batches), plus ``"accuracy"`` for a
    cross-entropy loss, and the same keys prefixed ``val_`` when ``validation_data`` is given,
    as Keras' ``History.history`` does.
    """
    x = _check_inputs(x)
    y = _prepare_targets(loss, y, "y")
    check_same_length(x, y, "x", "y")
    epochs = check_positive_int(epochs, "epochs")
    history: dict[str, list[float]] = {}
    for _ in range(epochs):
        batch_losses, batch_sizes = [], []
        for index in minibatches(len(x), batch_size, rng):
            output = model.forward(x[index])
            batch_losses.append(loss.forward(output, y[index]))
            batch_sizes.append(len(index))
            model.backward(loss.backward())
            optimizer.step(model)
        history.setdefault("loss", []).append(float(np.average(batch_losses, weights=batch_sizes)))
        if isinstance(loss, CrossEntropyLoss):
            history.setdefault("accuracy", []).append(accuracy(y, model.forward(x)))
        if validation_data is not None:
            for key, value in evaluate(model, loss, *validation_data).items():
                history.setdefault(f"val_{key}", []).append(value)
    return history
