"""Copying recurrent weights between :mod:`dltutor.scratch` and ``torch.nn.RNN/LSTM/GRU``.

PyTorch stores, per layer, ``weight_ih_l0`` (G·H, D) = :math:`W_x^\\top`, ``weight_hh_l0``
(G·H, H) = :math:`W_h^\\top`, and two biases ``bias_ih_l0`` and ``bias_hh_l0``. Gate blocks:
LSTM i, f, g, o (as scratch); GRU r, z, n (scratch and Keras use z, r, n). For RNN and LSTM
the two biases are only ever added, so scratch keeps their sum ``b``; for GRU they differ
(the recurrent bias of n sits inside the reset gate) and scratch keeps both, ``b`` and ``b_h``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn
from torch.nn.modules.rnn import RNNBase

from dltutor._checks import as_float_array, check_layer_sizes, check_positive_int, describe
from dltutor.data.sequences import CharVocabulary, sample_sequence

_RECURRENT = (nn.RNN, nn.LSTM, nn.GRU)


def _gru_blocks(array: np.ndarray) -> np.ndarray:
    """Swap the first two gate blocks along axis 0: (z, r, n) ↔ (r, z, n); the swap is its own inverse."""
    z, r, n = np.split(array, 3, axis=0)
    return np.concatenate([r, z, n], axis=0)


def _parameter(module: RNNBase, name: str) -> torch.Tensor:
    value = getattr(module, name)  # registered at run time, so typed here
    assert isinstance(value, torch.Tensor)
    return value


def _check_module(module: nn.Module) -> None:
    if not isinstance(module, _RECURRENT):
        raise TypeError(f"expected torch.nn.RNN, LSTM or GRU, got {type(module).__name__}")
    if module.num_layers != 1 or module.bidirectional or not module.bias:
        raise ValueError("only single-layer, unidirectional modules with biases map onto the scratch layers")
    if isinstance(module, nn.RNN) and module.nonlinearity != "tanh":
        raise ValueError(f"the scratch RNN uses tanh, got nonlinearity={module.nonlinearity!r}")


def set_recurrent_weights(module: RNNBase, weights: Sequence[np.ndarray]) -> None:
    """Load scratch weights — ``[W_x, W_h, b]``, or ``[W_x, W_h, b, b_h]`` for a GRU — into ``module``."""
    _check_module(module)
    is_gru = isinstance(module, nn.GRU)
    expected = 4 if is_gru else 3
    if len(weights) != expected:
        raise ValueError(f"{type(module).__name__} needs {expected} weight arrays, got {len(weights)}")
    W_x, W_h, b = (as_float_array(w, name) for w, name in zip(weights, ["W_x", "W_h", "b"]))
    b_h = as_float_array(weights[3], "b_h") if is_gru else np.zeros_like(b)
    rows = _parameter(module, "weight_ih_l0").shape[0]
    if W_x.shape != (module.input_size, rows) or W_h.shape != (module.hidden_size, rows):
        raise ValueError(
            f"expected W_x {(module.input_size, rows)} and W_h {(module.hidden_size, rows)}, "
            f"got {describe(W_x)} and {describe(W_h)}"
        )
    reorder = _gru_blocks if is_gru else (lambda a: a)
    with torch.no_grad():
        for name, value in [("weight_ih_l0", W_x.T), ("weight_hh_l0", W_h.T), ("bias_ih_l0", b), ("bias_hh_l0", b_h)]:
            _parameter(module, name).copy_(torch.from_numpy(np.ascontiguousarray(reorder(value))))


def recurrent_gradients(module: RNNBase) -> list[np.ndarray]:
    """The module's parameter gradients in the scratch layout of :func:`set_recurrent_weights`.

    For RNN and LSTM the gradient of the summed bias ``b`` equals that of either PyTorch bias.
    """
    _check_module(module)
    is_gru = isinstance(module, nn.GRU)
    reorder = _gru_blocks if is_gru else (lambda a: a)
    grads = []
    for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
        parameter = _parameter(module, name)
        if parameter.grad is None:
            raise RuntimeError("no gradients yet: call backward first")
        grads.append(reorder(parameter.grad.detach().cpu().numpy()))
    W_x, W_h, b, b_h = grads
    return [W_x.T, W_h.T, b, b_h] if is_gru else [W_x.T, W_h.T, b]


_MODULES: dict[str, Callable[..., RNNBase]] = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


class RecurrentNet(nn.Module):
    """A recurrent layer and a linear head: ``kind`` ("rnn", "lstm", "gru") with ``hidden_size`` units.

    Inputs are (N, T, ``input_size``) floats, or (N, T) token ids when ``vocab_size`` is given
    (an embedding of width ``input_size`` comes first). Outputs are (N, ``output_size``) from the
    last step, or (N, T, ``output_size``) from every step with ``return_sequences=True``.
    LSTM forget-gate biases start at 1, as in Keras (Jozefowicz et al., 2015), so that the cell
    remembers by default.
    """

    def __init__(
        self,
        kind: str,
        input_size: int,
        hidden_size: int,
        output_size: int,
        vocab_size: int | None = None,
        return_sequences: bool = False,
    ) -> None:
        super().__init__()
        if kind not in _MODULES:
            raise ValueError(f"kind must be one of {sorted(_MODULES)}, got {kind!r}")
        check_layer_sizes([input_size, hidden_size, output_size])
        self.embedding = None if vocab_size is None else nn.Embedding(check_positive_int(vocab_size, "vocab_size"), input_size)
        self.recurrent = _MODULES[kind](input_size, hidden_size, batch_first=True)
        self.head = nn.Linear(hidden_size, output_size)
        self.return_sequences = return_sequences
        if kind == "lstm":
            with torch.no_grad():
                _parameter(self.recurrent, "bias_ih_l0")[hidden_size : 2 * hidden_size].fill_(1.0)  # forget gate
                _parameter(self.recurrent, "bias_hh_l0")[hidden_size : 2 * hidden_size].fill_(0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.embedding is not None:
            x = self.embedding(x.long())  # (N, T) -> (N, T, input_size)
        outputs, _ = self.recurrent(x)  # (N, T, hidden_size)
        return self.head(outputs if self.return_sequences else outputs[:, -1])


class SequenceCrossEntropyLoss(nn.Module):
    """Cross-entropy of per-step logits (N, T, V) against per-step labels (N, T), averaged over all steps."""

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1))


def sample_text(
    model: nn.Module,
    vocabulary: CharVocabulary,
    prompt: str,
    length: int = 200,
    temperature: float = 0.8,
    seed: int = 0,
    context: int = 64,
) -> str:
    """Continue ``prompt`` by ``length`` characters sampled from ``model`` (see :func:`dltutor.data.sample_sequence`).

    ``model`` maps token ids (1, T) to per-step logits (1, T, V), like ``RecurrentNet(..., vocab_size=V,
    return_sequences=True)``; it reads the last ``context`` characters at each step.
    """
    device = next(model.parameters()).device
    model.eval()

    @torch.no_grad()
    def next_logits(window: np.ndarray) -> np.ndarray:
        return model(torch.as_tensor(window, device=device))[0, -1].cpu().numpy()  # (V,)

    return sample_sequence(next_logits, vocabulary, prompt, length, temperature, seed, context)
