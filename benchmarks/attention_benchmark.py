"""NumPy multi-head attention (forward + backward) against PyTorch on the CPU.

Usage: .venv/bin/python benchmarks/attention_benchmark.py [--repeats 20]

Times one causal self-attention layer's forward and backward pass at the shapes of the
attention chapter — the reversal task, associative recall, and the small GPT — and prints
NumPy's time, PyTorch's (``nn.MultiheadAttention``, which calls
``scaled_dot_product_attention`` when no weights are requested) and the ratio. Not a test:
timings depend on the machine.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from timing import Case, compare

from dltutor import scratch

# (name, batch, length, width, heads)
SHAPES = [
    ("reversal", 128, 16, 32, 1),
    ("recall", 64, 18, 32, 4),
    ("small GPT", 32, 64, 64, 4),
]


def cases(rng: np.random.Generator) -> Iterator[Case]:
    for name, batch, length, width, heads in SHAPES:
        x = rng.standard_normal((batch, length, width)).astype(np.float32)
        upstream = rng.standard_normal(x.shape).astype(np.float32)
        layer = scratch.MultiHeadAttention(width, heads, causal=True, rng=rng, dtype=np.float32)

        def numpy_step() -> None:
            layer.forward(x)
            layer.backward(upstream)

        attention = torch.nn.MultiheadAttention(width, heads, batch_first=True)
        mask = torch.triu(torch.ones(length, length, dtype=torch.bool), 1)  # True = blocked
        x_t, upstream_t = torch.tensor(x, requires_grad=True), torch.tensor(upstream)

        def torch_step() -> None:
            attention.zero_grad()
            x_t.grad = None
            attention(x_t, x_t, x_t, attn_mask=mask, need_weights=False)[0].backward(upstream_t)

        yield name, f"{(batch, length, width)}, H {heads}", numpy_step, torch_step


if __name__ == "__main__":
    compare(cases(np.random.default_rng(0)), __doc__.splitlines()[0])
