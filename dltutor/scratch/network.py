"""Stacking layers: forward runs them in order, backward in reverse (the chain rule)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from dltutor._checks import as_float_array, describe
from dltutor._specs import DenseStack, autoencoder_stacks, dense_stack, stack_sizes
from dltutor.scratch.activations import Activation
from dltutor.scratch.layers import Layer, Linear


class Sequential(Layer):
    r"""A chain of layers :math:`h^{(l)} = \text{layer}_l(h^{(l-1)})`, :math:`h^{(0)} = x`.

    Backpropagation is the chain rule applied from the last layer to the first: each
    layer turns dL/d(its output) into dL/d(its input) and stores its own parameter grads.
    """

    def __init__(self, layers: Iterable[Layer]) -> None:
        super().__init__()
        self.layers = list(layers)
        for layer in self.layers:
            if not isinstance(layer, Layer):
                raise TypeError(f"Sequential takes Layer objects, got {describe(layer)}")

    def forward(self, x: np.ndarray) -> np.ndarray:
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        for layer in reversed(self.layers):
            grad_output = layer.backward(grad_output)
        return grad_output

    def named_parameters(self) -> dict[str, np.ndarray]:
        """Parameters of all layers as ``{"<layer index>.<name>": array}``, e.g. ``"0.W"``."""
        return {
            f"{index}.{name}": value
            for index, layer in enumerate(self.layers)
            for name, value in layer.named_parameters().items()
        }

    def named_gradients(self) -> dict[str, np.ndarray]:
        """Gradients of the last ``backward`` under the names of :meth:`named_parameters`."""
        return {
            f"{index}.{name}": value
            for index, layer in enumerate(self.layers)
            for name, value in layer.named_gradients().items()
        }

    def parameters(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """(parameter, gradient) pairs of every layer, in order; gradients after ``backward``."""
        return list(zip(self.named_parameters().values(), self.gradients()))

    def get_weights(self) -> list[np.ndarray]:
        """Copies of the parameters in order ``[W1, b1, W2, b2, ...]``, W of shape (d_in, d_out).

        This is Keras' layout, so ``keras_model.set_weights(model.get_weights())`` works.
        """
        return [value.copy() for value in self.named_parameters().values()]

    def set_weights(self, weights: Sequence[np.ndarray]) -> None:
        """Overwrite the parameters, in place, from a list in the layout of :meth:`get_weights`."""
        current = self.named_parameters()
        if len(weights) != len(current):
            raise ValueError(f"expected {len(current)} weight arrays, got {len(weights)}")
        for (name, parameter), value in zip(current.items(), weights):
            value = as_float_array(value, f"weight {name!r}")
            if value.shape != parameter.shape:
                raise ValueError(f"weight {name!r} must have shape {parameter.shape}, got {value.shape}")
            parameter[...] = value  # in place: keeps the parameter's dtype and identity

    def gradients(self) -> list[np.ndarray]:
        """The gradients stored by the last ``backward``, in the layout of :meth:`get_weights`."""
        return list(self.named_gradients().values())

    def __repr__(self) -> str:
        inner = ", ".join(repr(layer) for layer in self.layers)
        return f"{type(self).__name__}([{inner}])"


def build_dense_stack(stack: DenseStack, rng: np.random.Generator, dtype: type = np.float64) -> list[Layer]:
    """Linear and Activation layers for a framework-free :data:`dltutor._specs.DenseStack`."""
    layers: list[Layer] = []
    for fan_in, fan_out, activation in stack:
        layers.append(Linear(fan_in, fan_out, rng=rng, dtype=dtype))
        if activation is not None:
            layers.append(Activation(activation))
    return layers


class MLP(Sequential):
    r"""Multilayer perceptron: Linear layers with an activation between them.

    ``layer_sizes = [d_0, d_1, ..., d_L]`` gives
    :math:`h^{(l)} = f(h^{(l-1)} W^{(l)} + b^{(l)})` for the hidden layers and a linear
    output :math:`\hat y = h^{(L-1)} W^{(L)} + b^{(L)}` (logits for classification).
    ``MLP([1, 1])`` is linear regression.
    """

    def __init__(
        self,
        layer_sizes: Sequence[int],
        activation: str = "relu",
        *,
        rng: np.random.Generator | None = None,
        dtype: type = np.float64,
    ) -> None:
        stack = dense_stack(layer_sizes, activation)
        super().__init__(build_dense_stack(stack, np.random.default_rng() if rng is None else rng, dtype))
        self.layer_sizes = stack_sizes(stack)
        self.activation = activation

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The network's output for ``x`` (logits for a classifier)."""
        x = as_float_array(x, "x", ndim=2)
        return self.forward(x)


