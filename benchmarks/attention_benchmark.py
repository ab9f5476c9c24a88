"""NumPy multi-head attention (forward + backward) against PyTorch on the CPU.

Usage: .venv/bin/python benchmarks/attention_benchmark.py [--repeats 20]

Times one self-attention layer's forward and backward pass at the shapes of the attention
chapter — the reversal task, associative recall, and the small GPT — and prints NumPy's
time, PyTorch's (``nn.MultiheadAttention``, which calls ``scaled_dot_product_attention``
when no weights are requested) and the ratio. Not a test: timings depend on the machine.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from timing import best_time

from dltutor import scratch

# (name, batch, length, width, heads)
SHAPES = [
    ("reversal", 128, 16, 32, 1),
    ("recall", 64, 18, 32, 4),
    ("small GPT", 32, 64, 64, 4),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(
        f"PyTorch {torch.__version__} on {torch.get_num_threads()} CPU threads; best of {args.repeats}, float32"
    )
    print(f"{'shape':12} {'(N, T, E), H':>18} {'NumPy ms':>9} {'torch ms':>9} {'ratio':>6}")
    ratios = []
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

        numpy_seconds = best_time(numpy_step, args.repeats)
        torch_seconds = best_time(torch_step, args.repeats)
        ratios.append(numpy_seconds / torch_seconds)
        shape = f"{(batch, length, width)}, {heads}"
        print(
            f"{name:12} {shape:>18} {numpy_seconds * 1e3:>9.3f} {torch_seconds * 1e3:>9.3f} {ratios[-1]:>5.1f}×"
        )
    print(f"geometric mean ratio NumPy / PyTorch: {np.exp(np.mean(np.log(ratios))):.1f}×")


if __name__ == "__main__":
    main()
