"""Copying recurrent weights from :mod:`dltutor.scratch` into Keras ``SimpleRNN``, ``LSTM`` and ``GRU``.

Keras stores ``kernel`` (D, G·H), ``recurrent_kernel`` (H, G·H) and ``bias`` — the scratch
layout, with the same gate order: LSTM i, f, c (our g), o; GRU z, r, h (our n). A GRU with
``reset_after=True`` (the default) has a bias of shape (2, G·H): input side, recurrent side
(scratch ``b`` and ``b_h``). With ``reset_after=False`` every bias is only added, so Keras keeps
one vector, the sum ``b + b_h``.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np

from dltutor._checks import as_float_array


def set_recurrent_weights(layer: keras.layers.Layer, weights: Sequence[np.ndarray]) -> None:
    """Load scratch weights — ``[W_x, W_h, b]``, or ``[W_x, W_h, b, b_h]`` for a GRU — into a built Keras layer."""
    if not isinstance(layer, (keras.layers.SimpleRNN, keras.layers.LSTM, keras.layers.GRU)):
        raise TypeError(f"expected keras.layers.SimpleRNN, LSTM or GRU, got {type(layer).__name__}")
    arrays = [as_float_array(w, f"weights[{index}]").astype(np.float32) for index, w in enumerate(weights)]
    if isinstance(layer, keras.layers.GRU):
        if len(arrays) != 4:
            raise ValueError(f"GRU needs 4 weight arrays [W_x, W_h, b, b_h], got {len(arrays)}")
        W_x, W_h, b, b_h = arrays
        bias = np.stack([b, b_h]) if layer.cell.reset_after else b + b_h
        layer.set_weights([W_x, W_h, bias])
    else:
        if len(arrays) != 3:
            raise ValueError(f"{type(layer).__name__} needs 3 weight arrays [W_x, W_h, b], got {len(arrays)}")
        layer.set_weights(arrays)
