r"""Recurrent layers — RNN, LSTM, GRU — forward and backward through time.

Layout: batch first. A sequence batch ``x`` has shape (N, T, D); hidden states have shape
(N, H). Each cell keeps the weights of all its gates side by side, in the layout of Keras:
``W_x`` (D, G·H), ``W_h`` (H, G·H), biases (G·H,), with G gate blocks of width H:

- RNN (G = 1): :math:`h_t = \tanh(x_t W_x + h_{t-1} W_h + b)`.
- LSTM (G = 4, blocks i, f, g, o — PyTorch's and Keras' order):
  :math:`c_t = f \odot c_{t-1} + i \odot g`, :math:`h_t = o \odot \tanh(c_t)`.
- GRU (G = 3, blocks z, r, n — Keras' order; PyTorch stores r, z, n):
  :math:`h_t = z \odot h_{t-1} + (1 - z) \odot n`.

A cell's ``step`` computes one time step and returns what ``step_backward`` needs; the
sequence layer :class:`Recurrent` runs the steps forward and, in ``backward``, runs them in
reverse, adding up each weight's gradient over time: backpropagation through time.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from dltutor.checks import as_float_array, check_positive_int, describe
from dltutor.scratch.activations import sigmoid
from dltutor.scratch.layers import Embedding, Layer, Linear, glorot_uniform
from dltutor.scratch.sequential import Sequential
from dltutor.specs import RecurrentSpec

State = tuple[np.ndarray, ...]  # (h,) for RNN and GRU, (h, c) for LSTM


class Cell(Layer):
    """Weights of one recurrent cell and its single-step forward and backward.

    The extension point for a new cell: set ``gates`` and write ``step`` and
    ``step_backward``; :class:`Recurrent` runs it over a sequence.
    """

    gates = 1

    def __init__(
        self, input_size: int, hidden_size: int, rng: np.random.Generator, dtype: npt.DTypeLike
    ) -> None:
        super().__init__()
        self.input_size = check_positive_int(input_size, "input_size")
        self.hidden_size = check_positive_int(hidden_size, "hidden_size")
        width = self.gates * self.hidden_size
        self.add_parameter("W_x", glorot_uniform(self.input_size, width, rng, dtype))  # (D, G·H)
        self.add_parameter("W_h", glorot_uniform(self.hidden_size, width, rng, dtype))  # (H, G·H)
        self.add_parameter("b", np.zeros(width, dtype=dtype))  # (G·H,)

    def initial_state(self, batch: int, dtype: Any) -> State:
        return (np.zeros((batch, self.hidden_size), dtype=dtype),)

    def step(self, x: np.ndarray, state: State) -> tuple[State, Any]:
        raise NotImplementedError

    def step_backward(
        self, d_state: State, cache: Any, grads: dict[str, np.ndarray]
    ) -> tuple[np.ndarray, State]:
        """Given dL/d(state_t), add this step's weight gradients to ``grads``; return dL/dx_t and dL/d(state_{t-1})."""
        raise NotImplementedError

    def _accumulate(
        self, grads: dict[str, np.ndarray], x: np.ndarray, h_prev: np.ndarray, d_pre: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        # For a = x W_x + h_prev W_h + b: the three weight gradients and the two input gradients.
        grads["W_x"] += x.T @ d_pre
        grads["W_h"] += h_prev.T @ d_pre
        grads["b"] += d_pre.sum(axis=0)
        return d_pre @ self.params["W_x"].T, d_pre @ self.params["W_h"].T


class RNNCell(Cell):
    r"""Elman cell :math:`h_t = \tanh(x_t W_x + h_{t-1} W_h + b)`.

    Backward: :math:`\partial L/\partial a = \partial L/\partial h_t \odot (1 - h_t^2)`, then as a linear layer.
    """

    gates = 1

    def step(self, x: np.ndarray, state: State) -> tuple[State, Any]:
        (h_prev,) = state
        h = np.tanh(
            x @ self.params["W_x"] + h_prev @ self.params["W_h"] + self.params["b"]
        )  # (N, H)
        return (h,), (x, h_prev, h)

    def step_backward(
        self, d_state: State, cache: Any, grads: dict[str, np.ndarray]
    ) -> tuple[np.ndarray, State]:
        (dh,) = d_state
        x, h_prev, h = cache
        d_pre = dh * (1.0 - h**2)  # through tanh
        dx, dh_prev = self._accumulate(grads, x, h_prev, d_pre)
        return dx, (dh_prev,)


class LSTMCell(Cell):
    r"""Long short-term memory cell (gate blocks i, f, g, o).

    .. math::

        [a_i, a_f, a_g, a_o] = x_t W_x + h_{t-1} W_h + b, \quad
        i, f, o = \sigma(a_i), \sigma(a_f), \sigma(a_o), \quad g = \tanh(a_g),

        c_t = f \odot c_{t-1} + i \odot g, \qquad h_t = o \odot \tanh(c_t).

    The cell state :math:`c_t` changes only by elementwise scaling and addition, so its
    gradient :math:`\partial L/\partial c_{t-1} = \partial L/\partial c_t \odot f` can survive
    many steps when the forget gate stays near 1.
    """

    gates = 4

    def initial_state(self, batch: int, dtype: Any) -> State:
        zeros = np.zeros((batch, self.hidden_size), dtype=dtype)
        return zeros, zeros.copy()

    def step(self, x: np.ndarray, state: State) -> tuple[State, Any]:
        h_prev, c_prev = state
        a = x @ self.params["W_x"] + h_prev @ self.params["W_h"] + self.params["b"]  # (N, 4H)
        a_i, a_f, a_g, a_o = np.split(a, 4, axis=1)  # each (N, H)
        i, f, g, o = sigmoid(a_i), sigmoid(a_f), np.tanh(a_g), sigmoid(a_o)
        c = f * c_prev + i * g
        tanh_c = np.tanh(c)
        h = o * tanh_c
        return (h, c), (x, h_prev, c_prev, i, f, g, o, tanh_c)

    def step_backward(
        self, d_state: State, cache: Any, grads: dict[str, np.ndarray]
    ) -> tuple[np.ndarray, State]:
        dh, dc = d_state
        x, h_prev, c_prev, i, f, g, o, tanh_c = cache
        do = dh * tanh_c
        dc = dc + dh * o * (1.0 - tanh_c**2)  # c_t reaches L directly and through h_t
        di, df, dg = dc * g, dc * c_prev, dc * i
        d_pre = np.concatenate(
            [di * i * (1 - i), df * f * (1 - f), dg * (1 - g**2), do * o * (1 - o)], axis=1
        )  # (N, 4H): back through the gate nonlinearities
        dx, dh_prev = self._accumulate(grads, x, h_prev, d_pre)
        return dx, (dh_prev, dc * f)


class GRUCell(Cell):
    r"""Gated recurrent unit (gate blocks z, r, n), in either of its two published forms.

    .. math::

        z = \sigma(x_t W_x^z + b_x^z + h_{t-1} W_h^z + b_h^z), \quad
        r = \sigma(x_t W_x^r + b_x^r + h_{t-1} W_h^r + b_h^r),

        h_t = z \odot h_{t-1} + (1 - z) \odot n,

    with the candidate :math:`n` computed with the reset gate applied

    - after the recurrent matrix product (``reset_after=True``, PyTorch's only form and
      Keras' default): :math:`n = \tanh(x_t W_x^n + b_x^n + r \odot (h_{t-1} W_h^n + b_h^n))`;
    - before it (``reset_after=False``, Cho et al. 2014, Keras' other option):
      :math:`n = \tanh(x_t W_x^n + b_x^n + (r \odot h_{t-1}) W_h^n + b_h^n)`.

    There are two bias vectors, ``b`` (input side, :math:`b_x`) and ``b_h`` (recurrent side),
    as in PyTorch and in Keras with ``reset_after=True``.
    """

    gates = 3

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        rng: np.random.Generator,
        dtype: npt.DTypeLike,
        reset_after: bool = True,
    ) -> None:
        super().__init__(input_size, hidden_size, rng, dtype)
        if not isinstance(reset_after, bool):
            raise TypeError(f"reset_after must be True or False, got {reset_after!r}")
        self.reset_after = reset_after
        self.add_parameter("b_h", np.zeros(3 * self.hidden_size, dtype=dtype))

    def step(self, x: np.ndarray, state: State) -> tuple[State, Any]:
        (h_prev,) = state
        size = self.hidden_size
        W_h, b_h = self.params["W_h"], self.params["b_h"]
        ax = x @ self.params["W_x"] + self.params["b"]  # (N, 3H): input side of z, r, n
        ah_zr = h_prev @ W_h[:, : 2 * size] + b_h[: 2 * size]  # (N, 2H): recurrent side of z, r
        z = sigmoid(ax[:, :size] + ah_zr[:, :size])
        r = sigmoid(ax[:, size : 2 * size] + ah_zr[:, size:])
        if self.reset_after:
            ah_n = h_prev @ W_h[:, 2 * size :] + b_h[2 * size :]  # (N, H)
            n = np.tanh(ax[:, 2 * size :] + r * ah_n)
        else:
            ah_n = (r * h_prev) @ W_h[:, 2 * size :] + b_h[2 * size :]
            n = np.tanh(ax[:, 2 * size :] + ah_n)
        h = z * h_prev + (1 - z) * n
        return (h,), (x, h_prev, z, r, n, ah_n)

    def step_backward(
        self, d_state: State, cache: Any, grads: dict[str, np.ndarray]
    ) -> tuple[np.ndarray, State]:
        (dh,) = d_state
        x, h_prev, z, r, n, ah_n = cache
        size = self.hidden_size
        W_x, W_h = self.params["W_x"], self.params["W_h"]
        dz, dn = dh * (h_prev - n), dh * (1 - z)
        dh_prev = dh * z
        da_n = dn * (1 - n**2)  # through tanh: the gradient of the candidate's pre-activation
        if self.reset_after:
            dr = da_n * ah_n
            dah_n = da_n * r  # gradient of h_prev W_h^n + b_h^n
            grads["W_h"][:, 2 * size :] += h_prev.T @ dah_n
            dh_prev += dah_n @ W_h[:, 2 * size :].T
        else:
            dah_n = da_n
            d_rh = da_n @ W_h[:, 2 * size :].T  # gradient of r ⊙ h_prev
            grads["W_h"][:, 2 * size :] += (r * h_prev).T @ da_n
            dr = d_rh * h_prev
            dh_prev += d_rh * r
        grads["b_h"][2 * size :] += dah_n.sum(axis=0)
        da_z, da_r = dz * z * (1 - z), dr * r * (1 - r)
        dax = np.concatenate([da_z, da_r, da_n], axis=1)  # (N, 3H)
        grads["W_x"] += x.T @ dax
        grads["b"] += dax.sum(axis=0)
        dah_zr = np.concatenate([da_z, da_r], axis=1)  # (N, 2H)
        grads["W_h"][:, : 2 * size] += h_prev.T @ dah_zr
        grads["b_h"][: 2 * size] += dah_zr.sum(axis=0)
        dh_prev += dah_zr @ W_h[:, : 2 * size].T
        return dax @ W_x.T, (dh_prev,)


