"""Scratch (float64, from the same float32 weights) vs Keras on TensorFlow in float32, rtol 1e-5."""

import numpy as np
import pytest

from dltutor import scratch

from helpers import labels_for

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")
import dltutor.keras as dkeras  # noqa: E402

pytestmark = pytest.mark.keras
# float32 rounding is ~6e-8 per operation; sums of a few dozen terms stay well inside 1e-5.
# atol covers entries that are themselves near zero, where a relative error is meaningless.
RTOL, ATOL = 1e-5, 1e-6


def f32(array: np.ndarray) -> np.ndarray:
    return np.asarray(array, dtype=np.float32)


def assert_close(actual: np.ndarray, expected: np.ndarray) -> None:
    np.testing.assert_allclose(
        np.asarray(actual, dtype=np.float64),
        np.asarray(expected, dtype=np.float64),
        rtol=RTOL,
        atol=ATOL,
    )


def tape_gradients(function, *variables):
    with tf.GradientTape() as tape:
        value = function()
    return value, tape.gradient(value, list(variables))


def test_linear(rng: np.random.Generator) -> None:
    layer = scratch.Linear(5, 3, rng=rng)
    layer.params["b"][:] = rng.standard_normal(3)  # non-zero bias, so the sum is exercised
    x, upstream = f32(rng.standard_normal((4, 5))), f32(rng.standard_normal((4, 3)))
    dense = keras.layers.Dense(3)
    dense.build((None, 5))
    dense.set_weights([f32(layer.params["W"]), f32(layer.params["b"])])
    x_t = tf.Variable(x)
    value, (dx, dW, db) = tape_gradients(
        lambda: tf.reduce_sum(dense(x_t) * upstream), x_t, dense.kernel, dense.bias
    )
    layer.params["W"][:] = f32(layer.params["W"])  # the same float32 values, held in float64
    assert_close(layer.forward(x), dense(x))
    assert_close(layer.backward(upstream), dx)
    assert_close(layer.grads["W"], dW)
    assert_close(layer.grads["b"], db)


@pytest.mark.parametrize(
    "name, keras_name",
    [("relu", "relu"), ("sigmoid", "sigmoid"), ("tanh", "tanh"), ("identity", "linear")],
)
def test_activation(name: str, keras_name: str, rng: np.random.Generator) -> None:
    layer = scratch.Activation(name)
    z, upstream = f32(3 * rng.standard_normal((6, 4))), f32(rng.standard_normal((6, 4)))
    z_t = tf.Variable(z)
    function = keras.activations.get(keras_name)
    value, (dz,) = tape_gradients(lambda: tf.reduce_sum(function(z_t) * upstream), z_t)
    assert_close(layer.forward(z), function(z))
    assert_close(layer.backward(upstream), dz)


def test_mse(rng: np.random.Generator) -> None:
    loss = scratch.MSELoss()
    prediction, target = f32(rng.standard_normal((7, 2))), f32(rng.standard_normal((7, 2)))
    p_t = tf.Variable(prediction)
    value, (dp,) = tape_gradients(lambda: keras.losses.MeanSquaredError()(target, p_t), p_t)
    assert_close(loss.forward(prediction, target), value)
    assert_close(loss.backward(), dp)


def test_cross_entropy(rng: np.random.Generator) -> None:
    loss = scratch.CrossEntropyLoss()
    logits, labels = f32(4 * rng.standard_normal((9, 5))), labels_for(rng, 9, 5)
    z_t = tf.Variable(logits)
    keras_loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    value, (dz,) = tape_gradients(lambda: keras_loss(labels, z_t), z_t)
    assert_close(loss.forward(logits, labels), value)
    assert_close(loss.backward(), dz)


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh"])
@pytest.mark.parametrize("loss_name, output_size", [("cross_entropy", 4), ("mse", 2)])
def test_mlp(activation: str, loss_name: str, output_size: int, rng: np.random.Generator) -> None:
    reference = scratch.MLP([6, 8, 7, output_size], activation=activation, rng=rng)
    reference.set_weights([f32(w) for w in reference.get_weights()])  # float32-representable
    model = dkeras.MLP([6, 8, 7, output_size], activation=activation)
    model.set_weights(reference.get_weights())
    x = f32(rng.standard_normal((10, 6)))
    if loss_name == "cross_entropy":
        y = labels_for(rng, 10, output_size)
        scratch_loss = scratch.CrossEntropyLoss()
        keras_loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    else:
        y = f32(rng.standard_normal((10, output_size)))
        scratch_loss, keras_loss = scratch.MSELoss(), keras.losses.MeanSquaredError()

    value = scratch_loss.forward(reference.forward(x), y)
    reference.backward(scratch_loss.backward())
    keras_value, keras_gradients = dkeras.loss_and_gradients(model, keras_loss, x, y)

    assert_close(reference.forward(x), model.predict(x, verbose=0))
    assert_close(value, keras_value)
    assert len(keras_gradients) == len(reference.gradients()) == 6
    for ours, theirs in zip(reference.gradients(), keras_gradients, strict=True):
        assert_close(ours, theirs)


def test_keras_mlp_has_scratch_layout(rng: np.random.Generator) -> None:
    shapes = [w.shape for w in dkeras.MLP([3, 4, 2]).get_weights()]
    assert shapes == [w.shape for w in scratch.MLP([3, 4, 2], rng=rng).get_weights()]
