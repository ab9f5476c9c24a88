"""Tables and recommendation: the scratch transforms equal scikit-learn's, the losses'
gradients and their twins in PyTorch and Keras, the generated tables, matrix
factorisation's gradients, the two-tower twins' scores, and the ranking metrics."""

from __future__ import annotations

import numpy as np
import pytest

from dltutor.data.ratings import (
    damped_biases,
    make_ratings,
    rating_pairs,
    rating_rmse,
    rating_task,
    split_ratings,
)
from dltutor.data.tabular import DataSplit, make_credit
from dltutor.metrics import top_k_metrics
from dltutor.scratch.gradcheck import check_layer, check_loss
from dltutor.scratch.losses import HuberLoss, MAELoss, MSELoss
from dltutor.scratch.recommend import MatrixFactorization, TwoTower
from dltutor.scratch.tabular import (
    MeanImputer,
    OneHotEncoder,
    StandardScaler,
    fit_constant,
    preprocessor,
    select_by_correlation,
    tune_and_test,
)

TOLERANCE = 1e-7


def table_with_gaps(rng: np.random.Generator) -> np.ndarray:
    x = rng.standard_normal((40, 5)) * [1, 10, 0.1, 3, 1] + [0, 5, -2, 1, 7]
    x[:, 4] = 7.0  # a constant column
    x[rng.random((40, 5)) < 0.15] = np.nan
    x[:, 2] = np.where(np.isnan(x[:, 2]), 0.5, x[:, 2])  # a column with no gaps
    return x


# --- the transforms equal scikit-learn's ----------------------------------------------------


def test_standard_scaler_equals_scikit_learn(rng) -> None:
    from sklearn.preprocessing import StandardScaler as Reference

    train = rng.standard_normal((30, 4)) * 5 + 2
    train[:, 3] = 1.0  # constant: scale 1, as in scikit-learn
    test = rng.standard_normal((7, 4))
    ours, theirs = StandardScaler().fit(train), Reference().fit(train)
    np.testing.assert_allclose(ours.transform(test), theirs.transform(test), rtol=1e-12)
    np.testing.assert_allclose(ours.fit_transform(train), theirs.transform(train), atol=1e-12)


def test_mean_imputer_with_indicator_equals_scikit_learn(rng) -> None:
    from sklearn.impute import SimpleImputer

    train, test = table_with_gaps(rng), table_with_gaps(rng)
    test[0, 2] = np.nan  # a gap in a column that had none in training: no indicator for it
    ours = MeanImputer().fit(train)
    theirs = SimpleImputer(add_indicator=True).fit(train)
    np.testing.assert_allclose(ours.transform(test), theirs.transform(test), rtol=1e-12)
    with_gaps = int(np.isnan(train).any(axis=0).sum())
    assert with_gaps == 4 and ours.transform(test).shape[1] == 5 + with_gaps  # not column 2


def test_one_hot_encoder_equals_scikit_learn(rng) -> None:
    from sklearn.preprocessing import OneHotEncoder as Reference

    train = rng.integers(0, 4, (50, 3)).astype(float)
    test = rng.integers(0, 5, (20, 3)).astype(float)  # code 4 never seen in training
    ours = OneHotEncoder().fit(train)
    theirs = Reference(handle_unknown="ignore", sparse_output=False).fit(train)
    np.testing.assert_array_equal(ours.transform(test), theirs.transform(test))
    assert (ours.transform(test)[test[:, 0] == 4, :4] == 0).all()


def test_preprocessor_equals_the_scratch_transforms(rng) -> None:
    numeric = table_with_gaps(rng)[:, :4]
    codes = rng.integers(0, 3, (40, 2)).astype(float)
    x = np.concatenate([numeric, codes], axis=1)
    train, test = x[:30], x[30:]
    imputer = MeanImputer().fit(train[:, :4])
    scaler = StandardScaler().fit(imputer.transform(train[:, :4]))
    onehot = OneHotEncoder().fit(train[:, 4:])
    ours = np.concatenate(
        [scaler.transform(imputer.transform(test[:, :4])), onehot.transform(test[:, 4:])], axis=1
    )
    theirs = preprocessor([0, 1, 2, 3], [4, 5]).fit(train).transform(test)  # type: ignore[attr-defined]
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)
    codes_out = preprocessor([0, 1, 2, 3], [4, 5], "codes").fit(train).transform(test)  # type: ignore[attr-defined]
    np.testing.assert_array_equal(codes_out[:, -2:], test[:, 4:])


def test_select_by_correlation_ranks_as_scikit_learn(rng) -> None:
    from sklearn.feature_selection import r_regression

    x = rng.standard_normal((60, 12))
    y = x[:, 3] - 0.5 * x[:, 7] + 0.3 * rng.standard_normal(60)
    expected = np.argsort(-np.abs(r_regression(x, y)))[:4]
    np.testing.assert_array_equal(select_by_correlation(x, y, 4), expected)
    assert list(select_by_correlation(x, y, 2)) == [3, 7]