class Recurrent(Layer):
    """A cell run over a sequence. ``forward``: (N, T, D) → all hidden states (N, T, H).

    After ``forward``, ``final_state`` holds the last state — ``(h_T,)``, or ``(h_T, c_T)`` for
    an LSTM. ``backward`` takes dL/d(outputs) (N, T, H) and runs backpropagation through
    time; afterwards ``hidden_gradients[t]`` is dL/dh_t (N, H), the gradient that reached
    step t from the loss and from all later steps.
    """

    def __init__(self, cell: Cell) -> None:
        super().__init__()
        self.cell = cell
        for name, parameter in cell.parameters():  # the same Parameter objects, by their names
            self._parameters[name] = parameter
        self.final_state: State | None = None
        self.hidden_gradients: list[np.ndarray] = []
        self._caches: list[Any] = []

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = as_float_array(x, "x", ndim=3)
        if x.shape[2] != self.cell.input_size:
            raise ValueError(
                f"{type(self).__name__} expects inputs (N, T, {self.cell.input_size}), got {describe(x)}"
            )
        state = self.cell.initial_state(x.shape[0], np.result_type(x, self.cell.params["W_x"]))
        outputs, self._caches = [], []
        for t in range(x.shape[1]):  # unrolled in time: the same weights at every step
            state, cache = self.cell.step(x[:, t], state)
            outputs.append(state[0])
            self._caches.append(cache)
        self.final_state = state
        return np.stack(outputs, axis=1)  # (N, T, H)

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        if not self._caches:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        grad_output = as_float_array(grad_output, "grad_output", ndim=3)
        batch, steps = grad_output.shape[:2]
        if steps != len(self._caches):
            raise ValueError(
                f"grad_output must cover the {len(self._caches)} steps of forward, got {describe(grad_output)}"
            )
        grads = {name: np.zeros_like(value) for name, value in self.params.items()}
        d_state = tuple(np.zeros_like(s) for s in self.cell.initial_state(batch, grad_output.dtype))
        grad_x, hidden_gradients = [], []
        for t in reversed(range(steps)):  # backpropagation through time
            d_state = (d_state[0] + grad_output[:, t],) + d_state[
                1:
            ]  # from the loss at t, and from step t+1
            hidden_gradients.append(d_state[0])
            d_x, d_state = self.cell.step_backward(d_state, self._caches[t], grads)
            grad_x.append(d_x)
        self.hidden_gradients = hidden_gradients[::-1]  # in time order: [t = 0, ..., T-1]
        for name, parameter in self._parameters.items():
            parameter.grad = grads[name]
        return np.stack(grad_x[::-1], axis=1)  # (N, T, D)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.cell.input_size}, {self.cell.hidden_size})"


