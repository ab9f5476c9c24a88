"""Attention and the Transformer: gradient checks, parity with PyTorch and Keras, exact properties.

Masks are the book's: True = may attend. PyTorch's ``scaled_dot_product_attention`` and
Keras take the same polarity; ``nn.MultiheadAttention`` and ``nn.TransformerEncoderLayer``
the opposite, converted by :func:`dltutor.torch.attention.blocked`.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dltutor import scratch

TOLERANCE = 1e-7  # central differences in float64 agree to ~1e-9 when backward is right
TORCH = {"rtol": 1e-10, "atol": 1e-12}
KERAS = {"rtol": 1e-5, "atol": 1e-6}


def assert_float32_close(ours: np.ndarray, theirs: np.ndarray) -> None:
    """rtol 1e-5, relative to the array's scale: a float32 weight gradient is a sum over every
    position, and an entry that results from cancelling large terms keeps only the digits of
    the largest (measured: 2e-6 off on an entry of 0.014 in an array reaching 2.6)."""
    scale = float(np.abs(theirs).max())
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=max(1e-6, 1e-5 * scale))


def nonzero_biases(layer: scratch.Layer, rng: np.random.Generator) -> None:
    """Random biases, so that no ReLU sits exactly on its kink and every bias matters."""
    for name, parameter in layer.parameters():
        if parameter.value.ndim == 1 and not name.endswith("gamma"):
            parameter.value[...] = 0.3 * rng.standard_normal(parameter.value.shape)


# --- gradient checks ------------------------------------------------------------------------


def test_attention_backward_gradcheck(rng) -> None:
    q, k, v = (rng.standard_normal((2, 3, 4, 5)) for _ in range(3))
    mask = rng.random((4, 4)) < 0.7
    mask[:, 0] = True  # every query may attend to something
    upstream = rng.standard_normal((2, 3, 4, 5))
    y, weights = scratch.attention(q, k, v, mask)
    analytic = scratch.attention_backward(q, k, v, weights, upstream)
    for array, grad in zip((q, k, v), analytic, strict=True):

        def loss() -> float:
            return float(np.sum(scratch.attention(q, k, v, mask)[0] * upstream))

        assert scratch.relative_error(grad, scratch.numerical_gradient(loss, array)) < TOLERANCE


@pytest.mark.parametrize(
    "make, shape",
    [
        (lambda rng: scratch.LayerNorm(6), (2, 3, 6)),
        (lambda rng: scratch.MultiHeadAttention(6, 2, rng=rng), (2, 4, 6)),
        (lambda rng: scratch.MultiHeadAttention(6, 3, causal=True, rng=rng), (2, 4, 6)),
        (lambda rng: scratch.TransformerBlock(6, 2, 8, causal=True, rng=rng), (2, 4, 6)),
        (lambda rng: scratch.PositionalEncoding(5, 4), (2, 3, 4)),
    ],
    ids=[
        "LayerNorm",
        "MultiHeadAttention",
        "causal MultiHeadAttention",
        "TransformerBlock",
        "PositionalEncoding",
    ],
)
def test_layer_gradcheck(make, shape, rng) -> None:
    layer = make(rng)
    nonzero_biases(layer, rng)
    errors = scratch.check_layer(layer, rng.standard_normal(shape), rng)
    key_bias = [name for name in errors if name.endswith("b_k")]
    assert max(v for name, v in errors.items() if name not in key_bias) < TOLERANCE, errors
    # A key bias adds q·b_k to every score of a query: softmax ignores it, its gradient is 0.
    for name in key_bias:
        grad = dict(layer.parameters())[name].grad
        assert np.abs(grad).max() < 1e-12


def test_transformer_gradcheck_on_a_sample(rng) -> None:
    model = scratch.Transformer(7, 6, embed_dim=8, num_heads=2, num_layers=2, ff_units=12, rng=rng)
    nonzero_biases(model, rng)
    errors = scratch.check_layer(model, rng.integers(0, 7, size=(2, 6)), rng, max_entries=12)
    assert max(v for name, v in errors.items() if not name.endswith("b_k")) < TOLERANCE, errors


def test_gradcheck_catches_a_one_percent_error_in_attention(rng) -> None:
    class Wrong(scratch.MultiHeadAttention):
        def backward(self, grad_output):
            grad_input = super().backward(grad_output)
            self.W_q.grad = 1.01 * self.W_q.grad  # a 1% error the check must see
            return grad_input

    errors = scratch.check_layer(Wrong(6, 2, rng=rng), rng.standard_normal((2, 4, 6)), rng)
    assert errors["W_q"] > 1e-3 and errors["W_v"] < TOLERANCE


# --- exact properties ---------------------------------------------------------------------------


def test_causal_model_never_sees_the_future(rng) -> None:
    model = scratch.Transformer(9, 8, embed_dim=8, num_heads=2, num_layers=2, ff_units=12, rng=rng)
    ids = rng.integers(0, 9, size=(3, 8))
    changed = ids.copy()
    changed[:, 5:] = rng.integers(0, 9, size=(3, 3))  # new tokens after position 4
    before, after = model.predict(ids), model.predict(changed)
    np.testing.assert_array_equal(before[:, :5], after[:, :5])  # exactly: no leak
    assert not np.allclose(before[:, 5:], after[:, 5:])


def test_self_attention_is_permutation_equivariant(rng) -> None:
    layer = scratch.MultiHeadAttention(6, 2, rng=rng)  # no positional encoding: no order
    x = rng.standard_normal((2, 5, 6))
    order = rng.permutation(5)
    np.testing.assert_allclose(
        layer.forward(x[:, order]), layer.forward(x)[:, order], rtol=1e-12, atol=1e-14
    )


@pytest.mark.parametrize("shift", [1, 3, 7])
def test_a_shift_of_the_sinusoidal_encoding_is_a_fixed_rotation(shift: int) -> None:
    dim = 8
    encoding = scratch.sinusoidal_positional_encoding(40, dim)
    frequencies = 10000.0 ** (-np.arange(0, dim, 2) / dim)
    for i, omega in enumerate(frequencies):
        c, s = np.cos(shift * omega), np.sin(shift * omega)
        # [sin a, cos a] @ R = [sin(a + b), cos(a + b)] for b = shift * omega
        rotation = np.array([[c, -s], [s, c]])
        pairs = encoding[:, 2 * i : 2 * i + 2]
        np.testing.assert_allclose(pairs[:-shift] @ rotation, pairs[shift:], atol=1e-12)


def test_a_fully_masked_row_gives_zeros_and_no_gradient(rng) -> None:
    q, k, v = (rng.standard_normal((1, 3, 4)) for _ in range(3))
    mask = np.ones((3, 3), dtype=bool)
    mask[1] = False  # query 1 may attend to nothing
    y, weights = scratch.attention(q, k, v, mask)
    np.testing.assert_array_equal(weights[0, 1], 0.0)
    np.testing.assert_array_equal(y[0, 1], 0.0)
    np.testing.assert_allclose(weights[0, [0, 2]].sum(axis=-1), 1.0)
    grad_q, _, _ = scratch.attention_backward(q, k, v, weights, np.ones_like(y))
    np.testing.assert_array_equal(grad_q[0, 1], 0.0)


def test_layer_norm_rows_have_zero_mean_and_unit_variance(rng) -> None:
    y = scratch.LayerNorm(16).forward(3 + 5 * rng.standard_normal((4, 16)))
    np.testing.assert_allclose(y.mean(axis=-1), 0.0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=-1), 1.0, rtol=1e-5)  # up to eps


def test_attention_bad_input(rng) -> None:
    with pytest.raises(ValueError, match="embed_dim must be divisible by num_heads, got 6 and 4"):
        scratch.MultiHeadAttention(6, 4)
    layer = scratch.MultiHeadAttention(6, 2, rng=rng)
    with pytest.raises(
        ValueError, match=r"mask must be boolean \(T, T\) or \(N, T, T\) with T = 4"
    ):
        layer.attend(rng.standard_normal((2, 4, 6)), np.ones((4, 4)))
    with pytest.raises(ValueError, match=r"expects \(N, T, 6\)"):
        layer.forward(rng.standard_normal((2, 4, 5)))
    with pytest.raises(ValueError, match="embed_dim must be even for the sinusoidal encoding"):
        scratch.Transformer(5, 4, embed_dim=9, num_heads=3)


# --- parity with PyTorch (float64) ----------------------------------------------------------------


@st.composite
def attention_cases(draw, min_length: int = 1, min_head_dim: int = 1):
    heads = draw(st.integers(1, 3))
    return {
        "batch": draw(st.integers(1, 3)),
        "heads": heads,
        "head_dim": draw(st.integers(min_head_dim, 4)),
        "length": draw(st.integers(min_length, 6)),
        "mask": draw(st.sampled_from(["none", "causal", "random"])),
        "seed": draw(st.integers(0, 2**16)),
    }


def draw_mask(case, rng: np.random.Generator, every_row_attends: bool) -> np.ndarray | None:
    length = case["length"]
    if case["mask"] == "none":
        return None
    if case["mask"] == "causal":
        return scratch.causal_mask(length)
    mask = rng.random((case["batch"], length, length)) < 0.6
    if every_row_attends:
        mask[..., 0] = True
    return mask


@pytest.mark.torch
@settings(max_examples=30, deadline=None)
@given(case=attention_cases())
def test_attention_matches_scaled_dot_product_attention(case) -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(case["seed"])
    shape = (case["batch"], case["heads"], case["length"], case["head_dim"])
    q, k, v = (rng.standard_normal(shape) for _ in range(3))
    mask = draw_mask(case, rng, every_row_attends=False)  # SDPA also returns zeros for empty rows
    head_mask = None if mask is None else (mask if mask.ndim == 2 else mask[:, None])
    upstream = rng.standard_normal(shape)
    y, weights = scratch.attention(q, k, v, head_mask)
    grads = scratch.attention_backward(q, k, v, weights, upstream)
    tensors = [torch.tensor(a, requires_grad=True) for a in (q, k, v)]
    torch_mask = None if head_mask is None else torch.as_tensor(head_mask)  # the same polarity
    y_t = torch.nn.functional.scaled_dot_product_attention(*tensors, attn_mask=torch_mask)
    (y_t * torch.as_tensor(upstream)).sum().backward()
    np.testing.assert_allclose(y, y_t.detach().numpy(), **TORCH)
    for ours, tensor in zip(grads, tensors, strict=True):
        np.testing.assert_allclose(ours, tensor.grad.numpy(), **TORCH)


@pytest.mark.torch
@settings(max_examples=30, deadline=None)
@given(case=attention_cases())
def test_multi_head_attention_matches_torch(case) -> None:
    torch = pytest.importorskip("torch")
    import dltutor.torch as dtorch
    from dltutor.torch.attention import blocked

    rng = np.random.default_rng(case["seed"])
    embed = case["heads"] * case["head_dim"]
    layer = scratch.MultiHeadAttention(embed, case["heads"], rng=rng)
    nonzero_biases(layer, rng)
    x = rng.standard_normal((case["batch"], case["length"], embed))
    mask = draw_mask(case, rng, every_row_attends=True)  # MHA gives NaN for an empty row
    upstream = rng.standard_normal(x.shape)
    y = layer.attend(x, mask)
    grad_x = layer.backward(upstream)

    twin = torch.nn.MultiheadAttention(embed, case["heads"], batch_first=True).double()
    dtorch.set_weights(twin, layer.get_weights())
    x_t = torch.tensor(x, requires_grad=True)
    torch_mask = None
    if mask is not None:  # the book's True = may attend, MHA's True = blocked
        torch_mask = blocked(torch.as_tensor(mask))
        if torch_mask.ndim == 3:
            torch_mask = torch_mask.repeat_interleave(case["heads"], dim=0)  # (N·H, T, T)
    y_t, weights_t = twin(
        x_t, x_t, x_t, attn_mask=torch_mask, need_weights=True, average_attn_weights=False
    )
    (y_t * torch.as_tensor(upstream)).sum().backward()
    np.testing.assert_allclose(y, y_t.detach().numpy(), **TORCH)
    np.testing.assert_allclose(layer.weights, weights_t.detach().numpy(), **TORCH)
    np.testing.assert_allclose(grad_x, x_t.grad.numpy(), **TORCH)
    for ours, theirs in zip(layer.gradients(), dtorch.gradients(twin), strict=True):
        np.testing.assert_allclose(ours, theirs, **TORCH)


@pytest.mark.torch
@settings(max_examples=20, deadline=None)
@given(dim=st.integers(1, 8), rows=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_layer_norm_matches_torch(dim: int, rows: int, seed: int) -> None:
    torch = pytest.importorskip("torch")
    import dltutor.torch as dtorch

    rng = np.random.default_rng(seed)
    layer = scratch.LayerNorm(dim)
    layer.set_weights([rng.standard_normal(dim), rng.standard_normal(dim)])
    x, upstream = rng.standard_normal((rows, 3, dim)), rng.standard_normal((rows, 3, dim))
    y = layer.forward(x)
    grad_x = layer.backward(upstream)
    twin = torch.nn.LayerNorm(dim).double()  # eps 1e-5, as the scratch layer
    dtorch.set_weights(twin, layer.get_weights())
    x_t = torch.tensor(x, requires_grad=True)
    y_t = twin(x_t)
    (y_t * torch.as_tensor(upstream)).sum().backward()
    np.testing.assert_allclose(y, y_t.detach().numpy(), **TORCH)
    np.testing.assert_allclose(grad_x, x_t.grad.numpy(), **TORCH)
    for ours, theirs in zip(layer.gradients(), dtorch.gradients(twin), strict=True):
        np.testing.assert_allclose(ours, theirs, **TORCH)


@pytest.mark.torch
@settings(max_examples=15, deadline=None)
@given(case=attention_cases(), ff_units=st.integers(1, 8), causal=st.booleans())
def test_transformer_block_matches_transformer_encoder_layer(
    case, ff_units: int, causal: bool
) -> None:
    torch = pytest.importorskip("torch")
    import dltutor.torch as dtorch
    from dltutor.torch.attention import blocked

    rng = np.random.default_rng(case["seed"])
    embed = case["heads"] * case["head_dim"]
    block = scratch.TransformerBlock(embed, case["heads"], ff_units, causal=causal, rng=rng)
    nonzero_biases(block, rng)
    x, upstream = (rng.standard_normal((case["batch"], case["length"], embed)) for _ in range(2))
    y = block.forward(x)
    grad_x = block.backward(upstream)
    twin = torch.nn.TransformerEncoderLayer(
        embed,
        case["heads"],
        dim_feedforward=ff_units,
        dropout=0.0,
        batch_first=True,
        norm_first=True,
    ).double()
    dtorch.set_weights(twin, block.get_weights())
    x_t = torch.tensor(x, requires_grad=True)
    mask = blocked(torch.as_tensor(scratch.causal_mask(case["length"]))) if causal else None
    y_t = twin(x_t, src_mask=mask, is_causal=causal)
    (y_t * torch.as_tensor(upstream)).sum().backward()
    np.testing.assert_allclose(y, y_t.detach().numpy(), **TORCH)
    np.testing.assert_allclose(grad_x, x_t.grad.numpy(), **TORCH)
    for ours, theirs in zip(block.gradients(), dtorch.gradients(twin), strict=True):
        np.testing.assert_allclose(ours, theirs, **TORCH)


# --- parity with Keras (float32) -----------------------------------------------------------------


@pytest.mark.keras
@settings(max_examples=15, deadline=None)
@given(case=attention_cases(min_length=2, min_head_dim=2))
def test_multi_head_attention_matches_keras(case) -> None:
    # Length ≥ 2: Keras warns about a softmax over one element. Head size ≥ 2: Keras 3.15.1's
    # EinsumDense adds the projection bias along the sequence axis instead of the head axis
    # when the head size is 1 and the length equals the number of heads (measured:
    # off by the bias itself); dltutor.keras.Transformer refuses a head size of 1.
    pytest.importorskip("tensorflow")
    import keras
    import tensorflow as tf

    import dltutor.keras as dkeras

    rng = np.random.default_rng(case["seed"])
    embed = case["heads"] * case["head_dim"]
    layer = scratch.MultiHeadAttention(embed, case["heads"], rng=rng)
    nonzero_biases(layer, rng)
    layer.set_weights([w.astype(np.float32) for w in layer.get_weights()])
    x = rng.standard_normal((case["batch"], case["length"], embed)).astype(np.float32)
    mask = draw_mask(case, rng, every_row_attends=True)
    upstream = rng.standard_normal(x.shape).astype(np.float32)
    y = layer.attend(x.astype(np.float64), mask)
    grad_x = layer.backward(upstream.astype(np.float64))

    twin = keras.layers.MultiHeadAttention(case["heads"], case["head_dim"])
    twin(x, x)  # build
    dkeras.set_weights(twin, layer.get_weights())
    x_k = tf.Variable(x)
    keras_mask = (
        None
        if mask is None
        else np.broadcast_to(mask, (case["batch"], case["length"], case["length"]))
    )
    with tf.GradientTape() as tape:
        y_k, scores = twin(
            x_k, x_k, attention_mask=keras_mask, return_attention_scores=True
        )  # True = attend
        value = tf.reduce_sum(y_k * upstream)
    grad_k, *weight_grads = tape.gradient(value, [x_k, *twin.trainable_weights])
    np.testing.assert_allclose(y, y_k.numpy(), **KERAS)
    np.testing.assert_allclose(layer.weights, scores.numpy(), **KERAS)
    np.testing.assert_allclose(grad_x, grad_k.numpy(), **KERAS)
    # Every weight gradient, brought to the scratch layout by the layout module's converter.
    from dltutor.keras.layout import _to_scratch

    theirs = _to_scratch((twin, None), [np.asarray(g) for g in weight_grads], gradients=True)
    largest = max(float(np.abs(their).max()) for their in theirs)
    names = [name for name, _ in layer.parameters()]
    for name, ours, their in zip(names, layer.gradients(), theirs, strict=True):
        if name.endswith("b_k"):  # exactly 0; float32 leaves rounding of the layer's scale
            # (Keras gave 1.8e-6 for one drawn case, seed 727)
            assert np.abs(ours).max() < 1e-12
            np.testing.assert_allclose(their, 0.0, atol=max(1e-6, 1e-5 * largest))
        else:
            assert_float32_close(ours, their)


@pytest.mark.keras
def test_a_fully_masked_row_in_keras(rng) -> None:
    """Keras' MultiHeadAttention treats a query with nothing to attend to in two ways.

    Asked for its scores, it takes the explicit path: a masked softmax, then multiplied by
    the mask, so the row's weights are 0 and its output is the output bias, as in scratch.
    Otherwise (``ops.dot_product_attention``) masked scores get a large negative number
    added: for an all-masked row in float32 every score becomes the same number, the
    weights are uniform over *every* key and the output mixes all the values equally.
    """
    pytest.importorskip("tensorflow")
    import keras

    import dltutor.keras as dkeras

    layer = scratch.MultiHeadAttention(6, 2, rng=rng)
    nonzero_biases(layer, rng)
    layer.set_weights([w.astype(np.float32) for w in layer.get_weights()])
    x = rng.standard_normal((2, 4, 6)).astype(np.float32)
    mask = rng.random((2, 4, 4)) < 0.6
    mask[..., 0] = True
    mask[0, 1] = False  # query 1 of the first sequence may attend to nothing
    twin = keras.layers.MultiHeadAttention(2, 3)
    twin(x, x)  # build
    dkeras.set_weights(twin, layer.get_weights())
    ours = layer.attend(x.astype(np.float64), mask)

    explicit, scores = twin(x, x, attention_mask=mask, return_attention_scores=True)
    np.testing.assert_array_equal(np.asarray(scores)[0, :, 1], 0.0)
    np.testing.assert_allclose(np.asarray(explicit), ours, **KERAS)  # the empty row too
    np.testing.assert_allclose(ours[0, 1], layer.out.bias.value, rtol=1e-12)  # zeros, then b_o

    fast = np.asarray(twin(x, x, attention_mask=mask))
    rows = np.ones((2, 4), dtype=bool)
    rows[0, 1] = False
    np.testing.assert_allclose(fast[rows], ours[rows], **KERAS)  # every other row agrees
    values = x[0] @ layer.W_v.value + layer.b_v.value  # (T, E): every head's values
    uniform = values.mean(axis=0) @ layer.out.weight.value + layer.out.bias.value
    np.testing.assert_allclose(fast[0, 1], uniform, **KERAS)  # the mean of all values
    assert np.abs(fast[0, 1] - ours[0, 1]).max() > 1e-2  # which differs from the zeros


@pytest.mark.keras
@settings(max_examples=10, deadline=None)
# Four features or more, and rows whose variance is far above eps. Over 2 features layer
# normalisation outputs ±1 whatever the input, so its input gradient is a tiny difference of
# terms ~1000 times larger; and for a row of (nearly) equal values float32's rounding of
# x - mean is multiplied by up to 1/sqrt(eps) ≈ 316. Both test float32, not the layer.
@given(dim=st.integers(4, 8), seed=st.integers(0, 2**16))
def test_layer_norm_matches_keras(dim: int, seed: int) -> None:
    pytest.importorskip("tensorflow")
    import keras
    import tensorflow as tf

    import dltutor.keras as dkeras

    rng = np.random.default_rng(seed)
    layer = scratch.LayerNorm(dim)
    layer.set_weights(
        [rng.standard_normal(dim).astype(np.float32), rng.standard_normal(dim).astype(np.float32)]
    )
    x = rng.standard_normal((4, dim)).astype(np.float32)
    x = x[x.var(axis=-1) > 0.1]
    twin = keras.layers.LayerNormalization(epsilon=1e-5)  # Keras' default, 1e-3, would differ
    twin.build((None, dim))
    dkeras.set_weights(twin, layer.get_weights())
    upstream = rng.standard_normal(x.shape).astype(np.float32)
    y = layer.forward(x.astype(np.float64))
    grad_x = layer.backward(upstream.astype(np.float64))
    x_k = tf.Variable(x)
    with tf.GradientTape() as tape:
        y_k = twin(x_k)
        value = tf.reduce_sum(y_k * upstream)
    grad_k, grad_gamma, grad_beta = tape.gradient(value, [x_k, *twin.trainable_weights])
    np.testing.assert_allclose(y, y_k.numpy(), **KERAS)
    assert_float32_close(grad_x, grad_k.numpy())
    for ours, their in zip(layer.gradients(), (grad_gamma, grad_beta), strict=True):
        assert_float32_close(ours, their.numpy())


# --- the chapter's tasks ------------------------------------------------------------------


def test_reversal_data() -> None:
    from dltutor import data

    x, y = data.make_reversal(50, length=7, seed=3)
    assert x.shape == y.shape == (50, 7) and x.dtype.kind == "i"
    np.testing.assert_array_equal(y, x[:, ::-1])
    np.testing.assert_array_equal(data.make_reversal(50, length=7, seed=3)[0], x)  # seeded


def test_associative_recall_data() -> None:
    from dltutor import data

    x, y = data.make_associative_recall(200, pairs=4, num_keys=6, num_values=5, seed=1)
    assert x.shape == (200, 10) and y.shape == (200,)
    keys, values = x[:, 0:8:2], x[:, 1:8:2]
    assert (keys < 6).all() and ((values >= 6) & (values < 11)).all() and (x[:, -2] == 11).all()
    assert all(len(set(row)) == 4 for row in keys)  # distinct keys in a sequence
    for row, answer in zip(x, y, strict=True):  # the answer is the value stored with the query
        position = list(row[0:8:2]).index(row[-1])
        assert row[2 * position + 1] == answer
    with pytest.raises(ValueError, match="pairs must be at most num_keys"):
        data.make_associative_recall(10, pairs=7, num_keys=6)


@pytest.mark.parametrize(
    "framework",
    [
        pytest.param("torch", marks=pytest.mark.torch),
        pytest.param("keras", marks=pytest.mark.keras),
    ],
)
def test_attention_maps_of_the_twins_equal_the_scratch_maps(framework: str, rng) -> None:
    kwargs = {
        "vocab_size": 7,
        "context": 6,
        "embed_dim": 8,
        "num_heads": 2,
        "num_layers": 2,
        "ff_units": 12,
    }
    reference = scratch.Transformer(**kwargs, rng=rng)
    nonzero_biases(reference, rng)
    ids = rng.integers(0, 7, size=(3, 6))
    if framework == "torch":
        pytest.importorskip("torch")
        import dltutor.torch as module

        twin = module.Transformer(**kwargs).double()
        tolerance = TORCH
    else:
        pytest.importorskip("tensorflow")
        import dltutor.keras as module

        reference.set_weights([w.astype(np.float32) for w in reference.get_weights()])
        twin = module.Transformer(**kwargs)
        tolerance = KERAS
    module.set_weights(twin, reference.get_weights())
    reference.predict(ids, batch_size=3)
    maps = module.attention_maps(twin, ids)
    assert len(maps) == 2
    for ours, theirs in zip(reference.attention_maps(), maps, strict=True):
        np.testing.assert_allclose(ours, theirs, **tolerance)
        np.testing.assert_array_equal(np.triu(theirs, 1), 0.0)  # causal: nothing above the diagonal


def test_key_blind_answers_are_the_most_frequent_stored_value() -> None:
    from dltutor import data
    from dltutor.scratch.attention import key_blind_answers

    # k v k v k v k v ? k: values 20, 21, 20, 22 -> 20; values 23, 22, 22, 23 -> 22 (a tie:
    # the smaller id)
    x = np.array([[0, 20, 1, 21, 2, 20, 3, 22, 30, 1], [0, 23, 1, 22, 2, 22, 3, 23, 30, 3]])
    np.testing.assert_array_equal(key_blind_answers(x), [20, 22])
    x, y = data.make_associative_recall(300, pairs=8, seed=5)
    stored = x[:, 1:16:2]
    for row, answer in zip(stored, key_blind_answers(x), strict=True):
        counts = {value: list(row).count(value) for value in row}
        assert counts[answer] == max(counts.values())
        assert answer == min(v for v, c in counts.items() if c == counts[answer])
    with pytest.raises(ValueError, match=r"integer ids of shape \(N, 2P \+ 2\)"):
        key_blind_answers(x[:, :-1])


def test_recall_head_scores_of_a_perfect_and_of_a_uniform_circuit() -> None:
    from dltutor import data
    from dltutor.scratch.attention import recall_head_scores

    x, y = data.make_associative_recall(50, pairs=4, seed=2)
    n, t = x.shape
    first = np.zeros((n, 2, t, t))  # head 0: every position reads the one before
    first[:, 0, np.arange(1, t), np.arange(t - 1)] = 1.0
    first[:, 0, 0, 0] = 1.0
    first[:, 1] = np.tril(np.ones((t, t))) / np.arange(1, t + 1)[:, None]  # head 1: uniform
    second = np.zeros((n, 1, t, t))
    for row in range(n):  # the query reads the value of the queried key
        position = list(x[row, 0:8:2]).index(x[row, -1])
        second[row, 0, -1, 2 * position + 1] = 1.0
        assert x[row, 2 * position + 1] == y[row]
    scores = recall_head_scores(first, second, x)
    # uniform weights put the argmax on position 0: the key of v1 only, 1 value in 4
    np.testing.assert_array_equal(scores["previous"], [1.0, 0.25])
    np.testing.assert_array_equal(scores["matching"], [1.0])
    np.testing.assert_array_equal(scores["mass"], [1.0])
    with pytest.raises(ValueError, match=r"second_layer must be attention maps \(N, H, 10, 10\)"):
        recall_head_scores(first, second[:, :, :-1], x)


@pytest.mark.torch
def test_last_position_reads_the_last_logits(rng) -> None:
    torch = pytest.importorskip("torch")
    import dltutor.torch as dtorch
    from dltutor.torch.attention import LastPosition

    model = dtorch.Transformer(7, 6, embed_dim=8, num_heads=2)
    ids = torch.as_tensor(rng.integers(0, 7, size=(3, 6)))
    np.testing.assert_array_equal(
        LastPosition(model)(ids).detach().numpy(), model(ids)[:, -1].detach().numpy()
    )
