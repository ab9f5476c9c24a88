"""Every scratch backward against central finite differences (float64)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dltutor import scratch
from dltutor.specs import ACTIVATIONS

from helpers import labels_for

# Central differences with eps=1e-6 in float64 agree to ~1e-9 when backward is right.
TOLERANCE = 1e-7


def test_linear_backward(rng: np.random.Generator) -> None:
    layer = scratch.Linear(5, 3, rng=rng)
    errors = scratch.check_layer(layer, rng.standard_normal((4, 5)), rng)
    assert set(errors) == {"x", "W", "b"}
    assert max(errors.values()) < TOLERANCE, errors


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_backward(name: str, rng: np.random.Generator) -> None:
    errors = scratch.check_layer(scratch.Activation(name), rng.standard_normal((6, 4)), rng)
    assert errors["x"] < TOLERANCE, errors


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_derivative_matches_finite_differences(name: str) -> None:
    function, derivative = scratch.activations.FUNCTIONS[name]
    z = np.linspace(-4, 4, 41) + 0.0125  # avoids ReLU's kink at exactly 0
    eps = 1e-6
    numeric = (function(z + eps) - function(z - eps)) / (2 * eps)
    assert scratch.relative_error(derivative(z), numeric) < TOLERANCE


def test_mse_backward(rng: np.random.Generator) -> None:
    error = scratch.check_loss(
        scratch.MSELoss(), rng.standard_normal((7, 2)), rng.standard_normal((7, 2))
    )
    assert error < TOLERANCE


def test_cross_entropy_backward(rng: np.random.Generator) -> None:
    logits = 3 * rng.standard_normal((8, 5))
    error = scratch.check_loss(scratch.CrossEntropyLoss(), logits, labels_for(rng, 8, 5))
    assert error < TOLERANCE


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_mlp_backward(name: str, rng: np.random.Generator) -> None:
    model = scratch.MLP([4, 6, 5, 3], activation=name, rng=rng)
    errors = scratch.check_layer(model, rng.standard_normal((5, 4)), rng)
    assert set(errors) == {"x", "0.W", "0.b", "2.W", "2.b", "4.W", "4.b"}
    assert max(errors.values()) < TOLERANCE, errors


@settings(max_examples=25, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 6), min_size=2, max_size=4),
    batch=st.integers(1, 5),
    seed=st.integers(0, 2**16),
)
def test_mlp_backward_any_shape(sizes: list[int], batch: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    model = scratch.MLP(sizes, activation="tanh", rng=rng)
    errors = scratch.check_layer(model, rng.standard_normal((batch, sizes[0])), rng)
    assert max(errors.values()) < TOLERANCE, errors


def test_numerical_gradient_of_a_known_function() -> None:
    x = np.array([1.0, -2.0, 0.5])
    gradient = scratch.numerical_gradient(lambda: float(np.sum(x**3)), x)
    np.testing.assert_allclose(gradient, 3 * x**2, rtol=1e-8)
    np.testing.assert_array_equal(x, [1.0, -2.0, 0.5])  # restored after perturbation


def test_gradcheck_catches_a_wrong_backward(rng: np.random.Generator) -> None:
    class WrongLinear(scratch.Linear):
        def backward(self, grad_output: np.ndarray) -> np.ndarray:
            grad_input = super().backward(grad_output)
            self.weight.grad = 1.01 * self.weight.grad  # a 1% error the check must see
            return grad_input

    errors = scratch.check_layer(WrongLinear(3, 2, rng=rng), rng.standard_normal((4, 3)), rng)
    assert errors["W"] > 1e-3
