"""Helpers shared by the tests (imported as a module: pytest advises against importing conftest)."""

import numpy as np


def labels_for(rng: np.random.Generator, num_examples: int, num_classes: int) -> np.ndarray:
    return rng.integers(0, num_classes, size=num_examples)
