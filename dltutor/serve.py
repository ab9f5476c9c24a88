"""Serve an exported ONNX model: checked inputs, batched predictions, a command line.

Needs only onnxruntime (the ``deploy`` extra), neither PyTorch nor TensorFlow: the file
holds the whole computation. ::

    python -m dltutor.serve model.onnx inputs.npy --output predictions.npy --range 0 1
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dltutor.checks import check_positive_int, describe


def median_seconds(function: Callable[[], Any], repeats: int = 20) -> float:
    """The median wall time of ``function()`` over ``repeats`` calls, after one warm-up call."""
    repeats = check_positive_int(repeats, "repeats")
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


class Predictor:
    """Predictions from an ONNX file, with the input checks a service needs.

    ``Predictor("model.onnx", value_range=(0, 1))(x)`` checks ``x`` — numbers, of the
    shape the graph takes after its batch dimension, finite, inside ``value_range`` —
    and returns the graph's output, computed ``batch_size`` rows at a time. Each failed
    check raises ``ValueError`` (``TypeError`` for non-numbers) naming what was expected
    and what came.
    """

    def __init__(
        self,
        path: str | Path,
        value_range: tuple[float, float] | None = None,
        batch_size: int = 256,
    ) -> None:
        try:
            import onnxruntime
        except ImportError as error:
            raise ImportError(
                'onnxruntime is part of dltutor\'s deploy extra: pip install "dltutor[deploy]"'
            ) from error
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no ONNX file at {path}: export one first (export_onnx)")
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        self.session = onnxruntime.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"]
        )
        (graph_input,) = self.session.get_inputs()
        self.input_name = graph_input.name
        self.row_shape = tuple(graph_input.shape[1:])  # the shape of one example
        if value_range is not None and not value_range[0] < value_range[1]:
            raise ValueError(f"value_range must be (low, high) with low < high, got {value_range}")
        self.value_range = value_range
        self.batch_size = check_positive_int(batch_size, "batch_size")

    def check(self, x: Any) -> np.ndarray:
        """``x`` as float32 (N, *row_shape), or the error that says what is wrong with it."""
        array = np.asarray(x)
        if array.dtype.kind not in "iuf":
            raise TypeError(f"x must hold real numbers, got {describe(array)}")
        if array.shape[1:] != self.row_shape or array.ndim != len(self.row_shape) + 1:
            raise ValueError(
                f"x must have shape (N, {', '.join(map(str, self.row_shape))}), got {array.shape}"
            )
        if not np.all(np.isfinite(array)):
            raise ValueError(f"x must be finite, got NaN or infinite entries in {describe(array)}")
        if self.value_range is not None and array.size:
            low, high = self.value_range
            if array.min() < low or array.max() > high:
                raise ValueError(
                    f"x must lie in [{low}, {high}], got values in "
                    f"[{array.min():.4g}, {array.max():.4g}]"
                )
        return array.astype(np.float32, copy=False)

    def __call__(self, x: Any) -> np.ndarray:
        """The graph's outputs for the checked ``x``, ``batch_size`` rows per run."""
        inputs = self.check(x)
        outputs = [
            self.session.run(None, {self.input_name: inputs[start : start + self.batch_size]})[0]
            for start in range(0, len(inputs), self.batch_size)
        ]
        return np.concatenate(outputs) if outputs else np.empty((0,), np.float32)


def main(argv: Sequence[str] | None = None) -> None:
    """Read inputs from a ``.npy`` file, write the model's outputs (and labels) to ``.npy``."""
    parser = argparse.ArgumentParser(prog="python -m dltutor.serve", description=main.__doc__)
    parser.add_argument("model", type=Path, help="the exported .onnx file")
    parser.add_argument("inputs", type=Path, help=".npy array, batch first")
    parser.add_argument("--output", type=Path, required=True, help=".npy file for the outputs")
    parser.add_argument("--range", type=float, nargs=2, metavar=("LOW", "HIGH"), default=None)
    parser.add_argument("--batch-size", type=int, default=256)
    args = parser.parse_args(argv)
    if not args.inputs.is_file():
        parser.error(f"no inputs file at {args.inputs}")
    predictor = Predictor(args.model, args.range and tuple(args.range), args.batch_size)
    outputs = predictor(np.load(args.inputs, allow_pickle=False))
    np.save(args.output, outputs)
    print(f"{len(outputs)} predictions -> {args.output}")


if __name__ == "__main__":
    main()