class RNN(Recurrent):
    """A sequence of :class:`RNNCell` steps: ``RNN(input_size, hidden_size)``."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        rng: np.random.Generator | None = None,
        dtype: npt.DTypeLike = np.float64,
    ) -> None:
        super().__init__(RNNCell(input_size, hidden_size, np.random.default_rng(rng), dtype))


class LSTM(Recurrent):
    """A sequence of :class:`LSTMCell` steps: ``LSTM(input_size, hidden_size)``; ``final_state`` is (h_T, c_T)."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        rng: np.random.Generator | None = None,
        dtype: npt.DTypeLike = np.float64,
    ) -> None:
        super().__init__(LSTMCell(input_size, hidden_size, np.random.default_rng(rng), dtype))


class GRU(Recurrent):
    """A sequence of :class:`GRUCell` steps: ``GRU(input_size, hidden_size, reset_after=True)``."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        reset_after: bool = True,
        rng: np.random.Generator | None = None,
        dtype: npt.DTypeLike = np.float64,
    ) -> None:
        super().__init__(
            GRUCell(
                input_size,
                hidden_size,
                np.random.default_rng(rng),
                dtype,
                reset_after,
            )
        )


class LastTimeStep(Layer):
    """(N, T, H) → (N, H), the last step's hidden state; backward puts the gradient at step T only."""

    def __init__(self) -> None:
        super().__init__()
        self._shape: tuple[int, ...] | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = as_float_array(x, "x", ndim=3)
        self._shape = x.shape
        return x[:, -1]

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        if self._shape is None:
            raise RuntimeError("LastTimeStep.backward called before forward")
        grad = np.zeros(self._shape, dtype=np.result_type(grad_output))
        grad[:, -1] = grad_output
        return grad

    def __repr__(self) -> str:
        return "LastTimeStep()"


