"""Autoencoders: dense, convolutional and variational, and the variational loss.

Each is the twin of the model of the same name in :mod:`dltutor.torch` and
:mod:`dltutor.keras`: same arguments, same spec (:mod:`dltutor.specs`), same weights in
the same order, so weights copy across and outputs agree.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from dltutor.checks import as_float_array, describe
from dltutor.scratch.build import build, build_all
from dltutor.scratch.layers import Layer
from dltutor.scratch.losses import sigmoid_cross_entropy
from dltutor.scratch.sequential import Sequential
from dltutor.specs import AutoencoderSpec, ConvAutoencoderSpec, VAESpec

VAEOutputs = tuple[np.ndarray, np.ndarray, np.ndarray]  # (logits, mu, log_var)


class Autoencoder(Sequential):
    r"""Dense autoencoder :math:`\hat x = D(E(x))`, trained to minimise
    :math:`\lVert x - D(E(x)) \rVert^2`.

    ``layer_sizes = [d, h_1, ..., k]`` is the encoder, from the input size d down to the
    code size k; the decoder mirrors it back up to d. ``activation`` follows every layer
    except the code (``code_activation``, default the same) and the output
    (``output_activation``). ``Autoencoder([64, 32])`` is input → Dense(32, ReLU) →
    Dense(64, sigmoid), the model of the Keras autoencoder tutorial (Chollet, 2016); with
    identity activations it is a linear autoencoder, which learns PCA's subspace.
    """

    def __init__(
        self,
        layer_sizes: Sequence[int],
        activation: str = "relu",
        code_activation: str | None = None,
        output_activation: str = "sigmoid",
        *,
        rng: np.random.Generator | None = None,
        dtype: npt.DTypeLike = np.float64,
    ) -> None:
        rng = np.random.default_rng(rng)
        self.spec = AutoencoderSpec(layer_sizes, activation, code_activation, output_activation)
        self.encoder = Sequential(build_all(self.spec.encoder(), rng, dtype))
        self.decoder = Sequential(build_all(self.spec.decoder(), rng, dtype))
        super().__init__([self.encoder, self.decoder])

    def encode(self, x: np.ndarray) -> np.ndarray:
        """The code :math:`E(x)`, shape (N, k)."""
        return self.encoder.forward(as_float_array(x, "x", ndim=2))

    def decode(self, code: np.ndarray) -> np.ndarray:
        """The reconstruction :math:`D(z)` of codes ``z`` (N, k), shape (N, d)."""
        return self.decoder.forward(as_float_array(code, "code", ndim=2))


class ConvAutoencoder(Sequential):
    """Convolutional autoencoder for (N, 1, S, S) images, S divisible by 4.

    Encoder: Conv 3×3 (``channels[0]``) → ReLU → MaxPool 2 → Conv 3×3 (``channels[1]``) →
    ReLU → MaxPool 2, a code of shape (``channels[1]``, S/4, S/4). Decoder: two 2×2
    transposed convolutions with stride 2 (each doubles the size) → ReLU, then Conv 3×3 →
    sigmoid.
    """

    def __init__(
        self,
        image_size: int = 8,
        channels: tuple[int, int] = (16, 8),
        *,
        rng: np.random.Generator | None = None,
        dtype: npt.DTypeLike = np.float64,
    ) -> None:
        rng = np.random.default_rng(rng)
        self.spec = ConvAutoencoderSpec(image_size, channels)
        self.encoder = Sequential(build_all(self.spec.encoder(), rng, dtype))
        self.decoder = Sequential(build_all(self.spec.decoder(), rng, dtype))
        super().__init__([self.encoder, self.decoder])


class VAE(Layer):
    r"""Variational autoencoder (Kingma & Welling, 2014) with a Gaussian code and Bernoulli pixels.

    The encoder maps x to the mean :math:`\mu` and log-variance :math:`\log\sigma^2` of
    :math:`q(z \mid x)`. In training mode a code is sampled as
    :math:`z = \mu + \sigma \odot \epsilon`, :math:`\epsilon \sim N(0, I)` (the
    reparameterisation trick: the randomness sits in :math:`\epsilon`, so gradients flow
    through :math:`\mu` and :math:`\sigma`); in evaluation mode :math:`z = \mu`. The
    decoder maps z to pixel logits. ``forward`` returns ``(logits, mu, log_var)``, as the
    PyTorch and Keras twins do; train with :class:`VAELoss`.

    Backward through the sample: :math:`\partial z/\partial \mu = 1` and
    :math:`\partial z/\partial \log\sigma^2 = \tfrac12 \sigma \odot \epsilon`.
    """

    def __init__(
        self,
        input_size: int = 64,
        hidden_units: int = 128,
        latent_size: int = 2,
        *,
        rng: np.random.Generator | None = None,
        dtype: npt.DTypeLike = np.float64,
    ) -> None:
        super().__init__()
        self.spec = VAESpec(input_size, hidden_units, latent_size)
        rng = np.random.default_rng(rng)
        mean, log_var = self.spec.heads()
        # Registered in the order of the PyTorch and Keras twins: encoder, heads, decoder.
        self.encoder = self.add_layer(
            "encoder", Sequential(build_all(self.spec.encoder(), rng, dtype))
        )
        self.mean = self.add_layer("mean", Sequential(build(mean, rng, dtype)))
        self.log_var = self.add_layer("log_var", Sequential(build(log_var, rng, dtype)))
        self.decoder = self.add_layer(
            "decoder", Sequential(build_all(self.spec.decoder(), rng, dtype))
        )
        self._rng = rng  # draws epsilon
        self._cache: tuple[np.ndarray, np.ndarray | None] | None = None

    def encode(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and log-variance of q(z | x), each (N, latent_size)."""
        hidden = self.encoder.forward(as_float_array(x, "x", ndim=2))
        return self.mean.forward(hidden), self.log_var.forward(hidden)

    def forward(self, x: np.ndarray) -> VAEOutputs:  # type: ignore[override]
        mu, log_var = self.encode(x)
        if self.training:
            epsilon = self._rng.standard_normal(mu.shape)
            z = mu + np.exp(0.5 * log_var) * epsilon
        else:
            epsilon, z = None, mu
        self._cache = (log_var, epsilon)
        return self.decoder.forward(z), mu, log_var

    def backward(self, grad_output: VAEOutputs) -> np.ndarray:  # type: ignore[override]
        if self._cache is None:
            raise RuntimeError("VAE.backward called before forward")
        if not isinstance(grad_output, tuple) or len(grad_output) != 3:
            raise TypeError(
                f"VAE.backward takes (d_logits, d_mu, d_log_var), got {describe(grad_output)}"
            )
        d_logits, d_mu, d_log_var = grad_output
        log_var, epsilon = self._cache
        d_z = self.decoder.backward(d_logits)
        d_mu = d_mu + d_z  # z = mu + sigma * epsilon
        if epsilon is not None:
            d_log_var = d_log_var + d_z * 0.5 * np.exp(0.5 * log_var) * epsilon
        d_hidden = self.mean.backward(d_mu) + self.log_var.backward(d_log_var)
        return self.encoder.backward(d_hidden)

    def __repr__(self) -> str:
        spec = self.spec
        return f"VAE({spec.input_size}, {spec.hidden_units}, {spec.latent_size})"


