"""The training loops learn: real data, real thresholds (the chapters assert the full results)."""

import copy

import numpy as np
import pytest

from dltutor import data, metrics, plot, scratch


def test_minibatches_cover_every_index_once(rng) -> None:
    batches = list(scratch.minibatches(10, 4, rng))
    assert [len(b) for b in batches] == [4, 4, 2]
    assert sorted(np.concatenate(batches)) == list(range(10))


def test_full_batch_gradient_descent_reaches_least_squares() -> None:
    x, y = data.make_linear(200, slope=2.0, intercept=1.0, noise=0.1, seed=0)
    model = scratch.MLP([1, 1], rng=np.random.default_rng(0))
    history = scratch.fit(
        model, scratch.MSELoss(), scratch.SGD(0.5), x, y, epochs=200, batch_size=200
    )
    W, b = model.get_weights()
    exact_slope, exact_intercept = np.polyfit(x[:, 0], y[:, 0], 1)  # least squares
    assert abs(W[0, 0] - exact_slope) < 1e-6 and abs(b[0] - exact_intercept) < 1e-6
    assert history["loss"][-1] < history["loss"][0]


def test_scratch_classifier_learns_digits() -> None:
    digits = data.load_digits(seed=0)
    model = scratch.MLP([64, 32, 10], rng=np.random.default_rng(0))
    history = scratch.fit(
        model,
        scratch.CrossEntropyLoss(),
        scratch.SGD(0.2),
        digits.x_train,
        digits.y_train,
        epochs=10,
        batch_size=32,
        seed=0,
        validation_data=(digits.x_val, digits.y_val),
    )
    assert set(history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert metrics.accuracy(digits.y_test, model.predict(digits.x_test)) > 0.9


def test_confusion_matrix_counts() -> None:
    matrix = metrics.confusion_matrix([0, 1, 1, 2], [0, 2, 1, 2], num_classes=3)
    np.testing.assert_array_equal(matrix, [[1, 0, 0], [0, 1, 1], [0, 0, 1]])


def test_accuracy_accepts_labels_or_scores() -> None:
    assert metrics.accuracy([0, 1, 1], [0, 1, 0]) == pytest.approx(2 / 3)
    assert metrics.accuracy([0, 1], np.array([[2.0, 1.0], [0.0, 3.0]])) == 1.0


def test_plots_return_axes() -> None:
    from matplotlib.axes import Axes

    x, y = data.make_moons(50, seed=0)
    assert isinstance(
        plot.plot_decision_boundary(lambda p: (p[:, 1] > 0).astype(int), x, y, resolution=20), Axes
    )
    assert isinstance(plot.plot_history({"loss": [1.0, 0.5], "val_loss": [1.1, 0.7]}), Axes)
    assert isinstance(
        plot.plot_functions(np.linspace(-1, 1, 5), {"relu": scratch.relu(np.linspace(-1, 1, 5))}),
        Axes,
    )


@pytest.mark.torch
def test_torch_fit_learns_and_is_seeded() -> None:
    torch = pytest.importorskip("torch")
    import dltutor.torch as dtorch

    digits = data.load_digits(seed=0)

    def train() -> tuple[dict, float]:
        dtorch.set_seed(0)
        model = dtorch.MLP([64, 32, 10])
        history = dtorch.fit(
            model,
            torch.nn.CrossEntropyLoss(),
            torch.optim.SGD(model.parameters(), lr=0.2),
            digits.x_train,
            digits.y_train,
            epochs=5,
            batch_size=32,
            seed=0,
            validation_data=(digits.x_val, digits.y_val),
        )
        return history, metrics.accuracy(digits.y_test, dtorch.predict(model, digits.x_test))

    (history_a, accuracy_a), (history_b, accuracy_b) = train(), train()
    assert history_a == history_b and accuracy_a == accuracy_b
    assert history_a["loss"][-1] < history_a["loss"][0]
    assert accuracy_a > 0.85


@pytest.mark.torch
@pytest.mark.parametrize("shuffle", [True, False])
def test_torch_fit_takes_the_steps_of_a_dataloader_loop(shuffle: bool) -> None:
    """fit slices batches by index: the same batches, steps and history as a DataLoader."""
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader, TensorDataset

    import dltutor.torch as dtorch

    digits = data.load_digits(seed=0)
    x, y = digits.x_train[:203], digits.y_train[:203]  # 203 = 6 batches of 32 and one of 11
    loss_fn = torch.nn.CrossEntropyLoss()

    def model_and_optimizer() -> tuple:
        dtorch.set_seed(0)
        model = dtorch.MLP([64, 16, 10]).double()
        return model, torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

    model, optimizer = model_and_optimizer()
    history = dtorch.fit(
        model, loss_fn, optimizer, x, y, epochs=3, batch_size=32, seed=7, shuffle=shuffle
    )
    reference, reference_optimizer = model_and_optimizer()
    loader = DataLoader(
        TensorDataset(torch.as_tensor(x), torch.as_tensor(y)),
        batch_size=32,
        shuffle=shuffle,
        generator=torch.Generator().manual_seed(7),
    )
    losses, accuracies = [], []
    for _ in range(3):
        total = correct = 0.0
        for batch_x, batch_y in loader:
            reference_optimizer.zero_grad()
            output = reference(batch_x)
            loss = loss_fn(output, batch_y)
            loss.backward()
            reference_optimizer.step()
            total += loss.item() * len(batch_x)
            correct += float((output.argmax(dim=1) == batch_y).sum())
        losses.append(total / len(x))
        accuracies.append(correct / len(x))
    for ours, theirs in zip(model.parameters(), reference.parameters(), strict=True):
        assert torch.equal(ours, theirs)
    np.testing.assert_allclose(history["loss"], losses, rtol=1e-14)
    np.testing.assert_allclose(history["accuracy"], accuracies, rtol=1e-14)


@pytest.mark.torch
def test_get_device_follows_the_environment(monkeypatch) -> None:
    torch = pytest.importorskip("torch")
    import dltutor.torch as dtorch

    monkeypatch.setenv("DLTUTOR_DEVICE", "cpu")
    assert dtorch.get_device() == torch.device("cpu")
    monkeypatch.delenv("DLTUTOR_DEVICE")
    expected = (
        "cuda"
        if torch.cuda.is_available()
        else "mps"
        if torch.backends.mps.is_available()
        else "cpu"
    )
    assert dtorch.get_device().type == expected
    assert dtorch.get_device("cpu") == torch.device("cpu")


def test_image_plots() -> None:
    from matplotlib.axes import Axes

    axes = plot.plot_images(np.zeros((5, 4, 4)), titles=list("abcde"), columns=3)
    assert axes.shape == (2, 3)
    assert plot.plot_images(np.zeros((2, 4, 4, 3))).shape == (1, 8)
    assert isinstance(
        plot.plot_confusion_matrix([0, 1, 1], [0, 1, 0], class_names=["a", "b"]), Axes
    )
    with pytest.raises(
        ValueError, match=r"\(N, H, W\) or \(N, H, W, 3\), got shape \(2, 4, 4, 2\)"
    ):
        plot.plot_images(np.zeros((2, 4, 4, 2)))
    with pytest.raises(ValueError, match="one entry per image"):
        plot.plot_images(np.zeros((2, 4, 4)), titles=["a"])


def test_plot_image_rows() -> None:
    axes = plot.plot_image_rows(
        {"a": np.zeros((12, 64)), "b": np.ones((10, 8, 8))}, image_shape=(8, 8)
    )
    assert axes.shape == (2, 10)
    with pytest.raises(ValueError, match="'b' must hold at least 10 images, got 3"):
        plot.plot_image_rows({"a": np.zeros((10, 4)), "b": np.zeros((3, 4))}, image_shape=(2, 2))


@pytest.mark.torch
def test_torch_history_accuracy_is_the_mean_over_batches(rng) -> None:
    torch = pytest.importorskip("torch")
    import dltutor.torch as dtorch

    x, y = rng.random((50, 4)).astype(np.float32), rng.integers(0, 3, 50)
    model = dtorch.MLP([4, 3])
    frozen = torch.optim.SGD(model.parameters(), lr=0.0)  # the weights never move
    history = dtorch.fit(
        model,
        torch.nn.CrossEntropyLoss(),
        frozen,
        x,
        y,
        epochs=1,
        batch_size=8,
        device=torch.device("cpu"),
    )
    expected = metrics.accuracy(y, dtorch.predict(model, x, device=torch.device("cpu")))
    assert history["accuracy"] == [pytest.approx(expected, abs=1e-12)]


def test_progress_bar_only_when_asked(rng, capsys) -> None:
    x, y = rng.random((20, 3)), rng.random((20, 1))

    def train(**kwargs) -> str:
        model = scratch.MLP([3, 1], rng=np.random.default_rng(0))
        scratch.fit(
            model, scratch.MSELoss(), scratch.SGD(0.1), x, y, epochs=3, batch_size=5, **kwargs
        )
        return capsys.readouterr().err

    assert train() == ""  # the book's notebooks: nothing on stderr
    shown = train(progress=True)
    assert "epochs" in shown and "3/3" in shown and "loss=" in shown


@pytest.mark.torch
def test_torch_progress_bar_only_when_asked(rng, capsys) -> None:
    torch = pytest.importorskip("torch")
    import dltutor.torch as dtorch

    x, y = rng.random((20, 3)).astype(np.float32), rng.random((20, 1)).astype(np.float32)
    for progress in (False, True):
        model = dtorch.MLP([3, 1])
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        dtorch.fit(
            model,
            torch.nn.MSELoss(),
            optimizer,
            x,
            y,
            epochs=2,
            batch_size=5,
            progress=progress,
            device=torch.device("cpu"),
        )
        shown = capsys.readouterr().err
        assert ("2/2" in shown) == progress


# --- Training in practice: optimisers side by side with torch.optim and keras.optimizers ---

from dltutor.scratch import optim  # noqa: E402
from dltutor.scratch.layers import Parameter  # noqa: E402

CURVATURE = np.diag([1.0, 10.0, 0.5, 3.0, 7.0])  # an ill-conditioned bowl, plus a wiggle
START = np.array([1.0, -2.0, 0.5, 3.0, -1.0])
STEPS = 50


def bowl_gradient(w: np.ndarray) -> np.ndarray:
    return CURVATURE @ w + 0.1 * np.sin(w)


def run_scratch(optimizer) -> np.ndarray:
    parameter = Parameter(START.copy())
    for _ in range(STEPS):
        parameter.grad = bowl_gradient(parameter.value)
        optimizer.step([("w", parameter)])
    return parameter.value


def relative_gap(ours: np.ndarray, theirs: np.ndarray) -> float:
    return float(np.abs(ours - theirs).max() / np.abs(theirs).max())


# (name, scratch in PyTorch's form, torch.optim, scratch in Keras' form, keras.optimizers):
# each framework with its own defaults, except the learning rate shared by both
OPTIMISERS = [
    (
        "SGD",
        lambda: optim.SGD(0.01),
        "SGD(p, lr=0.01)",
        lambda: optim.SGD(0.01, form="keras"),
        "SGD(0.01)",
    ),
    (
        "momentum",
        lambda: optim.SGD(0.01, momentum=0.9),
        "SGD(p, lr=0.01, momentum=0.9)",
        lambda: optim.SGD(0.01, momentum=0.9, form="keras"),
        "SGD(0.01, momentum=0.9)",
    ),
    (
        "Nesterov",
        lambda: optim.SGD(0.01, momentum=0.9, nesterov=True),
        "SGD(p, lr=0.01, momentum=0.9, nesterov=True)",
        lambda: optim.SGD(0.01, momentum=0.9, nesterov=True, form="keras"),
        "SGD(0.01, momentum=0.9, nesterov=True)",
    ),
    (
        "RMSProp",
        lambda: optim.RMSProp(),
        "RMSprop(p)",
        lambda: optim.RMSProp(1e-3, rho=0.9, eps=1e-7, form="keras"),
        "RMSprop()",
    ),
    (
        "RMSProp with momentum",
        lambda: optim.RMSProp(momentum=0.5),
        "RMSprop(p, momentum=0.5)",
        lambda: optim.RMSProp(1e-3, rho=0.9, eps=1e-7, momentum=0.5, form="keras"),
        "RMSprop(momentum=0.5)",
    ),
    (
        "Adam",
        lambda: optim.Adam(0.05),
        "Adam(p, lr=0.05)",
        lambda: optim.Adam(0.05, eps=1e-7, form="keras"),
        "Adam(0.05)",
    ),
    (
        "Adam with weight decay",  # L2 in PyTorch, decoupled in Keras
        lambda: optim.Adam(0.05, weight_decay=0.1),
        "Adam(p, lr=0.05, weight_decay=0.1)",
        lambda: optim.Adam(0.05, eps=1e-7, weight_decay=0.1, decoupled=True, form="keras"),
        "Adam(0.05, weight_decay=0.1)",
    ),
    (
        "AdamW",
        lambda: optim.AdamW(0.05),
        "AdamW(p, lr=0.05)",
        lambda: optim.AdamW(0.05, eps=1e-7, weight_decay=0.004, form="keras"),
        "AdamW(0.05)",
    ),
]


@pytest.mark.torch
@pytest.mark.parametrize("case", OPTIMISERS, ids=[case[0] for case in OPTIMISERS])
def test_optimisers_step_like_torch(case) -> None:
    torch = pytest.importorskip("torch")
    _, ours, theirs, _, _ = case
    w = torch.tensor(START.copy(), requires_grad=True)
    optimizer = eval(f"torch.optim.{theirs}", {"torch": torch, "p": [w]})
    for _ in range(STEPS):
        w.grad = torch.tensor(bowl_gradient(w.detach().numpy()))
        optimizer.step()
    assert relative_gap(run_scratch(ours()), w.detach().numpy()) < 1e-12  # measured <= 4.1e-15


@pytest.mark.keras
@pytest.mark.parametrize("case", OPTIMISERS, ids=[case[0] for case in OPTIMISERS])
def test_optimisers_step_like_keras(case) -> None:
    pytest.importorskip("tensorflow")
    import keras

    _, _, _, ours, theirs = case
    variable = keras.Variable(START.astype(np.float32))
    optimizer = eval(f"keras.optimizers.{theirs}", {"keras": keras})
    for _ in range(STEPS):
        gradient = bowl_gradient(np.asarray(variable)).astype(np.float32)
        optimizer.apply([keras.ops.convert_to_tensor(gradient)], [variable])
    # float32 drift over 50 steps: measured up to 1.6e-5 (Adam at lr 0.05)
    assert relative_gap(run_scratch(ours()), np.asarray(variable)) < 1e-4


@pytest.mark.torch
@pytest.mark.keras
def test_momentum_forms_part_once_the_learning_rate_changes() -> None:
    torch = pytest.importorskip("torch")
    pytest.importorskip("tensorflow")
    import keras

    schedule = optim.exponential_decay(0.01, 0.95)
    torch_form = run_scratch(optim.SGD(schedule, momentum=0.9))
    keras_form = run_scratch(optim.SGD(schedule, momentum=0.9, form="keras"))
    w = torch.tensor(START.copy(), requires_grad=True)
    optimizer = torch.optim.SGD([w], lr=0.01, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, 0.95)
    variable = keras.Variable(START.astype(np.float32))
    keras_optimizer = keras.optimizers.SGD(
        keras.optimizers.schedules.ExponentialDecay(0.01, 1, 0.95), momentum=0.9
    )
    for _ in range(STEPS):
        w.grad = torch.tensor(bowl_gradient(w.detach().numpy()))
        optimizer.step()
        scheduler.step()  # once per update: the schedule Keras applies by itself
        gradient = bowl_gradient(np.asarray(variable)).astype(np.float32)
        keras_optimizer.apply([keras.ops.convert_to_tensor(gradient)], [variable])
    assert relative_gap(torch_form, w.detach().numpy()) < 1e-12  # measured 6.0e-16
    assert relative_gap(keras_form, np.asarray(variable)) < 1e-4  # measured 2.1e-6
    assert relative_gap(torch_form, keras_form) > 0.1  # measured 0.88: the forms differ


def test_schedules() -> None:
    assert [optim.step_decay(1.0, 0.5, 2)(t) for t in range(5)] == [1, 1, 0.5, 0.5, 0.25]
    assert optim.exponential_decay(2.0, 0.5, 10)(20) == pytest.approx(0.5)
    cosine = optim.cosine_decay(1.0, total_steps=10, warmup_steps=2, final=0.1)
    assert [cosine(0), cosine(1)] == [0.5, 1.0]  # linear warm-up
    assert cosine(2) == pytest.approx(1.0) and cosine(10) == pytest.approx(0.1)
    assert cosine(6) == pytest.approx(0.55)  # half-way down the cosine
    with pytest.raises(ValueError, match="warmup_steps"):
        optim.cosine_decay(1.0, total_steps=5, warmup_steps=5)
    with pytest.raises(ValueError, match="form must be one of"):
        optim.SGD(0.1, form="jax")


def test_adam_with_l2_is_not_adamw() -> None:
    l2 = run_scratch(optim.Adam(0.05, weight_decay=0.1))
    decoupled = run_scratch(optim.AdamW(0.05, weight_decay=0.1))
    assert relative_gap(l2, decoupled) > 0.01


# --- dropout and batch normalisation ------------------------------------------------------


def test_dropout_scales_kept_values_and_is_the_identity_in_evaluation(rng) -> None:
    layer = scratch.Dropout(0.3, rng=rng)
    x = rng.random((400, 500)) + 0.5
    y = layer.forward(x)
    kept = y != 0
    np.testing.assert_allclose(y[kept], x[kept] / 0.7, rtol=1e-15)  # x / (1 - p)
    dropped = 1 - kept.mean()
    assert abs(dropped - 0.3) < 5 * np.sqrt(0.3 * 0.7 / x.size)  # within 5 standard errors
    np.testing.assert_array_equal(layer.backward(np.ones_like(x)), kept / 0.7)
    layer.eval()
    np.testing.assert_array_equal(layer.forward(x), x)
    with pytest.raises(ValueError, match="probability"):
        scratch.Dropout(1.0)


@pytest.mark.torch
def test_dropout_matches_torch_for_the_same_mask(rng) -> None:
    torch = pytest.importorskip("torch")
    x = rng.random((6, 7)) + 0.5
    x_t = torch.tensor(x, requires_grad=True)
    torch.manual_seed(0)
    y_t = torch.nn.functional.dropout(x_t, p=0.4, training=True)
    upstream = rng.standard_normal(x.shape)
    (y_t * torch.tensor(upstream)).sum().backward()
    layer = scratch.Dropout(0.4)
    layer.mask = y_t.detach().numpy() != 0  # the mask torch drew
    np.testing.assert_allclose(layer.forward(x), y_t.detach().numpy(), rtol=1e-15)
    np.testing.assert_allclose(layer.backward(upstream), x_t.grad.numpy(), rtol=1e-15)


@pytest.mark.keras
def test_dropout_matches_keras_for_the_same_mask(rng) -> None:
    pytest.importorskip("tensorflow")
    import keras
    import tensorflow as tf

    x = (rng.random((6, 7)) + 0.5).astype(np.float32)
    upstream = rng.standard_normal(x.shape).astype(np.float32)
    x_tf = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x_tf)
        y_tf = keras.layers.Dropout(0.4, seed=3)(x_tf, training=True)
        total = tf.reduce_sum(y_tf * upstream)
    y = y_tf.numpy()
    layer = scratch.Dropout(0.4)
    layer.mask = y != 0  # the mask Keras drew
    np.testing.assert_allclose(layer.forward(x), y, rtol=1e-6)
    np.testing.assert_allclose(layer.backward(upstream), tape.gradient(total, x_tf), rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(keras.layers.Dropout(0.4)(x)), x)  # not training


