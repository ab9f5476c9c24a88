"""Serve an exported ONNX model: checked inputs, batched predictions, a command line.

Needs only onnxruntime (the ``deploy`` extra), neither PyTorch nor TensorFlow: the file
holds the whole computation. ::

    python -m dltutor.serve model.onnx inputs.npy --output predictions.npy --range 0 1
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dltutor.checks import check_positive_int, describe


def timings(function: Callable[[], Any], repeats: int = 20) -> list[float]:
    """The wall times of ``repeats`` calls of ``function()`` in seconds, after one warm-up."""
    repeats = check_positive_int(repeats, "repeats")
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return times


def median_seconds(function: Callable[[], Any], repeats: int = 20) -> float:
    """The median wall time of ``function()`` over ``repeats`` calls, after one warm-up call."""
    return statistics.median(timings(function, repeats))


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """PyTorch on one CPU thread inside the block (if it is loaded), restored after.

    Timings on a shared machine compare best when each side uses one core: with several
    threads, a second process on the machine stalls whichever side it happens to meet.
    onnxruntime and TensorFlow Lite take their thread count when a session is made
    (``onnx_session(..., threads=1)``, ``tflite_runner(..., threads=1)``).
    """
    torch = sys.modules.get("torch")
    threads = torch.get_num_threads() if torch is not None else None
    if torch is not None:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if torch is not None:
            torch.set_num_threads(threads)


def time_ratio(first: Callable[[], Any], second: Callable[[], Any], repeats: int = 30) -> float:
    r"""How many times longer ``first()`` takes than ``second()``, robust to a loaded machine.

    The two run alternately (first, second; then second, first; ...), each pair
    timed back to back on one PyTorch thread (:func:`one_thread`), and the result is the
    median over pairs of :math:`t_{\text{first}} / t_{\text{second}}`. A burst of load
    from another process then slows both sides of a pair alike, where two medians taken
    one after the other can differ by any factor.
    """
    repeats = check_positive_int(repeats, "repeats")
    ratios = []
    with one_thread():
        first()
        second()  # warm-up
        for index in range(repeats):
            order = (first, second) if index % 2 == 0 else (second, first)
            seconds = []
            for function in order:
                start = time.perf_counter()
                function()
                seconds.append(time.perf_counter() - start)
            if index % 2:
                seconds.reverse()
            ratios.append(seconds[0] / seconds[1])
    return statistics.median(ratios)


def onnx_session(path: str | Path, threads: int | None = None) -> Any:
    """An onnxruntime ``InferenceSession`` on the CPU for the ONNX file at ``path``.

    ``threads``: the size of its thread pool (``None``: onnxruntime's default, one per
    core). A missing file raises ``FileNotFoundError``, a file that is not a valid ONNX
    graph ``ValueError``, both naming the path.
    """
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
    options.log_severity_level = 3  # errors only
    if threads is not None:
        options.intra_op_num_threads = check_positive_int(threads, "threads")
        options.inter_op_num_threads = 1
    try:
        return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime's own error types (InvalidProtobuf, ...)
        raise ValueError(
            f"{path} is not an ONNX graph onnxruntime can load: {str(error).strip()[:200]}"
        ) from error


class Predictor:
    """Predictions from an ONNX file, with the input checks a service needs.

    ``Predictor("model.onnx", value_range=(0, 1))(x)`` checks ``x`` — numbers, of the
    shape the graph takes after its batch dimension, finite, inside ``value_range`` —
    and returns the graph's output, computed ``batch_size`` rows at a time. Each failed
    check raises ``ValueError`` (``TypeError`` for non-numbers) naming what was expected
    and what came. ``threads``: as in :func:`onnx_session`.
    """

    def __init__(
        self,
        path: str | Path,
        value_range: tuple[float, float] | None = None,
        batch_size: int = 256,
        threads: int | None = None,
    ) -> None:
        self.session = onnx_session(path, threads)
        (graph_input,) = self.session.get_inputs()
        self.input_name = graph_input.name
        self.row_shape = tuple(graph_input.shape[1:])  # the shape of one example
        if value_range is not None and (
            np.shape(value_range) != (2,) or not value_range[0] < value_range[1]
        ):
            raise ValueError(
                f"value_range must be (low, high) with low < high, got {value_range!r}"
            )
        self.value_range = value_range
        self.batch_size = check_positive_int(batch_size, "batch_size")

    def check(self, x: Any) -> np.ndarray:
        """``x`` as float32 of shape ``(N, *row_shape)``, or the error that says what is wrong."""
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
        if not outputs:  # an empty batch: no rows, each of the output's row shape
            return self.session.run(None, {self.input_name: inputs})[0]
        return np.concatenate(outputs)


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
