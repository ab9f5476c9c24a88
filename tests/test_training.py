"""The training loops learn: real data, real thresholds (the chapters assert the full results)."""

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
