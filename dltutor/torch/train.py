"""A training loop that knows nothing about the model it trains: NumPy in, history out."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from dltutor.checks import as_float_array, check_positive_int, check_same_length
from dltutor.scratch.train import EarlyStopping
from dltutor.torch.device import get_device
from dltutor.torch.recurrent import SequenceCrossEntropyLoss

_CLASSIFICATION_LOSSES = (nn.CrossEntropyLoss, nn.NLLLoss, SequenceCrossEntropyLoss)


def is_classification(loss_fn: nn.Module) -> bool:
    """True for losses that take class labels: their targets are int64 and accuracy is reported."""
    return isinstance(loss_fn, _CLASSIFICATION_LOSSES)


def as_inputs(model: nn.Module, x: Any) -> torch.Tensor:
    """Token ids (integers) as int64; anything else as floats in the model's dtype."""
    array = np.asarray(x)
    if array.dtype.kind in "iu":
        return torch.as_tensor(array, dtype=torch.long)
    return torch.as_tensor(as_float_array(x, "x"), dtype=next(model.parameters()).dtype)


def as_targets(model: nn.Module, loss_fn: nn.Module, y: Any) -> torch.Tensor:
    """Class labels as int64 for a classification loss; anything else in the model's dtype."""
    if is_classification(loss_fn):
        return torch.as_tensor(np.asarray(y), dtype=torch.long)
    return torch.as_tensor(as_float_array(y, "y"), dtype=next(model.parameters()).dtype)


def _to_cpu(output: Any) -> Any:
    return tuple(part.cpu() for part in output) if isinstance(output, tuple) else output.cpu()


def _batches(inputs: torch.Tensor, batch_size: int, device: torch.device) -> Iterator[torch.Tensor]:
    for batch in inputs.split(check_positive_int(batch_size, "batch_size")):
        yield batch.to(device)


def expected_input(model: nn.Module) -> str | None:
    """The input shape ``model`` takes, as text, read off its first layer that takes inputs.

    ``"(N, 4)"`` for ``MLP([4, 3])``, ``"(N, 1, 8, 8), channels first"`` for a CNN of 8×8 images,
    ``"(N, T, 3)"`` for a recurrent network, token ids for a model that starts with an
    embedding; ``None`` when the first such layer is of another kind.
    """
    for module in model.modules():
        if isinstance(module, (nn.Embedding, nn.EmbeddingBag)):
            return f"(N, T): integer token ids below {module.num_embeddings}"
        if isinstance(module, nn.Linear):
            return f"(N, {module.in_features})"
        if isinstance(module, nn.Conv2d):
            size = getattr(getattr(model, "spec", None), "image_size", None)
            side = "H, W" if size is None else f"{size}, {size}"
            return f"(N, {module.in_channels}, {side}), channels first"
        if isinstance(module, nn.Conv1d):
            return f"(N, {module.in_channels}, T)"
        if isinstance(module, nn.RNNBase):
            return f"(N, T, {module.input_size})"
    return None


_SHAPE_ERROR = re.compile(r"shape|size|channels|\b[0-9]D\b")  # PyTorch's words for a mismatch


def input_mismatch(model: nn.Module, shape: tuple[int, ...], err: Exception) -> ValueError | None:
    """A ``ValueError`` naming ``shape`` and the model's :func:`expected_input`, if ``err`` is
    PyTorch's complaint about the shape of an input; else ``None`` (running out of memory, say)."""
    message = str(err)
    if (
        not isinstance(err, RuntimeError)
        or isinstance(err, torch.cuda.OutOfMemoryError)
        or "memory" in message
        or not _SHAPE_ERROR.search(message)
    ):
        return None
    expected = expected_input(model)
    takes = "" if expected is None else f", which takes inputs of shape {expected}"
    first_line = message.strip().splitlines()[0] if message.strip() else ""
    return ValueError(
        f"x of shape {shape} does not fit {type(model).__name__}{takes} (PyTorch: {first_line})"
    )