_LAYERS: dict[str, type[RNN] | type[LSTM] | type[GRU]] = {"rnn": RNN, "lstm": LSTM, "gru": GRU}


class RecurrentNet(Sequential):
    """A recurrent layer and a linear head: ``kind`` ("rnn", "lstm", "gru") with ``hidden_size`` units.

    Inputs are (N, T, ``input_size``) floats, or (N, T) token ids when ``vocab_size`` is
    given (an :class:`~dltutor.scratch.layers.Embedding` of width ``input_size`` comes
    first). Outputs are (N, ``output_size``) from the last step, or (N, T, ``output_size``)
    from every step with ``return_sequences=True``. LSTM forget-gate biases start at 1, as
    in Keras (Jozefowicz et al., 2015), so that the cell remembers by default. The twin of
    :class:`dltutor.torch.RecurrentNet` and :class:`dltutor.keras.RecurrentNet`.
    """

    def __init__(
        self,
        kind: str,
        input_size: int,
        hidden_size: int,
        output_size: int,
        vocab_size: int | None = None,
        return_sequences: bool = False,
        *,
        rng: np.random.Generator | None = None,
        dtype: npt.DTypeLike = np.float64,
    ) -> None:
        self.spec = RecurrentSpec(
            kind, input_size, hidden_size, output_size, vocab_size, return_sequences
        )
        rng = np.random.default_rng(rng)
        layers: list[Layer] = []
        if vocab_size is not None:
            layers.append(Embedding(vocab_size, input_size, rng=rng, dtype=dtype))
        recurrent = _LAYERS[kind](input_size, hidden_size, rng=rng, dtype=dtype)
        if kind == "lstm":
            recurrent.params["b"][hidden_size : 2 * hidden_size] = (
                self.spec.forget_bias
            )  # forget gate
        layers.append(recurrent)
        if not return_sequences:
            layers.append(LastTimeStep())
        layers.append(
            Linear(hidden_size, output_size, rng=rng, dtype=dtype)
        )  # on (N, H) or (N, T, H)
        super().__init__(layers)
