"""What the benchmark scripts share: the best of several timings."""

from __future__ import annotations

import time
from collections.abc import Callable


def best_time(step: Callable[[], object], repeats: int) -> float:
    """The shortest of ``repeats`` timings of ``step()`` in seconds, after one warm-up call."""
    step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return min(times)
