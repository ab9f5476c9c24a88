"""Convolution and pooling: gradient checks, loop vs vectorized, parity with PyTorch and Keras.

The parity tests draw shapes, strides and paddings at random (hypothesis) and compare
outputs and every gradient.
"""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from dltutor import scratch

TOLERANCE = 1e-7


@st.composite
def conv_cases(draw, max_padding: int = 2):
    kernel = draw(st.integers(1, 4))
    stride = draw(st.integers(1, 3))
    padding = draw(st.integers(0, max_padding))
    height = draw(st.integers(max(1, kernel - 2 * padding), 9))
    width = draw(st.integers(max(1, kernel - 2 * padding), 9))
    return {
        "batch": draw(st.integers(1, 3)),
        "in_channels": draw(st.integers(1, 4)),
        "out_channels": draw(st.integers(1, 4)),
        "height": height,
        "width": width,
        "kernel": kernel,
        "stride": stride,
        "padding": padding,
        "seed": draw(st.integers(0, 2**16)),
    }


@st.composite
def pool_cases(draw):
    kernel = draw(st.integers(1, 3))
    return {
        "batch": draw(st.integers(1, 3)),
        "channels": draw(st.integers(1, 3)),
        "height": draw(st.integers(kernel, 9)),
        "width": draw(st.integers(kernel, 9)),
        "kernel": kernel,
        "stride": draw(st.integers(1, 3)),
        "seed": draw(st.integers(0, 2**16)),
    }


def layer_arrays(case, make_layer, dtype):
    """Input, layer (random bias), output, upstream gradient and input gradient of a case."""
    rng = np.random.default_rng(case["seed"])
    x = rng.standard_normal(
        (case["batch"], case["in_channels"], case["height"], case["width"])
    ).astype(dtype)
    layer = make_layer(rng)
    layer.params["b"][:] = rng.standard_normal(case["out_channels"])
    layer.params["W"][:] = layer.params["W"].astype(dtype)
    y = layer.forward(x)
    upstream = rng.standard_normal(y.shape).astype(dtype)
    return layer, x, y, upstream, layer.backward(upstream)


def conv_arrays(case, dtype=np.float64):
    return layer_arrays(
        case,
        lambda rng: scratch.Conv2D(
            case["in_channels"],
            case["out_channels"],
            case["kernel"],
            case["stride"],
            case["padding"],
            rng=rng,
        ),
        dtype,
    )


# --- gradient checks and the two implementations -------------------------------------------


@pytest.mark.parametrize("stride, padding", [(1, 0), (1, 1), (2, 1), (3, 2)])
def test_conv_backward_gradcheck(stride: int, padding: int, rng) -> None:
    layer = scratch.Conv2D(2, 3, 3, stride=stride, padding=padding, rng=rng)
    errors = scratch.check_layer(layer, rng.standard_normal((2, 2, 7, 6)), rng)
    assert max(errors.values()) < TOLERANCE, errors


@pytest.mark.parametrize(
    "pool",
    [
        scratch.MaxPool2D(2),
        scratch.MaxPool2D(3, stride=1),
        scratch.AvgPool2D(2),
        scratch.AvgPool2D(3, stride=2),
    ],
)
def test_pool_backward_gradcheck(pool, rng) -> None:
    errors = scratch.check_layer(pool, rng.standard_normal((2, 3, 7, 6)), rng)
    assert errors["x"] < TOLERANCE, errors


def test_flatten_backward_gradcheck(rng) -> None:
    assert (
        scratch.check_layer(scratch.Flatten(), rng.standard_normal((2, 3, 2, 4)), rng)["x"]
        < TOLERANCE
    )


def test_small_cnn_backward_gradcheck(rng) -> None:
    model = scratch.Sequential(
        [
            scratch.Conv2D(1, 2, 3, padding=1, rng=rng),
            scratch.Activation("tanh"),
            scratch.MaxPool2D(2),
            scratch.Flatten(),
            scratch.Linear(2 * 3 * 3, 3, rng=rng),
        ]
    )
    errors = scratch.check_layer(model, rng.standard_normal((2, 1, 6, 6)), rng)
    assert max(errors.values()) < TOLERANCE, errors