@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 5, 5)], ids=["dense", "convolutional"])
def test_batchnorm_gradients(shape, rng) -> None:
    layer = scratch.BatchNorm(3)
    layer.gamma.value[...] = rng.standard_normal(3)
    layer.beta.value[...] = rng.standard_normal(3)
    x = rng.standard_normal(shape)
    assert max(scratch.check_layer(layer, x, rng).values()) < 1e-7
    layer.eval()
    assert max(scratch.check_layer(layer, x, rng).values()) < 1e-7


@pytest.mark.torch
@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 5, 5)], ids=["BatchNorm1d", "BatchNorm2d"])
def test_batchnorm_matches_torch(shape, rng) -> None:
    torch = pytest.importorskip("torch")
    ours = scratch.BatchNorm(3)
    ours.gamma.value[...] = rng.standard_normal(3)
    ours.beta.value[...] = rng.standard_normal(3)
    theirs = (torch.nn.BatchNorm1d if len(shape) == 2 else torch.nn.BatchNorm2d)(3).double()
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(ours.gamma.value))
        theirs.bias.copy_(torch.tensor(ours.beta.value))
    tolerance = {"rtol": 1e-12, "atol": 1e-13}
    for _ in range(3):  # three training steps: the running statistics accumulate
        x, upstream = rng.standard_normal(shape), rng.standard_normal(shape)
        x_t = torch.tensor(x, requires_grad=True)
        y_t = theirs(x_t)
        (y_t * torch.tensor(upstream)).sum().backward()
        np.testing.assert_allclose(ours.forward(x), y_t.detach().numpy(), **tolerance)
        np.testing.assert_allclose(ours.backward(upstream), x_t.grad.numpy(), **tolerance)
        np.testing.assert_allclose(ours.gamma.grad, theirs.weight.grad.numpy(), **tolerance)
        np.testing.assert_allclose(ours.beta.grad, theirs.bias.grad.numpy(), **tolerance)
        theirs.zero_grad()
    np.testing.assert_allclose(ours.running_mean, theirs.running_mean.numpy(), **tolerance)
    np.testing.assert_allclose(ours.running_var, theirs.running_var.numpy(), **tolerance)
    ours.eval(), theirs.eval()
    x = rng.standard_normal(shape)
    np.testing.assert_allclose(
        ours.forward(x), theirs(torch.tensor(x)).detach().numpy(), **tolerance
    )


