"""From a trained Keras model to a file: the ``.keras`` format, a SavedModel, TensorFlow Lite.

What this Keras (3.15) and TensorFlow (2.21) offer offline, checked: ``model.save`` to
``.keras``; ``model.export(format="tf_saved_model")``; ``model.export(format="litert")``
and ``tf.lite.TFLiteConverter`` for TensorFlow Lite, with post-training quantisation.
``model.export(format="onnx")`` needs the ``tf2onnx`` package, which is not among this
book's dependencies: the book's ONNX route is PyTorch's (:mod:`dltutor.torch.deploy`).
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from dltutor.checks import as_float_array, check_choice, check_positive_int, describe


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence Python's warnings and prints, and the converter's C++ lines on the file
    descriptors 1 and 2 (which ``redirect_stdout`` cannot reach)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        os.dup2(null, 2)
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for descriptor in (*saved, null):
            os.close(descriptor)


def plain(model: keras.Model) -> keras.Model:
    """``model`` as a plain ``keras.Sequential`` sharing its layers, if it subclasses one.

    The book's ``MLP`` and ``CNN`` subclass ``keras.Sequential`` with constructors of their
    own, so ``load_model`` could not rebuild them from the saved config without the class
    registered; the plain ``Sequential`` of the same layers computes the same function and
    loads anywhere Keras is installed.
    """
    if isinstance(model, keras.Sequential) and type(model) is not keras.Sequential:
        return keras.Sequential([keras.Input(model.inputs[0].shape[1:]), *model.layers])
    return model


def save_keras(model: keras.Model, path: str | Path) -> Path:
    """Save architecture, weights (and optimiser state) as one ``.keras`` file (a zip)."""
    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"path must end in .keras, got {path.name!r}")
    plain(model).save(path)
    return path


def load_keras(path: str | Path) -> keras.Model:
    """Load :func:`save_keras`' file. ``safe_mode`` stays on: no lambda code is deserialised."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no .keras file at {path}: write one with save_keras")
    return keras.models.load_model(path)


def load_weights_into(model: keras.Model, path: str | Path) -> keras.Model:
    """The weights of a saved ``.keras`` file, set into ``model`` (the same architecture).

    Raises ``ValueError`` naming both models' weight shapes when they differ.
    """
    stored = load_keras(path)
    ours = [tuple(w.shape) for w in model.weights]
    theirs = [tuple(w.shape) for w in stored.weights]
    if ours != theirs:
        raise ValueError(
            f"{Path(path).name} does not fit {type(model).__name__}: it holds weights of "
            f"shapes {theirs}, the model has {ours}"
        )
    model.set_weights(stored.get_weights())
    return model


def export_saved_model(model: keras.Model, path: str | Path) -> Path:
    """``model.export(path)``: a TensorFlow SavedModel with a ``serve`` signature
    (dynamic batch), loadable by TensorFlow Serving or ``tf.saved_model.load`` without Keras."""
    path = Path(path)
    with _quiet():
        model.export(str(path), format="tf_saved_model", verbose=False)
    return path


def load_saved_model(path: str | Path) -> Callable[[np.ndarray], np.ndarray]:
    """The exported model's ``serve`` function, NumPy in and out."""
    path = Path(path)
    if not (path / "saved_model.pb").is_file():
        raise FileNotFoundError(f"no SavedModel at {path}: write one with export_saved_model")
    restored = tf.saved_model.load(str(path))

    def serve(x: np.ndarray) -> np.ndarray:
        return restored.serve(np.asarray(x, dtype=np.float32)).numpy()

    return serve


QUANTIZATIONS = ("none", "dynamic", "int8")


def to_tflite(
    model: keras.Model, quantization: str = "none", calibration: np.ndarray | None = None
) -> bytes:
    """The model as a TensorFlow Lite flat buffer, through a SavedModel and the converter.

    ``"dynamic"``: int8 weights, float activations (``Optimize.DEFAULT``). ``"int8"``:
    int8 weights and activations, their ranges calibrated on ``calibration`` (training
    inputs, a ``representative_dataset``); the model's input and output stay float32.
    """
    quantization = check_choice(quantization, QUANTIZATIONS, "quantization")
    inputs = np.zeros((0,), np.float32)
    if quantization == "int8":
        if calibration is None:
            raise ValueError("quantization='int8' needs calibration inputs, got None")
        inputs = as_float_array(calibration, "calibration").astype(np.float32)
    with tempfile.TemporaryDirectory() as folder, _quiet():
        export_saved_model(model, Path(folder) / "saved")
        converter = tf.lite.TFLiteConverter.from_saved_model(str(Path(folder) / "saved"))
        if quantization != "none":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if quantization == "int8":

            def representative() -> Iterator[list[np.ndarray]]:
                for start in range(0, len(inputs), 32):
                    yield [inputs[start : start + 32]]

            converter.representative_dataset = representative
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        return bytes(converter.convert())


def tflite_runner(
    flat_buffer: bytes, threads: int | None = None
) -> Callable[[np.ndarray], np.ndarray]:
    """A function that runs the TensorFlow Lite model on a batch, NumPy in and out.

    It keeps one interpreter and resizes its input only when the batch size changes.
    The interpreter runs as TensorFlow Lite does by default: with the XNNPACK delegate,
    its CPU kernels (whose "Created TensorFlow Lite XNNPACK delegate" line is silenced
    here); ``threads`` sets its thread count (``None``: the default).
    ``tf.lite.Interpreter`` is deprecated in TensorFlow 2.21 in favour of the separate
    ``ai_edge_litert`` package; it still runs, and its warning is silenced here.
    """
    if not isinstance(flat_buffer, (bytes, bytearray)):
        raise TypeError(f"flat_buffer must be bytes (to_tflite's), got {describe(flat_buffer)}")
    if threads is not None:
        threads = check_positive_int(threads, "threads")
    with _quiet():
        try:
            interpreter = tf.lite.Interpreter(model_content=bytes(flat_buffer), num_threads=threads)
            interpreter.allocate_tensors()  # the delegate is applied (and logs) here
        except ValueError as error:
            raise ValueError(
                f"flat_buffer is not a TensorFlow Lite model: {str(error).strip()[:200]}"
            ) from error
    (details,) = interpreter.get_input_details()
    output_index = interpreter.get_output_details()[0]["index"]
    row_shape = tuple(int(n) for n in details["shape"][1:])
    allocated = [-1]  # the batch size the tensors are allocated for

    def run(x: np.ndarray) -> np.ndarray:
        x = as_float_array(x, "x").astype(np.float32)
        if x.shape[1:] != row_shape:
            raise ValueError(
                f"x must have shape (N, {', '.join(map(str, row_shape))}), got {describe(x)}"
            )
        if len(x) != allocated[0]:
            with _quiet():
                interpreter.resize_tensor_input(details["index"], list(x.shape))
                interpreter.allocate_tensors()
            allocated[0] = len(x)
        interpreter.set_tensor(details["index"], x)
        interpreter.invoke()
        return np.array(interpreter.get_tensor(output_index))

    run.interpreter = interpreter  # type: ignore[attr-defined]
    return run


def tflite_predict(flat_buffer: bytes, x: np.ndarray) -> np.ndarray:
    """Run a TensorFlow Lite model once on the batch ``x`` (see :func:`tflite_runner`)."""
    return tflite_runner(flat_buffer)(x)