@settings(max_examples=40, deadline=None)
@given(case=conv_cases())
def test_loops_equal_vectorized(case) -> None:
    layer, x, y, upstream, grad_x = conv_arrays(case)
    weight, bias = layer.params["W"], layer.params["b"]
    np.testing.assert_allclose(
        scratch.conv2d_loops(x, weight, bias, case["stride"], case["padding"]),
        y,
        rtol=1e-12,
        atol=1e-12,
    )
    np.testing.assert_allclose(
        scratch.conv2d(x, weight, bias, case["stride"], case["padding"]), y, rtol=1e-12, atol=1e-12
    )
    loop_grads = scratch.conv2d_backward_loops(x, weight, upstream, case["stride"], case["padding"])
    for ours, loops in zip((grad_x, layer.grads["W"], layer.grads["b"]), loop_grads, strict=True):
        np.testing.assert_allclose(ours, loops, rtol=1e-12, atol=1e-12)


def test_convolution_is_flipped_cross_correlation(rng) -> None:
    from scipy.signal import convolve2d, correlate2d

    image, kernel = rng.standard_normal((6, 7)), rng.standard_normal((3, 3))
    ours = scratch.conv2d(image[None, None], kernel[None, None], np.zeros(1))[0, 0]
    np.testing.assert_allclose(ours, correlate2d(image, kernel, mode="valid"), rtol=1e-12)
    np.testing.assert_allclose(
        ours, convolve2d(image, kernel[::-1, ::-1], mode="valid"), rtol=1e-12
    )


@pytest.mark.parametrize(
    "size, kernel, stride, padding, expected",
    [(28, 3, 1, 0, 26), (28, 3, 1, 1, 28), (32, 5, 2, 2, 16), (7, 3, 2, 0, 3), (8, 2, 2, 0, 4)],
)
def test_output_size(size, kernel, stride, padding, expected) -> None:
    assert scratch.output_size(size, kernel, stride, padding) == expected


# --- bad input -------------------------------------------------------------------------------


def test_conv_bad_inputs(rng) -> None:
    layer = scratch.Conv2D(3, 2, 3, rng=rng)
    with pytest.raises(ValueError, match="x must be 4-D"):
        layer.forward(np.zeros((3, 8, 8)))
    with pytest.raises(ValueError, match="x has 1 channels but weight expects 3"):
        layer.forward(np.zeros((2, 1, 8, 8)))
    with pytest.raises(ValueError, match="kernel_size 3 is larger than the padded input 2"):
        layer.forward(np.zeros((1, 3, 2, 8)))
    with pytest.raises(ValueError, match="padding must be a non-negative integer, got -1"):
        scratch.Conv2D(3, 2, 3, padding=-1)
    with pytest.raises(ValueError, match="stride must be a positive integer, got 0"):
        scratch.Conv2D(3, 2, 3, stride=0)
    with pytest.raises(ValueError, match=r"MaxPool2D\(3\) needs H, W ≥ 3"):
        scratch.MaxPool2D(3).forward(np.zeros((1, 1, 2, 5)))


# --- parity with PyTorch (float64) ------------------------------------------------------------


@pytest.mark.torch
@settings(max_examples=40, deadline=None)
@given(case=conv_cases())
def test_conv_matches_torch(case) -> None:
    torch = pytest.importorskip("torch")
    layer, x, y, upstream, grad_x = conv_arrays(case)
    x_t = torch.tensor(x, requires_grad=True)
    w_t = torch.tensor(layer.params["W"], requires_grad=True)
    b_t = torch.tensor(layer.params["b"], requires_grad=True)
    y_t = torch.nn.functional.conv2d(x_t, w_t, b_t, stride=case["stride"], padding=case["padding"])
    y_t.backward(torch.tensor(upstream))
    for ours, theirs in [
        (y, y_t),
        (grad_x, x_t.grad),
        (layer.grads["W"], w_t.grad),
        (layer.grads["b"], b_t.grad),
    ]:
        np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.torch
