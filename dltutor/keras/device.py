"""TensorFlow's quiet start-up, device visibility and seeding."""

from __future__ import annotations

import logging
import os

import keras
import tensorflow as tf

DEVICE_VARIABLE = "DLTUTOR_DEVICE"

if keras.backend.backend() != "tensorflow":
    raise ImportError(
        "dltutor.keras needs Keras' TensorFlow backend, got "
        f"KERAS_BACKEND={keras.backend.backend()!r}: unset KERAS_BACKEND or set it to 'tensorflow'"
    )

tf.get_logger().setLevel(logging.ERROR)
logging.getLogger("absl").setLevel(logging.ERROR)


def _apply_device_variable() -> None:
    requested = os.environ.get(DEVICE_VARIABLE, "")
    if requested == "cpu":
        tf.config.set_visible_devices([], "GPU")  # TensorFlow then runs everything on the CPU
    elif requested.startswith("cuda") and not tf.config.list_physical_devices("GPU"):
        raise ValueError(
            f"{DEVICE_VARIABLE}={requested!r} asks for a GPU, which TensorFlow does not see here"
        )


_apply_device_variable()


def get_device() -> str:
    """The device TensorFlow places operations on by default: ``"GPU:0"`` if visible, else ``"CPU:0"``.

    ``DLTUTOR_DEVICE=cpu`` hides the GPUs from TensorFlow (read when this module is imported).
    """
    return "GPU:0" if tf.config.get_visible_devices("GPU") else "CPU:0"


def set_seed(seed: int) -> None:
    """Seed Python, NumPy, TensorFlow and Keras, and make TensorFlow's kernels deterministic."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
