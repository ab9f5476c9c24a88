"""The autoencoders: gradient checks, structure, metrics, the VAE loss and training.

Outputs and gradients against the PyTorch and Keras twins are in test_twins.py."""

import numpy as np
import pytest

from dltutor import scratch

CONFIGS = [
    {"layer_sizes": [12, 6], "activation": "relu"},  # input → Dense(relu) → Dense(sigmoid)
    {"layer_sizes": [12, 8, 3], "activation": "tanh", "code_activation": "identity"},
    {
        "layer_sizes": [12, 4],
        "activation": "identity",
        "output_activation": "identity",
    },  # linear: PCA
]


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


def test_reconstruction_errors_and_roc_auc() -> None:
    from dltutor import metrics

    x = np.zeros((3, 2, 2))
    reconstructions = np.stack([np.zeros((2, 2)), np.full((2, 2), 0.5), np.ones((2, 2))])
    np.testing.assert_allclose(metrics.reconstruction_errors(x, reconstructions), [0.0, 0.25, 1.0])
    assert metrics.roc_auc(np.array([False, False, True]), np.array([0.1, 0.2, 0.9])) == 1.0
    assert metrics.roc_auc(np.array([True, False]), np.array([0.1, 0.9])) == 0.0
    with pytest.raises(ValueError, match="same shape"):
        metrics.reconstruction_errors(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(TypeError, match="boolean array"):
        metrics.roc_auc(np.array([0, 1]), np.array([0.1, 0.2]))
    with pytest.raises(ValueError, match="both positive and negative"):
        metrics.roc_auc(np.array([True, True]), np.array([0.1, 0.2]))


@pytest.mark.torch
def test_torch_vae_loss_is_the_negative_elbo(rng) -> None:
    torch = pytest.importorskip("torch")
    import dltutor.torch as dtorch

    logits, mu, log_var = (
        rng.standard_normal((4, 6)),
        rng.standard_normal((4, 2)),
        rng.standard_normal((4, 2)),
    )
    x = rng.random((4, 6))
    p = 1 / (1 + np.exp(-logits))
    bce = -(x * np.log(p) + (1 - x) * np.log(1 - p)).sum()
    kl = 0.5 * (mu**2 + np.exp(log_var) - log_var - 1).sum()
    value = dtorch.VAELoss()(tuple(torch.tensor(a) for a in (logits, mu, log_var)), torch.tensor(x))
    np.testing.assert_allclose(value.item(), (bce + kl) / 4, rtol=1e-10)


@pytest.mark.torch
def test_torch_generative_models_shapes() -> None:
    torch = pytest.importorskip("torch")
    import dltutor.torch as dtorch

    assert tuple(dtorch.ConvAutoencoder(8)(torch.zeros(2, 1, 8, 8)).shape) == (2, 1, 8, 8)
    vae = dtorch.VAE(64, 16, 2)
    logits, mu, log_var = vae(torch.zeros(3, 64))
    assert tuple(logits.shape) == (3, 64) and tuple(mu.shape) == tuple(log_var.shape) == (3, 2)
    with pytest.raises(ValueError, match="divisible by 4"):
        dtorch.ConvAutoencoder(6)


@pytest.mark.keras
def test_keras_generative_models_train() -> None:
    pytest.importorskip("tensorflow")
    import keras

    import dltutor.keras as dkeras

    dkeras.set_seed(0)
    x = np.random.default_rng(0).random((64, 16)).astype(np.float32)
    vae = dkeras.VAE(16, 8, 2)
    vae.compile(optimizer=keras.optimizers.Adam(1e-2))
    history = vae.fit(x, epochs=5, batch_size=16, verbose=0).history["loss"]
    assert history[-1] < history[0]
    logits, mu, log_var = vae.predict(x[:3], verbose=0)  # the twins' (logits, mu, log_var)
    assert logits.shape == (3, 16) and mu.shape == log_var.shape == (3, 2)
    assert dkeras.ConvAutoencoder(8)(np.zeros((2, 8, 8, 1), np.float32)).shape == (2, 8, 8, 1)