@pytest.mark.keras
def test_batchnorm_matches_keras(rng) -> None:
    pytest.importorskip("tensorflow")
    import keras

    # Keras' momentum is 1 - PyTorch's, and it averages the biased variance
    ours = scratch.BatchNorm(3, momentum=0.01, eps=1e-3, unbiased_running_var=False)
    import tensorflow as tf

    theirs = keras.layers.BatchNormalization()  # momentum 0.99, epsilon 1e-3
    theirs.build((None, 3))
    gamma = rng.standard_normal(3).astype(np.float32)
    ours.gamma.value[...] = gamma
    theirs.gamma.assign(gamma)
    float32 = {"rtol": 1e-5, "atol": 1e-5}
    for _ in range(3):
        x = tf.constant(rng.standard_normal((8, 3)).astype(np.float32))
        upstream = rng.standard_normal((8, 3)).astype(np.float32)
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = theirs(x, training=True)
            total = tf.reduce_sum(y * upstream)
        grad_x, grad_gamma, grad_beta = tape.gradient(total, [x, theirs.gamma, theirs.beta])
        np.testing.assert_allclose(ours.forward(x.numpy()), y.numpy(), **float32)
        np.testing.assert_allclose(ours.backward(upstream), grad_x.numpy(), **float32)
        np.testing.assert_allclose(ours.gamma.grad, grad_gamma.numpy(), **float32)
        np.testing.assert_allclose(ours.beta.grad, grad_beta.numpy(), **float32)
    np.testing.assert_allclose(ours.running_mean, np.asarray(theirs.moving_mean), rtol=1e-5)
    np.testing.assert_allclose(ours.running_var, np.asarray(theirs.moving_variance), rtol=1e-5)
    ours.eval()
    x = rng.standard_normal((8, 3)).astype(np.float32)
    np.testing.assert_allclose(ours.forward(x), np.asarray(theirs(x)), rtol=1e-5, atol=1e-6)


