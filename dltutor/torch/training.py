"""Training in practice with PyTorch: integrated gradients by autograd, the learning-rate range test.

The optimisers, schedules, dropout and batch normalisation are PyTorch's own
(``torch.optim``, ``torch.optim.lr_scheduler``, ``nn.Dropout``, ``nn.BatchNorm1d``); the
tests step them side by side with :mod:`dltutor.scratch.optim` and
:mod:`dltutor.scratch.training`.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from dltutor.checks import as_label_array, check_positive_int, check_same_length
from dltutor.scratch.training import integrated_gradients as _integrate
from dltutor.torch.device import get_device
from dltutor.torch.interpret import input_gradients
from dltutor.torch.train import as_inputs, as_targets


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


def lr_range_test(
    model: nn.Module,
    loss_fn: nn.Module,
    optimizer: torch.optim.Optimizer,
    x: np.ndarray,
    y: np.ndarray,
    *,
    start: float = 1e-5,
    stop: float = 10.0,
    steps: int = 100,
    batch_size: int = 32,
    smoothing: float = 0.9,
    diverge: float = 4.0,
    seed: int = 0,
    device: torch.device | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    r"""The learning-rate range test (Smith, 2017): the loss as the rate grows, one batch a step.

    Step :math:`k` of ``steps`` trains on one random batch at
    :math:`\eta_k = \eta_0 (\eta_1/\eta_0)^{k/(\text{steps} - 1)}`, from ``start`` to ``stop``,
    and records the loss smoothed by an exponential average with bias correction,
    :math:`\bar L_k = (1 - \beta)\sum_{j \le k} \beta^{k-j} L_j / (1 - \beta^{k+1})`,
    :math:`\beta` = ``smoothing``. The test stops once :math:`\bar L_k` exceeds ``diverge``
    times its minimum so far. The model and the optimiser get their state back at the end,
    so the test leaves no trace. Returns the rates tried and their smoothed losses.
    """
    check_same_length(np.asarray(x), np.asarray(y), "x", "y")
    steps = check_positive_int(steps, "steps")
    if not 0 < start < stop:
        raise ValueError(f"need 0 < start < stop, got start={start!r} and stop={stop!r}")
    if not 0 <= smoothing < 1 or not diverge > 1:
        raise ValueError(
            f"need smoothing in [0, 1) and diverge > 1, got {smoothing!r} and {diverge!r}"
        )
    device = get_device() if device is None else device
    saved_model = copy.deepcopy(model.state_dict())
    saved_optimizer = copy.deepcopy(optimizer.state_dict())
    model.to(device).train()
    inputs = as_inputs(model, x).to(device)
    targets = as_targets(model, loss_fn, y).to(device)
    generator = torch.Generator().manual_seed(seed)
    rates = start * (stop / start) ** (np.arange(steps) / max(steps - 1, 1))
    average, best, losses = 0.0, float("inf"), []
    try:
        for k, rate in enumerate(rates):
            for group in optimizer.param_groups:
                group["lr"] = float(rate)
            batch = torch.randint(len(inputs), (batch_size,), generator=generator).to(device)
            optimizer.zero_grad()
            loss = loss_fn(model(inputs[batch]), targets[batch])
            loss.backward()
            optimizer.step()
            average = smoothing * average + (1 - smoothing) * float(loss.detach())
            smoothed = average / (1 - smoothing ** (k + 1))
            losses.append(smoothed)
            best = min(best, smoothed)
            if not np.isfinite(smoothed) or smoothed > diverge * best:
                break
    finally:
        model.load_state_dict(saved_model)
        optimizer.load_state_dict(saved_optimizer)
    return rates[: len(losses)], np.array(losses)