class VAELoss:
    r"""The negative evidence lower bound, averaged over the batch:

    .. math::

        L = \frac1N \sum_n \Big[\sum_i \mathrm{BCE}(x_{ni}, \hat x_{ni})
            + \tfrac12 \sum_j \left(\mu_{nj}^2 + \sigma_{nj}^2 - \log \sigma_{nj}^2 - 1\right)\Big],

    reconstruction error plus the KL divergence of :math:`q(z \mid x)` from the prior
    :math:`N(0, I)`. On logits z, :math:`\mathrm{BCE} = \max(z, 0) - z x + \log(1 + e^{-|z|})`
    and its gradient is :math:`\sigma(z) - x`; the KL term's gradients are :math:`\mu` and
    :math:`\tfrac12(\sigma^2 - 1)`. The twin of :class:`dltutor.torch.VAELoss`.
    """

    def __init__(self) -> None:
        self._cache: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None

    def forward(self, outputs: VAEOutputs, x: np.ndarray) -> float:
        logits, mu, log_var = (
            as_float_array(a, name)
            for a, name in zip(outputs, ("logits", "mu", "log_var"), strict=True)
        )
        x = as_float_array(x, "x")
        if logits.shape != x.shape:
            raise ValueError(
                f"logits and x must have the same shape, got {logits.shape} and {x.shape}"
            )
        reconstruction = sigmoid_cross_entropy(logits, x)
        kl = 0.5 * (mu**2 + np.exp(log_var) - log_var - 1)
        self._cache = (logits, x, mu, log_var)
        return float((reconstruction.sum() + kl.sum()) / len(x))

    def backward(self) -> VAEOutputs:
        if self._cache is None:
            raise RuntimeError("VAELoss.backward called before forward")
        logits, x, mu, log_var = self._cache
        n = len(x)
        d_logits = (0.5 * (1.0 + np.tanh(0.5 * logits)) - x) / n  # sigmoid(z) - x
        return d_logits, mu / n, 0.5 * (np.exp(log_var) - 1.0) / n

    __call__ = forward
