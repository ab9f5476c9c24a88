"""Training in practice with PyTorch: integrated gradients by autograd.

The optimisers, schedules, dropout and batch normalisation are PyTorch's own
(``torch.optim``, ``torch.optim.lr_scheduler``, ``nn.Dropout``, ``nn.BatchNorm1d``); the
tests step them side by side with :mod:`dltutor.scratch.optim` and
:mod:`dltutor.scratch.training`.
"""

from __future__ import annotations

import numpy as np
from torch import nn

from dltutor.checks import as_label_array
from dltutor.scratch.training import integrated_gradients as _integrate
from dltutor.torch.interpret import input_gradients


def integrated_gradients(
    model: nn.Module,
    x: np.ndarray,
    classes: np.ndarray,
    baseline: np.ndarray | None = None,
    steps: int = 50,
) -> np.ndarray:
    """Integrated gradients of class ``classes[n]``'s score for each input ``n`` (Sundararajan et al., 2017).

    The quadrature is :func:`dltutor.scratch.integrated_gradients`' (Gauss–Legendre on
    ``steps`` points); the gradients along the path come from autograd. The attributions
    of an example add up to its score at ``x`` minus its score at ``baseline`` (zeros by
    default).
    """
    labels = as_label_array(classes, "classes")
    return _integrate(lambda points: input_gradients(model, points, labels), x, baseline, steps)