# --- penalties and early stopping ------------------------------------------------------------


def test_with_penalty_adds_the_gradient_of_the_penalty(rng) -> None:
    model = scratch.MLP([3, 4, 2], rng=rng)
    for _, parameter in model.parameters():
        parameter.grad = np.zeros_like(parameter.value)
    before = {name: p.value.copy() for name, p in model.parameters()}
    scratch.WithPenalty(scratch.SGD(1.0), l1=0.3, l2=0.2).step(model.parameters())
    for name, parameter in model.parameters():
        w = before[name]
        expected = 0.3 * np.sign(w) + 0.4 * w if name.endswith("W") else 0.0 * w
        np.testing.assert_allclose(w - parameter.value, expected, rtol=1e-12, atol=1e-15)
    weights = [p.value for name, p in model.parameters() if name.endswith("W")]
    expected_value = sum(0.3 * np.abs(w).sum() + 0.2 * (w**2).sum() for w in weights)
    assert scratch.penalty(model.parameters(), l1=0.3, l2=0.2) == pytest.approx(expected_value)


def test_soft_threshold_is_the_proximal_operator_of_the_l1_norm(rng) -> None:
    from scipy.optimize import minimize_scalar

    from dltutor.scratch.training import soft_threshold

    w, threshold = rng.standard_normal(20), 0.4
    ours = soft_threshold(w, threshold)
    for value, prox in zip(w, ours, strict=True):  # argmin_u ½(u - w)² + t|u|, by a solver
        found = minimize_scalar(lambda u, v=value: 0.5 * (u - v) ** 2 + threshold * abs(u))
        assert prox == pytest.approx(found.x, abs=1e-6)
    assert (ours[np.abs(w) <= threshold] == 0).all()  # exactly zero, not nearly
    with pytest.raises(ValueError, match="threshold must be a non-negative number, got -1"):
        soft_threshold(w, -1)


