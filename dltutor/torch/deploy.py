"""From a trained PyTorch model to a file: weights, an ONNX graph, int8, pruning, distillation.

The export runtimes (onnx, onnxruntime, onnxscript, safetensors) are the ``deploy`` extra:
they are imported inside the functions that need them, so ``import dltutor.torch`` works
without them, and a missing one raises ``ImportError`` naming
``pip install "dltutor[deploy]"``.
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from dltutor.checks import as_float_array, check_positive_int, describe
from dltutor.scratch.quantize import magnitude_mask


def require(module: str) -> Any:
    """Import ``module`` from the ``deploy`` extra, or say how to install it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            f'{module} is part of dltutor\'s deploy extra: pip install "dltutor[deploy]"'
        ) from error


# --- weights in a file -------------------------------------------------------------------


def _check_fits(model: nn.Module, state: dict[str, torch.Tensor], path: Path) -> None:
    """``ValueError`` naming the missing, unexpected and reshaped entries, if any."""
    expected = {name: tuple(value.shape) for name, value in model.state_dict().items()}
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(
        f"{name}: file {tuple(state[name].shape)}, model {shape}"
        for name, shape in expected.items()
        if name in state and tuple(state[name].shape) != shape
    )
    if missing or unexpected or wrong:
        raise ValueError(
            f"{path.name} does not fit {type(model).__name__}: missing {missing}, "
            f"unexpected {unexpected}, other shapes {wrong}"
        )


