"""Train / validation / test splits, and the handwritten digits that ship with scikit-learn."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dltutor.checks import as_float_array, check_fraction, check_same_length, check_seed

SKLEARN_SEEDS = 2**32 - 1  # the largest random_state scikit-learn takes


@dataclass(frozen=True)
class DataSplit:
    """Features ``x_*`` and labels ``y_*`` of a train / validation / test split."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    def __repr__(self) -> str:
        return (
            f"DataSplit(train={self.x_train.shape}, val={self.x_val.shape}, "
            f"test={self.x_test.shape})"
        )


def split(
    x: np.ndarray,
    y: np.ndarray,
    test_size: float = 0.2,
    validation_size: float = 0.1,
    seed: int = 0,
) -> DataSplit:
    """Stratified train / validation / test split (scikit-learn's ``train_test_split``).

    ``test_size`` and ``validation_size`` are fractions of the whole dataset.
    """
    from sklearn.model_selection import train_test_split

    x = np.asarray(x)
    y = np.asarray(y)
    check_same_length(x, y, "x", "y")
    test_size = check_fraction(test_size, "test_size")
    validation_size = check_fraction(validation_size, "validation_size")
    seed = check_seed(seed, maximum=SKLEARN_SEEDS)
    if test_size + validation_size >= 1:
        raise ValueError(
            f"test_size + validation_size must leave training data, got {test_size} + {validation_size}"
        )
    x_rest, x_test, y_rest, y_test = train_test_split(
        x, y, test_size=test_size, random_state=seed, stratify=y
    )
    x_train, x_val, y_train, y_val = train_test_split(
        x_rest,
        y_rest,
        test_size=validation_size / (1 - test_size),
        random_state=seed,
        stratify=y_rest,
    )
    return DataSplit(x_train, y_train, x_val, y_val, x_test, y_test)


def load_digits(
    test_size: float = 0.2, validation_size: float = 0.1, seed: int = 0, flatten: bool = True
) -> DataSplit:
    """The 1,797 8×8 handwritten digits that ship with scikit-learn, split three ways.

    Pixels are scaled from 0..16 to [0, 1] (float64). ``x`` has shape (N, 64), or
    (N, 8, 8) with ``flatten=False``; labels are int64 in 0..9.
    """
    from sklearn.datasets import load_digits as sklearn_load_digits

    seed = check_seed(seed, maximum=SKLEARN_SEEDS)  # before loading: fail fast
    bunch = sklearn_load_digits()
    images = as_float_array(bunch.images, "digits") / 16.0  # (N, 8, 8)
    x = images.reshape(len(images), -1) if flatten else images  # (N, 64) or (N, 8, 8)
    return split(x, bunch.target.astype(np.int64), test_size, validation_size, seed)


# --- the tabular chapter: a generated credit-risk table with a known rule ----------------

CREDIT_NUMERIC = ("age", "income", "debt_ratio", "history_years", "late_payments")
CREDIT_CATEGORIES = ("employment", "purpose", "region")
CREDIT_CATEGORY_SIZES = (4, 6, 30)  # employment: 0 salaried, 1 self-employed, 2 none, 3 retired


@dataclass(frozen=True)
class CreditTable:
    """A generated credit-risk table: features, labels and the true default probability.

    ``x`` (N, 8) float64 holds the five numeric columns (``numeric_columns``: age in years,
    income in thousands, debt ratio, years of credit history, late payments; NaN where a
    value is missing) then the three categorical columns as integer codes
    (``category_columns``: employment, purpose, region). ``labels`` (N,) are 1 for a
    default. ``probability`` (N,) is the true :math:`P(y = 1 \\mid x)` from the complete,
    outlier-free features, so no model can beat ``bayes_accuracy``.
    """

    x: np.ndarray
    labels: np.ndarray
    probability: np.ndarray
    names: tuple[str, ...] = CREDIT_NUMERIC + CREDIT_CATEGORIES
    category_sizes: tuple[int, ...] = CREDIT_CATEGORY_SIZES

    @property
    def numeric_columns(self) -> list[int]:
        return list(range(len(CREDIT_NUMERIC)))

    @property
    def category_columns(self) -> list[int]:
        return list(range(len(CREDIT_NUMERIC), len(self.names)))

    def bayes_accuracy(self) -> float:
        r"""The expected accuracy of the true rule, :math:`\frac1N\sum_n \max(p_n, 1 - p_n)`."""
        return float(np.mean(np.maximum(self.probability, 1 - self.probability)))