def test_transforms_refuse_bad_input(rng) -> None:
    with pytest.raises(RuntimeError, match="before fit"):
        StandardScaler().transform(np.ones((2, 2)))
    with pytest.raises(ValueError, match="fitted on 3 columns, got 2"):
        StandardScaler().fit(np.ones((4, 3))).transform(np.ones((2, 2)))
    with pytest.raises(ValueError, match="NaN"):
        StandardScaler().fit(np.array([[1.0], [np.nan]]))
    with pytest.raises(ValueError, match="no observed value"):
        MeanImputer().fit(np.array([[1.0, np.nan], [2.0, np.nan]]))
    with pytest.raises(TypeError, match="2-D NumPy array"):
        OneHotEncoder().fit("abc")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="2-D"):
        MeanImputer().fit(np.ones(3))
    with pytest.raises(ValueError, match="at most the 3 columns"):
        select_by_correlation(np.ones((5, 3)), np.arange(5.0), 4)
    with pytest.raises(ValueError, match="'onehot' or 'codes'"):
        preprocessor([0], [1], "ordinal")


# --- losses under outliers ------------------------------------------------------------------


@pytest.mark.parametrize("loss", [MAELoss(), HuberLoss(0.5), HuberLoss(2.0)])
def test_robust_losses_gradcheck(rng, loss) -> None:
    prediction = rng.standard_normal((6, 2)) * 2
    target = rng.standard_normal((6, 2))
    assert check_loss(loss, prediction, target) < TOLERANCE


