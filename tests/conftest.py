"""Shared fixtures. Framework tests skip cleanly when their framework is not installed."""

import os

import numpy as np
import pytest
from hypothesis import settings

# Every run draws the same examples: a property test that passes here passes in CI, and a
# failure reproduces. (Set HYPOTHESIS_PROFILE=explore to draw fresh examples locally.)
settings.register_profile("dltutor", derandomize=True, deadline=None)
settings.register_profile("explore", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dltutor"))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)
