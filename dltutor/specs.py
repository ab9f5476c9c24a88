"""Architectures described once, framework-free, and built by scratch, PyTorch and Keras.

A model is a frozen dataclass, validated when it is made, with errors in the model's own
argument names (nanoGPT's ``GPTConfig`` is the pattern: every default says why). Its
``layers()`` (or ``encoder()``/``decoder()``) returns layer specs — :class:`Dense`,
:class:`Conv`, :class:`MaxPool`, :class:`Flatten`, :class:`ConvTranspose` — and each
framework turns a layer spec into its own layers with one small dispatch
(``dltutor.scratch.build``, ``dltutor.torch.build``, ``dltutor.keras.build``). The twins
in the three frameworks make the same spec from the same arguments, so they share every
argument check and every layer loop.

:data:`ACTIVATIONS` is the one registry of activation names: each framework maps every
name in it, and a test fails if one framework knows a name the others do not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from dltutor.checks import (
    check_choice,
    check_layer_sizes,
    check_positive_int,
    check_positive_ints,
    describe,
)

ACTIVATIONS: tuple[str, ...] = ("identity", "relu", "sigmoid", "tanh")
"""Activation names every framework implements (``dltutor.scratch.activations.FUNCTIONS``,
``dltutor.torch.build.ACTIVATIONS``, ``dltutor.keras.build.ACTIVATIONS``)."""

RECURRENT_KINDS: tuple[str, ...] = ("rnn", "lstm", "gru")
"""Recurrent cells every framework implements: Elman RNN, LSTM, GRU."""


def check_activation(name: Any, argument: str = "activation") -> str:
    """Validate an activation name from :data:`ACTIVATIONS`."""
    return str(check_choice(name, ACTIVATIONS, argument))


# --- Layers: what one step of a model is, before any framework builds it ---------------


@dataclass(frozen=True)
class Dense:
    """A fully connected layer ``y = f(x W + b)``; ``activation=None`` keeps the raw outputs."""

    fan_in: int
    fan_out: int
    activation: str | None = None  # None: no activation layer (logits, regression outputs)


@dataclass(frozen=True)
class Conv:
    """A 2-D convolution over ``kernel_size`` squares with zero ``padding``, then ``activation``."""

    in_channels: int
    out_channels: int
    kernel_size: int = 3  # the smallest kernel with a centre
    padding: int = 1  # (kernel_size - 1) / 2 keeps the image size ("same")
    activation: str | None = "relu"


@dataclass(frozen=True)
class ConvTranspose:
    """A transposed convolution: each input pixel paints a ``kernel_size`` patch of the output."""

    in_channels: int
    out_channels: int
    kernel_size: int = 2  # with stride 2, patches tile the output: the size doubles
    stride: int = 2
    activation: str | None = "relu"


@dataclass(frozen=True)
class MaxPool:
    """Max pooling over non-overlapping ``size`` × ``size`` windows."""

    size: int = 2  # halves height and width


@dataclass(frozen=True)
class Flatten:
    """(N, C, H, W) → (N, C·H·W), between convolutions and a dense head."""


LayerSpec = Dense | Conv | ConvTranspose | MaxPool | Flatten


def dense_stack(sizes: list[int], activation: str, last_activation: str | None) -> list[Dense]:
    """Dense layers between consecutive ``sizes``; ``last_activation`` after the last one."""
    pairs = list(zip(sizes[:-1], sizes[1:], strict=True))
    return [
        Dense(fan_in, fan_out, activation if index < len(pairs) - 1 else last_activation)
        for index, (fan_in, fan_out) in enumerate(pairs)
    ]


# --- Models ----------------------------------------------------------------------------


@dataclass(frozen=True)
class MLPSpec:
    """A multilayer perceptron ``layer_sizes = [d_0, ..., d_L]`` with a linear output."""

    layer_sizes: Sequence[int]  # stored as a tuple
    activation: str = "relu"  # the default of modern networks: no saturation for z > 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "layer_sizes", tuple(check_layer_sizes(self.layer_sizes)))
        check_activation(self.activation)

    def layers(self) -> list[LayerSpec]:
        return list(dense_stack(list(self.layer_sizes), self.activation, None))


@dataclass(frozen=True)
class CNNSpec:
    """Blocks of [Conv 3×3 → ReLU] × ``convs_per_block`` → MaxPool 2×2, then a dense head."""

    in_channels: int
    image_size: int
    num_classes: int
    channels: Sequence[int] = (32, 64)  # Keras' MNIST convnet: 32 then 64 filters
    convs_per_block: int = 1  # 2 for the deeper CIFAR-style network
    hidden_units: int = 64  # the dense layer between the features and the logits

    def __post_init__(self) -> None:
        for name in ("in_channels", "image_size", "num_classes", "convs_per_block"):
            check_positive_int(getattr(self, name), name)
        check_positive_int(self.hidden_units, "hidden_units")
        channels = self.channels
        if isinstance(channels, (str, bytes)) or not hasattr(channels, "__len__") or not channels:
            raise ValueError(f"channels must be a non-empty sequence of integers, got {channels!r}")
        object.__setattr__(self, "channels", check_positive_ints(channels, "channels"))
        if self.final_size < 1:
            most = self.image_size.bit_length() - 1  # floor(log2(image_size))
            raise ValueError(
                f"{len(self.channels)} pooling blocks halve a {self.image_size}-pixel image "
                f"to nothing: use at most {most} entries in channels"
            )

    @property
    def final_size(self) -> int:
        """Side of the last feature map: each block halves the image."""
        return self.image_size // 2 ** len(self.channels)

    def layers(self) -> list[LayerSpec]:
        layers: list[LayerSpec] = []
        previous = self.in_channels
        for width in self.channels:
            for _ in range(self.convs_per_block):
                layers.append(Conv(previous, width))  # 3×3, padding 1, ReLU
                previous = width
            layers.append(MaxPool())
        return layers + [
            Flatten(),  # (N, C, S, S) -> (N, C·S·S)
            Dense(previous * self.final_size**2, self.hidden_units, "relu"),
            Dense(self.hidden_units, self.num_classes),  # logits
        ]


@dataclass(frozen=True)
class AutoencoderSpec:
    """A dense encoder ``layer_sizes = [d, ..., k]`` down to a code of size k, and its mirror."""

    layer_sizes: Sequence[int]  # stored as a tuple
    activation: str = "relu"
    code_activation: str | None = None  # None: the same as ``activation``
    output_activation: str = "sigmoid"  # pixels in [0, 1]

    def __post_init__(self) -> None:
        object.__setattr__(self, "layer_sizes", tuple(check_layer_sizes(self.layer_sizes)))
        check_activation(self.activation)
        if self.code_activation is None:  # resolved here: afterwards it is always a name
            object.__setattr__(self, "code_activation", self.activation)
        check_activation(self.code_activation, "code_activation")
        check_activation(self.output_activation, "output_activation")

    def encoder(self) -> list[Dense]:
        return dense_stack(list(self.layer_sizes), self.activation, self.code_activation)

    def decoder(self) -> list[Dense]:
        return dense_stack(list(self.layer_sizes[::-1]), self.activation, self.output_activation)


@dataclass(frozen=True)
class ConvAutoencoderSpec:
    """Two [Conv 3×3 → ReLU → MaxPool 2] blocks down to a code, two transposed convs back up."""

    image_size: int = 8  # the scikit-learn digits
    channels: Sequence[int] = (16, 8)  # (wide, narrow): the code has the narrow width

    def __post_init__(self) -> None:
        check_positive_int(self.image_size, "image_size")
        object.__setattr__(
            self, "channels", check_positive_ints(self.channels, "channels", length=2)
        )
        if self.image_size % 4:
            raise ValueError(
                "image_size must be divisible by 4 for two poolings and two upsamplings, "
                f"got {self.image_size}"
            )

    def encoder(self) -> list[LayerSpec]:
        wide, narrow = self.channels
        return [Conv(1, wide), MaxPool(), Conv(wide, narrow), MaxPool()]  # (N, narrow, S/4, S/4)

    def decoder(self) -> list[LayerSpec]:
        wide, narrow = self.channels
        return [
            ConvTranspose(narrow, narrow),  # (N, narrow, S/2, S/2)
            ConvTranspose(narrow, wide),  # (N, wide, S, S)
            Conv(wide, 1, activation="sigmoid"),  # (N, 1, S, S)
        ]


@dataclass(frozen=True)
class VAESpec:
    """A variational autoencoder: x → hidden → (mean, log-variance) of a Gaussian code → logits."""

    input_size: int = 64  # 8×8 digits
    hidden_units: int = 128
    latent_size: int = 2  # two numbers: the code space can be drawn

    def __post_init__(self) -> None:
        for name in ("input_size", "hidden_units", "latent_size"):
            check_positive_int(getattr(self, name), name)

    def encoder(self) -> list[Dense]:
        return [Dense(self.input_size, self.hidden_units, "relu")]

    def heads(self) -> tuple[Dense, Dense]:
        """The mean and the log-variance of q(z | x), both linear."""
        return Dense(self.hidden_units, self.latent_size), Dense(
            self.hidden_units, self.latent_size
        )

    def decoder(self) -> list[Dense]:
        sizes = [self.latent_size, self.hidden_units, self.input_size]
        return dense_stack(sizes, "relu", None)  # pixel logits


@dataclass(frozen=True)
class RecurrentSpec:
    """A recurrent layer (``kind``) and a dense head, optionally behind an embedding."""

    kind: str
    input_size: int  # features per step, or the embedding width when vocab_size is given
    hidden_size: int
    output_size: int
    vocab_size: int | None = None  # token ids in: an embedding comes first
    return_sequences: bool = False  # False: only the last step's output
    forget_bias: float = field(default=1.0, repr=False)  # LSTM: remember by default (Keras)

    def __post_init__(self) -> None:
        check_choice(self.kind, RECURRENT_KINDS, "kind")
        for name in ("input_size", "hidden_size", "output_size"):
            check_positive_int(getattr(self, name), name)
        if self.vocab_size is not None:
            check_positive_int(self.vocab_size, "vocab_size")
        if not isinstance(self.return_sequences, bool):
            raise TypeError(
                f"return_sequences must be True or False, got {describe(self.return_sequences)}"
            )


@dataclass(frozen=True)
class TransformerSpec:
    """A small Transformer over token ids: embedding, sinusoidal positions, pre-LN blocks, a head."""

    vocab_size: int
    context: int  # the longest sequence the positional encoding covers
    embed_dim: int = 32  # enough for the book's toy tasks on a CPU
    num_heads: int = 2  # each head works in embed_dim / num_heads dimensions
    num_layers: int = 1
    ff_units: int = 64  # the feed-forward width, twice embed_dim
    causal: bool = True  # True: a decoder-only language model; False: an encoder

    def __post_init__(self) -> None:
        for name in ("vocab_size", "context", "embed_dim", "num_heads", "num_layers", "ff_units"):
            check_positive_int(getattr(self, name), name)
        if self.embed_dim % self.num_heads:
            raise ValueError(
                f"embed_dim must be divisible by num_heads, got {self.embed_dim} and {self.num_heads}"
            )
        if self.embed_dim % 2:
            raise ValueError(
                f"embed_dim must be even for the sinusoidal encoding, got {self.embed_dim}"
            )
        if not isinstance(self.causal, bool):
            raise TypeError(f"causal must be True or False, got {describe(self.causal)}")


@dataclass(frozen=True)
class SkipGramSpec:
    """Skip-gram's two tables of word vectors: ``vocab_size`` words, ``embed_dim`` numbers each."""

    vocab_size: int
    embed_dim: int

    def __post_init__(self) -> None:
        check_positive_int(self.vocab_size, "vocab_size")
        check_positive_int(self.embed_dim, "embed_dim")


@dataclass(frozen=True)
class TextSpec:
    """A text classifier over word ids: ``vocab_size`` ids (0 is padding) into ``num_classes``."""

    vocab_size: int
    embed_dim: int
    num_classes: int

    def __post_init__(self) -> None:
        for name in ("vocab_size", "embed_dim", "num_classes"):
            check_positive_int(getattr(self, name), name)


@dataclass(frozen=True)
class TextCNNSpec(TextSpec):
    """A convolution over word vectors: ``filters`` detectors, each ``kernel_size`` words wide."""

    filters: int = 32  # enough n-gram detectors for the book's sentences
    kernel_size: int = 3  # trigrams; Kim (2014) used 3, 4 and 5 side by side

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive_int(self.filters, "filters")
        check_positive_int(self.kernel_size, "kernel_size")