def _output_and_loss(
    model: nn.Module, loss_fn: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, shape: tuple
) -> tuple[Any, torch.Tensor]:
    """``model(inputs)`` and its loss, with PyTorch's complaints about the data made clear.

    An input of a shape the model cannot take (``shape`` is the whole of ``x``'s), and a
    class label the model has no output for, raise ``ValueError`` naming what came.
    """
    try:
        output = model(inputs)
    except RuntimeError as error:
        mismatch = input_mismatch(model, shape, error)
        if mismatch is None:
            raise
        raise mismatch from error
    try:
        return output, loss_fn(output, targets)
    except (IndexError, RuntimeError) as error:
        if not is_classification(loss_fn) or "out of bounds" not in str(error):
            raise
        raise ValueError(
            f"y must hold class labels below {output.shape[-1]}, the number of outputs of "
            f"{type(model).__name__}, got labels up to {int(targets.max())}"
        ) from error


@torch.no_grad()
def predict(
    model: nn.Module, x: np.ndarray, batch_size: int = 1024, device: torch.device | None = None
) -> Any:
    """The model's outputs for ``x`` as NumPy, computed in batches in eval mode.

    A model with several outputs (the VAE's ``(logits, mu, log_var)``) gives a tuple of arrays.
    Inputs of a shape the model cannot take raise ``ValueError`` naming both shapes.
    """
    device = get_device() if device is None else device
    model.to(device).eval()
    inputs = as_inputs(model, x)
    try:
        outputs = [_to_cpu(model(batch)) for batch in _batches(inputs, batch_size, device)]
    except RuntimeError as error:
        mismatch = input_mismatch(model, tuple(inputs.shape), error)
        if mismatch is None:
            raise
        raise mismatch from error
    if isinstance(outputs[0], tuple):
        return tuple(torch.cat(parts).numpy() for parts in zip(*outputs, strict=True))
    return torch.cat(outputs).numpy()


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loss_fn: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int = 1024,
    device: torch.device | None = None,
) -> dict[str, float]:
    """Loss (and accuracy, for a classification loss) of ``model`` on ``x, y``, in eval mode.

    Computed ``batch_size`` examples at a time; the loss is the mean over all of ``x``.
    """
    device = get_device() if device is None else device
    check_same_length(np.asarray(x), np.asarray(y), "x", "y")
    model.to(device).eval()
    inputs, targets = as_inputs(model, x), as_targets(model, loss_fn, y)
    total, correct, count = 0.0, 0.0, 0
    for batch_inputs, batch_targets in zip(
        _batches(inputs, batch_size, device), _batches(targets, batch_size, device), strict=True
    ):
        output, loss = _output_and_loss(
            model, loss_fn, batch_inputs, batch_targets, tuple(inputs.shape)
        )
        total += float(loss) * len(batch_inputs)
        if is_classification(loss_fn):
            correct += _batch_accuracy(output, batch_targets) * len(batch_inputs)
        count += len(batch_inputs)
    result = {"loss": total / count}
    if is_classification(loss_fn):
        result["accuracy"] = correct / count
    return result


