r"""Every conversion between the scratch weight layout and Keras', and nothing else.

A Keras twin has the same layers as its scratch model, in the same order; walking them
and converting each one's weights gives :meth:`dltutor.scratch.Layer.get_weights`' list.
Keras is channels last, the scratch layers channels first:

==========================  ==========================================  ===========================
Keras layer                 Keras weights                               scratch arrays
==========================  ==========================================  ===========================
``Dense``                   ``kernel`` (d_in, d_out), ``bias``          the same (but see Flatten)
``Conv1D``                  ``kernel`` (k, C_in, C_out), ``bias``       ``W`` (C_out, C_in, k)
``Conv2D``                  ``kernel`` (k, k, C_in, C_out), ``bias``    ``W`` (C_out, C_in, k, k)
``Conv2DTranspose``         ``kernel`` (k, k, C_out, C_in), ``bias``    ``W`` (C_in, C_out, k, k)
``Embedding``               ``embeddings`` (V, D)                       the same
``SimpleRNN``, ``LSTM``     ``kernel``, ``recurrent_kernel``, ``bias``  ``W_x``, ``W_h``, ``b``
``GRU``                     the same; bias (2, 3H) if ``reset_after``   ``b``, ``b_h``; their sum
``MultiHeadAttention``      query/key/value kernels (E, H, d), biases  ``W_q, W_k, W_v`` (E, E),
                            (H, d); output kernel (H, d, E), bias      ``b_q, b_k, b_v``; ``out``
``LayerNormalization``      ``gamma``, ``beta``                        the same
==========================  ==========================================  ===========================

**The dense layer after Flatten.** Scratch and PyTorch flatten a (C, H, W) feature map
channel by channel, Keras an (H, W, C) map pixel by pixel, so row :math:`cHW + hW + w` of
the scratch kernel is row :math:`hWC + wC + c` of the Keras kernel. The first ``Dense``
after a ``Flatten`` has its rows reordered accordingly; with that, the two networks
compute the same function. A layer with weights that is not in the table raises
``TypeError``: a weight is never skipped silently.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from dltutor.checks import as_float_array, describe, split_weights

_RECURRENT = (keras.layers.SimpleRNN, keras.layers.LSTM, keras.layers.GRU)
_MAPPED = (
    keras.layers.Dense,
    keras.layers.Conv1D,
    keras.layers.Conv2D,
    keras.layers.Conv2DTranspose,
    keras.layers.Embedding,
    keras.layers.MultiHeadAttention,
    keras.layers.LayerNormalization,
    *_RECURRENT,
)

# A layer and, for the first Dense after a Flatten, the (H, W, C) shape that was flattened.
Mapped = tuple[keras.layers.Layer, tuple[int, int, int] | None]


def _mapped_layers(model: keras.layers.Layer) -> list[Mapped]:
    """The layers of ``model`` that hold weights, in order, nested models included."""
    found: list[Mapped] = []
    flattened: tuple[int, int, int] | None = None
    layers = model.layers if isinstance(model, keras.Model) else [model]  # a model, or one layer
    for layer in layers:
        if isinstance(layer, keras.layers.Flatten):
            flattened = tuple(int(size) for size in layer.input.shape[1:])  # type: ignore[assignment]
        elif isinstance(layer, keras.Model):
            found += _mapped_layers(layer)
        elif not layer.weights:
            continue
        elif isinstance(layer, _MAPPED):
            found.append((layer, flattened if isinstance(layer, keras.layers.Dense) else None))
            flattened = None
        else:
            raise TypeError(
                f"cannot map {type(layer).__name__} (layer {layer.name!r}) onto the scratch layout: "
                f"supported layers are {', '.join(t.__name__ for t in _MAPPED)}"
            )
    return found


def _kernel_rows(kernel: np.ndarray, order: tuple[int, ...], shape: tuple[int, ...]) -> np.ndarray:
    """Reorder the rows of a (rows, d_out) kernel read as ``shape`` + (d_out,), axes ``order``."""
    return kernel.reshape(*shape, -1).transpose(*order, len(order)).reshape(kernel.shape)


def _to_scratch(mapped: Mapped, arrays: list[np.ndarray], gradients: bool) -> list[np.ndarray]:
    """One layer's Keras weights (or their gradients) as scratch arrays."""
    layer, flattened = mapped
    if isinstance(layer, keras.layers.Dense) and flattened is not None:
        height, width, channels = flattened
        return [_kernel_rows(arrays[0], (2, 0, 1), (height, width, channels)), arrays[1]]
    if isinstance(layer, keras.layers.Conv1D):  # (k, C_in, C_out) -> (C_out, C_in, k)
        return [arrays[0].transpose(2, 1, 0), arrays[1]]
    if isinstance(layer, (keras.layers.Conv2D, keras.layers.Conv2DTranspose)):
        return [arrays[0].transpose(3, 2, 0, 1), arrays[1]]
    if isinstance(layer, keras.layers.MultiHeadAttention):
        q, q_bias, k, k_bias, v, v_bias, out, out_bias = arrays  # per-head shapes
        square = [w.reshape(w.shape[0], -1) for w in (q, k, v)] + [out.reshape(-1, out.shape[-1])]
        return [
            *square[:3],
            *(b.reshape(-1) for b in (q_bias, k_bias, v_bias)),
            square[3],
            out_bias,
        ]
    if isinstance(layer, keras.layers.GRU):
        kernel, recurrent_kernel, bias = arrays
        if layer.cell.reset_after:
            return [kernel, recurrent_kernel, bias[0], bias[1]]
        # One summed bias: scratch b = that sum, b_h = 0; each gets the sum's gradient.
        return [kernel, recurrent_kernel, bias, bias if gradients else np.zeros_like(bias)]
    return arrays