def test_proximal_l1_step_soft_thresholds_the_kernels_only(rng) -> None:
    from dltutor.scratch.training import soft_threshold

    model = scratch.MLP([3, 4, 2], rng=rng)
    for _, parameter in model.parameters():
        parameter.grad = np.zeros_like(parameter.value)
        parameter.value += 0.1  # biases too, to see that they are left alone
    before = {name: p.value.copy() for name, p in model.parameters()}
    scratch.WithPenalty(scratch.SGD(0.5), l1=0.2, proximal=True).step(model.parameters())
    for name, parameter in model.parameters():
        expected = soft_threshold(before[name], 0.1) if name.endswith("W") else before[name]
        np.testing.assert_array_equal(parameter.value, expected)

    class NoRate:
        def step(self, parameters) -> None: ...

    with pytest.raises(TypeError, match="proximal=True needs an optimiser with a learning_rate"):
        scratch.WithPenalty(NoRate(), l1=0.1, proximal=True)


def test_proximal_gradient_descent_finds_scikit_learns_lasso(rng) -> None:
    from sklearn.linear_model import Lasso

    x = rng.standard_normal((50, 8))
    y = x @ np.array([2.0, -1.0, 0.0, 0.0, 0.5, 0.0, 0.0, 0.0]) + 0.1 * rng.standard_normal(50)
    alpha = 0.1  # sklearn: (1 / 2n)‖y − Xw‖² + α‖w‖₁
    weight = Parameter(np.zeros(8))
    optimizer = scratch.WithPenalty(scratch.SGD(0.1), l1=alpha, proximal=True)
    for _ in range(3000):
        weight.grad = x.T @ (x @ weight.value - y) / len(x)
        optimizer.step([("W", weight)])
    lasso = Lasso(alpha=alpha, fit_intercept=False, tol=1e-14, max_iter=100_000).fit(x, y)
    np.testing.assert_allclose(weight.value, lasso.coef_, atol=1e-9)
    np.testing.assert_array_equal(weight.value == 0, lasso.coef_ == 0)  # the same zeros
    assert (weight.value == 0).sum() >= 3