def _correct(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """How many of (N,) labels, or of (N, T) labels per position, the logits get right.

    Counted on the device, as a tensor: on a GPU nothing is copied to the host.
    """
    return (logits.detach().argmax(dim=-1) == labels).sum().double()


def _batch_accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Accuracy of (N, K) logits, or per position of (N, T, K) logits."""
    return float(_correct(logits, labels)) / labels.numel()


def _epoch_order(
    n: int, batch_size: int, shuffle: bool, generator: torch.Generator
) -> Iterator[torch.Tensor]:
    """The example indices of one epoch, a batch at a time.

    The order is ``DataLoader(..., shuffle=shuffle, generator=generator)``'s, draw for draw,
    so that results do not depend on which of the two loops ran: each epoch the loader's
    iterator draws a seed for its workers, then its sampler a permutation of the ``n``
    examples and a second one that it cuts to length ``num_samples % n`` (zero). Slicing a
    tensor by these indices gives the loader's batches without collating ``batch_size``
    single examples every step.
    """
    torch.empty((), dtype=torch.int64).random_(generator=generator)  # the workers' seed
    if shuffle:
        order = torch.randperm(n, generator=generator)
        torch.randperm(n, generator=generator)  # the sampler's empty remainder
    else:
        order = torch.arange(n)
    yield from order.split(batch_size)


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
    shuffle: bool = True,
    validation_data: tuple[np.ndarray, np.ndarray] | None = None,
    device: torch.device | None = None,
    progress: bool = False,
    patience: int | None = None,
) -> dict[str, list[float]]:
    """Train ``model`` on NumPy arrays; return the per-epoch history.

    One step: ``optimizer.zero_grad()``, ``loss = loss_fn(model(x_batch), y_batch)``,
    ``loss.backward()``, ``optimizer.step()``. The history has the keys of
    :func:`dltutor.scratch.fit`: ``loss`` and, for a classification loss, ``accuracy`` —
    means over the epoch's batches, weighted by batch size, as Keras reports them — and
    ``val_*`` measured after each epoch in eval mode. The examples are shuffled every epoch
    by a generator seeded with ``seed`` (``shuffle=False`` keeps their order); the model is
    moved to ``device`` (default :func:`get_device`). ``progress=True`` shows a progress
    bar over the epochs (on stderr), for long runs. With ``patience`` (and
    ``validation_data``), training stops once the validation loss has not improved for
    ``patience`` epochs and the model gets back its best epoch's parameters and buffers,
    as :func:`dltutor.scratch.fit` does.
    """
    device = get_device() if device is None else device
    stopper = None if patience is None else EarlyStopping(patience, validation_data)
    best_state = copy.deepcopy(model.state_dict()) if stopper is not None else {}
    epochs = check_positive_int(epochs, "epochs")
    batch_size = check_positive_int(batch_size, "batch_size")
    check_same_length(np.asarray(x), np.asarray(y), "x", "y")
    inputs = as_inputs(model, x).to(device)
    targets = as_targets(model, loss_fn, y).to(device)
    generator = torch.Generator().manual_seed(seed)
    model.to(device)
    history: dict[str, list[float]] = {}
    epochs_bar = tqdm(range(epochs), desc="epochs", unit="epoch", disable=not progress)
    for _ in epochs_bar:
        model.train()
        # Summed on the device, as float64 tensors: no host round trip (``.item()``) per step.
        total = torch.zeros((), dtype=torch.float64, device=device)
        correct = torch.zeros((), dtype=torch.float64, device=device)
        for batch in _epoch_order(len(inputs), batch_size, shuffle, generator):
            batch = batch.to(device)
            batch_inputs, batch_targets = inputs[batch], targets[batch]
            optimizer.zero_grad()
            output, loss = _output_and_loss(
                model, loss_fn, batch_inputs, batch_targets, tuple(inputs.shape)
            )
            loss.backward()
            optimizer.step()
            total += loss.detach().double() * len(batch)
            if is_classification(loss_fn):
                correct += _correct(output, batch_targets) / batch_targets[0].numel()
        history.setdefault("loss", []).append(float(total) / len(inputs))
        if is_classification(loss_fn):
            history.setdefault("accuracy", []).append(float(correct) / len(inputs))
        if validation_data is not None:
            for key, value in evaluate(model, loss_fn, *validation_data, device=device).items():
                history.setdefault(f"val_{key}", []).append(value)
        epochs_bar.set_postfix({key: f"{values[-1]:.4g}" for key, values in history.items()})
        if stopper is not None:
            if stopper.improved(history["val_loss"][-1]):
                best_state = copy.deepcopy(model.state_dict())
            elif stopper.stop:
                break
    if stopper is not None:
        model.load_state_dict(best_state)
    return history
