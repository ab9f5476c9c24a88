"""PyTorch models with the same names, arguments and weight layout as :mod:`dltutor.scratch`."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from dltutor._checks import as_float_array, check_activation, check_cnn_arguments, check_layer_sizes

_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "identity": nn.Identity,
    "relu": nn.ReLU,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
}


class MLP(nn.Module):
    r"""Multilayer perceptron, :math:`h^{(l)} = f(h^{(l-1)} W^{(l)} + b^{(l)})`, linear output.

    The twin of :class:`dltutor.scratch.MLP`: same arguments, Glorot-uniform weights and
    zero biases. ``nn.Linear`` stores :math:`W^\top` (shape (d_out, d_in));
    :meth:`get_weights` and :meth:`set_weights` convert to the scratch and Keras layout.
    """

    def __init__(self, layer_sizes: Sequence[int], activation: str = "relu") -> None:
        super().__init__()
        sizes = check_layer_sizes(layer_sizes)
        activation = check_activation(activation)
        modules: list[nn.Module] = []
        for index, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            linear = nn.Linear(fan_in, fan_out)
            nn.init.xavier_uniform_(linear.weight)
            nn.init.zeros_(linear.bias)
            modules.append(linear)
            if index < len(sizes) - 2:
                modules.append(_ACTIVATIONS[activation]())
        self.layers = nn.Sequential(*modules)
        self.layer_sizes = sizes
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)  # (N, d_in) -> (N, d_out)

    def _linears(self) -> list[nn.Linear]:
        return [module for module in self.layers if isinstance(module, nn.Linear)]

    def get_weights(self) -> list[np.ndarray]:
        """Parameters as NumPy arrays ``[W1, b1, ...]``, W of shape (d_in, d_out) as in scratch and Keras."""
        weights: list[np.ndarray] = []
        for linear in self._linears():
            weights += [linear.weight.detach().cpu().numpy().T.copy(), linear.bias.detach().cpu().numpy().copy()]
        return weights

    def set_weights(self, weights: Sequence[np.ndarray]) -> None:
        """Overwrite the parameters from ``[W1, b1, ...]`` in the layout of :meth:`get_weights`."""
        linears = self._linears()
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
    for module in model.modules():
        if isinstance(module, nn.Linear):
            if module.weight.grad is None or module.bias.grad is None:
                raise RuntimeError(f"{module} received no gradient: is it used in forward?")
            gradients.append(module.weight.grad.detach().cpu().numpy().T.copy())  # (d_in, d_out)
            gradients.append(module.bias.grad.detach().cpu().numpy().copy())
    return float(loss.item()), gradients