@settings(max_examples=40, deadline=None)
@given(case=pool_cases(), kind=st.sampled_from(["max", "avg"]))
def test_pool_matches_torch(case, kind) -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(case["seed"])
    x = rng.standard_normal((case["batch"], case["channels"], case["height"], case["width"]))
    pool = (scratch.MaxPool2D if kind == "max" else scratch.AvgPool2D)(
        case["kernel"], case["stride"]
    )
    y = pool.forward(x)
    upstream = rng.standard_normal(y.shape)
    x_t = torch.tensor(x, requires_grad=True)
    reference = torch.nn.functional.max_pool2d if kind == "max" else torch.nn.functional.avg_pool2d
    y_t = reference(x_t, case["kernel"], case["stride"])
    y_t.backward(torch.tensor(upstream))
    np.testing.assert_allclose(y, y_t.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(pool.backward(upstream), x_t.grad.numpy(), rtol=1e-10, atol=1e-12)


# --- parity with Keras (float32, channels last) -------------------------------------------------


def keras_gradients(layer, x: np.ndarray, upstream: np.ndarray):
    import tensorflow as tf

    x_t = tf.Variable(x)
    with tf.GradientTape() as tape:
        y_t = layer(x_t)
        value = tf.reduce_sum(y_t * upstream)
    return y_t.numpy(), tape.gradient(value, [x_t, *layer.trainable_weights])


def nhwc(array: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(array.transpose(0, 2, 3, 1))  # (N, C, H, W) -> (N, H, W, C)


KERAS_TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}


@pytest.mark.keras
@settings(max_examples=25, deadline=None)
@given(case=conv_cases(max_padding=1))
def test_conv_matches_keras(case) -> None:
    pytest.importorskip("tensorflow")
    import keras

    import dltutor.keras  # noqa: F401  (quiet TensorFlow)

    # Keras pads only "valid" (p = 0) or "same"; "same" is symmetric for stride 1 and odd k.
    same = (
        case["padding"] == (case["kernel"] - 1) // 2
        and case["kernel"] % 2 == 1
        and case["stride"] == 1
    )
    assume(case["padding"] == 0 or same)
    layer, x, y, upstream, grad_x = conv_arrays(case, dtype=np.float32)
    conv = keras.layers.Conv2D(
        case["out_channels"],
        case["kernel"],
        strides=case["stride"],
        padding="same" if case["padding"] else "valid",
    )
    conv.build((None, case["height"], case["width"], case["in_channels"]))
    conv.set_weights(
        [
            layer.params["W"].transpose(2, 3, 1, 0).astype(np.float32),
            layer.params["b"].astype(np.float32),
        ]
    )  # (k, k, C_in, C_out)
    y_k, (dx, dW, db) = keras_gradients(conv, nhwc(x), nhwc(upstream).astype(np.float32))
    np.testing.assert_allclose(nhwc(y), y_k, **KERAS_TOLERANCE)
    np.testing.assert_allclose(nhwc(grad_x), dx.numpy(), **KERAS_TOLERANCE)
    np.testing.assert_allclose(
        layer.grads["W"].transpose(2, 3, 1, 0), dW.numpy(), **KERAS_TOLERANCE
    )
    np.testing.assert_allclose(layer.grads["b"], db.numpy(), **KERAS_TOLERANCE)


@pytest.mark.keras
@settings(max_examples=25, deadline=None)
@given(case=pool_cases(), kind=st.sampled_from(["max", "avg"]))
def test_pool_matches_keras(case, kind) -> None:
    pytest.importorskip("tensorflow")
    import keras

    import dltutor.keras  # noqa: F401

    rng = np.random.default_rng(case["seed"])
    x = rng.standard_normal(
        (case["batch"], case["channels"], case["height"], case["width"])
    ).astype(np.float32)
    pool = (scratch.MaxPool2D if kind == "max" else scratch.AvgPool2D)(
        case["kernel"], case["stride"]
    )
    y = pool.forward(x)
    upstream = rng.standard_normal(y.shape).astype(np.float32)
    keras_pool = (keras.layers.MaxPooling2D if kind == "max" else keras.layers.AveragePooling2D)(
        case["kernel"], strides=case["stride"]
    )
    y_k, (dx,) = keras_gradients(keras_pool, nhwc(x), nhwc(upstream))
    np.testing.assert_allclose(nhwc(y), y_k, **KERAS_TOLERANCE)
    np.testing.assert_allclose(nhwc(pool.backward(upstream)), dx.numpy(), **KERAS_TOLERANCE)


# --- transposed convolution -----------------------------------------------------------------


@st.composite
def transpose_cases(draw, stride_at_most_kernel: bool = False):
    kernel = draw(st.integers(1, 3))
    return {
        "batch": draw(st.integers(1, 3)),
        "in_channels": draw(st.integers(1, 3)),
        "out_channels": draw(st.integers(1, 3)),
        "height": draw(st.integers(1, 4)),
        "width": draw(st.integers(1, 4)),
        "kernel": kernel,
        "stride": draw(st.integers(1, kernel if stride_at_most_kernel else 3)),
        "seed": draw(st.integers(0, 2**16)),
    }


def transpose_arrays(case, dtype=np.float64):
    return layer_arrays(
        case,
        lambda rng: scratch.ConvTranspose2D(
            case["in_channels"], case["out_channels"], case["kernel"], case["stride"], rng=rng
        ),
        dtype,
    )


@pytest.mark.parametrize("kernel, stride", [(2, 2), (3, 1), (3, 2), (2, 3)])
def test_conv_transpose_backward_gradcheck(kernel: int, stride: int, rng) -> None:
    layer = scratch.ConvTranspose2D(2, 3, kernel, stride, rng=rng)
    errors = scratch.check_layer(layer, rng.standard_normal((2, 2, 3, 4)), rng)
    assert max(errors.values()) < TOLERANCE, errors


def test_conv_transpose_doubles_the_size(rng) -> None:
    layer = scratch.ConvTranspose2D(4, 2, rng=rng)  # kernel 2, stride 2
    assert layer.forward(rng.standard_normal((3, 4, 5, 6))).shape == (3, 2, 10, 12)


@pytest.mark.torch
@settings(max_examples=30, deadline=None)
@given(case=transpose_cases())
def test_conv_transpose_matches_torch(case) -> None:
    torch = pytest.importorskip("torch")

    layer, x, y, upstream, grad_x = transpose_arrays(case)
    x_t = torch.tensor(x, requires_grad=True)
    w_t = torch.tensor(layer.params["W"], requires_grad=True)
    b_t = torch.tensor(layer.params["b"], requires_grad=True)
    y_t = torch.nn.functional.conv_transpose2d(x_t, w_t, b_t, stride=case["stride"])
    (y_t * torch.tensor(upstream)).sum().backward()
    pairs = [
        (y, y_t),
        (grad_x, x_t.grad),
        (layer.grads["W"], w_t.grad),
        (layer.grads["b"], b_t.grad),
    ]
    for ours, theirs in pairs:
        np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.keras
@settings(max_examples=20, deadline=None)
@given(case=transpose_cases(stride_at_most_kernel=True))
def test_conv_transpose_matches_keras(case) -> None:
    # With stride > kernel Keras' "valid" output has H·s + max(k - s, 0) rows, PyTorch's and
    # ours (H - 1)·s + k: Keras pads trailing zeros. The two agree for stride ≤ kernel.
    pytest.importorskip("tensorflow")
    import keras

    import dltutor.keras  # noqa: F401  (quiet TensorFlow)

    layer, x, y, upstream, grad_x = transpose_arrays(case, dtype=np.float32)
    conv = keras.layers.Conv2DTranspose(
        case["out_channels"], case["kernel"], strides=case["stride"]
    )
    conv.build((None, case["height"], case["width"], case["in_channels"]))
    kernel = layer.params["W"].transpose(2, 3, 1, 0).astype(np.float32)  # (k, k, C_out, C_in)
    conv.set_weights([kernel, layer.params["b"].astype(np.float32)])
    y_k, (dx, dW, db) = keras_gradients(conv, nhwc(x), nhwc(upstream).astype(np.float32))
    np.testing.assert_allclose(nhwc(y), y_k, **KERAS_TOLERANCE)
    np.testing.assert_allclose(nhwc(grad_x), dx.numpy(), **KERAS_TOLERANCE)
    np.testing.assert_allclose(
        layer.grads["W"].transpose(2, 3, 1, 0), dW.numpy(), **KERAS_TOLERANCE
    )
    np.testing.assert_allclose(layer.grads["b"], db.numpy(), **KERAS_TOLERANCE)
