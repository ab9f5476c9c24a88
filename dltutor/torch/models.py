"""PyTorch models with the same names, arguments and weight layout as :mod:`dltutor.scratch`."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from dltutor._checks import as_float_array, check_cnn_arguments, check_layer_sizes
from dltutor._specs import DenseStack, autoencoder_stacks, dense_stack, stack_sizes

_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "identity": nn.Identity,
    "relu": nn.ReLU,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
}


def build_dense_stack(stack: DenseStack) -> nn.Sequential:
    """``nn.Linear`` (Glorot-uniform weights, zero biases) and activations for a :data:`dltutor._specs.DenseStack`."""
    modules: list[nn.Module] = []
    for fan_in, fan_out, activation in stack:
        linear = nn.Linear(fan_in, fan_out)
        nn.init.xavier_uniform_(linear.weight)
        nn.init.zeros_(linear.bias)
        modules.append(linear)
        if activation is not None:
            modules.append(_ACTIVATIONS[activation]())
    return nn.Sequential(*modules)


class MLP(nn.Module):
    r"""Multilayer perceptron, :math:`h^{(l)} = f(h^{(l-1)} W^{(l)} + b^{(l)})`, linear output.

    The twin of :class:`dltutor.scratch.MLP`: same arguments, Glorot-uniform weights and
    zero biases. ``nn.Linear`` stores :math:`W^\top` (shape (d_out, d_in));
    :meth:`get_weights` and :meth:`set_weights` convert to the scratch and Keras layout.
    """

    def __init__(self, layer_sizes: Sequence[int], activation: str = "relu") -> None:
        super().__init__()
        stack = dense_stack(layer_sizes, activation)
        self.layers = build_dense_stack(stack)
        self.layer_sizes = stack_sizes(stack)
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)  # (N, d_in) -> (N, d_out)

    def get_weights(self) -> list[np.ndarray]:
        """Parameters as NumPy arrays ``[W1, b1, ...]``, W of shape (d_in, d_out) as in scratch and Keras."""
        return get_weights(self)

    def set_weights(self, weights: Sequence[np.ndarray]) -> None:
        """Overwrite the parameters from ``[W1, b1, ...]`` in the layout of :meth:`get_weights`."""
        set_weights(self, weights)


def _linears(module: nn.Module) -> list[nn.Linear]:
    return [child for child in module.modules() if isinstance(child, nn.Linear)]


def get_weights(module: nn.Module) -> list[np.ndarray]:
    """The weights of every ``nn.Linear`` in ``module``, in order, as ``[W1, b1, ...]`` with W (d_in, d_out).

    ``nn.Linear`` stores :math:`W^\top`; this is the layout of :mod:`dltutor.scratch` and Keras.
    """
    weights: list[np.ndarray] = []
    for linear in _linears(module):
        weights += [linear.weight.detach().cpu().numpy().T.copy(), linear.bias.detach().cpu().numpy().copy()]
    return weights


def set_weights(module: nn.Module, weights: Sequence[np.ndarray]) -> None:
    """Overwrite every ``nn.Linear`` of ``module`` from ``[W1, b1, ...]`` in the layout of :func:`get_weights`."""
    linears = _linears(module)
    if len(weights) != 2 * len(linears):
        raise ValueError(f"expected {2 * len(linears)} weight arrays, got {len(weights)}")
    with torch.no_grad():
        for index, linear in enumerate(linears):
            kernel = as_float_array(weights[2 * index], f"weights[{2 * index}]")
            bias = as_float_array(weights[2 * index + 1], f"weights[{2 * index + 1}]")
            if kernel.shape != tuple(linear.weight.shape[::-1]) or bias.shape != tuple(linear.bias.shape):
                raise ValueError(
                    f"layer {index} needs W {tuple(linear.weight.shape[::-1])} and b "
                    f"{tuple(linear.bias.shape)}, got {kernel.shape} and {bias.shape}"
                )
            linear.weight.copy_(torch.from_numpy(kernel.T.copy()))
            linear.bias.copy_(torch.from_numpy(bias))


class CNN(nn.Module):
    r"""A small convolutional classifier, the twin of :class:`dltutor.scratch.CNN`.

    Blocks of [Conv 3×3 (padding 1) → ReLU] × ``convs_per_block`` → MaxPool 2×2, then
    Flatten → Linear(``hidden_units``) → ReLU → Linear(``num_classes``). Inputs are channels
    first, (N, ``in_channels``, ``image_size``, ``image_size``); outputs are logits.
    """

    def __init__(
        self,
        in_channels: int,
        image_size: int,
        num_classes: int,
        channels: Sequence[int] = (32, 64),
        convs_per_block: int = 1,
        hidden_units: int = 64,
    ) -> None:
        super().__init__()
        blocks, final_size = check_cnn_arguments(in_channels, image_size, num_classes, channels, convs_per_block, hidden_units)
        layers: list[nn.Module] = []
        previous = in_channels
        for width in blocks:
            for _ in range(convs_per_block):
                layers += [nn.Conv2d(previous, width, kernel_size=3, padding=1), nn.ReLU()]
                previous = width
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Flatten(),  # (N, C, H, W) -> (N, C·H·W)
            nn.Linear(previous * final_size**2, hidden_units),
            nn.ReLU(),
            nn.Linear(hidden_units, num_classes),
        )
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(module.weight)  # the scratch and Keras initialisation
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class Autoencoder(nn.Module):
    r"""Dense autoencoder :math:`\hat x = D(E(x))`, the twin of :class:`dltutor.scratch.Autoencoder`.

    ``layer_sizes = [d, h_1, ..., k]`` is the encoder down to the code size k; the decoder
    mirrors it. ``get_weights()``/``set_weights()`` use the scratch layout, encoder first.
    """

    def __init__(
        self,
        layer_sizes: Sequence[int],
        activation: str = "relu",
        code_activation: str | None = None,
        output_activation: str = "sigmoid",
    ) -> None:
        super().__init__()
        encoder_stack, decoder_stack = autoencoder_stacks(layer_sizes, activation, code_activation, output_activation)
        self.encoder = build_dense_stack(encoder_stack)
        self.decoder = build_dense_stack(decoder_stack)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))  # (N, d) -> (N, k) -> (N, d)

    def get_weights(self) -> list[np.ndarray]:
        """Parameters ``[W1, b1, ...]`` in the scratch layout, encoder then decoder."""
        return get_weights(self)

    def set_weights(self, weights: Sequence[np.ndarray]) -> None:
        """Overwrite the parameters from the layout of :meth:`get_weights`."""
        set_weights(self, weights)


class ConvAutoencoder(nn.Module):
    """Convolutional autoencoder for (N, 1, S, S) images, S divisible by 4.

    Encoder: Conv 3×3 (``channels[0]``) → ReLU → MaxPool 2 → Conv 3×3 (``channels[1]``) → ReLU →
    MaxPool 2, a code of shape (``channels[1]``, S/4, S/4). Decoder: two 2×2 transposed
    convolutions with stride 2 (each doubles the size) → ReLU, then Conv 3×3 → sigmoid.
    """

    def __init__(self, image_size: int = 8, channels: tuple[int, int] = (16, 8)) -> None:
        super().__init__()
        check_cnn_arguments(1, image_size, 1, channels, 1, 1)
        if image_size % 4:
            raise ValueError(f"image_size must be divisible by 4 for two poolings and two upsamplings, got {image_size}")
        wide, narrow = channels
        self.encoder = nn.Sequential(
            nn.Conv2d(1, wide, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (N, wide, S/2, S/2)
            nn.Conv2d(wide, narrow, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (N, narrow, S/4, S/4)
        )
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(narrow, narrow, 2, stride=2), nn.ReLU(),  # (N, narrow, S/2, S/2)
            nn.ConvTranspose2d(narrow, wide, 2, stride=2), nn.ReLU(),  # (N, wide, S, S)
            nn.Conv2d(wide, 1, 3, padding=1), nn.Sigmoid(),  # (N, 1, S, S)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


class VAE(nn.Module):
    r"""Variational autoencoder (Kingma & Welling, 2014) with a Gaussian code and Bernoulli pixels.

    The encoder maps x to the mean :math:`\mu` and log-variance :math:`\log\sigma^2` of
    :math:`q(z \mid x)`; a code is sampled as :math:`z = \mu + \sigma \odot \epsilon`,
    :math:`\epsilon \sim N(0, I)` (the reparameterisation trick, so gradients flow through
    :math:`\mu, \sigma`); the decoder maps z to pixel logits. ``forward`` returns
    ``(logits, mu, log_var)``; train with :class:`VAELoss`.
    """

    def __init__(self, input_size: int = 64, hidden_units: int = 128, latent_size: int = 2) -> None:
        super().__init__()
        check_layer_sizes([input_size, hidden_units, latent_size])
        self.encoder = build_dense_stack(dense_stack([input_size, hidden_units], "relu", "relu"))
        self.mean = nn.Linear(hidden_units, latent_size)
        self.log_var = nn.Linear(hidden_units, latent_size)
        self.decoder = build_dense_stack(dense_stack([latent_size, hidden_units, input_size], "relu"))  # logits

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.encoder(x)
        return self.mean(hidden), self.log_var(hidden)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, log_var = self.encode(x)
        z = mu + torch.exp(0.5 * log_var) * torch.randn_like(mu) if self.training else mu
        return self.decoder(z), mu, log_var


class VAELoss(nn.Module):
    r"""The negative evidence lower bound, averaged over the batch:

    .. math::

        L = \sum_i \mathrm{BCE}(x_i, \hat x_i)
            + \tfrac12 \sum_j \left(\mu_j^2 + \sigma_j^2 - \log \sigma_j^2 - 1\right),

    reconstruction error plus the KL divergence of :math:`q(z \mid x)` from the prior :math:`N(0, I)`.
    """

    def forward(self, outputs: tuple[torch.Tensor, torch.Tensor, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        logits, mu, log_var = outputs
        reconstruction = nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="sum")
        kl = 0.5 * torch.sum(mu**2 + log_var.exp() - log_var - 1)
        return (reconstruction + kl) / len(x)


def loss_and_gradients(
    model: nn.Module, loss_fn: nn.Module, x: np.ndarray, y: np.ndarray
) -> tuple[float, list[np.ndarray]]:
    """The loss on ``x, y`` and its gradients by autograd, in the scratch layout ``[dW1, db1, ...]``.

    Weight matrices of ``nn.Linear`` layers are transposed to (d_in, d_out), so the result
    compares entry by entry with :meth:`dltutor.scratch.Sequential.gradients`.
    """
    parameter = next(model.parameters())
    inputs = torch.as_tensor(as_float_array(x, "x"), dtype=parameter.dtype, device=parameter.device)
    is_classification = isinstance(loss_fn, nn.CrossEntropyLoss)
    targets = torch.as_tensor(
        np.asarray(y), dtype=torch.long if is_classification else parameter.dtype, device=parameter.device
    )
    model.zero_grad()
    loss = loss_fn(model(inputs), targets)
    loss.backward()
    gradients: list[np.ndarray] = []
    for linear in _linears(model):
        if linear.weight.grad is None or linear.bias.grad is None:
            raise RuntimeError(f"{linear} received no gradient: is it used in forward?")
        gradients.append(linear.weight.grad.detach().cpu().numpy().T.copy())  # (d_in, d_out)
        gradients.append(linear.bias.grad.detach().cpu().numpy().copy())
    return float(loss.item()), gradients
