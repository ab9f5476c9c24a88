"""Autoencoders in Keras: dense, convolutional and variational.

Each is the twin of the scratch model of the same name (:mod:`dltutor.scratch.generative`):
same arguments, same spec, the same weights in the same order.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import tensorflow as tf

from dltutor.keras.build import build_all
from dltutor.specs import AutoencoderSpec, ConvAutoencoderSpec, VAESpec

VAEOutputs = tuple[tf.Tensor, tf.Tensor, tf.Tensor]  # (logits, mu, log_var)


class Autoencoder(keras.Model):
    r"""Dense autoencoder :math:`\hat x = D(E(x))`, the twin of :class:`dltutor.scratch.Autoencoder`.

    ``encoder`` and ``decoder`` are Keras models of their own (the decoder can generate
    from codes); weights copy to and from scratch with :func:`dltutor.keras.set_weights`.
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
        self.spec = AutoencoderSpec(layer_sizes, activation, code_activation, output_activation)
        sizes = self.spec.layer_sizes
        self.encoder = keras.Sequential(
            [keras.Input(shape=(sizes[0],)), *build_all(self.spec.encoder())], name="encoder"
        )
        self.decoder = keras.Sequential(
            [keras.Input(shape=(sizes[-1],)), *build_all(self.spec.decoder())], name="decoder"
        )
        self.build((None, sizes[0]))

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        self.built = True  # both halves were built by their Input layers

    def call(self, x: tf.Tensor) -> tf.Tensor:
        return self.decoder(self.encoder(x))  # (N, d) -> (N, k) -> (N, d)


class ConvAutoencoder(keras.Sequential):
    """Convolutional autoencoder for (N, S, S, 1) images (channels last), S divisible by 4.

    The twin of :class:`dltutor.scratch.ConvAutoencoder`: Conv2D 3×3 (``channels[0]``, ReLU)
    → MaxPooling2D → Conv2D 3×3 (``channels[1]``, ReLU) → MaxPooling2D, then two 2×2
    Conv2DTranspose with stride 2 (ReLU) and a Conv2D 3×3 with a sigmoid.
    """

    def __init__(
        self, image_size: int = 8, channels: tuple[int, int] = (16, 8), name: str | None = None
    ) -> None:
        spec = ConvAutoencoderSpec(image_size, channels)
        inputs = keras.Input(shape=(spec.image_size, spec.image_size, 1))
        super().__init__(
            [inputs, *build_all(spec.encoder()), *build_all(spec.decoder())], name=name
        )
        self.spec = spec


class VAELoss:
    r"""The negative ELBO per example, for Keras' argument order ``loss(x, outputs)``:
    summed binary cross-entropy of the pixels plus
    :math:`\tfrac12 \sum_j (\mu_j^2 + \sigma_j^2 - \log\sigma_j^2 - 1)`, averaged over the
    batch. The twin of :class:`dltutor.torch.VAELoss` and :class:`dltutor.scratch.VAELoss`.
    """

    def __call__(self, x: tf.Tensor, outputs: VAEOutputs) -> tf.Tensor:
        logits, mu, log_var = outputs
        x = tf.cast(x, logits.dtype)
        reconstruction = tf.reduce_sum(
            tf.nn.sigmoid_cross_entropy_with_logits(labels=x, logits=logits), axis=1
        )
        kl = 0.5 * tf.reduce_sum(mu**2 + tf.exp(log_var) - log_var - 1.0, axis=1)
        return tf.reduce_mean(reconstruction + kl)


class VAE(keras.Model):
    r"""Variational autoencoder with a Gaussian code and Bernoulli pixels; the twin of :class:`dltutor.scratch.VAE`.

    ``encoder`` maps x to ``[mu, log_var]``; with ``training=True`` a code is sampled as
    :math:`z = \mu + \sigma \odot \epsilon` (reparameterisation), otherwise :math:`z = \mu`;
    ``decoder`` maps z to pixel logits. Calling the model returns ``(logits, mu, log_var)``,
    as the scratch and PyTorch twins do. ``fit(x, epochs=...)`` minimises :class:`VAELoss`;
    compile with an optimizer only: ``vae.compile(optimizer=keras.optimizers.Adam(1e-3))``.
    """

    def __init__(
        self,
        input_size: int = 64,
        hidden_units: int = 128,
        latent_size: int = 2,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        self.spec = VAESpec(input_size, hidden_units, latent_size)
        mean, log_var = self.spec.heads()
        inputs = keras.Input(shape=(input_size,))
        (hidden_layer,) = build_all(self.spec.encoder())
        hidden = hidden_layer(inputs)
        mean_layer, log_var_layer = build_all([mean, log_var])
        self.encoder = keras.Model(
            inputs, [mean_layer(hidden), log_var_layer(hidden)], name="encoder"
        )
        self.decoder = keras.Sequential(
            [keras.Input(shape=(latent_size,)), *build_all(self.spec.decoder())], name="decoder"
        )
        self.seed_generator = keras.random.SeedGenerator(0)
        self.loss_fn = VAELoss()
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.built = True

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        return [self.loss_tracker]

    def call(self, x: tf.Tensor, training: bool = False) -> VAEOutputs:
        mu, log_var = self.encoder(x)
        if training:
            epsilon = keras.random.normal(tf.shape(mu), seed=self.seed_generator)
            z = mu + tf.exp(0.5 * log_var) * epsilon
        else:
            z = mu
        return self.decoder(z), mu, log_var

    def train_step(self, data: tf.Tensor) -> dict[str, tf.Tensor]:
        x = data[0] if isinstance(data, tuple) else data
        with tf.GradientTape() as tape:
            loss = self.loss_fn(x, self(x, training=True))
        gradients = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_weights, strict=True))
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}
