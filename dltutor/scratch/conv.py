r"""2-D convolution, forward and backward: a plain-loop version to read, a vectorized one to use.

Layout: channels first. Inputs ``x`` have shape (N, C_in, H, W); weights (C_out, C_in, k_h, k_w),
as in PyTorch; biases (C_out,). Like every framework, we compute the cross-correlation

.. math::

    y_{n,o,i,j} = b_o + \sum_{c} \sum_{u} \sum_{v} x^{pad}_{n,c,\,s i + u,\,s j + v}\, K_{o,c,u,v},

where :math:`s` is the stride, :math:`(u, v)` runs over the kernel's offsets and
:math:`x^{pad}` is :math:`x` with :math:`P` = ``padding`` zeros on each side. Flipping the
kernel turns it into the convolution of signal processing.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from dltutor.checks import (
    as_float_array,
    check_non_negative_int,
    check_positive_int,
    describe,
)
from dltutor.scratch.layers import Layer, glorot_uniform


def output_size(size: int, kernel_size: int, stride: int = 1, padding: int = 0) -> int:
    r"""Output length along one axis: :math:`\lfloor (H + 2P - k) / s \rfloor + 1`.

    ``size`` is the input length H, ``padding`` the zeros P added on each side.
    """
    size = check_positive_int(size, "size")
    kernel_size = check_positive_int(kernel_size, "kernel_size")
    stride = check_positive_int(stride, "stride")
    padding = check_non_negative_int(padding, "padding")
    if size + 2 * padding < kernel_size:
        raise ValueError(
            f"kernel_size {kernel_size} is larger than the padded input {size} + 2*{padding}"
        )
    return (size + 2 * padding - kernel_size) // stride + 1


def _check_conv_inputs(
    x: np.ndarray, weight: np.ndarray, bias: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
                    window = x_pad[
                        n, :, i * stride : i * stride + k_h, j * stride : j * stride + k_w
                    ]
                    y[n, o, i, j] = np.sum(window * weight[o]) + bias[o]
    return y


def conv2d_backward_loops(
    x: np.ndarray, weight: np.ndarray, grad_output: np.ndarray, stride: int = 1, padding: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""The backward pass one output entry at a time: returns dL/dx, dL/dweight, dL/dbias.

    Each output :math:`y_{n,o,i,j}` used one window of :math:`x^{pad}` and the whole kernel
    :math:`K_o`, so its gradient :math:`g_{n,o,i,j}` flows back to exactly those:
    the window receives :math:`g_{n,o,i,j} K_o` and the kernel :math:`g_{n,o,i,j}\,\text{window}`.
    For stride 1, dL/dx is the "full" convolution of g with the kernel; for stride s, g must
    first be dilated by s - 1 zeros between entries.
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
    columns = windows.transpose(0, 2, 3, 1, 4, 5).reshape(
        -1, weight[0].size
    )  # (N·H_out·W_out, C·k_h·k_w)
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
    back onto the window it came from, one kernel offset (u, v) at a time.
    """
    n_out, n_in, k_h, k_w = weight.shape
    n, _, height, width = x_shape
    h_out, w_out = grad_output.shape[2:]
    grad_rows = grad_output.transpose(0, 2, 3, 1).reshape(-1, n_out)  # (N·H_out·W_out, C_out)
    grad_weight = (grad_rows.T @ columns).reshape(weight.shape)
    grad_bias = grad_rows.sum(axis=0)
    grad_columns = grad_rows @ weight.reshape(n_out, -1)  # (N·H_out·W_out, C·k_h·k_w)
    grad_columns = grad_columns.reshape(n, h_out, w_out, n_in, k_h, k_w)
    grad_x_pad = np.zeros(
        (n, n_in, height + 2 * padding, width + 2 * padding), dtype=grad_columns.dtype
    )
    for u in range(k_h):
        for v in range(k_w):
            rows = slice(u, u + stride * h_out, stride)
            cols = slice(v, v + stride * w_out, stride)
            grad_x_pad[:, :, rows, cols] += grad_columns[:, :, :, :, u, v].transpose(0, 3, 1, 2)
    grad_x = grad_x_pad[:, :, padding : padding + height, padding : padding + width]
    return grad_x, grad_weight, grad_bias


class _KernelLayer(Layer):
    """What a convolution and a transposed convolution share: checked sizes, a Glorot kernel
    with fan-in :math:`C_{in} k^2` and fan-out :math:`C_{out} k^2`, and a zero bias.
    """

    transposed = False  # kernels (C_in, C_out, k, k) if True, else (C_out, C_in, k, k)

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int,
        rng: np.random.Generator | None,
        dtype: npt.DTypeLike,
    ) -> None:
        super().__init__()
        self.in_channels = check_positive_int(in_channels, "in_channels")
        self.out_channels = check_positive_int(out_channels, "out_channels")
        self.kernel_size = check_positive_int(kernel_size, "kernel_size")
        self.stride = check_positive_int(stride, "stride")
        rng = np.random.default_rng(rng)
        area = self.kernel_size**2
        channels = (self.in_channels, self.out_channels)
        shape = (
            *(channels if self.transposed else channels[::-1]),
            self.kernel_size,
            self.kernel_size,
        )
        kernel = glorot_uniform(
            self.in_channels * area, self.out_channels * area, rng, dtype, shape
        )
        self.weight = self.add_parameter("W", kernel)
        self.bias = self.add_parameter("b", np.zeros(self.out_channels, dtype=dtype))


