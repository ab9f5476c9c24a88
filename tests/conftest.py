"""Shared fixtures. Framework tests skip cleanly when their framework is not installed."""

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def labels_for(rng: np.random.Generator, num_examples: int, num_classes: int) -> np.ndarray:
    return rng.integers(0, num_classes, size=num_examples)
