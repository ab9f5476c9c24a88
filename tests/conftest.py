"""Shared fixtures. Framework tests skip cleanly when their framework is not installed."""

import numpy as np
import pytest


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)
