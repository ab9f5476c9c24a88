"""RNN, LSTM and GRU: gradient checks, and parity with PyTorch and Keras — outputs, final states, gradients."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dltutor import scratch

KINDS = ["rnn", "lstm", "gru"]


def make_layer(
    kind: str, input_size: int, hidden_size: int, rng, reset_after: bool = True
) -> scratch.Recurrent:
    layer = {
        "rnn": lambda: scratch.RNN(input_size, hidden_size, rng=rng),
        "lstm": lambda: scratch.LSTM(input_size, hidden_size, rng=rng),
        "gru": lambda: scratch.GRU(input_size, hidden_size, reset_after=reset_after, rng=rng),
    }[kind]()
    for (
        value
    ) in layer.params.values():  # non-zero biases, weights large enough to saturate a little
        value[...] = 0.6 * rng.standard_normal(value.shape)
    return layer


def run_scratch(layer: scratch.Recurrent, x: np.ndarray, upstream: np.ndarray):
    outputs = layer.forward(x)
    grad_x = layer.backward(upstream)
    return outputs, layer.final_state, grad_x, [layer.grads[name] for name in layer.params]


@pytest.mark.parametrize(
    "kind, reset_after", [("rnn", True), ("lstm", True), ("gru", True), ("gru", False)]
)
def test_backward_through_time_gradcheck(kind: str, reset_after: bool, rng) -> None:
    layer = make_layer(kind, 3, 4, rng, reset_after)
    errors = scratch.check_layer(layer, rng.standard_normal((2, 6, 3)), rng)
    assert max(errors.values()) < 1e-7, errors


def test_sequence_classifier_gradcheck(rng) -> None:
    model = scratch.Sequential(
        [make_layer("lstm", 2, 3, rng), scratch.LastTimeStep(), scratch.Linear(3, 2, rng=rng)]
    )
    errors = scratch.check_layer(model, rng.standard_normal((2, 5, 2)), rng)
    assert max(errors.values()) < 1e-7, errors


def test_hidden_gradients_are_recorded(rng) -> None:
    layer = make_layer("rnn", 2, 3, rng)
    outputs = layer.forward(rng.standard_normal((2, 7, 2)))
    upstream = np.zeros_like(outputs)
    upstream[:, -1] = 1.0  # the loss sees only the last step
    layer.backward(upstream)
    assert len(layer.hidden_gradients) == 7
    np.testing.assert_array_equal(layer.hidden_gradients[-1], upstream[:, -1])
    assert np.linalg.norm(layer.hidden_gradients[0]) > 0  # and it reaches back to the first step


def test_recurrent_bad_input(rng) -> None:
    layer = scratch.LSTM(3, 4, rng=rng)
    with pytest.raises(
        ValueError, match=r"inputs \(N, T, 3\), got array of dtype float64 and shape \(2, 5, 2\)"
    ):
        layer.forward(np.zeros((2, 5, 2)))
    with pytest.raises(ValueError, match="x must be 3-D"):
        layer.forward(np.zeros((2, 3)))
    with pytest.raises(RuntimeError, match="before forward"):
        scratch.GRU(3, 4, rng=rng).backward(np.zeros((1, 2, 4)))
    layer.forward(np.zeros((2, 5, 3)))
    with pytest.raises(ValueError, match="must cover the 5 steps"):
        layer.backward(np.zeros((2, 4, 4)))
    with pytest.raises(TypeError, match="reset_after must be True or False"):
        scratch.GRU(3, 4, reset_after="yes")  # type: ignore[arg-type]


def recurrent_cases(kinds: list[str]):
    return st.fixed_dictionaries(
        {
            "kind": st.sampled_from(kinds),
            "batch": st.integers(1, 3),
            "steps": st.integers(1, 6),
            "input_size": st.integers(1, 4),
            "hidden_size": st.integers(1, 5),
            "seed": st.integers(0, 2**16),
        }
    )


@pytest.mark.torch
@settings(max_examples=30, deadline=None)
@given(case=recurrent_cases(KINDS))
def test_matches_torch(case) -> None:
    torch = pytest.importorskip("torch")
    import dltutor.torch as dtorch

    rng = np.random.default_rng(case["seed"])
    layer = make_layer(case["kind"], case["input_size"], case["hidden_size"], rng)
    x = rng.standard_normal((case["batch"], case["steps"], case["input_size"]))
    upstream = rng.standard_normal((case["batch"], case["steps"], case["hidden_size"]))
    outputs, final_state, grad_x, grads = run_scratch(layer, x, upstream)

    module_class = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[case["kind"]]
    module = module_class(case["input_size"], case["hidden_size"], batch_first=True).double()
    dtorch.set_weights(module, [layer.params[name] for name in layer.params])
    x_t = torch.tensor(x, requires_grad=True)
    outputs_t, state_t = module(x_t)
    (outputs_t * torch.tensor(upstream)).sum().backward()

    def close(ours, theirs):
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)

    close(outputs, outputs_t.detach().numpy())
    final_t = state_t if isinstance(state_t, tuple) else (state_t,)  # LSTM: (h_n, c_n)
    for ours, theirs in zip(final_state, final_t, strict=True):
        close(ours, theirs[0].detach().numpy())
    close(grad_x, x_t.grad.numpy())
    for ours, theirs in zip(grads, dtorch.gradients(module), strict=True):
        close(ours, theirs)


@pytest.mark.keras
@settings(max_examples=20, deadline=None)
@given(case=recurrent_cases(KINDS + ["gru-reset-before"]))
def test_matches_keras(case) -> None:
    pytest.importorskip("tensorflow")
    import keras
    import tensorflow as tf

    import dltutor.keras as dkeras

    rng = np.random.default_rng(case["seed"])
    kind, reset_after = (
        ("gru", False) if case["kind"] == "gru-reset-before" else (case["kind"], True)
    )
    layer = make_layer(kind, case["input_size"], case["hidden_size"], rng, reset_after)
    if not reset_after:
        layer.params["b_h"][...] = 0.0  # Keras' reset-before GRU has a single, additive bias
    for value in layer.params.values():
        value[...] = value.astype(np.float32)
    x = rng.standard_normal((case["batch"], case["steps"], case["input_size"])).astype(np.float32)
    upstream = rng.standard_normal((case["batch"], case["steps"], case["hidden_size"])).astype(
        np.float32
    )
    outputs, final_state, grad_x, grads = run_scratch(layer, x, upstream)

    options = {"return_sequences": True, "return_state": True}
    keras_layer = {
        "rnn": lambda: keras.layers.SimpleRNN(case["hidden_size"], **options),
        "lstm": lambda: keras.layers.LSTM(case["hidden_size"], **options),
        "gru": lambda: keras.layers.GRU(case["hidden_size"], reset_after=reset_after, **options),
    }[kind]()
    keras_layer.build((None, case["steps"], case["input_size"]))
    dkeras.set_weights(keras_layer, [layer.params[name] for name in layer.params])
    x_t = tf.Variable(x)
    with tf.GradientTape() as tape:
        outputs_k, *states_k = keras_layer(x_t)
        value = tf.reduce_sum(outputs_k * upstream)
    keras_grads = tape.gradient(value, [x_t, *keras_layer.trainable_weights])

    def close(ours, theirs):
        np.testing.assert_allclose(ours, np.asarray(theirs), rtol=1e-5, atol=1e-5)

    close(outputs, outputs_k)
    for ours, theirs in zip(final_state, states_k, strict=True):  # LSTM: [h, c]
        close(ours, theirs)
    close(grad_x, keras_grads[0])
    dW_x, dW_h, d_bias = (np.asarray(g) for g in keras_grads[1:])
    close(grads[0], dW_x)
    close(grads[1], dW_h)
    if kind == "gru" and reset_after:
        close(grads[2], d_bias[0])
        close(grads[3], d_bias[1])
    else:
        close(grads[2], d_bias)


def test_clip_by_global_norm() -> None:
    gradients = [np.array([3.0, 0.0]), np.array([[4.0]])]  # joint norm 5
    assert scratch.clip_by_global_norm(gradients, 10.0) == 5.0
    np.testing.assert_array_equal(gradients[0], [3.0, 0.0])  # under the limit: untouched
    assert scratch.clip_by_global_norm(gradients, 1.0) == 5.0
    np.testing.assert_allclose(gradients[0], [0.6, 0.0])
    np.testing.assert_allclose(gradients[1], [[0.8]])  # same direction, norm 1
    with pytest.raises(ValueError, match="max_norm must be positive"):
        scratch.clip_by_global_norm(gradients, 0.0)


def test_sgd_clips_before_stepping(rng) -> None:
    model = scratch.MLP([2, 1], rng=rng)
    before = [w.copy() for w in model.get_weights()]
    loss = scratch.MSELoss()
    loss.forward(model.forward(np.full((1, 2), 100.0)), np.zeros((1, 1)))
    model.backward(loss.backward())
    optimizer = scratch.SGD(1.0, max_grad_norm=0.5)
    optimizer.step(model.parameters())
    step = np.sqrt(
        sum(np.sum((a - b) ** 2) for a, b in zip(model.get_weights(), before, strict=True))
    )
    assert optimizer.last_gradient_norm > 0.5 and np.isclose(step, 0.5)


def test_sequence_data() -> None:
    from dltutor import data

    x, y = data.make_adding_problem(200, 10, seed=0)
    assert x.shape == (200, 10, 2) and y.shape == (200, 1)
    assert (x[:, :, 1].sum(axis=1) == 2).all() and (x[:, :5, 1].sum(axis=1) == 1).all()
    np.testing.assert_allclose(y[:, 0], (x[:, :, 0] * x[:, :, 1]).sum(axis=1), rtol=1e-6)
    series = data.make_lorenz(200, seed=0)
    assert series.shape == (200, 3) and np.isfinite(series).all()
    inputs, targets = data.sliding_windows(series[:, 0], 7)
    assert inputs.shape == (193, 7, 1) and targets.shape == (193, 1)
    np.testing.assert_array_equal(inputs[3, :, 0], series[3:10, 0])
    assert targets[3, 0] == series[10, 0]
    vocabulary = data.CharVocabulary("hello world")
    assert vocabulary.decode(vocabulary.encode("low")) == "low" and vocabulary.size == 8
    ids, next_ids = data.next_token_pairs(vocabulary.encode("hello world"), 3)
    assert ids.shape == (3, 3) and vocabulary.decode(next_ids[0]) == "ell"
    assert len(data.load_python_docs_text()) > 100_000
    with pytest.raises(ValueError, match="outside the vocabulary"):
        vocabulary.encode("hello!")
    with pytest.raises(ValueError, match="window must be shorter than the series"):
        data.sliding_windows(np.zeros(5), 5)


@pytest.mark.torch
def test_torch_recurrent_net(rng) -> None:
    torch = pytest.importorskip("torch")
    import dltutor.torch as dtorch
    from dltutor import data

    classifier = dtorch.RecurrentNet("gru", 8, 16, 10)
    assert tuple(classifier(torch.zeros(4, 8, 8)).shape) == (4, 10)
    lstm = dtorch.RecurrentNet("lstm", 8, 16, 1)
    np.testing.assert_array_equal(
        lstm.recurrent.bias_ih_l0[16:32].detach().numpy(), 1.0
    )  # forget gate
    vocabulary = data.CharVocabulary("abcde ")
    language_model = dtorch.RecurrentNet(
        "lstm", 4, 8, vocabulary.size, vocab_size=vocabulary.size, return_sequences=True
    )
    assert tuple(language_model(torch.zeros(2, 5, dtype=torch.long)).shape) == (
        2,
        5,
        vocabulary.size,
    )
    text = dtorch.sample_text(language_model, vocabulary, "ab", length=20, seed=1)
    assert len(text) == 22 and text.startswith("ab") and set(text) <= set("abcde ")
    assert text == dtorch.sample_text(language_model, vocabulary, "ab", length=20, seed=1)
    with pytest.raises(ValueError, match="kind must be one of"):
        dtorch.RecurrentNet("transformer", 8, 16, 10)


@pytest.mark.keras
def test_keras_recurrent_net() -> None:
    pytest.importorskip("tensorflow")
    import dltutor.keras as dkeras
    from dltutor import data

    assert dkeras.RecurrentNet("rnn", 8, 16, 10)(np.zeros((4, 8, 8), np.float32)).shape == (4, 10)
    vocabulary = data.CharVocabulary("abcde ")
    language_model = dkeras.RecurrentNet(
        "lstm", 4, 8, vocabulary.size, vocab_size=vocabulary.size, return_sequences=True
    )
    assert language_model(np.zeros((2, 5), np.int32)).shape == (2, 5, vocabulary.size)
    text = dkeras.sample_text(language_model, vocabulary, "ab", length=10, seed=1)
    assert len(text) == 12 and set(text) <= set("abcde ")
    with pytest.raises(ValueError, match="temperature must be positive"):
        dkeras.sample_text(language_model, vocabulary, "ab", temperature=0.0)
