"""The scratch core the later chapters stand on: parameters, modes, shapes, ids, batching, specs."""

from __future__ import annotations

import numpy as np
import pytest

from dltutor import scratch, specs

TOLERANCE = 1e-7


# --- parameters and modes ---------------------------------------------------------------


def test_parameters_walk_nested_layers_with_stable_names(rng) -> None:
    model = scratch.Autoencoder([6, 4, 2], rng=rng)
    names = [name for name, _ in model.parameters()]
    assert names == ["0.0.W", "0.0.b", "0.2.W", "0.2.b", "1.0.W", "1.0.b", "1.2.W", "1.2.b"]
    assert all(isinstance(p, scratch.Parameter) for _, p in model.parameters())


def test_a_parameter_holds_its_gradient_in_one_place(rng) -> None:
    layer = scratch.LSTM(2, 3, rng=rng)
    by_name = dict(layer.parameters())
    assert by_name["W_h"] is dict(layer.cell.parameters())["W_h"]  # the cell's own object
    layer.backward(np.ones_like(layer.forward(rng.standard_normal((2, 4, 2)))))
    assert by_name["W_h"].grad is layer.grads["W_h"]
    with pytest.raises(TypeError):
        layer.params["W_h"] = np.zeros((3, 12))  # type: ignore[index]  # read-only view: change arrays in place


def test_train_and_eval_reach_every_layer(rng) -> None:
    model = scratch.VAE(6, 5, 2, rng=rng)
    model.eval()
    assert (
        not model.training and not model.encoder.layers[0].training and not model.decoder.training
    )
    model.train()
    assert model.training and model.decoder.layers[-1].training


def test_vae_samples_only_in_training_mode(rng) -> None:
    model = scratch.VAE(6, 5, 2, rng=rng)
    x = rng.random((4, 6))
    first, second = model.forward(x)[0], model.forward(x)[0]
    assert not np.allclose(first, second)  # two draws of epsilon
    model.eval()
    np.testing.assert_array_equal(model.forward(x)[0], model.forward(x)[0])


def test_vae_gradcheck_through_the_sample(rng) -> None:
    class FixedNoise(scratch.VAE):
        def forward(self, x):  # the same epsilon at every call, so finite differences apply
            self._rng = np.random.default_rng(7)
            return super().forward(x)

    model = FixedNoise(6, 5, 2, rng=rng)
    assert model.training
    errors = scratch.check_layer(model, rng.random((3, 6)), rng)
    assert max(errors.values()) < TOLERANCE, errors


def test_vae_loss_gradcheck(rng) -> None:
    loss = scratch.VAELoss()
    x = rng.random((4, 6))
    outputs = tuple(rng.standard_normal(shape) for shape in [(4, 6), (4, 2), (4, 2)])
    loss.forward(outputs, x)
    analytic = loss.backward()
    for index in range(3):
        parts = [part.copy() for part in outputs]

        def value() -> float:
            return loss.forward(tuple(parts), x)  # noqa: B023

        numeric = scratch.numerical_gradient(value, parts[index])
        assert scratch.relative_error(analytic[index], numeric) < TOLERANCE


# --- shapes the Transformer and the embeddings need ---------------------------------------


def test_linear_applies_to_every_step_of_a_sequence(rng) -> None:
    layer = scratch.Linear(4, 3, rng=rng)
    x = rng.standard_normal((2, 5, 4))  # (N, T, D)
    y = layer.forward(x)
    assert y.shape == (2, 5, 3)
    np.testing.assert_allclose(y[:, 2], layer.forward(x[:, 2]))
    errors = scratch.check_layer(layer, x, rng)
    assert max(errors.values()) < TOLERANCE, errors


def test_embedding_keeps_ids_integer_and_adds_repeated_gradients(rng) -> None:
    layer = scratch.Embedding(5, 3, rng=rng)
    ids = np.array([[1, 1, 4], [0, 1, 2]])  # id 1 three times
    y = layer.forward(ids)
    np.testing.assert_array_equal(y[0, 0], layer.params["W"][1])
    upstream = rng.standard_normal(y.shape)
    layer.backward(upstream)
    np.testing.assert_allclose(
        layer.grads["W"][1], upstream[0, 0] + upstream[0, 1] + upstream[1, 1]
    )
    np.testing.assert_array_equal(layer.grads["W"][3], 0.0)  # never read
    errors = scratch.check_layer(layer, ids, rng)
    assert set(errors) == {"W"} and errors["W"] < TOLERANCE
    with pytest.raises(TypeError, match="ids must hold integer ids"):
        layer.forward(ids.astype(float))
    with pytest.raises(ValueError, match=r"ids must lie in \[0, 5\), got values from 0 to 5"):
        layer.forward(np.array([[0, 5]]))


