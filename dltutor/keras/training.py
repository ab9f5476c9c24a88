"""Training in practice with Keras: integrated gradients by ``tf.GradientTape``, TensorBoard logs read back.

The optimisers, schedules, dropout and batch normalisation are Keras' own
(``keras.optimizers``, their ``schedules``, ``Dropout``, ``BatchNormalization``); the
tests step them side by side with :mod:`dltutor.scratch.optim` and
:mod:`dltutor.scratch.training`.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from dltutor.checks import as_label_array
from dltutor.keras.interpret import input_gradients
from dltutor.scratch.training import integrated_gradients as _integrate


def integrated_gradients(
    model: keras.Model,
    x: np.ndarray,
    classes: np.ndarray,
    baseline: np.ndarray | None = None,
    steps: int = 50,
) -> np.ndarray:
    """Integrated gradients of class ``classes[n]``'s score for each input ``n`` (Sundararajan et al., 2017).

    The quadrature is :func:`dltutor.scratch.integrated_gradients`' (Gauss–Legendre on
    ``steps`` points); the gradients along the path come from ``tf.GradientTape``, in float32. The attributions
    of an example add up to its score at ``x`` minus its score at ``baseline`` (zeros by
    default).
    """
    labels = as_label_array(classes, "classes")
    return _integrate(lambda points: input_gradients(model, points, labels), x, baseline, steps)


def read_scalars(logdir: str | Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The scalars of every TensorBoard event file under ``logdir``: name → (steps, values).

    Reads what ``keras.callbacks.TensorBoard``, ``tf.summary.scalar`` or PyTorch's
    ``SummaryWriter`` wrote, with TensorBoard's own ``EventAccumulator``, so a notebook can
    plot a run from its logs. A name is the event file's folder relative to ``logdir``
    and the tag, ``"train/epoch_loss"`` (the tag alone for files directly in ``logdir``).
    TensorFlow 2 stores scalars as tensors; both kinds are read.
    """
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.util.tensor_util import make_ndarray

    root = Path(logdir)
    folders = sorted({path.parent for path in root.rglob("events.out.tfevents.*")})
    if not folders:
        raise ValueError(
            f"no event files under {str(root)!r}: pass the log_dir that "
            "keras.callbacks.TensorBoard or a SummaryWriter wrote to"
        )
    scalars: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for folder in folders:
        events = EventAccumulator(str(folder), size_guidance={"scalars": 0, "tensors": 0})
        events.Reload()
        prefix = "" if folder == root else f"{folder.relative_to(root).as_posix()}/"
        tags = events.Tags()
        for tag in tags["scalars"]:
            points = events.Scalars(tag)
            scalars[prefix + tag] = (
                np.array([p.step for p in points]),
                np.array([p.value for p in points]),
            )
        for tag in tags["tensors"]:
            points = events.Tensors(tag)
            values = [make_ndarray(p.tensor_proto) for p in points]
            if all(value.ndim == 0 and value.dtype.kind == "f" for value in values):
                scalars[prefix + tag] = (
                    np.array([p.step for p in points]),
                    np.array([float(value) for value in values]),
                )
    return scalars


class ValidateEvery(keras.callbacks.Callback):
    """Epoch-end callbacks every ``steps`` training steps, fed a validation loss computed directly.

    ``fit(validation_data=...)`` pays Keras' fixed cost of an epoch and of an ``evaluate``
    pass each time; for small data that cost outweighs the steps. This callback lets one
    long ``fit`` call (passes over the data laid end to end) stand for many epochs: after
    every ``steps`` steps it computes the validation loss of the model in evaluation mode,

        L_val = (1/N) Σ_n ℓ(f(x_n), y_n)   over the N validation examples,

    and calls ``on_epoch_end(epoch, {"val_loss": L_val})`` of each callback in
    ``callbacks`` (``keras.callbacks.EarlyStopping``, for one), whose ``stop_training`` then
    ends the call. With ``steps`` the steps of an epoch it takes the decisions of
    ``fit(validation_data=(x, y), callbacks=callbacks)``. ``steps`` must be a multiple of the
    model's ``steps_per_execution`` (Keras reports to callbacks once per execution).
    ``history`` holds every validation loss computed.
    """

    def __init__(
        self,
        callbacks: list[keras.callbacks.Callback],
        x: np.ndarray,
        y: np.ndarray,
        loss: keras.losses.Loss,
        steps: int,
    ) -> None:
        super().__init__()
        if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
            raise ValueError(f"steps must be a positive integer, got {steps!r}")
        if len(x) != len(y):
            raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}")
        self.callbacks, self.x, self.y = list(callbacks), x, y
        self.loss, self.steps = loss, steps
        self.history: list[float] = []

    def set_model(self, model: keras.Model) -> None:
        super().set_model(model)
        for callback in self.callbacks:
            callback.set_model(model)

    def on_train_begin(self, logs: dict | None = None) -> None:
        every = getattr(self.model, "steps_per_execution", 1) or 1
        if self.steps % every:
            raise ValueError(
                f"steps must be a multiple of the model's steps_per_execution ({every}), "
                f"got {self.steps}"
            )
        self.history = []
        for callback in self.callbacks:
            callback.on_train_begin(logs)

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if (batch + 1) % self.steps:
            return
        logits = self.model(self.x, training=False)  # (N, classes)
        self.history.append(float(self.loss(self.y, logits)))
        for callback in self.callbacks:
            callback.on_epoch_end(len(self.history) - 1, {"val_loss": self.history[-1]})

    def on_train_end(self, logs: dict | None = None) -> None:
        for callback in self.callbacks:
            callback.on_train_end(logs)
