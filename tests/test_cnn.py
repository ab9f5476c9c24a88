"""The scratch CNN's shapes and argument errors, image shifts, and saliency.

Outputs and gradients against the PyTorch and Keras twins are in test_twins.py."""

import numpy as np
import pytest

from dltutor import data, scratch

CONFIGS = [
    {"in_channels": 1, "image_size": 8, "num_classes": 10},
    {
        "in_channels": 3,
        "image_size": 16,
        "num_classes": 4,
        "channels": (16, 32),
        "convs_per_block": 2,
    },
    {"in_channels": 2, "image_size": 9, "num_classes": 3, "channels": (4,), "hidden_units": 5},
]


@pytest.mark.parametrize("config", CONFIGS)
def test_scratch_cnn_shapes(config, rng) -> None:
    model = scratch.CNN(**config, rng=rng)
    x = rng.standard_normal((2, config["in_channels"], config["image_size"], config["image_size"]))
    assert model.predict(x).shape == (2, config["num_classes"])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (
            {"channels": (8, 8, 8, 8)},
            "4 pooling blocks halve a 8-pixel image to nothing: use at most 3",
        ),
        ({"channels": ()}, "channels must be a non-empty sequence"),
        ({"convs_per_block": 0}, "convs_per_block must be a positive integer, got 0"),
    ],
)
def test_cnn_bad_arguments(kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        scratch.CNN(1, 8, 10, **kwargs)


def test_shift_images() -> None:
    images = np.arange(2 * 3 * 4).reshape(2, 3, 4)
    down_right = data.shift_images(images, 1, 2)
    np.testing.assert_array_equal(down_right[:, 1:, 2:], images[:, :2, :2])
    assert (down_right[:, 0, :] == 0).all() and (down_right[:, :, :2] == 0).all()
    np.testing.assert_array_equal(data.shift_images(images, -1, 0)[:, :2], images[:, 1:])
    np.testing.assert_array_equal(data.shift_images(images, 0, 0), images)
    assert (data.shift_images(images, 3, 0) == 0).all()
    colour = np.ones((1, 4, 4, 3))
    assert data.shift_images(colour, 0, 1)[0, :, 0].sum() == 0
    with pytest.raises(ValueError, match=r"\(N, H, W\) or \(N, H, W, C\)"):
        data.shift_images(np.zeros((4, 4)), 1, 1)
    with pytest.raises(TypeError, match="rows must be an integer"):
        data.shift_images(images, 0.5, 1)


def test_augment_with_shifts() -> None:
    images, labels = np.ones((3, 5, 5)), np.array([0, 1, 2])
    augmented, augmented_labels = data.augment_with_shifts(images, labels)
    assert augmented.shape == (15, 5, 5)
    np.testing.assert_array_equal(augmented_labels, np.tile(labels, 5))
    np.testing.assert_array_equal(augmented[3:6], data.shift_images(images, 1, 0))


def test_random_shifts() -> None:
    images = np.random.default_rng(0).random((50, 6, 6))
    shifted = data.random_shifts(images, max_shift=1, seed=3)
    assert shifted.shape == images.shape
    for original, moved in zip(
        images, shifted, strict=True
    ):  # every image is one of its 9 possible shifts
        candidates = [
            data.shift_images(original[None], r, c)[0] for r in (-1, 0, 1) for c in (-1, 0, 1)
        ]
        assert any(np.array_equal(moved, candidate) for candidate in candidates)
    np.testing.assert_array_equal(shifted, data.random_shifts(images, max_shift=1, seed=3))
    np.testing.assert_array_equal(data.random_shifts(images, max_shift=0), images)
    with pytest.raises(ValueError, match="max_shift must be a non-negative integer, got -1"):
        data.random_shifts(images, max_shift=-1)


def linear_saliency_case(rng):
    """For a linear model s = x W + b the saliency of class c is exactly |W[:, c]|."""
    weights = [rng.standard_normal((5, 3)), rng.standard_normal(3)]
    x = rng.standard_normal((4, 5))
    classes = np.array([0, 2, 1, 2])
    return weights, x, classes, np.abs(weights[0][:, classes].T)


@pytest.mark.torch
def test_torch_saliency_of_a_linear_model(rng) -> None:
    pytest.importorskip("torch")
    import dltutor.torch as dtorch

    weights, x, classes, expected = linear_saliency_case(rng)
    model = dtorch.MLP([5, 3]).double()
    dtorch.set_weights(model, weights)
    np.testing.assert_allclose(dtorch.saliency(model, x, classes), expected, rtol=1e-12)
    predicted = dtorch.predict(model, x, device=next(model.parameters()).device).argmax(axis=1)
    np.testing.assert_allclose(
        dtorch.saliency(model, x), np.abs(weights[0][:, predicted].T), rtol=1e-12
    )
    with pytest.raises(ValueError, match="below the number of classes 3"):
        dtorch.saliency(model, x, np.array([0, 1, 2, 3]))


@pytest.mark.keras
def test_keras_saliency_of_a_linear_model(rng) -> None:
    pytest.importorskip("tensorflow")
    import dltutor.keras as dkeras

    weights, x, classes, expected = linear_saliency_case(rng)
    model = dkeras.MLP([5, 3])
    model.set_weights([w.astype(np.float32) for w in weights])
    np.testing.assert_allclose(dkeras.saliency(model, x, classes), expected, rtol=1e-5)
    with pytest.raises(ValueError, match="same number of examples"):
        dkeras.saliency(model, x, np.array([0, 1]))


@pytest.mark.torch
def test_torch_cnn_slices_into_its_layers(rng) -> None:
    torch = pytest.importorskip("torch")
    import dltutor.torch as dtorch

    cnn = dtorch.CNN(1, 8, 10, channels=(4,))
    assert isinstance(cnn[0], torch.nn.Conv2d)
    first = cnn[:2]  # convolution and ReLU: the first feature maps
    x = torch.as_tensor(rng.random((2, 1, 8, 8)), dtype=torch.float32)
    torch.testing.assert_close(first(x), torch.relu(cnn[0](x)))
