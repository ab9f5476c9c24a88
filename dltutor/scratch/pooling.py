r"""Max and average pooling over k×k windows, forward and backward, and Flatten.

Layout: (N, C, H, W). Windows do not overlap by default (``stride = kernel_size``), no padding:
:math:`y_{n,c,i,j} = \max_{u,v < k} x_{n,c,si+u,sj+v}` or the mean over the same window.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from dltutor.checks import as_float_array, check_positive_int, describe
from dltutor.scratch.conv import output_size
from dltutor.scratch.layers import Layer


class _Pool2D(Layer):
    def __init__(self, kernel_size: int = 2, stride: int | None = None) -> None:
        super().__init__()
        self.kernel_size = check_positive_int(kernel_size, "kernel_size")
        self.stride = self.kernel_size if stride is None else check_positive_int(stride, "stride")
        self._x_shape: tuple[int, ...] | None = None

    def _windows(self, x: np.ndarray) -> np.ndarray:
        """(N, C, H_out, W_out, k·k): every pooling window, flattened."""
        k, s = self.kernel_size, self.stride
        h_out, w_out = output_size(x.shape[2], k, s), output_size(x.shape[3], k, s)
        windows = sliding_window_view(x, (k, k), axis=(2, 3))[:, :, ::s, ::s][:, :, :h_out, :w_out]
        return windows.reshape(*windows.shape[:4], k * k)

    def _scatter(self, per_offset: np.ndarray) -> np.ndarray:
        """Add ``per_offset[..., p·k+q]`` (N, C, H_out, W_out, k·k) back onto the input positions."""
        assert self._x_shape is not None
        k, s = self.kernel_size, self.stride
        h_out, w_out = per_offset.shape[2:4]
        grad_x = np.zeros(self._x_shape, dtype=per_offset.dtype)
        for p in range(k):
            for q in range(k):
                grad_x[:, :, p : p + s * h_out : s, q : q + s * w_out : s] += per_offset[
                    ..., p * k + q
                ]
        return grad_x

    def _check(self, x: np.ndarray) -> np.ndarray:
        x = as_float_array(x, "x", ndim=4)
        if min(x.shape[2:]) < self.kernel_size:
            raise ValueError(
                f"{type(self).__name__}({self.kernel_size}) needs H, W ≥ {self.kernel_size}, got {describe(x)}"
            )
        self._x_shape = x.shape
        return x

    def _check_grad(self, grad_output: np.ndarray) -> np.ndarray:
        if self._x_shape is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        return as_float_array(grad_output, "grad_output", ndim=4)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.kernel_size}, stride={self.stride})"


class MaxPool2D(_Pool2D):
    r"""Max pooling. Backward: each window's gradient goes to its maximum, the others get 0.

    :math:`\partial L/\partial x_{n,c,si+p,sj+q} = g_{n,c,i,j}` if that entry is the window's
    (first) maximum. Overlapping windows (stride < kernel_size) add their contributions.
    """

    def __init__(self, kernel_size: int = 2, stride: int | None = None) -> None:
        super().__init__(kernel_size, stride)
        self._argmax: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        windows = self._windows(self._check(x))  # (N, C, H_out, W_out, k·k)
        self._argmax = windows.argmax(axis=-1)
        return np.take_along_axis(windows, self._argmax[..., None], axis=-1)[..., 0]

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        grad_output = self._check_grad(grad_output)
        assert self._argmax is not None
        offsets = np.arange(self.kernel_size**2)
        routed = (self._argmax[..., None] == offsets) * grad_output[
            ..., None
        ]  # (N, C, H_out, W_out, k·k)
        return self._scatter(routed)


class AvgPool2D(_Pool2D):
    r"""Average pooling. Backward: each window shares its gradient equally, :math:`g / k^2` per entry."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self._windows(self._check(x)).mean(axis=-1)

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        grad_output = self._check_grad(grad_output)
        share = grad_output[..., None] / self.kernel_size**2
        return self._scatter(np.broadcast_to(share, (*grad_output.shape, self.kernel_size**2)))


class Flatten(Layer):
    """(N, C, H, W) → (N, C·H·W), so a Linear layer can follow a convolution; backward reshapes back."""

    def __init__(self) -> None:
        super().__init__()
        self._shape: tuple[int, ...] | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = as_float_array(x, "x")
        self._shape = x.shape
        return x.reshape(x.shape[0], -1)  # (N, C·H·W)

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        if self._shape is None:
            raise RuntimeError("Flatten.backward called before forward")
        return np.asarray(grad_output).reshape(self._shape)

    def __repr__(self) -> str:
        return "Flatten()"