def _existing(path: str | Path, writer: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no weights file at {path}: write one with {writer}")
    return path


def save_state(model: nn.Module, path: str | Path) -> Path:
    """``torch.save(model.state_dict(), path)``: tensors by name, no pickled class."""
    path = Path(path)
    torch.save(model.state_dict(), path)
    return path


def load_state(model: nn.Module, path: str | Path) -> nn.Module:
    """Load :func:`save_state`'s file into ``model`` with ``weights_only=True``.

    ``weights_only`` unpickles tensors and plain containers only: a file cannot run code
    when loaded. A file written for another architecture raises ``ValueError`` naming the
    entries that do not fit.
    """
    path = _existing(path, "save_state")
    state = torch.load(path, map_location="cpu", weights_only=True)
    _check_fits(model, state, path)
    model.load_state_dict(state)
    return model


def save_safetensors(model: nn.Module, path: str | Path) -> Path:
    """The state dict as safetensors: a JSON header and raw tensor bytes, nothing to unpickle."""
    safetensors_torch = require("safetensors.torch")
    path = Path(path)
    state = {name: value.detach().cpu().contiguous() for name, value in model.state_dict().items()}
    safetensors_torch.save_file(state, str(path))
    return path


def load_safetensors(model: nn.Module, path: str | Path) -> nn.Module:
    """Load :func:`save_safetensors`' file into ``model``; another architecture: ``ValueError``."""
    safetensors_torch = require("safetensors.torch")
    path = _existing(path, "save_safetensors")
    state = safetensors_torch.load_file(str(path))
    _check_fits(model, state, path)
    model.load_state_dict(state)
    return model


# --- an ONNX graph -----------------------------------------------------------------------


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence the exporters' and quantisers' progress lines, log records and warnings."""
    loggers = [logging.getLogger(), logging.getLogger("torch")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with (
            warnings.catch_warnings(),
            contextlib.redirect_stdout(io.StringIO()),
            contextlib.redirect_stderr(io.StringIO()),
        ):
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def export_onnx(model: nn.Module, example: np.ndarray, path: str | Path) -> Path:
    """Export ``model`` with ``torch.onnx.export`` (the ``torch.export`` exporter) to ``path``.

    The batch dimension is dynamic (``dynamic_shapes``): the file takes any number of
    examples shaped like ``example``'s rows. The input is named ``x``, the output
    ``logits``. Exported from a CPU copy in eval mode. A model the exporter cannot trace
    raises ``ValueError`` saying so, with the exporter's error chained.
    """
    require("onnxscript")
    example = as_float_array(example, "example")
    if example.ndim < 2 or len(example) < 2:
        raise ValueError(
            f"example must be a batch of at least 2 inputs (N >= 2, so that the batch "
            f"dimension can stay dynamic), got {describe(example)}"
        )
    path = Path(path)
    cpu_model = copy.deepcopy(model).cpu().eval()
    dtype = next(cpu_model.parameters()).dtype
    inputs = (torch.as_tensor(example, dtype=dtype),)
    batch = torch.export.Dim("batch")
    try:
        with quiet():
            program = torch.onnx.export(
                cpu_model,
                inputs,
                dynamo=True,
                input_names=["x"],
                output_names=["logits"],
                dynamic_shapes=({0: batch},),
                verbose=False,
            )
    except Exception as error:  # the exporter raises its own error types
        reason = re.sub(r"\x1b\[[0-9;]*m", "", str(error.__cause__ or error)).strip()
        first = reason.splitlines()[0] if reason else type(error).__name__
        hint = (
            " (control flow that depends on the data: rewrite the branch with torch.cond)"
            if "data-dependent" in first
            else ""
        )
        raise ValueError(
            f"torch.onnx.export could not export {type(model).__name__}: {first}{hint}"
        ) from error
    if program is None:  # only when given a file name, which we do not
        raise ValueError(f"torch.onnx.export returned no program for {type(model).__name__}")
    program.save(str(path))
    return path


def onnx_session(path: str | Path) -> Any:
    """An onnxruntime ``InferenceSession`` on the CPU for the ONNX file at ``path``."""
    ort = require("onnxruntime")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no ONNX file at {path}: write one with export_onnx")
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


# --- int8 --------------------------------------------------------------------------------


def quantize_dynamic_int8(model: nn.Module) -> nn.Module:
    """Post-training dynamic int8 of every ``nn.Linear`` and ``nn.LSTM`` (a CPU copy).

    ``torch.ao.quantization.quantize_dynamic``: weights stored as int8 (per tensor,
    symmetric), activations quantised on the fly from each batch's own range. PyTorch 2.13
    marks ``torch.ao.quantization`` deprecated (its successor is the separate ``torchao``
    package); it still works, and its warning is silenced here.
    """
    from torch.ao import quantization

    cpu_model = copy.deepcopy(model).cpu().eval()
    with quiet():
        return quantization.quantize_dynamic(cpu_model, {nn.Linear, nn.LSTM}, dtype=torch.qint8)


def quantize_onnx_dynamic(source: str | Path, target: str | Path) -> Path:
    """onnxruntime's dynamic int8: int8 weights, activations' scales computed per batch."""
    quantization = require("onnxruntime.quantization")
    with quiet():
        quantization.quantize_dynamic(
            str(source), str(target), weight_type=quantization.QuantType.QInt8
        )
    return Path(target)


def quantize_onnx_static(
    source: str | Path,
    target: str | Path,
    calibration: np.ndarray,
    per_channel: bool = True,
    batch_size: int = 64,
) -> Path:
    """onnxruntime's static int8 with calibration: fixed activation scales from ``calibration``.

    The calibration inputs (training data, never test data) run through the float graph;
    each activation's observed range sets its scale and zero point (min–max). Weights are
    int8, symmetric, per output channel if ``per_channel``; activations uint8. The graph
    holds QuantizeLinear/DequantizeLinear pairs (QDQ), which onnxruntime fuses into
    integer kernels.
    """
    quantization = require("onnxruntime.quantization")
    calibration = as_float_array(calibration, "calibration").astype(np.float32)
    batch_size = check_positive_int(batch_size, "batch_size")

    class Reader(quantization.CalibrationDataReader):  # type: ignore[name-defined]
        def __init__(self) -> None:
            self.batches = iter(
                calibration[i : i + batch_size] for i in range(0, len(calibration), batch_size)
            )

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self.batches, None)
            return None if batch is None else {"x": batch}

    with quiet():
        quantization.quantize_static(
            str(source),
            str(target),
            Reader(),
            quant_format=quantization.QuantFormat.QDQ,
            per_channel=per_channel,
            weight_type=quantization.QuantType.QInt8,
            activation_type=quantization.QuantType.QUInt8,
        )
    return Path(target)


# --- pruning and distillation ------------------------------------------------------------


def prunable(model: nn.Module) -> list[tuple[nn.Module, str]]:
    """``(module, "weight")`` for every convolution and linear layer: what pruning cuts."""
    return [(m, "weight") for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]


def prune_magnitude(model: nn.Module, sparsity: float) -> nn.Module:
    """A copy of ``model`` with the fraction ``sparsity`` of its smallest weights set to zero.

    ``torch.nn.utils.prune.global_unstructured`` with the L1 criterion over every linear and
    convolution weight together (biases kept), then ``prune.remove`` to make the zeros part
    of the weights. The zeros are still stored and multiplied: dense kernels do not skip them.
    """
    from torch.nn.utils import prune

    pruned = copy.deepcopy(model)
    if sparsity == 0:
        return pruned
    parameters = prunable(pruned)
    prune.global_unstructured(parameters, pruning_method=prune.L1Unstructured, amount=sparsity)
    for module, name in parameters:
        prune.remove(module, name)
    return pruned


def prune_magnitude_scratch(model: nn.Module, sparsity: float) -> nn.Module:
    """:func:`prune_magnitude` through :func:`dltutor.scratch.quantize.magnitude_mask`.

    All prunable weights in one vector, one global threshold, the mask applied layer by
    layer: the same cut as PyTorch's global L1 pruning.
    """
    pruned = copy.deepcopy(model)
    parameters = [getattr(m, name) for m, name in prunable(pruned)]
    flat = np.concatenate([p.detach().cpu().double().numpy().ravel() for p in parameters])
    mask = magnitude_mask(flat, sparsity)
    start = 0
    with torch.no_grad():
        for parameter in parameters:
            keep = mask[start : start + parameter.numel()].reshape(parameter.shape)
            parameter.mul_(torch.as_tensor(keep, dtype=parameter.dtype, device=parameter.device))
            start += parameter.numel()
    return pruned


def sparsity_of(model: nn.Module) -> float:
    """The fraction of zeros among the prunable weights of ``model``."""
    weights = [getattr(m, name) for m, name in prunable(model)]
    zeros = sum(int((w == 0).sum()) for w in weights)
    return zeros / sum(w.numel() for w in weights)


def distillation_targets(labels: np.ndarray, teacher_logits: np.ndarray) -> np.ndarray:
    """Labels and the teacher's logits side by side, (N, 1 + K) float32: the targets of
    :class:`DistillationLoss`, so that :func:`dltutor.torch.fit` can train a student as is."""
    labels = np.asarray(labels)
    teacher_logits = as_float_array(teacher_logits, "teacher_logits", ndim=2)
    if labels.shape != (len(teacher_logits),) or labels.dtype.kind not in "iu":
        raise ValueError(
            f"labels must be (N,) integers with N = {len(teacher_logits)}, got {describe(labels)}"
        )
    return np.column_stack([labels, teacher_logits]).astype(np.float32)


class DistillationLoss(nn.Module):
    r"""Knowledge distillation {Hinton et al. 2015}: soft targets at temperature :math:`T`.

    .. math:: L = \alpha\, T^2\, \mathrm{KL}\big(\operatorname{softmax}(t/T)\,\|\,
              \operatorname{softmax}(s/T)\big) + (1 - \alpha)\, \mathrm{CE}(s, y),

    :math:`s` the student's logits, :math:`t` the teacher's, averaged over the batch. The
    :math:`T^2` keeps the soft term's gradients the same size as :math:`T` changes.
    Targets: :func:`distillation_targets`, (N, 1 + K) — the label, then the teacher's logits.
    """

    def __init__(self, temperature: float = 4.0, alpha: float = 0.9) -> None:
        super().__init__()
        if not temperature > 0 or not 0 <= alpha <= 1:
            raise ValueError(
                f"temperature must be > 0 and alpha in [0, 1], got {temperature!r}, {alpha!r}"
            )
        self.temperature, self.alpha = float(temperature), float(alpha)

    def forward(self, student_logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        labels, teacher_logits = targets[:, 0].long(), targets[:, 1:]  # (N,), (N, K)
        if teacher_logits.shape != student_logits.shape:
            raise ValueError(
                f"targets must be (N, 1 + K) = {(len(student_logits), 1 + student_logits.shape[1])}"
                f", got {tuple(targets.shape)}"
            )
        temperature = self.temperature
        soft = nn.functional.kl_div(
            nn.functional.log_softmax(student_logits / temperature, dim=-1),
            nn.functional.log_softmax(teacher_logits / temperature, dim=-1),
            reduction="batchmean",
            log_target=True,
        )
        hard = nn.functional.cross_entropy(student_logits, labels)
        return self.alpha * temperature**2 * soft + (1 - self.alpha) * hard
