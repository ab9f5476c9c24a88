"""The scratch autoencoder: gradient check, and gradients equal to PyTorch's and Keras' for the same weights."""

import numpy as np
import pytest

from dltutor import scratch

CONFIGS = [
    {"layer_sizes": [12, 6], "activation": "relu"},  # the source's input → Dense(relu) → Dense(sigmoid)
    {"layer_sizes": [12, 8, 3], "activation": "tanh", "code_activation": "identity"},
    {"layer_sizes": [12, 4], "activation": "identity", "output_activation": "identity"},  # linear: PCA
]


def reconstruction_gradients(model: scratch.Autoencoder, x: np.ndarray) -> tuple[float, list[np.ndarray]]:
    loss = scratch.MSELoss()
    value = loss.forward(model.forward(x), x)
    model.backward(loss.backward())
    return value, model.gradients()


@pytest.mark.parametrize("config", CONFIGS)
def test_autoencoder_gradcheck(config, rng) -> None:
    model = scratch.Autoencoder(**config, rng=rng)
    errors = scratch.check_layer(model, rng.random((5, 12)), rng)
    assert max(errors.values()) < 1e-7, errors


def test_autoencoder_structure(rng) -> None:
    model = scratch.Autoencoder([12, 8, 3], code_activation="identity", rng=rng)
    x = rng.random((4, 12))
    assert model.encode(x).shape == (4, 3)
    np.testing.assert_allclose(model.decode(model.encode(x)), model.forward(x))
    assert 0 < model.forward(x).min() and model.forward(x).max() < 1  # sigmoid output


@pytest.mark.torch
@pytest.mark.parametrize("config", CONFIGS)
def test_autoencoder_gradients_match_torch(config, rng) -> None:
    torch = pytest.importorskip("torch")
    import dltutor.torch as dtorch

    reference = scratch.Autoencoder(**config, rng=rng)
    twin = dtorch.Autoencoder(**config).double()
    twin.set_weights(reference.get_weights())
    x = rng.random((6, 12))
    value, gradients = reconstruction_gradients(reference, x)
    torch_value, torch_gradients = dtorch.loss_and_gradients(twin, torch.nn.MSELoss(), x, x)
    np.testing.assert_allclose(value, torch_value, rtol=1e-12)
    assert len(gradients) == len(torch_gradients)
    for ours, theirs in zip(gradients, torch_gradients):
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)


@pytest.mark.keras
@pytest.mark.parametrize("config", CONFIGS)
def test_autoencoder_gradients_match_keras(config, rng) -> None:
    pytest.importorskip("tensorflow")
    import keras

    import dltutor.keras as dkeras

    reference = scratch.Autoencoder(**config, rng=rng)
    reference.set_weights([w.astype(np.float32) for w in reference.get_weights()])
    twin = dkeras.Autoencoder(**config)
    twin.set_weights(reference.get_weights())
    x = rng.random((6, 12)).astype(np.float32)
    value, gradients = reconstruction_gradients(reference, x)
    keras_value, keras_gradients = dkeras.loss_and_gradients(twin, keras.losses.MeanSquaredError(), x, x)
    np.testing.assert_allclose(value, keras_value, rtol=1e-5)
    for ours, theirs in zip(gradients, keras_gradients):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