def test_early_stopping_restores_the_best_epoch() -> None:
    digits = data.load_digits(seed=0)
    model = scratch.MLP([64, 64, 10], rng=np.random.default_rng(0))
    history = scratch.fit(
        model,
        scratch.CrossEntropyLoss(),
        scratch.SGD(0.5),
        digits.x_train[:100],  # a small training set: the validation loss turns up soon
        digits.y_train[:100],
        epochs=100,
        batch_size=10,
        validation_data=(digits.x_val, digits.y_val),
        patience=3,
    )
    assert len(history["val_loss"]) < 100  # stopped early
    best = min(history["val_loss"])
    assert history["val_loss"].index(best) == len(history["val_loss"]) - 4  # then 3 worse
    restored = scratch.evaluate(model, scratch.CrossEntropyLoss(), digits.x_val, digits.y_val)
    assert restored["loss"] == pytest.approx(best)
    with pytest.raises(ValueError, match="patience needs validation_data"):
        scratch.fit(
            model,
            scratch.CrossEntropyLoss(),
            scratch.SGD(0.1),
            digits.x_val,
            digits.y_val,
            epochs=1,
            batch_size=8,
            patience=2,
        )


@pytest.mark.torch
def test_torch_early_stopping_restores_the_best_epoch() -> None:
    torch = pytest.importorskip("torch")
    import dltutor.torch as dtorch

    digits = data.load_digits(seed=0)
    dtorch.set_seed(0)
    model = dtorch.MLP([64, 64, 10])
    loss = torch.nn.CrossEntropyLoss()
    history = dtorch.fit(
        model,
        loss,
        torch.optim.SGD(model.parameters(), lr=0.5),
        digits.x_train[:100],  # a small training set: the validation loss turns up soon
        digits.y_train[:100],
        epochs=100,
        batch_size=10,
        validation_data=(digits.x_val, digits.y_val),
        device=torch.device("cpu"),
        patience=3,
    )
    assert len(history["val_loss"]) < 100  # stopped early
    best = min(history["val_loss"])
    assert history["val_loss"].index(best) == len(history["val_loss"]) - 4  # then 3 worse
    restored = dtorch.evaluate(model, loss, digits.x_val, digits.y_val, device=torch.device("cpu"))
    assert restored["loss"] == pytest.approx(best)
    with pytest.raises(ValueError, match="patience needs validation_data"):
        dtorch.fit(
            model,
            loss,
            torch.optim.SGD(model.parameters(), lr=0.1),
            digits.x_val,
            digits.y_val,
            epochs=1,
            batch_size=8,
            patience=2,
        )


