"""What the benchmark scripts share: best-of timings and the NumPy-against-PyTorch table."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable

import numpy as np
import torch

from dltutor.serve import timings

Step = Callable[[], object]
Case = tuple[str, str, Step, Step]  # (name, shape, NumPy step, PyTorch step)


def best_time(step: Step, repeats: int) -> float:
    """The shortest of ``repeats`` timings of ``step()`` in seconds, after one warm-up call."""
    return min(timings(step, repeats))


def compare(cases: Iterable[Case], description: str) -> None:
    """Read ``--repeats``, time each case's NumPy and PyTorch steps, print the ratios.

    ``cases`` may be a generator: each case is timed as soon as it is made.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--repeats", type=int, default=20)
    repeats = parser.parse_args().repeats
    print(
        f"PyTorch {torch.__version__} on {torch.get_num_threads()} CPU threads; best of {repeats}, float32"
    )
    print(f"{'case':14} {'shape':>20} {'NumPy ms':>9} {'torch ms':>9} {'ratio':>6}")
    ratios = []
    for name, shape, numpy_step, torch_step in cases:
        numpy_seconds, torch_seconds = (
            best_time(numpy_step, repeats),
            best_time(torch_step, repeats),
        )
        ratios.append(numpy_seconds / torch_seconds)
        print(
            f"{name:14} {shape:>20} {numpy_seconds * 1e3:>9.3f} {torch_seconds * 1e3:>9.3f} {ratios[-1]:>5.1f}×"
        )
    print(f"geometric mean ratio NumPy / PyTorch: {np.exp(np.mean(np.log(ratios))):.1f}×")
