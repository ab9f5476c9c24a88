"""The recurrent network in Keras, the twin of :class:`dltutor.scratch.RecurrentNet`.

How the scratch weights map onto ``SimpleRNN``, ``LSTM`` and ``GRU`` is in
:mod:`dltutor.keras.layout`.
"""

from __future__ import annotations

import keras

from dltutor.specs import RecurrentSpec

_LAYERS = {"rnn": keras.layers.SimpleRNN, "lstm": keras.layers.LSTM, "gru": keras.layers.GRU}


class RecurrentNet(keras.Sequential):
    """A recurrent layer and a dense head, the twin of :class:`dltutor.scratch.RecurrentNet`.

    ``kind`` "rnn" (``SimpleRNN``), "lstm" or "gru" with ``hidden_size`` units; inputs (N, T,
    ``input_size``), or token ids (N, T) with an ``Embedding`` when ``vocab_size`` is given;
    outputs from the last step, or from every step with ``return_sequences=True``. Logits:
    pair with ``from_logits=True`` losses. Keras' LSTM starts its forget-gate biases at 1
    (``unit_forget_bias``), as the scratch and PyTorch twins do.
    """

    def __init__(
        self,
        kind: str,
        input_size: int,
        hidden_size: int,
        output_size: int,
        vocab_size: int | None = None,
        return_sequences: bool = False,
        name: str | None = None,
    ) -> None:
        spec = RecurrentSpec(
            kind, input_size, hidden_size, output_size, vocab_size, return_sequences
        )
        if vocab_size is None:
            front: list[keras.layers.Layer] = [keras.Input(shape=(None, input_size))]
        else:
            front = [
                keras.Input(shape=(None,), dtype="int32"),
                keras.layers.Embedding(vocab_size, input_size),
            ]
        recurrent = _LAYERS[kind](hidden_size, return_sequences=return_sequences)
        super().__init__([*front, recurrent, keras.layers.Dense(output_size)], name=name)
        self.spec = spec