def _from_scratch(mapped: Mapped, arrays: list[np.ndarray]) -> list[np.ndarray]:
    """One layer's scratch arrays in Keras' layout."""
    layer, flattened = mapped
    if isinstance(layer, keras.layers.Dense) and flattened is not None:
        height, width, channels = flattened
        return [_kernel_rows(arrays[0], (1, 2, 0), (channels, height, width)), arrays[1]]
    if isinstance(layer, keras.layers.Conv1D):
        return [arrays[0].transpose(2, 1, 0), arrays[1]]
    if isinstance(layer, (keras.layers.Conv2D, keras.layers.Conv2DTranspose)):
        return [arrays[0].transpose(2, 3, 1, 0), arrays[1]]
    if isinstance(layer, keras.layers.MultiHeadAttention):
        W_q, W_k, W_v, b_q, b_k, b_v, W_o, b_o = arrays
        heads = (layer.num_heads, W_q.shape[1] // layer.num_heads)  # (H, d)
        split = [w.reshape(w.shape[0], *heads) for w in (W_q, W_k, W_v)]
        biases = [b.reshape(heads) for b in (b_q, b_k, b_v)]
        return [
            split[0],
            biases[0],
            split[1],
            biases[1],
            split[2],
            biases[2],
            W_o.reshape(*heads, -1),
            b_o,
        ]
    if isinstance(layer, keras.layers.GRU):
        W_x, W_h, b, b_h = arrays
        return [W_x, W_h, np.stack([b, b_h]) if layer.cell.reset_after else b + b_h]
    return arrays


def _scratch_count(mapped: Mapped) -> int:
    layer = mapped[0]
    return 4 if isinstance(layer, keras.layers.GRU) else len(layer.trainable_weights)


def get_weights(model: keras.Model) -> list[np.ndarray]:
    """The weights of ``model`` as NumPy arrays in the scratch layout (see the table above)."""
    weights: list[np.ndarray] = []
    for mapped in _mapped_layers(model):
        weights += _to_scratch(
            mapped, [np.asarray(v) for v in mapped[0].trainable_weights], gradients=False
        )
    return weights


def set_weights(model: keras.Model, weights: Sequence[np.ndarray]) -> None:
    """Overwrite every weight of ``model`` from ``weights`` in the scratch layout.

    ``weights`` is what :meth:`dltutor.scratch.Layer.get_weights` returns for the scratch
    twin. Raises ``ValueError`` for a wrong count or shape, ``TypeError`` for a layer that
    has no scratch counterpart.
    """
    layers = _mapped_layers(model)
    groups = split_weights(weights, [_scratch_count(mapped) for mapped in layers])
    for mapped, (start, arrays) in zip(layers, groups, strict=True):
        variables = mapped[0].trainable_weights
        for variable, value in zip(variables, _from_scratch(mapped, arrays), strict=True):
            if tuple(value.shape) != tuple(variable.shape):
                raise ValueError(
                    f"weights[{start}:{start + len(arrays)}] do not fit layer {mapped[0].name!r}: "
                    f"its {variable.name} needs shape {tuple(variable.shape)} in Keras' layout, "
                    f"got {describe(value)}"
                )
            variable.assign(value.astype(variable.dtype))


def loss_and_gradients(
    model: keras.Model,
    loss: Callable[[Any, Any], Any],
    x: np.ndarray,
    y: np.ndarray,
    training: bool = True,
) -> tuple[float, list[np.ndarray]]:
    """The loss ``loss(y, model(x))`` and its gradients by ``tf.GradientTape``, in the scratch layout.

    The result compares entry by entry with :meth:`dltutor.scratch.Layer.gradients` after
    the scratch twin's backward on the same batch. Integer ``x`` (token ids) stays integer.
    ``training=False`` runs the model in inference mode (the VAE then decodes its mean).
    """
    layers = _mapped_layers(model)
    x_array = np.asarray(x)
    if x_array.dtype.kind in "iu":
        inputs = tf.convert_to_tensor(x_array.astype(np.int32))
    else:
        inputs = tf.convert_to_tensor(
            as_float_array(x, "x"), dtype=model.trainable_weights[0].dtype
        )
    variables = [variable for layer, _ in layers for variable in layer.trainable_weights]
    with tf.GradientTape() as tape:
        value = loss(y, model(inputs, training=training))
    flat = tape.gradient(value, variables)
    gradients: list[np.ndarray] = []
    start = 0
    for mapped in layers:
        count = len(mapped[0].trainable_weights)
        arrays = [
            np.asarray(tf.convert_to_tensor(g)) for g in flat[start : start + count]
        ]  # dense, also for an embedding
        gradients += _to_scratch(mapped, arrays, gradients=True)
        start += count
    return float(value), gradients


# --- Sound and speech (book/speech): the CTC recogniser from PyTorch -----------------------


def _torch_gru_to_keras(state: dict[str, np.ndarray], suffix: str) -> list[np.ndarray]:
    """PyTorch's GRU gates are stacked (r, z, n), Keras' (z, r, h), the same equations with
    ``reset_after``: reorder the blocks, transpose the matrices, stack the two biases."""

    def gates(array: np.ndarray) -> np.ndarray:  # (3H, ...) blocks r, z, n -> z, r, n
        r, z, n = np.split(array, 3, axis=0)
        return np.concatenate([z, r, n], axis=0)

    return [
        gates(state[f"gru.weight_ih_l0{suffix}"]).T,  # (in, 3H)
        gates(state[f"gru.weight_hh_l0{suffix}"]).T,  # (H, 3H)
        np.stack(
            [gates(state[f"gru.bias_ih_l0{suffix}"]), gates(state[f"gru.bias_hh_l0{suffix}"])]
        ),  # (2, 3H)
    ]


def speech_recognizer_from_torch(model: keras.Model, state: dict[str, Any]) -> None:
    """Load the weights of a :class:`dltutor.torch.speech.SpeechRecognizer` — its
    ``state_dict()`` as NumPy arrays — into :func:`dltutor.keras.speech.speech_recognizer`.

    Conv1d ``weight`` (C_out, C_in, k) → ``kernel`` (k, C_in, C_out); each GRU direction by
    :func:`_torch_gru_to_keras`; Linear ``weight`` (out, in) → ``kernel`` (in, out).
    """
    expected = {
        "conv.weight", "conv.bias", "output.weight", "output.bias",
        *(f"gru.{kind}_{part}_l0{suffix}" for kind in ("weight", "bias")
          for part in ("ih", "hh") for suffix in ("", "_reverse")),
    }  # fmt: skip
    if set(state) != expected:
        raise ValueError(
            f"state must hold a SpeechRecognizer's weights {sorted(expected)}, got {sorted(state)}"
        )
    state = {name: np.asarray(value, dtype=np.float32) for name, value in state.items()}
    _, conv, bidirectional, dense = model.layers
    conv.set_weights([state["conv.weight"].transpose(2, 1, 0), state["conv.bias"]])
    bidirectional.forward_layer.set_weights(_torch_gru_to_keras(state, ""))
    bidirectional.backward_layer.set_weights(_torch_gru_to_keras(state, "_reverse"))
    dense.set_weights([state["output.weight"].T, state["output.bias"]])
