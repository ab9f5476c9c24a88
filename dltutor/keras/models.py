"""Keras models with the same names, arguments and weight layout as :mod:`dltutor.scratch`."""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

from dltutor.checks import as_float_array, check_cnn_arguments, check_layer_sizes
from dltutor._specs import DenseStack, autoencoder_stacks, dense_stack, stack_sizes

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
        self.layer_sizes = stack_sizes(stack)
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


class ConvAutoencoder(keras.Sequential):
    """Convolutional autoencoder for (N, S, S, 1) images (channels last), S divisible by 4.

    The twin of :class:`dltutor.torch.ConvAutoencoder`: Conv2D 3×3 (``channels[0]``, ReLU) →
    MaxPooling2D → Conv2D 3×3 (``channels[1]``, ReLU) → MaxPooling2D, then two 2×2
    Conv2DTranspose with stride 2 (ReLU) and a Conv2D 3×3 with a sigmoid.
    """

    def __init__(self, image_size: int = 8, channels: tuple[int, int] = (16, 8), name: str | None = None) -> None:
        check_cnn_arguments(1, image_size, 1, channels, 1, 1)
        if image_size % 4:
            raise ValueError(f"image_size must be divisible by 4 for two poolings and two upsamplings, got {image_size}")
        wide, narrow = channels
        super().__init__(
            [
                keras.Input(shape=(image_size, image_size, 1)),
                keras.layers.Conv2D(wide, 3, padding="same", activation="relu"),
                keras.layers.MaxPooling2D(2),  # (N, S/2, S/2, wide)
                keras.layers.Conv2D(narrow, 3, padding="same", activation="relu"),
                keras.layers.MaxPooling2D(2),  # (N, S/4, S/4, narrow): the code
                keras.layers.Conv2DTranspose(narrow, 2, strides=2, activation="relu"),  # (N, S/2, S/2, narrow)
                keras.layers.Conv2DTranspose(wide, 2, strides=2, activation="relu"),  # (N, S, S, wide)
                keras.layers.Conv2D(1, 3, padding="same", activation="sigmoid"),  # (N, S, S, 1)
            ],
            name=name,
        )


class VAE(keras.Model):
    r"""Variational autoencoder with a Gaussian code and Bernoulli pixels; the twin of :class:`dltutor.torch.VAE`.

    ``encoder`` maps x to ``[mu, log_var]``; a code is sampled as :math:`z = \mu + \sigma \odot \epsilon`
    (reparameterisation); ``decoder`` maps z to pixel logits. ``fit(x, epochs=...)`` minimises the
    negative ELBO, per example: summed binary cross-entropy plus
    :math:`\tfrac12 \sum_j (\mu_j^2 + \sigma_j^2 - \log\sigma_j^2 - 1)`.
    Compile with an optimizer only: ``vae.compile(optimizer=keras.optimizers.Adam(1e-3))``.
    """

    def __init__(self, input_size: int = 64, hidden_units: int = 128, latent_size: int = 2, name: str | None = None) -> None:
        super().__init__(name=name)
        check_layer_sizes([input_size, hidden_units, latent_size])
        inputs = keras.Input(shape=(input_size,))
        hidden = keras.layers.Dense(hidden_units, activation="relu")(inputs)
        self.encoder = keras.Model(
            inputs, [keras.layers.Dense(latent_size)(hidden), keras.layers.Dense(latent_size)(hidden)], name="encoder"
        )
        self.decoder = keras.Sequential(
            [keras.Input(shape=(latent_size,)), *dense_layers(dense_stack([latent_size, hidden_units, input_size], "relu"))],
            name="decoder",
        )
        self.seed_generator = keras.random.SeedGenerator(0)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.built = True

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        return [self.loss_tracker]

    def call(self, x: tf.Tensor, training: bool = False) -> tf.Tensor:
        mu, _ = self.encoder(x)
        return keras.activations.sigmoid(self.decoder(mu))  # the mean reconstruction

    def negative_elbo(self, x: tf.Tensor) -> tf.Tensor:
        mu, log_var = self.encoder(x)
        epsilon = keras.random.normal(tf.shape(mu), seed=self.seed_generator)
        logits = self.decoder(mu + tf.exp(0.5 * log_var) * epsilon)
        reconstruction = tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(labels=x, logits=logits), axis=1)
        kl = 0.5 * tf.reduce_sum(mu**2 + tf.exp(log_var) - log_var - 1.0, axis=1)
        return tf.reduce_mean(reconstruction + kl)

    def train_step(self, data: tf.Tensor) -> dict[str, tf.Tensor]:
        x = data[0] if isinstance(data, tuple) else data
        with tf.GradientTape() as tape:
            loss = self.negative_elbo(x)
        gradients = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_weights))
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}


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