@pytest.mark.parametrize("delta", [0.5, 1.0, 3.0])
def test_losses_equal_pytorch(rng, delta) -> None:
    import torch

    prediction = rng.standard_normal((8, 3)) * 3
    target = rng.standard_normal((8, 3))
    pairs: list[tuple[MAELoss | HuberLoss | MSELoss, torch.nn.Module]] = [
        (MAELoss(), torch.nn.L1Loss()),
        (HuberLoss(delta), torch.nn.HuberLoss(delta=delta)),
        (MSELoss(), torch.nn.MSELoss()),
    ]
    for ours, theirs in pairs:
        p = torch.tensor(prediction, requires_grad=True)
        value = theirs(p, torch.tensor(target))
        value.backward()
        assert ours.forward(prediction, target) == pytest.approx(value.item(), rel=1e-12)
        assert p.grad is not None
        np.testing.assert_allclose(ours.backward(), p.grad.numpy(), rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("delta", [0.5, 1.0, 3.0])
def test_losses_equal_keras(rng, delta) -> None:
    import keras
    import tensorflow as tf

    prediction = (rng.standard_normal((8, 1)) * 3).astype(np.float32)
    target = rng.standard_normal((8, 1)).astype(np.float32)
    pairs: list[tuple[MAELoss | HuberLoss, keras.losses.Loss]] = [
        (MAELoss(), keras.losses.MeanAbsoluteError()),
        (HuberLoss(delta), keras.losses.Huber(delta=delta)),
    ]
    for ours, theirs in pairs:
        p = tf.Variable(prediction)
        with tf.GradientTape() as tape:
            value = theirs(target, p)
        grad = tape.gradient(value, p).numpy()
        assert ours.forward(prediction, target) == pytest.approx(float(value), rel=1e-5)
        np.testing.assert_allclose(ours.backward(), grad, rtol=1e-5, atol=1e-7)


def test_fitted_constant_is_mean_median_or_between(rng) -> None:
    y = np.concatenate([rng.normal(10, 1, 95), rng.normal(100, 1, 5)])  # 5% outliers
    mean = fit_constant(MSELoss(), y, steps=3000, learning_rate=0.5)
    median = fit_constant(MAELoss(), y, steps=3000, learning_rate=0.5)
    huber = fit_constant(HuberLoss(1.0), y, steps=3000, learning_rate=0.5)
    assert mean == pytest.approx(np.mean(y), abs=1e-3)
    assert median == pytest.approx(np.median(y), abs=0.05)
    assert abs(huber - np.median(y)) < 0.3 < abs(np.mean(y) - np.median(y)) / 10
    with pytest.raises(ValueError, match="positive"):
        HuberLoss(0.0)
    with pytest.raises(ValueError, match="same shape"):
        MAELoss().forward(np.ones((2, 1)), np.ones(2))


# --- the generated credit table -------------------------------------------------------------


def test_credit_table_has_its_rule_gaps_and_outliers() -> None:
    table = make_credit(20_000, seed=1)
    assert table.x.shape == (20_000, 8)
    assert table.numeric_columns == [0, 1, 2, 3, 4] and table.category_columns == [5, 6, 7]
    gaps = np.isnan(table.x).mean(axis=0)
    assert 0.1 < gaps[1] < 0.2 and 0.08 < gaps[3] < 0.12 and gaps[[0, 2, 4, 5, 6, 7]].sum() == 0
    self_employed = table.x[:, 5] == 1
    assert (
        np.isnan(table.x[self_employed, 1]).mean() > 2 * np.isnan(table.x[~self_employed, 1]).mean()
    )
    assert (np.nan_to_num(table.x[:, 1]) > 5000).mean() > 0.005  # incomes typed ×1000
    # labels follow the true probability: the Bayes rule's accuracy is the expected one
    rule = np.mean(table.labels == (table.probability > 0.5))
    spread = np.sqrt(table.bayes_accuracy() * (1 - table.bayes_accuracy()) / 20_000)
    assert abs(rule - table.bayes_accuracy()) < 4 * spread
    assert 0.7 < table.bayes_accuracy() < 0.9
    assert abs(table.labels.mean() - table.probability.mean()) < 4 * 0.5 / np.sqrt(20_000)
    np.testing.assert_array_equal(make_credit(50, seed=3).x, make_credit(50, seed=3).x)
    for codes, size in zip(table.x[:, 5:].T, table.category_sizes, strict=True):
        assert set(np.unique(codes)) <= set(range(size))


def test_credit_table_refuses_bad_arguments() -> None:
    with pytest.raises(ValueError, match="at least 10"):
        make_credit(5)
    with pytest.raises(ValueError, match="missing must lie"):
        make_credit(100, missing=0.5)
    with pytest.raises(TypeError, match="seed"):
        make_credit(100, seed="1")  # type: ignore[arg-type]


def test_tune_and_test_chooses_on_validation(rng) -> None:
    from sklearn.dummy import DummyClassifier
    from sklearn.linear_model import LogisticRegression

    x = rng.standard_normal((300, 2))
    y = (x[:, 0] > 0).astype(int)
    split = DataSplit(x[:200], y[:200], x[200:250], y[200:250], x[250:], y[250:])
    result = tune_and_test([DummyClassifier(), LogisticRegression()], split)
    assert result["chosen"] == 1 and result["test"] > 0.9
    with pytest.raises(ValueError, match="at least one"):
        tune_and_test([], split)


class _Spy:
    """An estimator that uses validation data and records every array it is given."""

    uses_validation = True

    def __init__(self) -> None:
        self.seen: dict[str, np.ndarray] = {}
        self.predicted: list[np.ndarray] = []

    def fit(
        self, x: np.ndarray, y: np.ndarray, validation_data: tuple[np.ndarray, np.ndarray]
    ) -> _Spy:
        self.seen.update(x=x, y=y, x_val=validation_data[0], y_val=validation_data[1])
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        self.predicted.append(x)
        return (x[:, 0] > 0).astype(int)


def test_tune_and_test_fits_the_pipeline_on_training_rows_only(rng) -> None:
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler as SkScaler

    x = rng.standard_normal((300, 2)) * 3 + 5
    y = (x[:, 0] > 5).astype(int)
    split = DataSplit(x[:200], y[:200], x[200:250], y[200:250], x[250:], y[250:])
    spy = _Spy()
    tune_and_test([make_pipeline(SkScaler(), spy)], split)
    reference = SkScaler().fit(split.x_train)  # fitted on the training rows alone
    np.testing.assert_allclose(spy.seen["x"], reference.transform(split.x_train), atol=1e-12)
    np.testing.assert_allclose(spy.seen["x_val"], reference.transform(split.x_val), atol=1e-12)
    np.testing.assert_array_equal(spy.seen["y_val"], split.y_val)
    # validation rows (to choose) and test rows (once), both with the training statistics
    assert len(spy.predicted) == 2
    np.testing.assert_allclose(spy.predicted[0], reference.transform(split.x_val), atol=1e-12)
    np.testing.assert_allclose(spy.predicted[1], reference.transform(split.x_test), atol=1e-12)


# --- recommendation -------------------------------------------------------------------------


def test_matrix_factorization_gradcheck(rng) -> None:
    model = MatrixFactorization(5, 4, 3, mean=3.0, rng=rng)
    model.user_bias.value[...] = rng.standard_normal(5)
    model.item_bias.value[...] = rng.standard_normal(4)
    pairs = np.stack([rng.integers(0, 5, 12), rng.integers(0, 4, 12)], axis=1)  # repeats
    errors = check_layer(model, pairs, rng)
    assert set(errors) == {"P", "Q", "user_bias", "item_bias"}
    assert max(errors.values()) < TOLERANCE
    np.testing.assert_allclose(model.forward(pairs)[:, 0], model.scores()[pairs[:, 0], pairs[:, 1]])


def test_matrix_factorization_refuses_bad_pairs(rng) -> None:
    model = MatrixFactorization(5, 4, 2, rng=rng)
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        model.forward(np.zeros((3, 3), dtype=int))
    with pytest.raises(ValueError, match="item ids"):
        model.forward(np.array([[0, 4]]))
    with pytest.raises(TypeError, match="integer ids"):
        model.forward(np.array([[0.0, 1.0]]))


def two_tower_pairs(rng) -> tuple[TwoTower, np.ndarray]:
    model = TwoTower(9, 7, embedding_dim=4, hidden=5, output_dim=3, mean=3.5, rng=rng)
    for name, parameter in model.parameters():
        if name.endswith(".b"):
            parameter.value[...] = 0.3 * rng.standard_normal(parameter.shape)
    pairs = np.stack([rng.integers(0, 9, 10), rng.integers(0, 7, 10)], axis=1)
    return model, pairs


def test_two_tower_pytorch_twin_scores_the_same(rng) -> None:
    import torch

    import dltutor.torch as dtorch
    from dltutor.torch.recommend import TwoTower as TorchTwoTower

    reference, pairs = two_tower_pairs(rng)
    twin = TorchTwoTower(9, 7, embedding_dim=4, hidden=5, output_dim=3, mean=3.5).double()
    dtorch.set_weights(twin, reference.get_weights())
    np.testing.assert_allclose(twin.scores().numpy(), reference.scores(), rtol=1e-10)
    ours = dtorch.predict(twin, pairs, device=torch.device("cpu"))
    np.testing.assert_allclose(ours, reference.forward(pairs), rtol=1e-10)
    np.testing.assert_allclose(
        reference.forward(pairs)[:, 0], reference.scores()[pairs[:, 0], pairs[:, 1]]
    )
    with pytest.raises(ValueError, match=r"\(N, 2\) int64"):
        twin(torch.zeros((2, 3), dtype=torch.long))


def test_two_tower_keras_twin_scores_the_same(rng) -> None:
    import dltutor.keras as dkeras
    from dltutor.keras.recommend import TwoTower as KerasTwoTower

    reference, pairs = two_tower_pairs(rng)
    twin = KerasTwoTower(9, 7, embedding_dim=4, hidden=5, output_dim=3, mean=3.5)
    dkeras.set_weights(twin, reference.get_weights())
    np.testing.assert_allclose(twin.scores(), reference.scores(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        twin.predict_on_batch(pairs), reference.forward(pairs), rtol=1e-5, atol=1e-5
    )


def tabular_rows(rng: np.random.Generator) -> np.ndarray:
    numeric = rng.standard_normal((6, 3))
    codes = np.stack([rng.integers(0, 4, 6), rng.integers(0, 5, 6)], axis=1)
    return np.concatenate([numeric, codes], axis=1)  # (6, 3 + 2)


def test_scratch_tabular_mlp_gradcheck(rng) -> None:
    from dltutor.scratch.tabular import TabularMLP

    model = TabularMLP(3, (4, 5), embedding_dim=2, hidden=(6,), batch_norm=True, rng=rng)
    errors = check_layer(model, tabular_rows(rng), rng)
    assert set(errors) >= {"x", "embedding0.W", "embedding1.W", "body.0.W", "body.2.gamma"}
    assert max(errors.values()) < TOLERANCE


def test_tabular_mlp_twins_compute_the_scratch_function(rng) -> None:
    import torch

    import dltutor.keras as dkeras
    import dltutor.torch as dtorch
    from dltutor.keras.tabular import TabularMLP as KerasMLP
    from dltutor.scratch.tabular import TabularMLP
    from dltutor.torch.tabular import TabularMLP as TorchMLP

    x = tabular_rows(rng)
    arguments = dict(num_numeric=3, category_sizes=(4, 5), embedding_dim=2, hidden=(8, 4))
    reference = TabularMLP(**arguments, rng=rng)  # type: ignore[arg-type]
    for _, parameter in reference.parameters():
        parameter.value[...] = rng.standard_normal(parameter.shape)  # biases too
    expected = reference.forward(x)
    torch_model = TorchMLP(**arguments).double()  # type: ignore[arg-type]
    dtorch.set_weights(torch_model, reference.get_weights())
    ours = dtorch.predict(torch_model, x, device=torch.device("cpu"))
    np.testing.assert_allclose(ours, expected, rtol=1e-10, atol=1e-12)
    keras_model = KerasMLP(**arguments)  # type: ignore[arg-type]
    keras_model(x.astype(np.float32))  # build
    dkeras.set_weights(keras_model, reference.get_weights())
    theirs = keras_model.predict_on_batch(x.astype(np.float32))
    np.testing.assert_allclose(theirs, expected, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match=r"\(N, 5\)"):
        torch_model(torch.zeros((2, 4), dtype=torch.float64))
    with pytest.raises(ValueError, match=r"\(N, 5\)"):
        reference.forward(np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"\(N, 5\)"):
        keras_model(np.zeros((2, 6), np.float32))  # an extra column is not ignored
    bad = x.copy()
    bad[0, 3] = 1.5  # a fractional code: refused by all three, not rounded or truncated
    for call in (
        reference.forward,
        lambda v: torch_model(torch.as_tensor(v)),
        lambda v: keras_model(v.astype(np.float32)),
    ):
        with pytest.raises(ValueError, match="whole numbers"):
            call(bad)
    bad[0, 3] = 4.0  # out of range for a column of 4 levels
    for call in (reference.forward, lambda v: torch_model(torch.as_tensor(v))):
        with pytest.raises(ValueError, match=r"\[0, size\)"):
            call(bad)


def test_batch_norm_twins_agree_in_both_modes_and_in_their_running_statistics(rng) -> None:
    import torch

    from dltutor.keras.tabular import TabularMLP as KerasMLP
    from dltutor.torch.tabular import TabularMLP as TorchMLP

    x = np.concatenate([rng.standard_normal((32, 3)), rng.integers(0, 4, (32, 1))], axis=1)
    x = x.astype(np.float32)
    arguments = dict(num_numeric=3, category_sizes=(4,), embedding_dim=2, hidden=(8, 4))
    torch_model = TorchMLP(**arguments, batch_norm=True)  # type: ignore[arg-type]
    keras_model = KerasMLP(**arguments, batch_norm=True)  # type: ignore[arg-type]
    keras_model(x)  # build
    state = {k: v.detach().numpy() for k, v in torch_model.state_dict().items()}
    state["layers.2.running_mean"] = rng.standard_normal(8).astype(np.float32)
    state["layers.2.running_var"] = rng.uniform(0.5, 2, 8).astype(np.float32)
    torch_model.load_state_dict({k: torch.as_tensor(v) for k, v in state.items()})
    # by hand: Keras' Dense kernel is torch's weight transposed; BN: gamma, beta, stats
    values = [state["embeddings.0.weight"]]
    for k, layer in [(0, "linear"), (2, "bn"), (3, "linear"), (5, "bn"), (6, "linear")]:
        if layer == "linear":
            values += [state[f"layers.{k}.weight"].T, state[f"layers.{k}.bias"]]
        else:
            values += [state[f"layers.{k}.{n}"] for n in ("weight", "bias")]
            values += [state[f"layers.{k}.running_{n}"] for n in ("mean", "var")]
    assert [tuple(w.shape) for w in keras_model.weights] == [v.shape for v in values]
    for weight, value in zip(keras_model.weights, values, strict=True):
        weight.assign(value)
    torch_model.eval()
    with torch.no_grad():
        expected = torch_model(torch.as_tensor(x)).numpy()
    np.testing.assert_allclose(keras_model(x, training=False), expected, rtol=1e-5, atol=1e-5)
    torch_model.train()
    with torch.no_grad():
        expected = torch_model(torch.as_tensor(x)).numpy()  # batch statistics, updates stats
    np.testing.assert_allclose(keras_model(x, training=True), expected, rtol=1e-5, atol=1e-5)
    bn_keras, after = keras_model.body[1], torch_model.state_dict()
    np.testing.assert_allclose(
        bn_keras.moving_mean.numpy(), after["layers.2.running_mean"].numpy(), rtol=1e-5
    )
    # the one difference: PyTorch keeps the unbiased batch variance (n / (n - 1) times
    # the biased one both normalise with), Keras the biased one
    batch_var_torch = (
        after["layers.2.running_var"].numpy() - 0.9 * state["layers.2.running_var"]
    ) / 0.1
    batch_var_keras = (bn_keras.moving_variance.numpy() - 0.9 * state["layers.2.running_var"]) / 0.1
    np.testing.assert_allclose(batch_var_torch, batch_var_keras * 32 / 31, rtol=1e-4, atol=1e-5)


def test_tabular_classifier_learns_and_checks_labels(rng) -> None:
    import torch

    from dltutor.torch.tabular import TabularClassifier

    x = np.concatenate([rng.standard_normal((300, 2)), rng.integers(0, 3, (300, 1))], axis=1)
    y = ((x[:, 0] > 0) ^ (x[:, 2] == 1)).astype(np.int64)  # needs the category's embedding
    model = TabularClassifier(2, (3,), epochs=60, seed=0, device=torch.device("cpu"))
    model.fit(x[:200], y[:200], validation_data=(x[200:250], y[200:250]))
    assert np.mean(model.predict(x[250:]) == y[250:]) > 0.85
    with pytest.raises(ValueError, match="integer class labels"):
        model.fit(x[:10], y[:10].astype(float), validation_data=(x[:5], y[:5]))


def test_ratings_have_planted_structure_and_a_clean_split() -> None:
    data = make_ratings(num_users=200, num_items=100, per_user=20, noise=0.3, seed=2)
    residual = data.ratings - data.planted_scores()[data.users, data.items]
    assert abs(residual.std() - 0.3) < 0.03
    assert len(set(zip(data.users.tolist(), data.items.tolist(), strict=True))) == len(data.users)
    counts = np.bincount(data.items, minlength=100)
    top = np.argsort(-data.popularity)[:10]
    assert counts[top].mean() > 2 * counts.mean()  # popularity skew
    split = split_ratings(data, cold_fraction=0.1, seed=0)
    masks = np.stack([split.train, split.validation, split.test, split.cold])
    np.testing.assert_array_equal(masks.sum(axis=0), 1)  # each rating in exactly one part
    assert not np.isin(data.users[split.train], split.cold_users).any()
    assert len(split.cold_users) == 20
    with pytest.raises(ValueError, match="per_user"):
        make_ratings(num_items=10, per_user=20)
    with pytest.raises(ValueError, match="leave training"):
        split_ratings(data, test_size=0.6, validation_size=0.5)


def test_rating_task_matches_a_loop_over_the_ratings() -> None:
    data = make_ratings(num_users=60, num_items=40, per_user=10, seed=1)
    split = split_ratings(data, cold_fraction=0.1, seed=3)
    task = rating_task(data, split, threshold=4.0)
    seen, relevant = np.zeros((60, 40), bool), np.zeros((60, 40), bool)
    counts, liked, train = np.zeros(40, int), np.zeros(40, int), []
    for u, i, r, tr, va, te in zip(
        data.users,
        data.items,
        data.ratings,
        split.train,
        split.validation,
        split.test,
        strict=True,
    ):
        seen[u, i] |= bool(tr or va)
        relevant[u, i] |= bool(te and r >= 4.0)
        counts[i] += tr
        liked[i] += tr and r >= 4.0
        if tr:
            train.append(r)
    np.testing.assert_array_equal(task.seen, seen)
    np.testing.assert_array_equal(task.relevant, relevant)
    np.testing.assert_array_equal(task.counts, counts)
    np.testing.assert_array_equal(task.liked_counts, liked)
    assert task.mean == pytest.approx(np.mean(train), abs=1e-12)
    x, y = task.cold
    assert np.isin(x[:, 0], split.cold_users).all() and len(y) == split.cold.sum()
    x32, y32 = rating_pairs(data, split.test, "float32")
    assert x32.dtype == np.int64 and y32.dtype == np.float32 and y32.shape == (len(x32), 1)
    with pytest.raises(ValueError, match="booleans"):
        rating_pairs(data, split.test.astype(int))
    with pytest.raises(TypeError, match="RatingSplit"):
        rating_task(data, (split.train, split.test))  # type: ignore[arg-type]


def test_rating_rmse_and_damped_biases_by_hand() -> None:
    scores = np.array([[1.0, 2.0], [3.0, 4.0]])
    x = np.array([[0, 1], [1, 0]])
    y = np.array([[2.5], [1.0]])  # errors -0.5 and 2
    assert rating_rmse(scores, x, y) == pytest.approx(np.sqrt((0.25 + 4) / 2), abs=1e-15)
    with pytest.raises(ValueError, match="y \\(N, 1\\)"):
        rating_rmse(scores, x, y[:, 0])
    data = make_ratings(num_users=30, num_items=20, per_user=8, seed=4)
    task = rating_task(data, split_ratings(data, seed=4))
    user, item = damped_biases(task, damping=2.0)
    (xt, yt), mu = task.train, task.mean
    for i in range(20):  # item i: sum of its residuals over (count + damping)
        rows = xt[:, 1] == i
        assert item[i] == pytest.approx((yt[rows, 0] - mu).sum() / (rows.sum() + 2.0), abs=1e-12)
    for u in range(30):
        rows = xt[:, 0] == u
        residual = yt[rows, 0] - mu - item[xt[rows, 1]]
        assert user[u] == pytest.approx(residual.sum() / (rows.sum() + 2.0), abs=1e-12)
    with pytest.raises(ValueError, match="damping"):
        damped_biases(task, damping=-1.0)


def test_baseline_rankers_and_picks_ranker() -> None:
    from dltutor.scratch.recommend import baseline_rankers, picked_and_liked, picks_ranker

    data = make_ratings(num_users=40, num_items=30, per_user=10, seed=5)
    task = rating_task(data, split_ratings(data, seed=5), threshold=4.0)
    rankers = baseline_rankers(task)
    (x, y), u = task.train, 7  # any user: the same ranking for all
    liked = np.array([np.sum((x[:, 1] == i) & (y[:, 0] >= 4.0)) for i in range(30)])
    counts = np.array([np.sum(x[:, 1] == i) for i in range(30)])
    np.testing.assert_array_equal(rankers["popularity"][u], counts)
    order = np.lexsort((-counts, -liked))  # liked first, then popularity
    np.testing.assert_array_equal(np.argsort(-rankers["liked popularity"][u], kind="stable"), order)
    scores = data.planted_scores()
    x_val, y_val = task.validation
    spread = np.sqrt(np.mean((scores[x_val[:, 0], x_val[:, 1]] - y_val[:, 0]) ** 2))
    np.testing.assert_allclose(
        picks_ranker(scores, task), picked_and_liked(scores, counts, 4.0, spread), rtol=1e-12
    )
    with pytest.raises(TypeError, match="RatingTask"):
        baseline_rankers(data)  # type: ignore[arg-type]


def test_fit_factorization_learns_the_ratings_better_than_the_biases() -> None:
    from dltutor.scratch.recommend import fit_factorization

    data = make_ratings(num_users=200, num_items=100, per_user=30, seed=6)
    task = rating_task(data, split_ratings(data, seed=6), dtype="float32")
    model = fit_factorization(task, rank=4, seed=0)
    assert model.mean == task.mean and model.rank == 4
    user, item = damped_biases(task)
    biases = task.mean + user[:, None] + item[None, :]
    assert rating_rmse(model.scores(), *task.test) < rating_rmse(biases, *task.test) - 0.1
    with pytest.raises(TypeError, match="RatingTask"):
        fit_factorization(data, rank=4, seed=0)  # type: ignore[arg-type]


def test_top_k_metrics_on_a_hand_case() -> None:
    from sklearn.metrics import ndcg_score

    scores = np.array([[0.9, 0.8, 0.7, 0.6, 0.5], [0.1, 0.2, 0.3, 0.4, 0.5]])
    seen = np.array([[True, False, False, False, False], [False] * 5])
    relevant = np.array([[False, False, True, False, False], [True, False, False, False, True]])
    result = top_k_metrics(scores, relevant, seen, k=2)
    # user 0: item 0 seen, so the list is 1, 2: item 2 at rank 1 -> recall 1, NDCG 1/log2(3)
    # user 1: list 4, 3: item 4 at rank 0, item 0 missed -> recall 1/2, NDCG 1/(1+1/log2 3)
    assert result["recall"] == pytest.approx((1 + 0.5) / 2)
    expected = (1 / np.log2(3) + 1 / (1 + 1 / np.log2(3))) / 2
    assert result["ndcg"] == pytest.approx(expected)
    masked = np.where(seen, -1.0, scores)
    assert result["ndcg"] == pytest.approx(ndcg_score(relevant.astype(float), masked, k=2))
    with pytest.raises(ValueError, match="boolean array"):
        top_k_metrics(scores, relevant.astype(int), seen)
    with pytest.raises(ValueError, match="both relevant"):
        top_k_metrics(scores, relevant, relevant)
    with pytest.raises(ValueError, match="no user"):
        top_k_metrics(scores, np.zeros_like(seen), seen)


def test_specs_refuse_bad_arguments() -> None:
    from dltutor.scratch.recommend import TwoTowerSpec
    from dltutor.scratch.tabular import TabularSpec, tabular_spec

    assert tabular_spec(3, [4, 5], hidden=[8]).joined_width == 3 + 2 * 4
    with pytest.raises(ValueError, match="num_numeric must be ≥ 0"):
        TabularSpec(-1)
    with pytest.raises(TypeError, match="num_numeric must be an integer"):
        TabularSpec(2.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least one numeric or categorical"):
        TabularSpec(0)
    with pytest.raises(ValueError, match="dropout"):
        TabularSpec(2, dropout=1.0)
    with pytest.raises(ValueError, match="category size"):
        TabularSpec(2, (3, 0))
    with pytest.raises(ValueError, match="hidden"):
        TwoTowerSpec(5, 4, hidden=0)


def test_picked_and_liked_is_the_log_probability_of_both() -> None:
    from scipy.stats import norm

    from dltutor.scratch.recommend import picked_and_liked

    predicted = np.array([[3.0, 4.5, 5.0], [2.0, 4.0, 3.5]])
    counts = np.array([10.0, 0.0, 4.0])
    scores = picked_and_liked(predicted, counts, 4.0, 0.5)
    pick = (counts + 1) / (counts + 1).sum()
    expected = np.log(pick * norm.cdf((predicted - 4.0) / 0.5))
    np.testing.assert_allclose(scores, expected, rtol=1e-12)
    with pytest.raises(ValueError, match="item_counts must be 3"):
        picked_and_liked(predicted, counts[:2], 4.0, 0.5)
    with pytest.raises(ValueError, match="spread"):
        picked_and_liked(predicted, counts, 4.0, 0.0)


def test_label_forms_the_chapter_describes(rng) -> None:
    """The chapter page: Keras' categorical_crossentropy refuses integer labels, the two
    Keras fixes agree, to_categorical maps -1 to the last class; PyTorch's CrossEntropyLoss
    takes int64 indices or probabilities and refuses int32."""
    import keras
    import torch

    logits = rng.standard_normal((6, 4))
    labels = rng.integers(0, 4, 6)
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    with pytest.raises(ValueError, match="same rank"):
        keras.losses.categorical_crossentropy(labels, probabilities)
    sparse = keras.losses.sparse_categorical_crossentropy(labels, probabilities)
    dense = keras.losses.categorical_crossentropy(
        keras.utils.to_categorical(labels, 4), probabilities
    )
    np.testing.assert_allclose(np.asarray(sparse), np.asarray(dense), rtol=1e-6)
    np.testing.assert_array_equal(keras.utils.to_categorical([-1], 3), [[0, 0, 1]])
    loss = torch.nn.CrossEntropyLoss()
    by_index = loss(torch.tensor(logits), torch.tensor(labels, dtype=torch.int64))
    by_probability = loss(torch.tensor(logits), torch.eye(4, dtype=torch.float64)[labels])
    assert float(by_index) == pytest.approx(float(by_probability), rel=1e-12)
    with pytest.raises(RuntimeError, match="Long"):
        loss(torch.tensor(logits), torch.tensor(labels, dtype=torch.int32))


def test_tabular_regressor_learns_and_checks_targets(rng) -> None:
    import torch

    from dltutor.torch.tabular import TabularRegressor

    x = np.concatenate([rng.standard_normal((300, 2)), rng.integers(0, 3, (300, 1))], axis=1)
    effect = np.array([-1.0, 0.0, 2.0])  # the category's effect: needs its embedding
    y = 100 + 30 * (x[:, 0] - 0.5 * x[:, 1] + effect[x[:, 2].astype(int)])
    model = TabularRegressor(2, (3,), epochs=80, seed=0, device=torch.device("cpu"))
    model.fit(x[:200], y[:200], validation_data=(x[200:250], y[200:250]))
    assert model.target_mean == pytest.approx(y[:200].mean())  # training targets only
    predicted = model.predict(x[250:])
    assert predicted.shape == (50,)
    residual = np.sum((y[250:] - predicted) ** 2) / np.sum((y[250:] - y[250:].mean()) ** 2)
    assert residual < 0.1  # R² > 0.9 on held-out rows
    with pytest.raises(ValueError, match="finite real targets"):
        model.fit(x[:10], y[:10, None], validation_data=(x[:5], y[:5]))
    with pytest.raises(ValueError, match="finite real targets"):
        model.fit(x[:10], np.full(10, np.nan), validation_data=(x[:5], y[:5]))
    with pytest.raises(RuntimeError, match="before fit"):
        TabularRegressor(2, (3,)).predict(x[:5])


def test_tune_and_test_r2_picks_on_validation_and_scores_test_once(rng) -> None:
    from sklearn.linear_model import Ridge
    from sklearn.metrics import r2_score

    from dltutor.torch.tabular import tune_and_test_r2

    x = rng.standard_normal((120, 3))
    y = x @ np.array([1.0, -2.0, 0.5]) + 0.3 * rng.standard_normal(120)
    parts = DataSplit(x[:60], y[:60], x[60:90], y[60:90], x[90:], y[90:])
    alphas = (1e4, 0.1)  # a strong penalty that underfits, and a light one
    result = tune_and_test_r2([Ridge(alpha=a) for a in alphas], parts)
    fitted = [Ridge(alpha=a).fit(parts.x_train, parts.y_train) for a in alphas]
    validation = [r2_score(parts.y_val, m.predict(parts.x_val)) for m in fitted]
    chosen = int(np.argmax(validation))
    assert result["chosen"] == chosen == 1
    assert result["validation"] == pytest.approx(validation[chosen], abs=1e-12)
    predicted = fitted[chosen].predict(parts.x_test)
    assert result["test"] == pytest.approx(r2_score(parts.y_test, predicted), abs=1e-12)
    rmse = np.sqrt(np.mean((parts.y_test - predicted) ** 2))
    assert result["rmse"] == pytest.approx(rmse, abs=1e-12)
    with pytest.raises(ValueError, match="at least one"):
        tune_and_test_r2([], parts)