def credit_logit(
    numeric: np.ndarray, categories: np.ndarray, region_effects: np.ndarray
) -> np.ndarray:
    r"""The planted rule: the log-odds of default from complete numeric features (N, 5)
    and category codes (N, 3).

    .. math::

        z = -1.2 + 2.2\,[\text{debt} > 0.6] + 0.7\,\text{late} - 0.9 \log\frac{\text{income}}{40}
            - 0.04\,\text{history} + e_{\text{employment}} + r_{\text{region}}
            + 1.6\,[\text{age} < 27][\text{self-employed}]

    Thresholds and an interaction (what trees find easily) next to smooth terms (what a
    linear model finds easily).
    """
    age, income, debt, history, late = numeric.T
    employment_effect = np.array([0.0, 0.5, 1.2, -0.3])
    young_self_employed = (age < 27) & (categories[:, 0] == 1)
    return (
        -1.2
        + 2.2 * (debt > 0.6)
        + 0.7 * late
        - 0.9 * np.log(income / 40.0)
        - 0.04 * history
        + employment_effect[categories[:, 0]]
        + region_effects[categories[:, 2]]
        + 1.6 * young_self_employed
    )


def make_credit(
    n: int = 2000,
    seed: int = 0,
    missing: float = 0.1,
    outliers: float = 0.01,
) -> CreditTable:
    """``n`` loan applicants drawn from a planted rule, with missing values and outliers.

    Labels are drawn from the true probability ``sigmoid(credit_logit(...))``. Then, in
    the features only: income goes missing for a fraction ``missing`` of the salaried and
    three times as often for the self-employed (missing *at random* given employment, so
    a missing-indicator carries information), years of history for ``missing`` of all
    rows; and a fraction ``outliers`` of incomes are typed in units instead of thousands
    (×1000). The purpose column has no effect on the label. Region effects are the same
    for every seed (a fixed generator), so tables of different seeds share one rule.
    """
    seed = check_seed(seed, maximum=SKLEARN_SEEDS)
    n = int(n)
    if n < 10:
        raise ValueError(f"n must be at least 10 applicants, got {n}")
    missing = float(missing)
    outliers = float(outliers)
    if not (0 <= missing < 0.3 and 0 <= outliers < 0.5):
        raise ValueError(
            f"missing must lie in [0, 0.3) and outliers in [0, 0.5), got {missing}, {outliers}"
        )
    region_effects = np.random.default_rng(12345).normal(0.0, 0.8, CREDIT_CATEGORY_SIZES[2])
    rng = np.random.default_rng(seed)
    employment = rng.choice(4, n, p=[0.6, 0.2, 0.08, 0.12])
    purpose = rng.integers(0, CREDIT_CATEGORY_SIZES[1], n)
    region = rng.integers(0, CREDIT_CATEGORY_SIZES[2], n)
    categories = np.stack([employment, purpose, region], axis=1)  # (N, 3)
    age = np.clip(rng.normal(42, 13, n), 18, 85)
    age = np.where(employment == 3, np.maximum(age, 60), age)
    income = np.exp(rng.normal(np.log(45), 0.5, n))
    debt = rng.gamma(2.0, 0.22, n)
    history = np.clip(age - 18 - rng.exponential(5, n), 0, None)
    late = rng.poisson(0.6, n).astype(np.float64)
    numeric = np.stack([age, income, debt, history, late], axis=1)  # (N, 5)
    probability = 1.0 / (1.0 + np.exp(-credit_logit(numeric, categories, region_effects)))
    labels = (rng.random(n) < probability).astype(np.int64)
    observed = numeric.copy()
    income_missing = rng.random(n) < missing * np.where(employment == 1, 3.0, 1.0)
    observed[income_missing, 1] = np.nan
    observed[rng.random(n) < missing, 3] = np.nan
    typo = (rng.random(n) < outliers) & ~income_missing
    observed[typo, 1] *= 1000.0
    x = np.concatenate([observed, categories.astype(np.float64)], axis=1)  # (N, 8)
    return CreditTable(x, labels, probability)
