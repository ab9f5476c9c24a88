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
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from dltutor import serve
from dltutor.checks import as_float_array, check_number, check_positive_int, describe
from dltutor.scratch.quantize import check_sparsity, magnitude_mask


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


def _check_module(model: Any) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {describe(model)}")


def _existing(path: str | Path, writer: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no weights file at {path}: write one with {writer}")
    return path


def save_state(model: nn.Module, path: str | Path) -> Path:
    """``torch.save(model.state_dict(), path)``: tensors by name, no pickled class."""
    _check_module(model)
    path = Path(path)
    torch.save(model.state_dict(), path)
    return path


def load_state(model: nn.Module, path: str | Path) -> nn.Module:
    """Load :func:`save_state`'s file into ``model`` with ``weights_only=True``.

    ``weights_only`` unpickles tensors and plain containers only: a file cannot run code
    when loaded. A file written for another architecture raises ``ValueError`` naming the
    entries that do not fit.
    """
    _check_module(model)
    path = _existing(path, "save_state")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # pickle's and torch's own error types
        raise ValueError(
            f"{path} is not a state_dict file torch.load(weights_only=True) can read: "
            f"{str(error).strip().splitlines()[0][:200]}"
        ) from error
    _check_fits(model, state, path)
    model.load_state_dict(state)
    return model


def save_safetensors(model: nn.Module, path: str | Path) -> Path:
    """The state dict as safetensors: a JSON header and raw tensor bytes, nothing to unpickle."""
    safetensors_torch = require("safetensors.torch")
    _check_module(model)
    path = Path(path)
    state = {name: value.detach().cpu().contiguous() for name, value in model.state_dict().items()}
    safetensors_torch.save_file(state, str(path))
    return path


def load_safetensors(model: nn.Module, path: str | Path) -> nn.Module:
    """Load :func:`save_safetensors`' file into ``model``; another architecture: ``ValueError``."""
    safetensors_torch = require("safetensors.torch")
    _check_module(model)
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
    disabled = logging.root.manager.disable
    logging.disable(logging.CRITICAL)  # torch.export logs its refusals as errors
    try:
        with (
            warnings.catch_warnings(),
            contextlib.redirect_stdout(io.StringIO()),
            contextlib.redirect_stderr(io.StringIO()),
        ):
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(disabled)
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _reason(error: BaseException) -> str:
    """The first line of an exporter's error, ANSI colour codes stripped."""
    reason = re.sub(r"\x1b\[[0-9;]*m", "", str(error.__cause__ or error)).strip()
    lines = [line.strip() for line in reason.splitlines() if line.strip()]
    if not lines:
        return type(error).__name__
    if lines[0].startswith("Constraints violated"):  # the batch size changes the graph
        detail = next((line for line in lines if line.startswith("- Not all")), lines[0])
        detail = re.sub(r"L\['\w+'\]\.size\(\)\[0\]", "N", detail.lstrip("- "))
        return f"the traced graph holds for some batch sizes only ({detail})"
    return lines[0]


def export_onnx(model: nn.Module, example: np.ndarray, path: str | Path) -> Path:
    """Export ``model`` with ``torch.onnx.export`` (the ``torch.export`` exporter) to ``path``.

    The batch dimension is dynamic: the file takes any number of examples shaped like
    ``example``'s rows. The input is named ``x``, the output ``logits``. Exported from a
    CPU copy in eval mode, in two steps: strict ``torch.export.export`` with
    ``dynamic_shapes`` traces the model and refuses one whose computation depends on the
    batch size (an ``if x.shape[0] > 4``, which the ONNX exporter alone would freeze at
    the example's branch, silently); ``torch.onnx.export`` translates the traced program.
    Then onnxruntime runs the file at batch 1 and ``len(example) + 1`` and must agree with
    the model. A model that cannot be traced, or a file that disagrees, raises
    ``ValueError`` saying why, with the exporter's error chained.
    """
    require("onnxscript")
    _check_module(model)
    example = as_float_array(example, "example")
    if example.ndim < 2 or len(example) < 2:
        raise ValueError(
            f"example must be a batch of at least 2 inputs (N >= 2, so that the batch "
            f"dimension can stay dynamic), got {describe(example)}"
        )
    path = Path(path)
    name = type(model).__name__
    cpu_model = copy.deepcopy(model).cpu().eval()
    dtype = next(cpu_model.parameters()).dtype
    inputs = (torch.as_tensor(example, dtype=dtype),)
    batch = torch.export.Dim("batch")
    try:
        with quiet():
            traced = torch.export.export(
                cpu_model, inputs, dynamic_shapes=({0: batch},), strict=True
            )
            program = torch.onnx.export(
                traced,
                inputs,
                dynamo=True,
                input_names=["x"],
                output_names=["logits"],
                verbose=False,
            )
    except Exception as error:  # the exporters raise their own error types
        first = _reason(error)
        hint = (
            " (control flow that depends on the data: rewrite the branch with torch.cond)"
            if "data-dependent" in first.lower()
            else " (the computation depends on the batch size)"
            if first.startswith("the traced graph holds")
            else ""
        )
        raise ValueError(f"torch.onnx.export could not export {name}: {first}{hint}") from error
    if program is None:  # only when given a file name, which we do not
        raise ValueError(f"torch.onnx.export returned no program for {name}")
    program.save(str(path))
    _check_export(cpu_model, example, path)
    return path


def _check_export(model: nn.Module, example: np.ndarray, path: Path) -> None:
    """``ValueError`` unless onnxruntime and ``model`` agree at batch 1 and N + 1.

    Tolerance: 1e-4 of the largest output. float32 rounding (2^-24 ≈ 6e-8 relative per
    operation) accumulated over a few hundred terms per output stays near 1e-5 of the
    outputs' size; a graph frozen at another branch differs by the outputs' own size.
    """
    session = onnx_session(path)
    dtype = next(model.parameters()).dtype
    for batch in (example[:1], np.concatenate([example, example[:1]])):
        with torch.no_grad():
            expected = model(torch.as_tensor(batch, dtype=dtype)).numpy()
        got = session.run(None, {"x": batch.astype(expected.dtype)})[0]
        scale = max(float(np.abs(expected).max()), 1e-12)
        if got.shape != expected.shape or np.abs(got - expected).max() > 1e-4 * scale:
            raise ValueError(
                f"the ONNX file for {type(model).__name__} disagrees with the model at batch "
                f"{len(batch)} (largest difference "
                f"{np.abs(got - expected).max() if got.shape == expected.shape else got.shape}"
                f"): the computation depends on the batch size, which the export froze"
            )


def onnx_session(path: str | Path, threads: int | None = None) -> Any:
    """An onnxruntime ``InferenceSession`` on the CPU for the ONNX file at ``path``
    (:func:`dltutor.serve.onnx_session`: ``threads`` sets its pool, a bad file is a
    ``ValueError``)."""
    require("onnxruntime")
    return serve.onnx_session(path, threads)


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
    integer kernels. The float graph is first pre-processed as onnxruntime advises
    (``quant_pre_process``: shape inference and graph optimisation).
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

    with tempfile.TemporaryDirectory() as folder, quiet():
        prepared = Path(folder) / "prepared.onnx"
        shape_inference = require("onnxruntime.quantization.shape_inference")
        shape_inference.quant_pre_process(str(source), str(prepared))
        quantization.quantize_static(
            str(prepared),
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

    _check_module(model)
    sparsity = check_sparsity(sparsity)
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
    _check_module(model)
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
        temperature = check_number(temperature, "temperature")
        alpha = check_number(alpha, "alpha")
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
