r"""Affine integer quantisation, int8 matrix products, magnitude pruning, weights in a file.

A float :math:`x` is stored as an integer :math:`q` and read back through a *scale*
:math:`s > 0` and a *zero point* :math:`z` (an integer, the code of :math:`x = 0`)
{Jacob et al. 2018; Krishnamoorthi 2018}:

.. math:: q = \operatorname{clip}(\operatorname{round}(x / s) + z,\ q_{\min}, q_{\max}),
          \qquad \hat x = s\,(q - z).

With ``bits`` bits, signed codes: :math:`q_{\min} = -2^{b-1}`, :math:`q_{\max} = 2^{b-1} - 1`.
*Asymmetric* quantisation maps the range :math:`[\min(x, 0), \max(x, 0)]` onto all
:math:`2^b` codes; *symmetric* quantisation fixes :math:`z = 0` and maps
:math:`[-\max|x|, \max|x|]` onto :math:`[-q_{\max}, q_{\max}]`. *Per tensor*, one
:math:`(s, z)` serves the whole array; *per channel*, each slice along ``axis`` (an output
channel of a weight) gets its own.

**The rounding bound.** Inside the range, clipping does nothing and
:math:`\hat x - x = s\,(\operatorname{round}(x/s) - x/s)`, so :math:`|x - \hat x| \le s/2`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from dltutor.checks import (
    as_float_array,
    check_number,
    check_positive_int,
    check_same_length,
    describe,
)
from dltutor.scratch.train import minibatches


def code_range(bits: int, symmetric: bool) -> tuple[int, int]:
    """The integer codes used, :math:`[q_{\\min}, q_{\\max}]`: symmetric drops :math:`-2^{b-1}`."""
    bits = check_positive_int(bits, "bits")
    if not 2 <= bits <= 16:
        raise ValueError(f"bits must be between 2 and 16, got {bits}")
    top = 2 ** (bits - 1) - 1
    return (-top if symmetric else -top - 1), top


def _reduce_axes(x: np.ndarray, axis: int | None) -> tuple[int, ...] | None:
    if axis is None:
        return None
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"axis must be None or in [{-x.ndim}, {x.ndim}), got {axis}")
    axis %= x.ndim
    return tuple(a for a in range(x.ndim) if a != axis)


def quant_params(
    x: Any, bits: int = 8, symmetric: bool = False, axis: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    r"""Scale and zero point that cover ``x``, per tensor (``axis=None``) or per channel.

    Asymmetric: :math:`s = (x_{\max} - x_{\min}) / (q_{\max} - q_{\min})` over the range
    widened to hold 0, :math:`z = \operatorname{round}(q_{\min} - x_{\min}/s)`, so that
    0 is a code exactly (zero padding stays zero). Symmetric:
    :math:`s = \max|x| / q_{\max}`, :math:`z = 0`. Shapes: scalars per tensor; per
    channel, ``x``'s shape with every axis but ``axis`` of length 1 (broadcastable).
    An all-zero range gets :math:`s = 1`.
    """
    x = as_float_array(x, "x")
    qmin, qmax = code_range(bits, symmetric)
    axes = _reduce_axes(x, axis)
    if symmetric:
        largest = np.max(np.abs(x), axis=axes, keepdims=axes is not None)
        scale = np.where(largest > 0, largest / qmax, 1.0)
        return scale, np.zeros_like(scale, dtype=np.int64)
    low = np.minimum(np.min(x, axis=axes, keepdims=axes is not None), 0.0)
    high = np.maximum(np.max(x, axis=axes, keepdims=axes is not None), 0.0)
    scale = np.where(high > low, (high - low) / (qmax - qmin), 1.0)
    zero_point = np.clip(np.round(qmin - low / scale), qmin, qmax).astype(np.int64)
    return scale, zero_point


def _zero_points(zero_point: Any, bits: int, symmetric: bool) -> np.ndarray:
    """``zero_point`` as integers, checked to be codes of ``bits`` bits."""
    zero_point = np.asarray(zero_point)
    if zero_point.dtype.kind not in "iu":
        raise TypeError(f"zero_point must hold integers, got {describe(zero_point)}")
    qmin, qmax = code_range(bits, symmetric)
    if zero_point.size and (zero_point.min() < qmin or zero_point.max() > qmax):
        raise ValueError(
            f"zero_point must be a code in [{qmin}, {qmax}], got values in "
            f"[{zero_point.min()}, {zero_point.max()}]"
        )
    return zero_point


def quantize(
    x: Any, scale: Any, zero_point: Any, bits: int = 8, symmetric: bool = False
) -> np.ndarray:
    r""":math:`q = \operatorname{clip}(\operatorname{round}(x/s) + z, q_{\min}, q_{\max})`.

    int8 codes for ``bits <= 8``, int16 above. Rounding is NumPy's, half to even.
    """
    x = as_float_array(x, "x")
    scale = as_float_array(scale, "scale")
    if np.any(scale <= 0):
        raise ValueError(f"scale must be positive, got a minimum of {scale.min()}")
    qmin, qmax = code_range(bits, symmetric)
    zero_point = _zero_points(zero_point, bits, symmetric)
    codes = np.clip(np.round(x / scale) + zero_point, qmin, qmax)
    return codes.astype(np.int8 if bits <= 8 else np.int16)


def dequantize(q: Any, scale: Any, zero_point: Any) -> np.ndarray:
    r""":math:`\hat x = s\,(q - z)`, in float64."""
    q = np.asarray(q)
    if q.dtype.kind not in "iu":
        raise TypeError(f"q must hold integer codes, got {describe(q)}")
    zero_point = np.asarray(zero_point)
    if zero_point.dtype.kind not in "iu":
        raise TypeError(f"zero_point must hold integers, got {describe(zero_point)}")
    return np.asarray(scale, dtype=np.float64) * (q.astype(np.int64) - zero_point)


def fake_quantize(
    x: Any, bits: int = 8, symmetric: bool = False, axis: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    r"""``x`` rounded to its nearest code and read back, :math:`\hat x = s\,(q(x) - z)`.

    What a float model computes when its tensors are stored in ``bits`` bits: the error is
    simulated, the arithmetic stays in floats. Returns :math:`\hat x` and the scale
    (whose half bounds :math:`|x - \hat x|`).
    """
    scale, zero_point = quant_params(x, bits, symmetric, axis)
    codes = quantize(x, scale, zero_point, bits, symmetric)
    return dequantize(codes, scale, zero_point), scale


def int8_matmul(
    a_codes: np.ndarray,
    a_scale: float,
    a_zero_point: int,
    w_codes: np.ndarray,
    w_scale: np.ndarray,
) -> np.ndarray:
    r"""The product of quantised activations and symmetric per-output-channel weights.

    With :math:`\hat A = s_a (Q_a - z_a)` (per tensor) and :math:`\hat W_{:j} = s_j Q_{w,:j}`
    (one scale per output column :math:`j`),

    .. math:: (\hat A \hat W)_{ij} = s_a s_j \sum_k (Q_{a,ik} - z_a)\, Q_{w,kj},

    the sum computed in int32, exactly (a term is at most :math:`255 \cdot 127`, so int32
    holds :math:`2^{31} / 32385 > 66{,}000` of them), and one float multiply per output.
    ``a_codes`` (N, K) int8, ``w_codes`` (K, M) int8, ``w_scale`` (M,) or (1, M).
    """
    a_codes, w_codes = np.asarray(a_codes), np.asarray(w_codes)
    for name, codes in (("a_codes", a_codes), ("w_codes", w_codes)):
        if codes.dtype != np.int8 or codes.ndim != 2:
            raise TypeError(f"{name} must be a 2-D int8 array, got {describe(codes)}")
    if a_codes.shape[1] != w_codes.shape[0]:
        raise ValueError(
            f"a_codes (N, K) and w_codes (K, M) must share K, got {a_codes.shape} and "
            f"{w_codes.shape}"
        )
    a_scale = check_number(a_scale, "a_scale", positive=True)
    _zero_points(a_zero_point, 8, symmetric=False)
    w_scale = as_float_array(w_scale, "w_scale")
    columns = w_codes.shape[1]
    if w_scale.shape not in ((columns,), (1, columns)) or np.any(w_scale <= 0):
        raise ValueError(
            f"w_scale must hold {columns} positive scales, one per column of w_codes, "
            f"shape ({columns},) or (1, {columns}), got {describe(w_scale)}"
        )
    accumulator = (a_codes.astype(np.int32) - np.int32(a_zero_point)) @ w_codes.astype(
        np.int32
    )  # (N, M) int32
    return float(a_scale) * np.reshape(w_scale, (1, -1)) * accumulator


def matmul_error_bound(
    a_hat: np.ndarray, w: np.ndarray, a_scale: float, w_scale: np.ndarray
) -> np.ndarray:
    r"""A bound on :math:`|AW - \hat A \hat W|`, entry by entry, for rounding inside the range.

    :math:`AW - \hat A\hat W = (A - \hat A)W + \hat A(W - \hat W)`, and each rounding error
    is at most half its scale:

    .. math:: |AW - \hat A \hat W|_{ij} \le \frac{s_a}{2}\sum_k |W_{kj}|
              + \frac{s_j}{2}\sum_k |\hat A_{ik}|.
    """
    column_sums = np.abs(w).sum(axis=0, keepdims=True)  # (1, M)
    row_sums = np.abs(a_hat).sum(axis=1, keepdims=True)  # (N, 1)
    return a_scale / 2 * column_sums + np.reshape(w_scale, (1, -1)) / 2 * row_sums


def fake_quantize_weights(weights: list[np.ndarray], bits: int = 8) -> list[np.ndarray]:
    r"""Every weight matrix and kernel fake-quantised, symmetric, per output channel.

    In the layout of ``get_weights``: a matrix (d_in, d_out) gets one scale per column
    (axis -1), a convolution kernel (C_out, C_in, k, k) one per output channel (axis 0);
    biases (1-D) stay float, as integer inference keeps them in int32 at the product's
    scale.
    """
    quantized = []
    for weight in weights:
        weight = as_float_array(weight, "weight")
        if weight.ndim == 1:
            quantized.append(weight.copy())
            continue
        axis = 0 if weight.ndim == 4 else -1
        quantized.append(fake_quantize(weight, bits, symmetric=True, axis=axis)[0])
    return quantized


def fit_quantization_aware(
    model: Any,
    loss: Any,
    optimizer: Any,
    x: np.ndarray,
    y: np.ndarray,
    *,
    bits: int,
    epochs: int,
    batch_size: int,
    seed: int = 0,
) -> list[float]:
    r"""Fine-tune a scratch model through its quantised weights (quantisation-aware training).

    Each step keeps float weights :math:`W`, runs forward and backward with
    :math:`\hat W = \mathrm{fq}(W)` (:func:`fake_quantize_weights`), and applies the
    gradient to :math:`W` as if rounding were the identity — the *straight-through
    estimator*, :math:`\partial L/\partial W \approx \partial L/\partial \hat W`
    {Jacob et al. 2018}. The float weights keep the small steps that rounding would
    erase. The model ends holding :math:`\mathrm{fq}(W)`, the weights an integer model
    stores. The batches are :func:`dltutor.scratch.fit`'s for the same ``seed``.
    Returns the mean loss of each epoch.
    """
    code_range(bits, symmetric=True)  # checks bits before any work
    epochs = check_positive_int(epochs, "epochs")
    x = as_float_array(x, "x")
    check_same_length(x, np.asarray(y), "x", "y")
    rng = np.random.default_rng(seed)
    floats = model.get_weights()
    history = []
    for _ in range(epochs):
        model.train()
        losses, sizes = [], []
        for index in minibatches(len(x), batch_size, rng):
            model.set_weights(fake_quantize_weights(floats, bits))
            losses.append(loss.forward(model.forward(x[index]), y[index]))
            sizes.append(len(index))
            model.backward(loss.backward())  # gradients at the quantised weights
            model.set_weights(floats)  # ... applied to the float ones
            optimizer.step(model.parameters())
            floats = model.get_weights()
        history.append(float(np.average(losses, weights=sizes)))
    model.set_weights(fake_quantize_weights(floats, bits))
    return history


def check_sparsity(sparsity: Any) -> float:
    """``sparsity`` as a float in [0, 1): ``TypeError`` for a non-number, else ``ValueError``."""
    if isinstance(sparsity, bool) or not isinstance(sparsity, (int, float, np.floating)):
        raise TypeError(f"sparsity must be a number in [0, 1), got {describe(sparsity)}")
    if not 0 <= sparsity < 1:
        raise ValueError(f"sparsity must be in [0, 1), got {sparsity!r}")
    return float(sparsity)


def magnitude_mask(weights: Any, sparsity: float) -> np.ndarray:
    r"""True for the weights kept when the fraction ``sparsity`` of smallest magnitudes is cut.

    Magnitude pruning {Han et al. 2016}: :math:`m_i = [\,|w_i| > \tau\,]`, :math:`\tau` the
    ``sparsity`` quantile of :math:`|w|`. Exactly ``round(sparsity * size)`` entries are
    cut (ties broken by position).
    """
    weights = as_float_array(weights, "weights")
    sparsity = check_sparsity(sparsity)
    cut = int(round(sparsity * weights.size))
    mask = np.ones(weights.size, dtype=bool)
    mask[np.argsort(np.abs(weights).ravel(), kind="stable")[:cut]] = False
    return mask.reshape(weights.shape)


def save_weights(model: Any, path: str | Path) -> Path:
    """Write a scratch model's :meth:`get_weights` to a NumPy ``.npz``, under their names.

    The file holds arrays only (``allow_pickle=False`` reads it): no code travels with it.
    """
    path = Path(path)
    np.savez(path, **model.named_parameters())
    return path if path.suffix == ".npz" else path.with_name(path.name + ".npz")


def load_weights(model: Any, path: str | Path) -> None:
    """Set a scratch model's weights from :func:`save_weights`' file; a mismatch is an error.

    Raises ``FileNotFoundError`` naming the path, and ``ValueError`` naming the parameters
    that are missing, unexpected or of another shape than the model's.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no weights file at {path}: write one with save_weights")
    with np.load(path, allow_pickle=False) as stored:
        arrays = {name: stored[name] for name in stored.files}
    expected = {name: value.shape for name, value in model.named_parameters().items()}
    missing = sorted(set(expected) - set(arrays))
    unexpected = sorted(set(arrays) - set(expected))
    wrong = sorted(
        f"{name}: file {arrays[name].shape}, model {shape}"
        for name, shape in expected.items()
        if name in arrays and arrays[name].shape != shape
    )
    if missing or unexpected or wrong:
        raise ValueError(
            f"{path.name} does not fit {type(model).__name__}: missing {missing}, "
            f"unexpected {unexpected}, other shapes {wrong}"
        )
    model.set_weights([arrays[name] for name in expected])
