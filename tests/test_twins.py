"""Twins are a tested contract: same name and arguments, same weights, same outputs, same gradients.

For every model of :mod:`dltutor.torch` and :mod:`dltutor.keras` there is a scratch model
of the same name; the scratch model's ``get_weights()`` loads into the twin through
``set_weights``, and then both compute the same function and the same gradients of the
same loss — PyTorch in float64 to rtol 1e-10, Keras in float32 to rtol 1e-5.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from dltutor import scratch, specs

TORCH_TOLERANCE = {"rtol": 1e-10, "atol": 1e-12}
KERAS_TOLERANCE = {"rtol": 1e-5, "atol": 1e-6}


@dataclass
class Twin:
    name: str
    kwargs: dict[str, Any]
    shape: tuple[int, ...]  # scratch (channels first) input shape
    loss: str  # "classes", "sequence", "mse", "vae" or "skipgram"
    ids: int | None = None  # token ids below this, instead of floats
    images: bool = False  # (N, C, H, W) for scratch and PyTorch, (N, H, W, C) for Keras
    label: str = field(default="")

    def __post_init__(self) -> None:
        details = ",".join(
            f"{k}={v}"
            for k, v in self.kwargs.items()
            if k in ("kind", "vocab_size", "return_sequences", "causal")
        )
        self.label = f"{self.name}({details})"


TWINS = [
    Twin("MLP", {"layer_sizes": [6, 8, 4], "activation": "tanh"}, (5, 6), "classes"),
    Twin("MLP", {"layer_sizes": [3, 5, 5, 2], "activation": "sigmoid"}, (4, 3), "mse"),
    Twin(
        "CNN",
        {"in_channels": 2, "image_size": 8, "num_classes": 3, "channels": (4, 6)},
        (3, 2, 8, 8),
        "classes",
        images=True,
    ),
    Twin(
        "CNN",
        {
            "in_channels": 1,
            "image_size": 6,
            "num_classes": 2,
            "channels": (3,),
            "convs_per_block": 2,
            "hidden_units": 5,
        },
        (2, 1, 6, 6),
        "classes",
        images=True,
    ),
    Twin("Autoencoder", {"layer_sizes": [12, 6, 3], "code_activation": "identity"}, (4, 12), "mse"),
    Twin(
        "ConvAutoencoder", {"image_size": 8, "channels": (3, 2)}, (2, 1, 8, 8), "mse", images=True
    ),
    Twin("VAE", {"input_size": 6, "hidden_units": 5, "latent_size": 2}, (3, 6), "vae"),
    *[
        Twin(
            "RecurrentNet",
            {"kind": kind, "input_size": 3, "hidden_size": 4, "output_size": 3},
            (2, 5, 3),
            "classes",
        )
        for kind in specs.RECURRENT_KINDS
    ],
    *[
        Twin(
            "RecurrentNet",
            {
                "kind": kind,
                "input_size": 3,
                "hidden_size": 4,
                "output_size": 6,
                "vocab_size": 6,
                "return_sequences": True,
            },
            (2, 5),
            "sequence",
            ids=6,
        )
        for kind in specs.RECURRENT_KINDS
    ],
    *[
        Twin(
            "Transformer",
            {
                "vocab_size": 7,
                "context": 6,
                "embed_dim": 8,
                "num_heads": 2,
                "num_layers": 2,
                "ff_units": 12,
                "causal": causal,
            },
            (3, 6),
            "sequence",
            ids=7,
        )
        for causal in (True, False)
    ],
    Twin(
        "BagOfEmbeddings",
        {"vocab_size": 7, "embed_dim": 4, "num_classes": 3},
        (3, 6),
        "classes",
        ids=7,
    ),
    Twin(
        "TextCNN",
        {"vocab_size": 7, "embed_dim": 4, "num_classes": 2, "filters": 5, "kernel_size": 3},
        (3, 6),
        "classes",
        ids=7,
    ),
    Twin("SkipGram", {"vocab_size": 9, "embed_dim": 4}, (5, 5), "skipgram", ids=9),
]


def make_case(twin: Twin, rng: np.random.Generator, float32: bool = False):
    """A scratch model with random (non-zero-bias) weights, an input batch and its targets."""
    reference = getattr(scratch, twin.name)(**twin.kwargs, rng=rng)
    weights = [w + 0.1 * rng.standard_normal(w.shape) for w in reference.get_weights()]
    if float32:
        weights = [
            w.astype(np.float32).astype(np.float64) for w in weights
        ]  # representable in both
    reference.set_weights(weights)
    reference.eval()  # the VAE decodes its mean: deterministic in every framework
    if twin.ids is not None:
        x = rng.integers(0, twin.ids, size=twin.shape)
    else:
        x = rng.random(twin.shape)
        if float32:
            x = x.astype(np.float32).astype(np.float64)
    output = reference.forward(x)
    logits = output[0] if isinstance(output, tuple) else output
    if twin.loss in ("classes", "sequence"):
        y = rng.integers(0, logits.shape[-1], size=logits.shape[:-1])
    elif twin.loss == "skipgram":
        y = np.zeros(logits.shape)  # the context word is 1, the noise words 0
        y[:, 0] = 1.0
    elif twin.name.endswith("Autoencoder") or twin.loss == "vae":
        y = x  # reconstruct the input
    else:
        y = rng.random(logits.shape)  # regression targets
    return reference, weights, x, y


def scratch_loss(twin: Twin):
    return {
        "classes": scratch.CrossEntropyLoss,
        "sequence": scratch.SequenceCrossEntropyLoss,
        "mse": scratch.MSELoss,
        "vae": scratch.VAELoss,
        "skipgram": scratch.SkipGramLoss,
    }[twin.loss]()


def scratch_gradients(reference, twin: Twin, x, y) -> tuple[float, list[np.ndarray]]:
    loss = scratch_loss(twin)
    value = loss.forward(reference.forward(x), y)
    reference.backward(loss.backward())
    return value, reference.gradients()


def outputs_of(output) -> tuple[np.ndarray, ...]:
    return (
        tuple(np.asarray(part) for part in output)
        if isinstance(output, (tuple, list))
        else (np.asarray(output),)
    )


# --- The contract itself: every framework model has a scratch twin with the same arguments ---


def model_classes(module) -> dict[str, type]:
    return {
        name: getattr(module, name)
        for name in module.__all__
        if inspect.isclass(getattr(module, name))
    }


def arguments(cls: type) -> list[str]:
    skip = {"self", "rng", "dtype", "name"}  # framework plumbing, not architecture
    return [p for p in inspect.signature(cls.__init__).parameters if p not in skip]


@pytest.mark.parametrize(
    "framework",
    [
        pytest.param("torch", marks=pytest.mark.torch),
        pytest.param("keras", marks=pytest.mark.keras),
    ],
)
def test_every_model_has_a_scratch_twin_with_the_same_arguments(framework: str) -> None:
    if framework == "torch":
        pytest.importorskip("torch")
        from torch import nn

        import dltutor.torch as module

        base: type = nn.Module
    else:
        pytest.importorskip("tensorflow")
        import keras

        import dltutor.keras as module

        base = keras.Model
    models = {
        name: cls
        for name, cls in model_classes(module).items()
        if issubclass(cls, base) and "Loss" not in name
    }
    assert models, "no models found"
    tested = {twin.name for twin in TWINS}
    for name, cls in models.items():
        assert hasattr(scratch, name), f"dltutor.{framework}.{name} has no scratch twin"
        assert arguments(cls) == arguments(getattr(scratch, name)), name
        assert name in tested, f"{name} has no parity case in TWINS"


def test_activation_registry_is_the_same_in_every_framework() -> None:
    from dltutor.scratch.activations import FUNCTIONS

    assert set(FUNCTIONS) == set(specs.ACTIVATIONS)


@pytest.mark.torch
def test_torch_knows_every_activation() -> None:
    pytest.importorskip("torch")
    from dltutor.torch.build import ACTIVATIONS

    assert set(ACTIVATIONS) == set(specs.ACTIVATIONS)


@pytest.mark.keras
def test_keras_knows_every_activation() -> None:
    pytest.importorskip("tensorflow")
    from dltutor.keras.build import ACTIVATIONS

    assert set(ACTIVATIONS) == set(specs.ACTIVATIONS)


# --- PyTorch, float64 ---


@pytest.mark.torch
@pytest.mark.parametrize("twin", TWINS, ids=lambda twin: twin.label)
def test_torch_twin_computes_the_scratch_function(twin: Twin, rng) -> None:
    torch = pytest.importorskip("torch")
    import dltutor.torch as dtorch

    reference, weights, x, y = make_case(twin, rng)
    model = getattr(dtorch, twin.name)(**twin.kwargs).double().eval()
    dtorch.set_weights(model, weights)
    for ours, theirs in zip(weights, dtorch.get_weights(model), strict=True):
        np.testing.assert_array_equal(ours, theirs)
    expected = outputs_of(reference.predict(x))
    got = outputs_of(dtorch.predict(model, x, device=torch.device("cpu")))
    for ours, theirs in zip(expected, got, strict=True):
        np.testing.assert_allclose(theirs, ours, **TORCH_TOLERANCE)

    value, gradients = scratch_gradients(reference, twin, x, y)
    loss_fn = {
        "classes": torch.nn.CrossEntropyLoss(),
        "sequence": dtorch.SequenceCrossEntropyLoss(),
        "mse": torch.nn.MSELoss(),
        "vae": dtorch.VAELoss(),
        "skipgram": dtorch.SkipGramLoss(),
    }[twin.loss]
    torch_value, torch_gradients = dtorch.loss_and_gradients(model, loss_fn, x, y)
    assert torch_value == pytest.approx(value, rel=1e-10)
    assert len(torch_gradients) == len(gradients) == len(weights)
    for ours, theirs in zip(gradients, torch_gradients, strict=True):
        np.testing.assert_allclose(theirs, ours, **TORCH_TOLERANCE)


@pytest.mark.torch
def test_torch_set_weights_refuses_a_module_it_cannot_map() -> None:
    pytest.importorskip("torch")
    from torch import nn

    import dltutor.torch as dtorch

    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    with pytest.raises(TypeError, match="cannot map BatchNorm1d"):
        dtorch.set_weights(model, [np.ones((3, 4)), np.ones(4), np.ones((4, 2)), np.ones(2)])
    with pytest.raises(TypeError, match="cannot map BatchNorm1d"):
        dtorch.get_weights(model)


# --- Keras, float32 ---


def channels_last(x: np.ndarray) -> np.ndarray:
    return x.transpose(0, 2, 3, 1)  # (N, C, H, W) -> (N, H, W, C)


@pytest.mark.keras
@pytest.mark.parametrize("twin", TWINS, ids=lambda twin: twin.label)
def test_keras_twin_computes_the_scratch_function(twin: Twin, rng) -> None:
    pytest.importorskip("tensorflow")
    import keras

    import dltutor.keras as dkeras

    reference, weights, x, y = make_case(twin, rng, float32=True)
    model = getattr(dkeras, twin.name)(**twin.kwargs)
    dkeras.set_weights(model, weights)
    for ours, theirs in zip(weights, dkeras.get_weights(model), strict=True):
        np.testing.assert_array_equal(ours.astype(np.float32), theirs)
    x_keras = channels_last(x) if twin.images else x
    x_keras = x_keras.astype(np.int32) if twin.ids is not None else x_keras.astype(np.float32)
    expected = outputs_of(reference.predict(x))
    got = outputs_of(model(x_keras, training=False))
    for ours, theirs in zip(expected, got, strict=True):
        if theirs.ndim == 4:
            theirs = theirs.transpose(0, 3, 1, 2)
        np.testing.assert_allclose(theirs, ours, **KERAS_TOLERANCE)

    value, gradients = scratch_gradients(reference, twin, x, y)
    y_keras = channels_last(y) if twin.images and twin.loss == "mse" else y
    loss = {
        "classes": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        "sequence": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        "mse": keras.losses.MeanSquaredError(),
        "vae": dkeras.VAELoss(),
        "skipgram": dkeras.skipgram_loss,
    }[twin.loss]
    keras_value, keras_gradients = dkeras.loss_and_gradients(
        model, loss, x_keras, y_keras, training=False
    )
    assert keras_value == pytest.approx(value, rel=1e-5)
    assert len(keras_gradients) == len(gradients) == len(weights)
    for ours, theirs in zip(gradients, keras_gradients, strict=True):
        np.testing.assert_allclose(theirs, ours, **KERAS_TOLERANCE)


@pytest.mark.keras
def test_keras_set_weights_refuses_a_layer_it_cannot_map() -> None:
    pytest.importorskip("tensorflow")
    import keras

    import dltutor.keras as dkeras

    model = keras.Sequential(
        [keras.Input(shape=(3,)), keras.layers.Dense(4), keras.layers.BatchNormalization()]
    )
    with pytest.raises(TypeError, match="cannot map BatchNormalization"):
        dkeras.set_weights(model, [np.ones((3, 4)), np.ones(4)])
