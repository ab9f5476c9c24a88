"""Keras 3 (TensorFlow backend) twins of the scratch models, and training helpers.

Importing this module silences TensorFlow's C++ and Python log lines and selects the
TensorFlow backend before TensorFlow loads, so notebooks need no boilerplate. It never
imports PyTorch.
"""

import os

# Must run before TensorFlow is first imported: its C++ logging reads these at load time.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # C++ INFO/WARNING/ERROR lines off
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # no oneDNN banner; reproducible float sums
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from dltutor.keras.device import get_device, set_seed  # noqa: E402  (after the environment)
from dltutor.keras.models import MLP, loss_and_gradients  # noqa: E402

__all__ = ["MLP", "get_device", "loss_and_gradients", "set_seed"]
