r"""2-D convolution, forward and backward: a plain-loop version to read, a vectorized one to use.

Layout: channels first. Inputs ``x`` have shape (N, C_in, H, W); weights (C_out, C_in, k_h, k_w),
as in PyTorch; biases (C_out,). Like every framework, we compute the cross-correlation

.. math::

    y_{n,o,i,j} = b_o + \sum_{c} \sum_{p} \sum_{q} x^{pad}_{n,c,\,s i + p,\,s j + q}\, K_{o,c,p,q},

where :math:`s` is the stride and :math:`x^{pad}` is :math:`x` with ``padding`` zeros on
each side. Flipping the kernel turns it into the convolution of signal processing.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from dltutor._checks import as_float_array, check_positive_int, describe
from dltutor.scratch.layers import Layer


def _check_non_negative_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


def output_size(size: int, kernel_size: int, stride: int = 1, padding: int = 0) -> int:
    r"""Output length along one axis: :math:`\lfloor (n + 2p - k) / s \rfloor + 1`."""
    size = check_positive_int(size, "size")
    kernel_size = check_positive_int(kernel_size, "kernel_size")
    stride = check_positive_int(stride, "stride")
    padding = _check_non_negative_int(padding, "padding")
    if size + 2 * padding < kernel_size:
        raise ValueError(
            f"kernel_size {kernel_size} is larger than the padded input {size} + 2*{padding}"
        )
    return (size + 2 * padding - kernel_size) // stride + 1


def _check_conv_inputs(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = as_float_array(x, "x", ndim=4)
    weight = as_float_array(weight, "weight", ndim=4)
    bias = as_float_array(bias, "bias", ndim=1)
    if x.shape[1] != weight.shape[1]:
        raise ValueError(
            f"x has {x.shape[1]} channels but weight expects {weight.shape[1]}: "
            f"x is {describe(x)}, weight is {describe(weight)}"
        )
    if bias.shape[0] != weight.shape[0]:
        raise ValueError(f"bias must have {weight.shape[0]} entries, got {describe(bias)}")
    return x, weight, bias


def _pad(x: np.ndarray, padding: int) -> np.ndarray:
    return np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))


def conv2d_loops(
    x: np.ndarray, weight: np.ndarray, bias: np.ndarray, stride: int = 1, padding: int = 0
) -> np.ndarray:
    """The forward pass as the equation reads: one output entry at a time. Slow; for teaching."""
    x, weight, bias = _check_conv_inputs(x, weight, bias)
    n_out, _, k_h, k_w = weight.shape
    h_out = output_size(x.shape[2], k_h, stride, padding)
    w_out = output_size(x.shape[3], k_w, stride, padding)
    x_pad = _pad(x, padding)
    y = np.zeros((x.shape[0], n_out, h_out, w_out), dtype=np.result_type(x, weight))
    for n in range(x.shape[0]):
        for o in range(n_out):
            for i in range(h_out):
                for j in range(w_out):
                    window = x_pad[n, :, i * stride : i * stride + k_h, j * stride : j * stride + k_w]
                    y[n, o, i, j] = np.sum(window * weight[o]) + bias[o]
    return y


def conv2d_backward_loops(
    x: np.ndarray, weight: np.ndarray, grad_output: np.ndarray, stride: int = 1, padding: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""The backward pass one output entry at a time: returns dL/dx, dL/dweight, dL/dbias.

    Each output :math:`y_{n,o,i,j}` used one window of :math:`x^{pad}` and the whole kernel
    :math:`K_o`, so its gradient :math:`g_{n,o,i,j}` flows back to exactly those:
    the window receives :math:`g_{n,o,i,j} K_o` and the kernel :math:`g_{n,o,i,j}\,\text{window}`.
    """
    x = as_float_array(x, "x", ndim=4)
    n_out, _, k_h, k_w = weight.shape
    x_pad = _pad(x, padding)
    grad_x_pad = np.zeros_like(x_pad)
    grad_weight = np.zeros_like(weight)
    for n in range(grad_output.shape[0]):
        for o in range(n_out):
            for i in range(grad_output.shape[2]):
                for j in range(grad_output.shape[3]):
                    rows = slice(i * stride, i * stride + k_h)
                    cols = slice(j * stride, j * stride + k_w)
                    grad_x_pad[n, :, rows, cols] += grad_output[n, o, i, j] * weight[o]
                    grad_weight[o] += grad_output[n, o, i, j] * x_pad[n, :, rows, cols]
    grad_bias = grad_output.sum(axis=(0, 2, 3))
    grad_x = grad_x_pad[:, :, padding : padding + x.shape[2], padding : padding + x.shape[3]]
    return grad_x, grad_weight, grad_bias


def _windows(x_pad: np.ndarray, k_h: int, k_w: int, stride: int) -> np.ndarray:
    """All k_h×k_w windows of x_pad at the given stride, as a view: (N, C, H_out, W_out, k_h, k_w)."""
    return sliding_window_view(x_pad, (k_h, k_w), axis=(2, 3))[:, :, ::stride, ::stride]