@pytest.mark.torch
def test_embedding_matches_torch_with_repeated_ids(rng) -> None:
    torch = pytest.importorskip("torch")

    layer = scratch.Embedding(6, 4, rng=rng)
    ids = rng.integers(0, 3, size=(3, 7))  # few distinct ids: many repeats
    upstream = rng.standard_normal((3, 7, 4))
    y = layer.forward(ids)
    layer.backward(upstream)
    twin = torch.nn.Embedding(6, 4).double()
    with torch.no_grad():
        twin.weight.copy_(torch.from_numpy(layer.params["W"]))
    y_t = twin(torch.as_tensor(ids))
    (y_t * torch.from_numpy(upstream)).sum().backward()
    np.testing.assert_allclose(y, y_t.detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(layer.grads["W"], twin.weight.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.keras
def test_embedding_matches_keras_with_repeated_ids(rng) -> None:
    pytest.importorskip("tensorflow")
    import keras
    import tensorflow as tf

    import dltutor.keras  # noqa: F401  (quiet TensorFlow)

    layer = scratch.Embedding(6, 4, rng=rng)
    layer.params["W"][...] = layer.params["W"].astype(np.float32)
    ids = rng.integers(0, 3, size=(3, 7))
    upstream = rng.standard_normal((3, 7, 4)).astype(np.float32)
    y = layer.forward(ids)
    layer.backward(upstream)
    twin = keras.layers.Embedding(6, 4)
    twin.build((None, 7))
    twin.set_weights([layer.params["W"].astype(np.float32)])
    with tf.GradientTape() as tape:
        y_k = twin(ids.astype(np.int32))
        value = tf.reduce_sum(y_k * upstream)
    (grad,) = tape.gradient(value, twin.trainable_weights)
    np.testing.assert_allclose(y, y_k.numpy(), rtol=1e-6)
    np.testing.assert_allclose(
        layer.grads["W"], tf.convert_to_tensor(grad).numpy(), rtol=1e-5, atol=1e-6
    )


def test_cross_entropy_over_sequences_is_the_mean_over_positions(rng) -> None:
    logits = rng.standard_normal((2, 3, 4))  # (N, T, V)
    labels = rng.integers(0, 4, size=(2, 3))
    sequence = scratch.SequenceCrossEntropyLoss().forward(logits, labels)
    flat = scratch.CrossEntropyLoss().forward(logits.reshape(6, 4), labels.reshape(6))
    assert sequence == pytest.approx(flat, rel=1e-12)
    assert scratch.check_loss(scratch.SequenceCrossEntropyLoss(), logits, labels) < TOLERANCE
    with pytest.raises(ValueError, match=r"labels must have shape \(2, 3\)"):
        scratch.CrossEntropyLoss().forward(logits, labels[:, :2])
    with pytest.raises(ValueError, match=r"logits must be \(N, T, V\)"):
        scratch.SequenceCrossEntropyLoss().forward(logits[:, 0], labels[:, 0])


@pytest.mark.parametrize("kind", specs.RECURRENT_KINDS)
def test_recurrent_net_gradcheck(kind: str, rng) -> None:
    model = scratch.RecurrentNet(kind, 3, 4, 5, vocab_size=5, return_sequences=True, rng=rng)
    errors = scratch.check_layer(model, rng.integers(0, 5, size=(2, 6)), rng)
    assert max(errors.values()) < TOLERANCE, errors


def test_recurrent_net_lstm_remembers_by_default(rng) -> None:
    model = scratch.RecurrentNet("lstm", 2, 3, 1, rng=rng)
    np.testing.assert_array_equal(model.layers[0].params["b"][3:6], 1.0)  # forget gates


# --- gradient checks on a sample, and a 1% error caught in every layer family -------------


def test_sampled_gradcheck_checks_only_the_sample(rng) -> None:
    layer = scratch.Linear(40, 30, rng=rng)
    calls = []

    class Counting(scratch.Linear):
        def forward(self, x):
            calls.append(1)
            return super().forward(x)

    counted = Counting(40, 30, rng=rng)
    errors = scratch.check_layer(counted, rng.standard_normal((3, 40)), rng, max_entries=10)
    assert max(errors.values()) < TOLERANCE
    assert len(calls) == 2 + 2 * (10 + 10 + 10)  # two forwards, then 2 per sampled entry of x, W, b
    assert layer.params["W"].size == 1200  # all of W would cost 2,400 forwards


def wrong_by_one_percent(layer_class: type, name: str) -> type:
    class Wrong(layer_class):  # type: ignore[misc, valid-type]
        def backward(self, grad_output):
            grad_input = super().backward(grad_output)
            parameter = dict(self.parameters())[name]
            parameter.grad = 1.01 * parameter.grad  # a 1% error the check must see
            return grad_input

    return Wrong


FAMILIES = [
    ("dense", lambda rng: wrong_by_one_percent(scratch.Linear, "W")(5, 4, rng=rng), (3, 5)),
    (
        "conv",
        lambda rng: wrong_by_one_percent(scratch.Conv2D, "W")(2, 3, 3, padding=1, rng=rng),
        (2, 2, 5, 5),
    ),
    (
        "transposed conv",
        lambda rng: wrong_by_one_percent(scratch.ConvTranspose2D, "W")(2, 2, rng=rng),
        (2, 2, 3, 3),
    ),
    ("recurrent", lambda rng: wrong_by_one_percent(scratch.LSTM, "W_h")(3, 4, rng=rng), (2, 5, 3)),
    ("embedding", lambda rng: wrong_by_one_percent(scratch.Embedding, "W")(7, 3, rng=rng), None),
]


@pytest.mark.parametrize("family, make, shape", FAMILIES, ids=[f[0] for f in FAMILIES])
@pytest.mark.parametrize("max_entries", [None, 20])
def test_gradcheck_catches_a_one_percent_error(family, make, shape, max_entries, rng) -> None:
    layer = make(rng)
    x = rng.integers(0, 7, size=(2, 4)) if shape is None else rng.standard_normal(shape)
    errors = scratch.check_layer(layer, x, rng, max_entries=max_entries)
    name = "W_h" if family == "recurrent" else "W"
    assert errors[name] > 1e-3, errors  # a correct backward gives < 1e-7


# --- the training loop: an optimiser protocol, batches, seeds ----------------------------


class RecordingSGD:
    """An optimiser written against the protocol alone: it records the names it is given."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def step(self, parameters) -> None:
        for name, parameter in parameters:
            self.names.append(name)
            parameter.value -= 0.1 * parameter.grad


def test_fit_takes_any_optimiser_of_the_protocol(rng) -> None:
    model = scratch.MLP([3, 4, 2], rng=rng)
    optimizer = RecordingSGD()
    scratch.fit(
        model,
        scratch.MSELoss(),
        optimizer,
        rng.random((8, 3)),
        rng.random((8, 2)),
        epochs=1,
        batch_size=4,
    )
    assert optimizer.names == ["0.W", "0.b", "2.W", "2.b"] * 2  # two batches


class LargestBatch(scratch.Linear):
    largest = 0

    def forward(self, x):
        LargestBatch.largest = max(LargestBatch.largest, len(x))
        return super().forward(x)


def test_fit_evaluate_and_predict_work_in_batches(rng) -> None:
    model = scratch.Sequential([LargestBatch(3, 2, rng=rng)])
    x, y = rng.random((1000, 3)), rng.random((1000, 2))
    scratch.fit(
        model,
        scratch.MSELoss(),
        scratch.SGD(0.1),
        x,
        y,
        epochs=1,
        batch_size=50,
        validation_data=(x, y),
    )
    scratch.evaluate(model, scratch.MSELoss(), x, y, batch_size=64)
    model.predict(x, batch_size=100)
    assert LargestBatch.largest == 100  # no forward pass ever saw all 1000 examples


def test_evaluate_in_batches_equals_the_whole_set(rng) -> None:
    model = scratch.MLP([3, 5, 4], rng=rng)
    x, y = rng.random((97, 3)), rng.integers(0, 4, 97)
    batched = scratch.evaluate(model, scratch.CrossEntropyLoss(), x, y, batch_size=10)
    whole = scratch.CrossEntropyLoss().forward(model.forward(x), y)
    assert batched["loss"] == pytest.approx(whole, rel=1e-12)


def test_fit_is_seeded_and_shuffles_by_default(rng) -> None:
    x, y = rng.random((40, 3)), rng.random((40, 1))

    def train(**kwargs) -> list[float]:
        model = scratch.MLP([3, 1], rng=np.random.default_rng(0))
        return scratch.fit(
            model, scratch.MSELoss(), scratch.SGD(0.1), x, y, epochs=3, batch_size=8, **kwargs
        )["loss"]

    assert train() == train(seed=0)  # shuffled with seed 0 unless told otherwise
    assert train(seed=1) != train(seed=0)
    assert train(shuffle=False) != train()


def test_history_accuracy_is_the_mean_over_the_epochs_batches(rng) -> None:
    x, y = rng.random((30, 3)), rng.integers(0, 2, 30)
    model = scratch.MLP([3, 2], rng=np.random.default_rng(0))
    copy = scratch.MLP([3, 2], rng=np.random.default_rng(0))
    history = scratch.fit(
        model,
        scratch.CrossEntropyLoss(),
        scratch.SGD(0.5),
        x,
        y,
        epochs=1,
        batch_size=10,
        shuffle=False,
    )
    correct = 0
    for start in range(0, 30, 10):  # replay the epoch: accuracy of each batch before its step
        batch = slice(start, start + 10)
        output = copy.forward(x[batch])
        correct += int((output.argmax(axis=1) == y[batch]).sum())
        loss = scratch.CrossEntropyLoss()
        loss.forward(output, y[batch])
        copy.backward(loss.backward())
        scratch.SGD(0.5).step(copy.parameters())
    assert history["accuracy"] == [correct / 30]


# --- specs: errors in the model's own words ------------------------------------------------


@pytest.mark.parametrize(
    "make, error, match",
    [
        (
            lambda: scratch.ConvAutoencoder(image_size=2),
            ValueError,
            "image_size must be divisible by 4",
        ),
        (
            lambda: scratch.ConvAutoencoder(channels=(16, 8, 4)),
            ValueError,
            r"channels must have exactly 2 entries, got \[16, 8, 4\]",
        ),
        (
            lambda: scratch.VAE(hidden_units=0),
            ValueError,
            "hidden_units must be a positive integer, got 0",
        ),
        (
            lambda: scratch.RecurrentNet("gru", 3, 0, 2),
            ValueError,
            "hidden_size must be a positive integer, got 0",
        ),
        (lambda: scratch.RecurrentNet("transformer", 3, 4, 2), ValueError, "kind must be one of"),
        (
            lambda: scratch.Autoencoder([8, 4], code_activation="gelu"),
            ValueError,
            "code_activation must be one of",
        ),
        (
            lambda: scratch.CNN(1, 8, 10, channels=(8, 8, 8, 8)),
            ValueError,
            "4 pooling blocks halve a 8-pixel image to nothing: use at most 3",
        ),
    ],
)
def test_specs_speak_in_the_models_own_arguments(make, error, match) -> None:
    with pytest.raises(error, match=match):
        make()


def test_specs_are_frozen_and_describe_the_layers() -> None:
    spec = specs.CNNSpec(1, 8, 10, channels=[16])  # type: ignore[arg-type]
    assert spec.channels == (16,)
    with pytest.raises(AttributeError):
        spec.image_size = 16  # type: ignore[misc]
    assert [type(layer).__name__ for layer in spec.layers()] == [
        "Conv",
        "MaxPool",
        "Flatten",
        "Dense",
        "Dense",
    ]
    assert spec.layers()[3] == specs.Dense(16 * 4 * 4, 64, "relu")


@pytest.mark.torch
def test_adam_steps_as_torch_optim_adam(rng) -> None:
    torch = pytest.importorskip("torch")
    import dltutor.torch as dtorch

    model = scratch.MLP([4, 6, 3], activation="tanh", rng=rng)
    twin = dtorch.MLP([4, 6, 3], activation="tanh").double()
    dtorch.set_weights(twin, model.get_weights())
    ours = scratch.Adam(learning_rate=0.01, betas=(0.8, 0.99), eps=1e-6)
    theirs = torch.optim.Adam(twin.parameters(), lr=0.01, betas=(0.8, 0.99), eps=1e-6)
    loss = scratch.CrossEntropyLoss()
    for _ in range(50):
        x, y = rng.standard_normal((8, 4)), rng.integers(0, 3, 8)
        loss.forward(model.forward(x), y)
        model.backward(loss.backward())
        ours.step(model.parameters())
        theirs.zero_grad()
        torch.nn.functional.cross_entropy(twin(torch.as_tensor(x)), torch.as_tensor(y)).backward()
        theirs.step()
    for mine, torchs in zip(model.get_weights(), dtorch.get_weights(twin), strict=True):
        np.testing.assert_allclose(mine, torchs, rtol=1e-10, atol=1e-12)
