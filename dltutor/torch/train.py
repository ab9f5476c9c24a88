"""A training loop that knows nothing about the model it trains: NumPy in, history out."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from dltutor._checks import as_float_array, check_positive_int, check_same_length
from dltutor.metrics import accuracy
from dltutor.torch.device import get_device


def _targets(model: nn.Module, loss_fn: nn.Module, y: np.ndarray) -> torch.Tensor:
    """Labels and token ids as int64; anything else in the model's float dtype."""
    y = np.asarray(y)
    if isinstance(loss_fn, nn.CrossEntropyLoss) or y.dtype.kind in "iu":  # class labels or token ids
        return torch.as_tensor(y, dtype=torch.long)
    return torch.as_tensor(as_float_array(y, "y"), dtype=next(model.parameters()).dtype)


@torch.no_grad()
def predict(
    model: nn.Module, x: np.ndarray, batch_size: int = 1024, device: torch.device | None = None
) -> np.ndarray:
    """The model's outputs for ``x`` as a NumPy array, computed in batches in eval mode."""
    device = get_device() if device is None else device
    model.to(device).eval()
    dtype = next(model.parameters()).dtype
    inputs = torch.as_tensor(as_float_array(x, "x"), dtype=dtype)
    outputs = [model(batch.to(device)).cpu() for batch in inputs.split(check_positive_int(batch_size, "batch_size"))]
    return torch.cat(outputs).numpy()


def evaluate(
    model: nn.Module,
    loss_fn: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    device: torch.device | None = None,
) -> dict[str, float]:
    """Loss (and accuracy, for a cross-entropy classifier) of ``model`` on ``x, y``."""
    check_same_length(np.asarray(x), np.asarray(y), "x", "y")
    output = torch.as_tensor(predict(model, x, device=device))  # in the model's dtype
    result = {"loss": float(loss_fn(output, _targets(model, loss_fn, y)))}
    if isinstance(loss_fn, nn.CrossEntropyLoss):
        result["accuracy"] = accuracy(np.asarray(y), output.numpy())
    return result


def fit(
    model: nn.Module,
    loss_fn: nn.Module,
    optimizer: torch.optim.Optimizer,
    x: np.ndarray,
    y: np.ndarray,
    *,
    epochs: int,
    batch_size: int,
    seed: int = 0,
    validation_data: tuple[np.ndarray, np.ndarray] | None = None,
    device: torch.device | None = None,
) -> dict[str, list[float]]:
    """Train ``model`` on NumPy arrays; return the per-epoch history.

    One step: ``optimizer.zero_grad()``, ``loss = loss_fn(model(x_batch), y_batch)``,
    ``loss.backward()``, ``optimizer.step()``. The history has the keys of
    :func:`dltutor.scratch.fit` (``loss``, ``accuracy`` for a cross-entropy loss, and
    ``val_*``). The data are shuffled by a generator seeded with ``seed``; the model is
    moved to ``device`` (default :func:`get_device`).
    """
    device = get_device() if device is None else device
    epochs = check_positive_int(epochs, "epochs")
    batch_size = check_positive_int(batch_size, "batch_size")
    x = as_float_array(x, "x")
    check_same_length(x, np.asarray(y), "x", "y")
    inputs = torch.as_tensor(x, dtype=next(model.parameters()).dtype)
    targets = _targets(model, loss_fn, y)
    loader = DataLoader(
        TensorDataset(inputs, targets),
        batch_size=batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(seed),
    )
    model.to(device)
    history: dict[str, list[float]] = {}
    for _ in range(epochs):
        model.train()
        total, count = 0.0, 0
        for batch_inputs, batch_targets in loader:
            batch_inputs, batch_targets = batch_inputs.to(device), batch_targets.to(device)
            optimizer.zero_grad()
            loss = loss_fn(model(batch_inputs), batch_targets)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch_inputs)
            count += len(batch_inputs)
        history.setdefault("loss", []).append(total / count)
        if isinstance(loss_fn, nn.CrossEntropyLoss):
            history.setdefault("accuracy", []).append(accuracy(np.asarray(y), predict(model, x, device=device)))
        if validation_data is not None:
            for key, value in evaluate(model, loss_fn, *validation_data, device=device).items():
                history.setdefault(f"val_{key}", []).append(value)
    return history
