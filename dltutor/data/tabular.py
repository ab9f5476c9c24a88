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
