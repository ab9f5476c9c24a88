"""Keras models with the same names, arguments and weight layout as :mod:`dltutor.scratch`."""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

from dltutor._checks import as_float_array, check_cnn_arguments
from dltutor._specs import DenseStack, autoencoder_stacks, dense_stack

_KERAS_ACTIVATIONS = {"identity": "linear", "relu": "relu", "sigmoid": "sigmoid", "tanh": "tanh"}


def dense_layers(stack: DenseStack) -> list[keras.layers.Layer]:
    """``Dense`` layers (Glorot-uniform kernels, zero biases: Keras' defaults) for a :data:`dltutor._specs.DenseStack`."""
    return [
        keras.layers.Dense(fan_out, activation=None if activation is None else _KERAS_ACTIVATIONS[activation])
        for _, fan_out, activation in stack
    ]


class MLP(keras.Sequential):
    r"""Multilayer perceptron, :math:`h^{(l)} = f(h^{(l-1)} W^{(l)} + b^{(l)})`, linear output.

    The twin of :class:`dltutor.scratch.MLP`: ``Dense`` layers whose kernels have the
    scratch layout (d_in, d_out), Glorot-uniform initialised with zero biases (Keras'
    defaults). ``get_weights()`` and ``set_weights()`` are Keras' own.
    """

    def __init__(
        self, layer_sizes: Sequence[int], activation: str = "relu", name: str | None = None
    ) -> None:
        stack = dense_stack(layer_sizes, activation)
        super().__init__([keras.Input(shape=(stack[0][0],)), *dense_layers(stack)], name=name)
        self.layer_sizes = [fan_in for fan_in, _, _ in stack] + [stack[-1][1]]
        self.activation_name = activation


class CNN(keras.Sequential):
    r"""A small convolutional classifier, the twin of :class:`dltutor.scratch.CNN`.

    Blocks of [Conv2D 3×3 "same" → ReLU] × ``convs_per_block`` → MaxPooling2D 2×2, then
    Flatten → Dense(``hidden_units``, ReLU) → Dense(``num_classes``) (logits). Inputs are
    channels last, as Keras expects: (N, ``image_size``, ``image_size``, ``in_channels``).
    """

    def __init__(
        self,
        in_channels: int,
        image_size: int,
        num_classes: int,
        channels: Sequence[int] = (32, 64),
        convs_per_block: int = 1,
        hidden_units: int = 64,
        name: str | None = None,
    ) -> None:
        blocks, _ = check_cnn_arguments(in_channels, image_size, num_classes, channels, convs_per_block, hidden_units)
        layers: list[keras.layers.Layer] = [keras.Input(shape=(image_size, image_size, in_channels))]
        for width in blocks:
            layers += [keras.layers.Conv2D(width, 3, padding="same", activation="relu") for _ in range(convs_per_block)]
            layers.append(keras.layers.MaxPooling2D(2))
        layers += [
            keras.layers.Flatten(),  # (N, H, W, C) -> (N, H·W·C)
            keras.layers.Dense(hidden_units, activation="relu"),
            keras.layers.Dense(num_classes),
        ]
        super().__init__(layers, name=name)


class Autoencoder(keras.Model):
    r"""Dense autoencoder :math:`\hat x = D(E(x))`, the twin of :class:`dltutor.scratch.Autoencoder`.

    ``encoder`` and ``decoder`` are Keras models of their own (the decoder can generate from
    codes); ``get_weights()`` lists the encoder's weights first, in the scratch layout.
    """

    def __init__(
        self,
        layer_sizes: Sequence[int],
        activation: str = "relu",
        code_activation: str | None = None,
        output_activation: str = "sigmoid",
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        encoder_stack, decoder_stack = autoencoder_stacks(layer_sizes, activation, code_activation, output_activation)
        self.encoder = keras.Sequential([keras.Input(shape=(encoder_stack[0][0],)), *dense_layers(encoder_stack)], name="encoder")
        self.decoder = keras.Sequential([keras.Input(shape=(decoder_stack[0][0],)), *dense_layers(decoder_stack)], name="decoder")
        self.build((None, encoder_stack[0][0]))

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        self.built = True  # both halves were built by their Input layers

    def call(self, x: tf.Tensor) -> tf.Tensor:
        return self.decoder(self.encoder(x))  # (N, d) -> (N, k) -> (N, d)


def loss_and_gradients(
    model: keras.Model, loss: keras.losses.Loss, x: np.ndarray, y: np.ndarray
) -> tuple[float, list[np.ndarray]]:
    """The loss on ``x, y`` and its gradients by ``tf.GradientTape``, as NumPy arrays.

    The order is ``model.trainable_weights`` -- ``[kernel1, bias1, ...]`` for Dense
    stacks -- which is the layout of :meth:`dltutor.scratch.Sequential.gradients`.
    """
    inputs = tf.convert_to_tensor(as_float_array(x, "x"), dtype=model.trainable_weights[0].dtype)
    with tf.GradientTape() as tape:
        value = loss(y, model(inputs, training=True))
    gradients = tape.gradient(value, model.trainable_weights)
    return float(value), [np.asarray(gradient) for gradient in gradients]
