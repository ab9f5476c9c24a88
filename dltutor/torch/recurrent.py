"""The recurrent network in PyTorch, the twin of :class:`dltutor.scratch.RecurrentNet`.

How the scratch weights map onto ``nn.RNN``, ``nn.LSTM`` and ``nn.GRU`` (transposes, gate
orders, the two biases) is in :mod:`dltutor.torch.layout`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.nn.modules.rnn import RNNBase

from dltutor.checks import check_ids
from dltutor.specs import RecurrentSpec

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
        self.spec = RecurrentSpec(
            kind, input_size, hidden_size, output_size, vocab_size, return_sequences
        )
        self.embedding = None if vocab_size is None else nn.Embedding(vocab_size, input_size)
        self.recurrent = _MODULES[kind](input_size, hidden_size, batch_first=True)
        self.head = nn.Linear(hidden_size, output_size)
        self.return_sequences = return_sequences
        if kind == "lstm":
            with torch.no_grad():
                forget = slice(hidden_size, 2 * hidden_size)
                bias_ih, bias_hh = self.recurrent.bias_ih_l0, self.recurrent.bias_hh_l0
                assert isinstance(bias_ih, torch.Tensor) and isinstance(bias_hh, torch.Tensor)
                bias_ih[forget].fill_(self.spec.forget_bias)
                bias_hh[forget].fill_(0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.embedding is not None:
            check_ids(x, self.embedding.num_embeddings, "x", "vocab_size")
            x = self.embedding(x.long())  # (N, T) -> (N, T, input_size)
        outputs, _ = self.recurrent(x)  # (N, T, hidden_size)
        return self.head(outputs if self.return_sequences else outputs[:, -1])


class SequenceCrossEntropyLoss(nn.Module):
    """Cross-entropy of per-step logits (N, T, V) against per-step labels (N, T), averaged over all steps."""

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1))
