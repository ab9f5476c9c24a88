"""Shared fixtures. Framework tests skip cleanly when their framework is not installed."""

import numpy as np
import pytest


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def labels_for(rng: np.random.Generator, num_examples: int, num_classes: int) -> np.ndarray:
    return rng.integers(0, num_classes, size=num_examples)