# --- the training recipe: the learning-rate range test, event files -----------------------


@pytest.mark.torch
def test_lr_range_test_sweeps_geometric_rates_and_leaves_no_trace() -> None:
    torch = pytest.importorskip("torch")
    from dltutor.torch.training import lr_range_test

    digits = data.load_digits(seed=0)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loss = torch.nn.CrossEntropyLoss()
    model(torch.zeros(1, 64)).sum().backward()
    optimizer.step()  # a momentum buffer to keep
    before = {k: v.clone() for k, v in model.state_dict().items()}
    buffers = copy.deepcopy(optimizer.state_dict())
    cpu = torch.device("cpu")
    rates, losses = lr_range_test(
        model,
        loss,
        optimizer,
        digits.x_train,
        digits.y_train,
        start=1e-4,
        stop=1e3,
        steps=60,
        device=cpu,
    )
    np.testing.assert_allclose(rates, 1e-4 * (1e7) ** (np.arange(len(rates)) / 59), rtol=1e-12)
    assert 5 < len(losses) < 60  # a rate of 1000 diverges: the test stopped
    assert losses[-1] > 4 * losses.min() or not np.isfinite(losses[-1])
    assert losses.min() < losses[0]  # some rates in between did learn
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert torch.equal(
        optimizer.state_dict()["state"][0]["momentum_buffer"],
        buffers["state"][0]["momentum_buffer"],
    )
    assert optimizer.param_groups[0]["lr"] == 0.1
    with pytest.raises(ValueError, match="need 0 < start < stop, got start=1.0 and stop=0.1"):
        lr_range_test(model, loss, optimizer, digits.x_val, digits.y_val, start=1.0, stop=0.1)
    with pytest.raises(ValueError, match="x and y"):
        lr_range_test(model, loss, optimizer, digits.x_val, digits.y_val[:-1])


@pytest.mark.keras
def test_read_scalars_gets_back_what_keras_and_tf_summary_wrote(tmp_path) -> None:
    pytest.importorskip("tensorflow")
    import keras
    import tensorflow as tf

    from dltutor.keras.training import read_scalars

    writer = tf.summary.create_file_writer(str(tmp_path / "run"))
    with writer.as_default():
        for step in range(5):
            tf.summary.scalar("loss", 1.0 / (step + 1), step=step)
    writer.close()
    scalars = read_scalars(tmp_path)
    steps, values = scalars["run/loss"]
    np.testing.assert_array_equal(steps, np.arange(5))
    np.testing.assert_allclose(values, 1.0 / np.arange(1, 6), rtol=1e-7)

    model = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.ones((8, 3), "float32"), np.zeros((8, 1), "float32")
    history = model.fit(
        x,
        y,
        epochs=3,
        verbose=0,
        validation_data=(x, y),
        callbacks=[keras.callbacks.TensorBoard(str(tmp_path / "keras"))],
    )
    scalars = read_scalars(tmp_path / "keras")
    np.testing.assert_allclose(scalars["train/epoch_loss"][1], history.history["loss"], rtol=1e-6)
    np.testing.assert_allclose(
        scalars["validation/epoch_loss"][1], history.history["val_loss"], rtol=1e-6
    )
    with pytest.raises(ValueError, match="no event files under"):
        read_scalars(tmp_path / "nothing")


# --- integrated gradients ----------------------------------------------------------------------


def tanh_classifier(rng: np.random.Generator) -> scratch.MLP:
    model = scratch.MLP([8, 16, 3], activation="tanh", rng=rng)
    for name, parameter in model.parameters():
        if name.endswith("b"):
            parameter.value[...] = 0.3 * rng.standard_normal(parameter.shape)
    return model


def test_integrated_gradients_are_complete(rng) -> None:
    model = tanh_classifier(rng)
    x, baseline = rng.standard_normal((5, 8)), 0.1 * rng.standard_normal((5, 8))
    classes = np.array([0, 1, 2, 1, 0])
    attributions = scratch.integrated_gradients(
        lambda points: scratch.input_gradients(model, points, classes), x, baseline, steps=50
    )
    rows = np.arange(5)
    difference = model.predict(x)[rows, classes] - model.predict(baseline)[rows, classes]
    # attributions add up to f(x) - f(baseline): measured 2e-16 with 50 Gauss-Legendre points
    np.testing.assert_allclose(attributions.sum(axis=1), difference, atol=1e-12)
    same = scratch.integrated_gradients(lambda p: scratch.input_gradients(model, p, classes), x, x)
    assert not same.any()  # nothing to explain at the baseline itself


