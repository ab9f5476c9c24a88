"""A model-agnostic training loop for the scratch networks: forward, loss, backward, step."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from tqdm import tqdm

from dltutor.checks import as_float_array, check_positive_int, check_same_length, describe
from dltutor.metrics import accuracy
from dltutor.scratch.layers import Layer, predict
from dltutor.scratch.losses import CrossEntropyLoss, Loss
from dltutor.scratch.optim import Optimizer


def minibatches(
    num_examples: int, batch_size: int, rng: np.random.Generator | None = None
) -> Iterator[np.ndarray]:
    """Index arrays covering ``range(num_examples)`` in batches, shuffled if ``rng`` is given."""
    num_examples = check_positive_int(num_examples, "num_examples")
    batch_size = check_positive_int(batch_size, "batch_size")
    order = rng.permutation(num_examples) if rng is not None else np.arange(num_examples)
    for start in range(0, num_examples, batch_size):
        yield order[start : start + batch_size]


class EarlyStopping:
    """Patience over the validation loss, for every framework's ``fit``.

    ``improved(loss)`` records one epoch's validation loss and says whether it is the best
    so far (the caller then keeps that epoch's weights); ``stop`` turns true once
    ``patience`` epochs in a row have not improved on the best.
    """

    def __init__(self, patience: int, validation_data: object) -> None:
        self.patience = check_positive_int(patience, "patience")
        if validation_data is None:
            raise ValueError(
                "patience needs validation_data: early stopping watches the validation loss"
            )
        self.best_loss, self.waited = float("inf"), 0

    def improved(self, loss: float) -> bool:
        if loss < self.best_loss:
            self.best_loss, self.waited = loss, 0
            return True
        self.waited += 1
        return False

    @property
    def stop(self) -> bool:
        return self.waited >= self.patience


def _check_inputs(x: Any) -> np.ndarray:
    """A batch-first array of any rank ≥ 2: (N, features), (N, C, H, W), or token ids (N, T).

    Floats are checked for NaN and infinities; integer ids stay integers (an embedding
    looks them up). The layers check the rest.
    """
    array = np.asarray(x)
    if array.dtype.kind not in "iu":
        array = as_float_array(x, "x")
    if array.ndim < 2:
        raise ValueError(f"x must be batch first with at least 2 dimensions, got {describe(array)}")
    return array


def _prepare_targets(loss: Loss, y: Any, name: str) -> np.ndarray:
    return np.asarray(y) if isinstance(loss, CrossEntropyLoss) else as_float_array(y, name)


def _accuracy(labels: np.ndarray, logits: np.ndarray) -> float:
    """Accuracy of (N, K) or per-position (N, T, K) logits."""
    return accuracy(labels.reshape(-1), logits.reshape(-1, logits.shape[-1]))


def evaluate(
    model: Layer, loss: Loss, x: np.ndarray, y: np.ndarray, batch_size: int = 256
) -> dict[str, float]:
    """Loss (and accuracy, for a classifier) of ``model`` on ``x, y``, in evaluation mode.

    The outputs are computed ``batch_size`` examples at a time (:func:`predict`), then
    scored together, so the loss is exactly the mean over all of ``x``.
    """
    x = _check_inputs(x)
    y = _prepare_targets(loss, y, "y")
    check_same_length(x, y, "x", "y")
    output = predict(model, x, batch_size)
    result = {"loss": loss.forward(output, y)}
    if isinstance(loss, CrossEntropyLoss):
        result["accuracy"] = _accuracy(y, output)
    return result


def fit(
    model: Layer,
    loss: Loss,
    optimizer: Optimizer,
    x: np.ndarray,
    y: np.ndarray,
    *,
    epochs: int,
    batch_size: int,
    seed: int = 0,
    shuffle: bool = True,
    validation_data: tuple[np.ndarray, np.ndarray] | None = None,
    progress: bool = False,
    patience: int | None = None,
) -> dict[str, list[float]]:
    """Train ``model`` by mini-batch gradient descent; return the per-epoch history.

    Each step: ``output = model.forward(x_batch)``, ``L = loss.forward(output, y_batch)``,
    ``model.backward(loss.backward())``, ``optimizer.step(model.parameters())``. The
    examples are shuffled every epoch by a generator seeded with ``seed`` (pass
    ``shuffle=False`` to keep their order). The history has ``"loss"`` and, for a
    cross-entropy loss, ``"accuracy"`` — both means over the epoch's batches, weighted by
    batch size, as Keras reports them — and the same keys prefixed ``val_`` when
    ``validation_data`` is given, measured after the epoch in evaluation mode.
    ``progress=True`` shows a progress bar over the epochs (on stderr), for long runs.

    Early stopping: with ``patience`` (and ``validation_data``), training stops once the
    validation loss has not improved for ``patience`` epochs, and the model gets back the
    weights of its best epoch (Keras' ``EarlyStopping(restore_best_weights=True)``); the
    history then has fewer than ``epochs`` entries.
    """
    x = _check_inputs(x)
    y = _prepare_targets(loss, y, "y")
    check_same_length(x, y, "x", "y")
    epochs = check_positive_int(epochs, "epochs")
    rng = np.random.default_rng(seed) if shuffle else None
    is_classifier = isinstance(loss, CrossEntropyLoss)
    stopper = None if patience is None else EarlyStopping(patience, validation_data)
    best_weights = model.get_weights() if stopper is not None else []
    history: dict[str, list[float]] = {}
    epochs_bar = tqdm(range(epochs), desc="epochs", unit="epoch", disable=not progress)
    for _ in epochs_bar:
        model.train()
        losses, accuracies, sizes = [], [], []
        for index in minibatches(len(x), batch_size, rng):
            output = model.forward(x[index])
            losses.append(loss.forward(output, y[index]))
            if is_classifier:
                accuracies.append(_accuracy(y[index], output))
            sizes.append(len(index))
            model.backward(loss.backward())
            optimizer.step(model.parameters())
        history.setdefault("loss", []).append(float(np.average(losses, weights=sizes)))
        if is_classifier:
            history.setdefault("accuracy", []).append(float(np.average(accuracies, weights=sizes)))
        if validation_data is not None:
            for key, value in evaluate(
                model, loss, *validation_data, batch_size=batch_size
            ).items():
                history.setdefault(f"val_{key}", []).append(value)
        epochs_bar.set_postfix({key: f"{values[-1]:.4g}" for key, values in history.items()})
        if stopper is not None:
            if stopper.improved(history["val_loss"][-1]):
                best_weights = model.get_weights()
            elif stopper.stop:
                break
    if stopper is not None:
        model.set_weights(best_weights)
    return history
