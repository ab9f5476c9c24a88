"""Training in practice with Keras: integrated gradients by ``tf.GradientTape``.

The optimisers, schedules, dropout and batch normalisation are Keras' own
(``keras.optimizers``, their ``schedules``, ``Dropout``, ``BatchNormalization``); the
tests step them side by side with :mod:`dltutor.scratch.optim` and
:mod:`dltutor.scratch.training`.
"""

from __future__ import annotations

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
