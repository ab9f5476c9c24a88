"""Users' mistakes get a ValueError or TypeError that says what was expected and what came."""

import numpy as np
import pytest

from dltutor import metrics, plot, scratch


def test_linear_wrong_width(rng) -> None:
    with pytest.raises(
        ValueError, match=r"inputs of shape \(N, 3\), got array of dtype float64 and shape \(2, 4\)"
    ):
        scratch.Linear(3, 2, rng=rng).forward(np.ones((2, 4)))


def test_linear_wrong_rank(rng) -> None:
    with pytest.raises(ValueError, match=r"inputs of shape \(N, 3\), got .*shape \(3,\)"):
        scratch.Linear(3, 2, rng=rng).forward(np.ones(3))


def test_strings_are_a_type_error(rng) -> None:
    with pytest.raises(TypeError, match="real numbers, got array of dtype <U1"):
        scratch.Linear(1, 1, rng=rng).forward(np.array([["a"]]))


def test_not_an_array(rng) -> None:
    with pytest.raises(TypeError, match="NumPy array of numbers, got dict"):
        scratch.Linear(1, 1, rng=rng).forward({"x": 1})


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_and_inf_are_rejected(bad, rng) -> None:
    x = np.ones((2, 3))
    x[1, 2] = bad
    with pytest.raises(ValueError, match="x must be finite"):
        scratch.MLP([3, 2], rng=rng).forward(x)


def test_backward_before_forward(rng) -> None:
    with pytest.raises(RuntimeError, match="before forward"):
        scratch.Linear(2, 2, rng=rng).backward(np.ones((1, 2)))


def test_backward_wrong_shape(rng) -> None:
    layer = scratch.Linear(2, 3, rng=rng)
    layer.forward(np.ones((4, 2)))
    with pytest.raises(ValueError, match=r"grad_output must have shape \(4, 3\)"):
        layer.backward(np.ones((4, 2)))


def test_mse_shape_mismatch() -> None:
    with pytest.raises(ValueError, match=r"same shape, got \(3, 1\) and \(3,\)"):
        scratch.MSELoss().forward(np.ones((3, 1)), np.ones(3))


@pytest.mark.parametrize(
    "labels, error, match",
    [
        (np.array([0, 1, 5]), ValueError, "below the number of classes 3, got maximum 5"),
        (np.array([0, -1, 2]), ValueError, "non-negative"),
        (np.array([0.5, 1.0, 2.0]), TypeError, "integer class labels"),
        (
            np.array([[0], [1], [2]]),
            ValueError,
            r"labels must have shape \(3,\) for logits of shape \(3, 3\)",
        ),
        (np.array([0, 1]), ValueError, "same number of examples, got 3 and 2"),
    ],
)
def test_cross_entropy_bad_labels(labels, error, match) -> None:
    with pytest.raises(error, match=match):
        scratch.CrossEntropyLoss().forward(np.zeros((3, 3)), labels)


@pytest.mark.parametrize(
    "sizes, error, match",
    [
        ([4], ValueError, "at least the input and output sizes"),
        ([4, 0, 2], ValueError, "positive integer, got 0"),
        ([4, 2.5, 2], TypeError, "positive integer, got float"),
        ("42", TypeError, "sequence of integers"),
    ],
)
def test_mlp_bad_layer_sizes(sizes, error, match) -> None:
    with pytest.raises(error, match=match):
        scratch.MLP(sizes)


def test_unknown_activation() -> None:
    with pytest.raises(
        ValueError, match=r"one of \('identity', 'relu', 'sigmoid', 'tanh'\), got 'softplus'"
    ):
        scratch.MLP([2, 2], activation="softplus")


def test_set_weights_wrong_count_and_shape(rng) -> None:
    model = scratch.MLP([3, 4, 2], rng=rng)
    with pytest.raises(ValueError, match="expected 4 weight arrays, got 2"):
        model.set_weights(model.get_weights()[:2])
    weights = model.get_weights()
    weights[0] = np.ones((4, 3))
    with pytest.raises(ValueError, match=r"'0.W' must have shape \(3, 4\), got \(4, 3\)"):
        model.set_weights(weights)


@pytest.mark.parametrize("rate, error", [(0.0, ValueError), (-1.0, ValueError), ("0.1", TypeError)])
def test_sgd_bad_learning_rate(rate, error) -> None:
    with pytest.raises(error, match="learning_rate"):
        scratch.SGD(rate)


def test_fit_mismatched_lengths(rng) -> None:
    with pytest.raises(
        ValueError, match="x and y must have the same number of examples, got 5 and 4"
    ):
        scratch.fit(
            scratch.MLP([2, 1], rng=rng),
            scratch.MSELoss(),
            scratch.SGD(),
            np.ones((5, 2)),
            np.ones((4, 1)),
            epochs=1,
            batch_size=2,
        )


def test_fit_bad_epochs(rng) -> None:
    with pytest.raises(ValueError, match="epochs must be a positive integer, got 0"):
        scratch.fit(
            scratch.MLP([2, 1], rng=rng),
            scratch.MSELoss(),
            scratch.SGD(),
            np.ones((5, 2)),
            np.ones((5, 1)),
            epochs=0,
            batch_size=2,
        )


def test_accuracy_bad_input() -> None:
    with pytest.raises(ValueError, match="same number of examples, got 3 and 2"):
        metrics.accuracy([0, 1, 2], [0, 1])
    with pytest.raises(TypeError, match="class scores must be numeric"):
        metrics.accuracy([0, 1], np.array([["a", "b"], ["c", "d"]]))


def test_plot_decision_boundary_needs_2d_points() -> None:
    with pytest.raises(ValueError, match=r"2 columns .* got shape \(4, 3\)"):
        plot.plot_decision_boundary(lambda p: p[:, 0] > 0, np.zeros((4, 3)), np.zeros(4, dtype=int))


def test_plot_history_unknown_key() -> None:
    with pytest.raises(
        ValueError, match=r"history has keys \['loss'\], got a request for \['val_loss'\]"
    ):
        plot.plot_history({"loss": [1.0]}, keys=["val_loss"])


@pytest.mark.torch
def test_torch_bad_input(rng, monkeypatch) -> None:
    pytest.importorskip("torch")
    import dltutor.torch as dtorch

    with pytest.raises(ValueError, match="device such as 'cpu'.*got 'gpu-please'"):
        dtorch.get_device("gpu-please")
    import torch

    missing = f"cuda:{torch.cuda.device_count()}"  # one past the last GPU: never available
    monkeypatch.setenv("DLTUTOR_DEVICE", missing)
    with pytest.raises(ValueError, match=f"DLTUTOR_DEVICE asks for device '{missing}'"):
        dtorch.get_device()
    with pytest.raises(
        ValueError,
        match=r"weights\[0:2\] do not fit Linear.*needs shape \(4, 3\) in PyTorch's layout, got array of dtype float64 and shape \(3, 4\)",
    ):
        dtorch.set_weights(
            dtorch.MLP([3, 4, 2]), [np.ones((4, 3)), np.ones(4), np.ones((4, 2)), np.ones(2)]
        )
    with pytest.raises(ValueError, match="activation must be one of"):
        dtorch.MLP([3, 2], activation="gelu")


@pytest.mark.keras
def test_keras_bad_input() -> None:
    pytest.importorskip("tensorflow")
    import dltutor.keras as dkeras

    with pytest.raises(ValueError, match="activation must be one of"):
        dkeras.MLP([3, 2], activation="gelu")
    with pytest.raises(ValueError, match="at least the input and output sizes"):
        dkeras.MLP([3])
