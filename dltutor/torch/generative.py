"""Autoencoders in PyTorch: dense, convolutional and variational, and the variational loss.

Each is the twin of the scratch model of the same name (:mod:`dltutor.scratch.generative`):
same arguments, same spec, the same weights in the same order.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from dltutor.specs import AutoencoderSpec, ConvAutoencoderSpec, VAESpec
from dltutor.torch.build import build_all

VAEOutputs = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # (logits, mu, log_var)


class Autoencoder(nn.Module):
    r"""Dense autoencoder :math:`\hat x = D(E(x))`, the twin of :class:`dltutor.scratch.Autoencoder`.

    ``layer_sizes = [d, h_1, ..., k]`` is the encoder down to the code size k; the decoder
    mirrors it. Weights copy to and from scratch with :func:`dltutor.torch.set_weights`.
    """

    def __init__(
        self,
        layer_sizes: Sequence[int],
        activation: str = "relu",
        code_activation: str | None = None,
        output_activation: str = "sigmoid",
    ) -> None:
        super().__init__()
        self.spec = AutoencoderSpec(layer_sizes, activation, code_activation, output_activation)
        self.encoder = build_all(self.spec.encoder())
        self.decoder = build_all(self.spec.decoder())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))  # (N, d) -> (N, k) -> (N, d)


class ConvAutoencoder(nn.Module):
    """Convolutional autoencoder for (N, 1, S, S) images, S divisible by 4.

    Encoder: Conv 3×3 (``channels[0]``) → ReLU → MaxPool 2 → Conv 3×3 (``channels[1]``) →
    ReLU → MaxPool 2, a code of shape (``channels[1]``, S/4, S/4). Decoder: two 2×2
    transposed convolutions with stride 2 (each doubles the size) → ReLU, then Conv 3×3 →
    sigmoid. The twin of :class:`dltutor.scratch.ConvAutoencoder`.
    """

    def __init__(self, image_size: int = 8, channels: tuple[int, int] = (16, 8)) -> None:
        super().__init__()
        self.spec = ConvAutoencoderSpec(image_size, channels)
        self.encoder = build_all(self.spec.encoder())
        self.decoder = build_all(self.spec.decoder())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


class VAE(nn.Module):
    r"""Variational autoencoder (Kingma & Welling, 2014) with a Gaussian code and Bernoulli pixels.

    The encoder maps x to the mean :math:`\mu` and log-variance :math:`\log\sigma^2` of
    :math:`q(z \mid x)`; in training mode a code is sampled as
    :math:`z = \mu + \sigma \odot \epsilon`, :math:`\epsilon \sim N(0, I)` (the
    reparameterisation trick, so gradients flow through :math:`\mu, \sigma`), in
    evaluation mode :math:`z = \mu`; the decoder maps z to pixel logits. ``forward``
    returns ``(logits, mu, log_var)``, as the scratch and Keras twins do; train with
    :class:`VAELoss`.
    """

    def __init__(self, input_size: int = 64, hidden_units: int = 128, latent_size: int = 2) -> None:
        super().__init__()
        self.spec = VAESpec(input_size, hidden_units, latent_size)
        mean, log_var = self.spec.heads()
        self.encoder = build_all(self.spec.encoder())
        self.mean = build_all([mean])
        self.log_var = build_all([log_var])
        self.decoder = build_all(self.spec.decoder())  # logits

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.encoder(x)
        return self.mean(hidden), self.log_var(hidden)

    def forward(self, x: torch.Tensor) -> VAEOutputs:
        mu, log_var = self.encode(x)
        if self.training:
            z = mu + torch.exp(0.5 * log_var) * torch.randn_like(mu)
        else:
            z = mu
        return self.decoder(z), mu, log_var


class VAELoss(nn.Module):
    r"""The negative evidence lower bound, averaged over the batch:

    .. math::

        L = \sum_i \mathrm{BCE}(x_i, \hat x_i)
            + \tfrac12 \sum_j \left(\mu_j^2 + \sigma_j^2 - \log \sigma_j^2 - 1\right),

    reconstruction error plus the KL divergence of :math:`q(z \mid x)` from the prior
    :math:`N(0, I)`. The twin of :class:`dltutor.scratch.VAELoss`.
    """

    def forward(self, outputs: VAEOutputs, x: torch.Tensor) -> torch.Tensor:
        logits, mu, log_var = outputs
        reconstruction = nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="sum")
        kl = 0.5 * torch.sum(mu**2 + log_var.exp() - log_var - 1)
        return (reconstruction + kl) / len(x)