class Conv2D(_KernelLayer):
    r"""2-D convolution layer (cross-correlation, as in every framework), vectorized with im2col.

    :math:`y_{n,o,i,j} = b_o + \sum_{c,u,v} x^{pad}_{n,c,si+u,sj+v} K_{o,c,u,v}`. Shapes:
    ``x`` (N, C_in, H, W) → ``y`` (N, C_out, H_out, W_out) with
    :math:`H_{out} = \lfloor (H + 2P - k)/s \rfloor + 1`. Weights are Glorot-uniform with
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
        dtype: npt.DTypeLike = np.float64,
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, rng, dtype)
        self.padding = check_non_negative_int(padding, "padding")
        self._cache: tuple[tuple[int, ...], np.ndarray] | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        x, weight, bias = _check_conv_inputs(x, self.weight.value, self.bias.value)
        y, columns = _conv2d_columns(x, weight, bias, self.stride, self.padding)
        self._cache = (x.shape, columns)
        return y

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        if self._cache is None:
            raise RuntimeError("Conv2D.backward called before forward")
        x_shape, columns = self._cache
        grad_output = as_float_array(grad_output, "grad_output", ndim=4)
        grad_x, self.weight.grad, self.bias.grad = conv2d_backward(
            x_shape, columns, self.weight.value, grad_output, self.stride, self.padding
        )
        return grad_x

    def __repr__(self) -> str:
        return (
            f"Conv2D({self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding})"
        )


def conv_transpose2d(
    x: np.ndarray, weight: np.ndarray, bias: np.ndarray, stride: int
) -> np.ndarray:
    r"""Transposed convolution: every input pixel paints its value times the kernel onto the output.

    .. math::

        y_{n,o,\,si+u,\,sj+v} \mathrel{+}= x_{n,c,i,j}\, K_{c,o,u,v}, \qquad
        H_{out} = (H - 1)s + k .

    It is the input gradient of a convolution with the same kernel and stride, run
    forwards; weights are (C_in, C_out, k, k), PyTorch's layout for ``ConvTranspose2d``.
    """
    n, _, height, width = x.shape
    _, n_out, k_h, k_w = weight.shape
    patches = np.tensordot(x, weight, axes=([1], [0]))  # (N, H, W, C_out, k_h, k_w)
    y = np.zeros(
        (n, n_out, (height - 1) * stride + k_h, (width - 1) * stride + k_w),
        dtype=np.result_type(x, weight),
    )
    for u in range(k_h):
        for v in range(k_w):
            rows = slice(u, u + stride * height, stride)
            cols = slice(v, v + stride * width, stride)
            y[:, :, rows, cols] += patches[:, :, :, :, u, v].transpose(0, 3, 1, 2)
    return y + bias[:, None, None]  # (N, C_out, H_out, W_out)


class ConvTranspose2D(_KernelLayer):
    r"""Transposed convolution layer (no padding): with kernel 2 and stride 2 it doubles H and W.

    Forward: :func:`conv_transpose2d`. Backward, with :math:`g = \partial L/\partial y`:
    :math:`\partial L/\partial x` is the ordinary convolution of g with the same kernel and
    stride (the forward of :class:`Conv2D`), :math:`\partial L/\partial K_{c,o,u,v} =
    \sum_{n,i,j} x_{n,c,i,j}\, g_{n,o,si+u,sj+v}` and
    :math:`\partial L/\partial b_o = \sum_{n,i,j} g_{n,o,i,j}`.
    """

    transposed = True

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 2,
        stride: int = 2,
        *,
        rng: np.random.Generator | None = None,
        dtype: npt.DTypeLike = np.float64,
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, rng, dtype)
        self._x: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = as_float_array(x, "x", ndim=4)
        if x.shape[1] != self.in_channels:
            raise ValueError(
                f"ConvTranspose2D expects (N, {self.in_channels}, H, W), got {describe(x)}"
            )
        self._x = x
        return conv_transpose2d(x, self.weight.value, self.bias.value, self.stride)

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        if self._x is None:
            raise RuntimeError("ConvTranspose2D.backward called before forward")
        grad_output = as_float_array(grad_output, "grad_output", ndim=4)
        no_bias = np.zeros(self.in_channels, dtype=grad_output.dtype)
        grad_x, columns = _conv2d_columns(  # columns: (N·H·W, C_out·k·k), windows of g
            grad_output, self.weight.value, no_bias, self.stride, 0
        )
        rows = self._x.transpose(0, 2, 3, 1).reshape(-1, self.in_channels)  # (N·H·W, C_in)
        self.weight.grad = (rows.T @ columns).reshape(self.weight.shape)
        self.bias.grad = grad_output.sum(axis=(0, 2, 3))
        return grad_x  # (N, C_in, H, W)

    def __repr__(self) -> str:
        return (
            f"ConvTranspose2D({self.in_channels}, {self.out_channels}, "
            f"kernel_size={self.kernel_size}, stride={self.stride})"
        )