def test_integrated_gradients_of_a_linear_model_are_weight_times_input(rng) -> None:
    model = scratch.MLP([4, 2], rng=rng)
    x = rng.standard_normal((3, 4))
    classes = np.array([1, 0, 1])
    attributions = scratch.integrated_gradients(
        lambda points: scratch.input_gradients(model, points, classes), x, steps=3
    )
    W = model.get_weights()[0]
    np.testing.assert_allclose(attributions, W[:, classes].T * x, rtol=1e-13)


@pytest.mark.torch
def test_integrated_gradients_match_torch_and_captum(rng) -> None:
    torch = pytest.importorskip("torch")
    captum_attr = pytest.importorskip("captum.attr")
    import dltutor.torch as dtorch

    reference = tanh_classifier(rng)
    model = dtorch.MLP([8, 16, 3], activation="tanh").double()
    dtorch.set_weights(model, reference.get_weights())
    x = rng.standard_normal((5, 8))
    classes = np.array([0, 1, 2, 1, 0])
    ours = scratch.integrated_gradients(
        lambda points: scratch.input_gradients(reference, points, classes), x
    )
    theirs = dtorch.integrated_gradients(model, x, classes)
    np.testing.assert_allclose(theirs, ours, rtol=1e-10, atol=1e-13)
    oracle = captum_attr.IntegratedGradients(model).attribute(
        torch.tensor(x), target=torch.tensor(classes), n_steps=50, method="gausslegendre"
    )
    # captum rounds its quadrature weights to float32: measured 2e-10 apart
    np.testing.assert_allclose(oracle.numpy(), ours, atol=1e-8 * np.abs(ours).max())


@pytest.mark.keras
def test_integrated_gradients_match_keras(rng) -> None:
    pytest.importorskip("tensorflow")
    import dltutor.keras as dkeras

    reference = tanh_classifier(rng)
    model = dkeras.MLP([8, 16, 3], activation="tanh")
    dkeras.set_weights(model, reference.get_weights())
    x = rng.standard_normal((5, 8))
    classes = np.array([0, 1, 2, 1, 0])
    ours = scratch.integrated_gradients(
        lambda points: scratch.input_gradients(reference, points, classes), x
    )
    theirs = dkeras.integrated_gradients(model, x, classes)
    np.testing.assert_allclose(theirs, ours, rtol=1e-4, atol=1e-5 * np.abs(ours).max())


@pytest.mark.keras
def test_validate_every_takes_the_decisions_of_fits_validation_data() -> None:
    pytest.importorskip("tensorflow")
    import keras

    import dltutor.keras as dkeras
    from dltutor.keras.training import ValidateEvery

    digits = data.load_digits(seed=0)
    x, y = digits.x_train[:100], digits.y_train[:100]  # 10 steps of 10 per epoch
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    runs = []
    for ours in [False, True]:
        dkeras.set_seed(0)
        model = dkeras.MLP([64, 32, 10])
        model.compile(optimizer=keras.optimizers.SGD(0.5), loss=loss, steps_per_execution=5)
        stop = keras.callbacks.EarlyStopping(patience=2, restore_best_weights=True)
        if ours:
            validate = ValidateEvery([stop], digits.x_val, digits.y_val, loss, steps=10)
            model.fit(
                x, y, epochs=30, batch_size=10, shuffle=False, callbacks=[validate], verbose=0
            )
            val_loss = validate.history
        else:  # Keras' own machinery: an evaluate pass after each epoch
            history = model.fit(
                x,
                y,
                epochs=30,
                batch_size=10,
                shuffle=False,
                validation_data=(digits.x_val, digits.y_val),
                callbacks=[stop],
                verbose=0,
            )
            val_loss = history.history["val_loss"]
        runs.append((val_loss, stop.stopped_epoch, stop.best_epoch, model.get_weights()))
    (keras_loss, *keras_epochs, keras_weights), (our_loss, *our_epochs, our_weights) = runs
    assert 0 < keras_epochs[0] < 29  # it did stop early
    assert our_epochs == keras_epochs
    np.testing.assert_allclose(our_loss, keras_loss, rtol=1e-5)
    for ours_w, keras_w in zip(our_weights, keras_weights):
        np.testing.assert_allclose(ours_w, keras_w, rtol=1e-5, atol=1e-6)  # the best restored
    with pytest.raises(ValueError, match="positive integer"):
        ValidateEvery([stop], digits.x_val, digits.y_val, loss, steps=0)
    with pytest.raises(ValueError, match="same length"):
        ValidateEvery([stop], digits.x_val, digits.y_val[:-1], loss, steps=10)
    with pytest.raises(ValueError, match="multiple of the model's steps_per_execution"):
        validate = ValidateEvery([stop], digits.x_val, digits.y_val, loss, steps=7)
        model.fit(x, y, epochs=1, batch_size=10, callbacks=[validate], verbose=0)
