"""Vectorized NumPy convolution (forward + backward) against PyTorch on the CPU.

Usage: .venv/bin/python benchmarks/conv_benchmark.py [--repeats 20]

Times one convolution layer's forward and backward pass at the shapes of the CNN chapter
(the digits CNN's two layers with a batch of 32, and the colour CNN's first layer) and
prints NumPy's time, PyTorch's, and the ratio. Not a test: timings depend on the machine.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from timing import Case, compare

from dltutor import scratch

# (name, batch, in_channels, out_channels, image size) at kernel 3, stride 1, padding 1.
SHAPES = [
    ("digits conv 1", 32, 1, 32, 8),
    ("digits conv 2", 32, 32, 64, 4),
    ("shapes conv 1", 32, 3, 16, 16),
    ("shapes conv 2", 32, 16, 16, 16),
]


def cases(rng: np.random.Generator) -> Iterator[Case]:
    for name, batch, c_in, c_out, size in SHAPES:
        x = rng.standard_normal((batch, c_in, size, size)).astype(np.float32)
        layer = scratch.Conv2D(c_in, c_out, 3, padding=1, rng=rng, dtype=np.float32)
        upstream = rng.standard_normal((batch, c_out, size, size)).astype(np.float32)

        def numpy_step() -> None:
            layer.forward(x)
            layer.backward(upstream)

        conv = torch.nn.Conv2d(c_in, c_out, 3, padding=1)
        x_t = torch.tensor(x, requires_grad=True)
        upstream_t = torch.tensor(upstream)

        def torch_step() -> None:
            conv.zero_grad()
            x_t.grad = None
            conv(x_t).backward(upstream_t)

        yield name, str(x.shape), numpy_step, torch_step


if __name__ == "__main__":
    compare(cases(np.random.default_rng(0)), __doc__.splitlines()[0])