class CNN(Sequential):
    r"""A small convolutional classifier: blocks of [Conv 3×3 (padding 1) → ReLU] × ``convs_per_block``
    → MaxPool 2×2, then Flatten → Linear(``hidden_units``) → ReLU → Linear(``num_classes``).

    Inputs are channels first, (N, ``in_channels``, ``image_size``, ``image_size``); each
    block keeps the size through its convolutions and halves it by pooling. The twins in
    :mod:`dltutor.torch` and :mod:`dltutor.keras` take the same arguments.
    """

    def __init__(
        self,
        in_channels: int,
        image_size: int,
        num_classes: int,
        channels: Sequence[int] = (32, 64),
        convs_per_block: int = 1,
        hidden_units: int = 64,
        *,
        rng: np.random.Generator | None = None,
    ) -> None:
        from dltutor._checks import check_cnn_arguments
        from dltutor.scratch.conv import Conv2D
        from dltutor.scratch.pooling import Flatten, MaxPool2D

        blocks, final_size = check_cnn_arguments(in_channels, image_size, num_classes, channels, convs_per_block, hidden_units)
        rng = np.random.default_rng() if rng is None else rng
        layers: list[Layer] = []
        previous = in_channels
        for width in blocks:
            for _ in range(convs_per_block):
                layers += [Conv2D(previous, width, 3, padding=1, rng=rng), Activation("relu")]
                previous = width
            layers.append(MaxPool2D(2))
        layers += [
            Flatten(),
            Linear(previous * final_size**2, hidden_units, rng=rng),
            Activation("relu"),
            Linear(hidden_units, num_classes, rng=rng),
        ]
        super().__init__(layers)

    def predict(self, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Logits for ``x`` (N, C, H, W), computed in batches to bound memory."""
        x = as_float_array(x, "x", ndim=4)
        return np.concatenate([self.forward(x[start : start + batch_size]) for start in range(0, len(x), batch_size)])


class Autoencoder(Sequential):
    r"""Dense autoencoder :math:`\hat x = D(E(x))`, trained to minimise :math:`\lVert x - D(E(x)) \rVert^2`.

    ``layer_sizes = [d, h_1, ..., k]`` is the encoder, from the input size d down to the code
    size k; the decoder mirrors it back up to d. ``activation`` follows every layer except
    the code (``code_activation``, default the same) and the output (``output_activation``).
    ``Autoencoder([64, 32])`` is the source's input → Dense(32, relu) → Dense(64, sigmoid);
    with identity activations it is a linear autoencoder, which learns PCA's subspace.
    """

    def __init__(
        self,
        layer_sizes: Sequence[int],
        activation: str = "relu",
        code_activation: str | None = None,
        output_activation: str = "sigmoid",
        *,
        rng: np.random.Generator | None = None,
        dtype: type = np.float64,
    ) -> None:
        rng = np.random.default_rng() if rng is None else rng
        encoder_stack, decoder_stack = autoencoder_stacks(layer_sizes, activation, code_activation, output_activation)
        self.encoder = Sequential(build_dense_stack(encoder_stack, rng, dtype))
        self.decoder = Sequential(build_dense_stack(decoder_stack, rng, dtype))
        super().__init__([self.encoder, self.decoder])

    def encode(self, x: np.ndarray) -> np.ndarray:
        """The code :math:`E(x)`, shape (N, k)."""
        return self.encoder.forward(as_float_array(x, "x", ndim=2))

    def decode(self, code: np.ndarray) -> np.ndarray:
        """The reconstruction :math:`D(z)` of codes ``z`` (N, k), shape (N, d)."""
        return self.decoder.forward(as_float_array(code, "code", ndim=2))
