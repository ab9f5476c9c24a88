"""Scratch vs PyTorch in float64: forward values and every gradient, rtol 1e-10."""

import numpy as np
import pytest

from dltutor import scratch

from helpers import labels_for

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

import dltutor.torch as dtorch  # noqa: E402

pytestmark = pytest.mark.torch
RTOL, ATOL = 1e-10, 1e-12
DEVICE = dtorch.get_device()


def tensor(array: np.ndarray, grad: bool = False) -> "torch.Tensor":
    return torch.tensor(array, dtype=torch.float64, device=DEVICE, requires_grad=grad)


def numpy(t: "torch.Tensor") -> np.ndarray:
    return t.detach().cpu().numpy()


def assert_close(actual: np.ndarray, expected: np.ndarray) -> None:
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=ATOL)


def test_linear(rng: np.random.Generator) -> None:
    layer = scratch.Linear(5, 3, rng=rng)
    x, upstream = rng.standard_normal((4, 5)), rng.standard_normal((4, 3))
    x_t, w_t, b_t = (
        tensor(x, True),
        tensor(layer.params["W"], True),
        tensor(layer.params["b"], True),
    )
    y_t = F.linear(x_t, w_t.T, b_t)
    y_t.backward(tensor(upstream))
    assert_close(layer.forward(x), numpy(y_t))
    assert_close(layer.backward(upstream), numpy(x_t.grad))
    assert_close(layer.grads["W"], numpy(w_t.grad))
    assert_close(layer.grads["b"], numpy(b_t.grad))


@pytest.mark.parametrize(
    "name, reference",
    [
        ("relu", torch.relu),
        ("sigmoid", torch.sigmoid),
        ("tanh", torch.tanh),
        ("identity", lambda z: z),
    ],
)
def test_activation(name: str, reference, rng: np.random.Generator) -> None:
    layer = scratch.Activation(name)
    z, upstream = 3 * rng.standard_normal((6, 4)), rng.standard_normal((6, 4))
    z_t = tensor(z, True)
    a_t = reference(z_t)
    a_t.backward(tensor(upstream))
    assert_close(layer.forward(z), numpy(a_t))
    assert_close(layer.backward(upstream), numpy(z_t.grad))


def test_mse(rng: np.random.Generator) -> None:
    loss = scratch.MSELoss()
    prediction, target = rng.standard_normal((7, 2)), rng.standard_normal((7, 2))
    p_t = tensor(prediction, True)
    value_t = F.mse_loss(p_t, tensor(target))
    value_t.backward()
    assert_close(loss.forward(prediction, target), value_t.item())
    assert_close(loss.backward(), numpy(p_t.grad))


def test_cross_entropy(rng: np.random.Generator) -> None:
    loss = scratch.CrossEntropyLoss()
    logits, labels = 4 * rng.standard_normal((9, 5)), labels_for(rng, 9, 5)
    z_t = tensor(logits, True)
    value_t = F.cross_entropy(z_t, torch.tensor(labels, device=DEVICE))
    value_t.backward()
    assert_close(loss.forward(logits, labels), value_t.item())
    assert_close(loss.backward(), numpy(z_t.grad))
    assert_close(scratch.softmax(logits), numpy(torch.softmax(tensor(logits), dim=1)))


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh"])
@pytest.mark.parametrize("loss_name, output_size", [("cross_entropy", 4), ("mse", 2)])
def test_mlp(activation: str, loss_name: str, output_size: int, rng: np.random.Generator) -> None:
    reference = scratch.MLP([6, 8, 7, output_size], activation=activation, rng=rng)
    model = dtorch.MLP([6, 8, 7, output_size], activation=activation).double().to(DEVICE)
    dtorch.set_weights(model, reference.get_weights())
    x = rng.standard_normal((10, 6))
    if loss_name == "cross_entropy":
        y = labels_for(rng, 10, output_size)
        scratch_loss, torch_loss = scratch.CrossEntropyLoss(), torch.nn.CrossEntropyLoss()
    else:
        y = rng.standard_normal((10, output_size))
        scratch_loss, torch_loss = scratch.MSELoss(), torch.nn.MSELoss()

    value = scratch_loss.forward(reference.forward(x), y)
    reference.backward(scratch_loss.backward())
    torch_value, torch_gradients = dtorch.loss_and_gradients(model, torch_loss, x, y)

    assert_close(reference.forward(x), dtorch.predict(model, x, device=DEVICE))
    assert_close(value, torch_value)
    assert len(torch_gradients) == len(reference.gradients()) == 6
    for ours, theirs in zip(reference.gradients(), torch_gradients, strict=True):
        assert_close(ours, theirs)


def test_weights_round_trip(rng: np.random.Generator) -> None:
    weights = scratch.MLP([3, 4, 2], rng=rng).get_weights()
    model = dtorch.MLP([3, 4, 2]).double()
    dtorch.set_weights(model, weights)
    for ours, theirs in zip(weights, dtorch.get_weights(model), strict=True):
        np.testing.assert_array_equal(ours, theirs)