def conv2d(
    x: np.ndarray, weight: np.ndarray, bias: np.ndarray, stride: int = 1, padding: int = 0
) -> np.ndarray:
    """Vectorized forward pass (im2col): every window becomes a row, the convolution one matrix product."""
    x, weight, bias = _check_conv_inputs(x, weight, bias)
    return _conv2d_columns(x, weight, bias, stride, padding)[0]


def _conv2d_columns(
    x: np.ndarray, weight: np.ndarray, bias: np.ndarray, stride: int, padding: int
) -> tuple[np.ndarray, np.ndarray]:
    n_out, _, k_h, k_w = weight.shape
    h_out = output_size(x.shape[2], k_h, stride, padding)
    w_out = output_size(x.shape[3], k_w, stride, padding)
    windows = _windows(_pad(x, padding), k_h, k_w, stride)  # (N, C, H_out, W_out, k_h, k_w)
    columns = windows.transpose(0, 2, 3, 1, 4, 5).reshape(-1, weight[0].size)  # (N·H_out·W_out, C·k_h·k_w)
    y = columns @ weight.reshape(n_out, -1).T + bias  # (N·H_out·W_out, C_out)
    y = y.reshape(x.shape[0], h_out, w_out, n_out).transpose(0, 3, 1, 2)  # (N, C_out, H_out, W_out)
    return np.ascontiguousarray(y), columns


def conv2d_backward(
    x_shape: tuple[int, ...],
    columns: np.ndarray,
    weight: np.ndarray,
    grad_output: np.ndarray,
    stride: int = 1,
    padding: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vectorized backward pass from the forward's im2col ``columns``: dL/dx, dL/dweight, dL/dbias.

    dL/dweight and dL/dcolumns are matrix products; col2im then adds each column's gradient
    back onto the window it came from, one kernel offset (p, q) at a time.
    """
    n_out, n_in, k_h, k_w = weight.shape
    n, _, height, width = x_shape
    h_out, w_out = grad_output.shape[2:]
    grad_rows = grad_output.transpose(0, 2, 3, 1).reshape(-1, n_out)  # (N·H_out·W_out, C_out)
    grad_weight = (grad_rows.T @ columns).reshape(weight.shape)
    grad_bias = grad_rows.sum(axis=0)
    grad_columns = grad_rows @ weight.reshape(n_out, -1)  # (N·H_out·W_out, C·k_h·k_w)
    grad_columns = grad_columns.reshape(n, h_out, w_out, n_in, k_h, k_w)
    grad_x_pad = np.zeros((n, n_in, height + 2 * padding, width + 2 * padding), dtype=grad_columns.dtype)
    for p in range(k_h):
        for q in range(k_w):
            rows = slice(p, p + stride * h_out, stride)
            cols = slice(q, q + stride * w_out, stride)
            grad_x_pad[:, :, rows, cols] += grad_columns[:, :, :, :, p, q].transpose(0, 3, 1, 2)
    grad_x = grad_x_pad[:, :, padding : padding + height, padding : padding + width]
    return grad_x, grad_weight, grad_bias


class Conv2D(Layer):
    r"""2-D convolution layer (cross-correlation, as in every framework), vectorized with im2col.

    :math:`y_{n,o,i,j} = b_o + \sum_{c,p,q} x^{pad}_{n,c,si+p,sj+q} K_{o,c,p,q}`. Shapes:
    ``x`` (N, C_in, H, W) → ``y`` (N, C_out, H_out, W_out) with
    :math:`H_{out} = \lfloor (H + 2p - k)/s \rfloor + 1`. Weights are Glorot-uniform with
    fan-in :math:`C_{in} k^2` and fan-out :math:`C_{out} k^2`; biases start at zero.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        *,
        rng: np.random.Generator | None = None,
        dtype: type = np.float64,
    ) -> None:
        super().__init__()
        self.in_channels = check_positive_int(in_channels, "in_channels")
        self.out_channels = check_positive_int(out_channels, "out_channels")
        self.kernel_size = check_positive_int(kernel_size, "kernel_size")
        self.stride = check_positive_int(stride, "stride")
        self.padding = _check_non_negative_int(padding, "padding")
        rng = np.random.default_rng() if rng is None else rng
        area = self.kernel_size**2
        limit = np.sqrt(6.0 / ((self.in_channels + self.out_channels) * area))
        shape = (self.out_channels, self.in_channels, self.kernel_size, self.kernel_size)
        self.params["W"] = rng.uniform(-limit, limit, size=shape).astype(dtype)
        self.params["b"] = np.zeros(self.out_channels, dtype=dtype)
        self._cache: tuple[tuple[int, ...], np.ndarray] | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        x, weight, bias = _check_conv_inputs(x, self.params["W"], self.params["b"])
        y, columns = _conv2d_columns(x, weight, bias, self.stride, self.padding)
        self._cache = (x.shape, columns)
        return y

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        if self._cache is None:
            raise RuntimeError("Conv2D.backward called before forward")
        x_shape, columns = self._cache
        grad_output = as_float_array(grad_output, "grad_output", ndim=4)
        grad_x, self.grads["W"], self.grads["b"] = conv2d_backward(
            x_shape, columns, self.params["W"], grad_output, self.stride, self.padding
        )
        return grad_x

    def __repr__(self) -> str:
        return (
            f"Conv2D({self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding})"
        )
