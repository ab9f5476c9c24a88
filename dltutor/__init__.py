"""dltutor: deep learning from the equations up.

``import dltutor`` loads NumPy only. The subpackages load on first use:

- :mod:`dltutor.scratch` -- NumPy reference implementations, forward and backward.
- :mod:`dltutor.torch` -- the same models in PyTorch, a training loop, device selection.
- :mod:`dltutor.keras` -- the same models in Keras 3 on TensorFlow.
- :mod:`dltutor.data` -- offline datasets as NumPy arrays.
- :mod:`dltutor.metrics`, :mod:`dltutor.plot` -- evaluation and plotting helpers.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

# TensorFlow reads these once, when it loads. Setting them here (a few dictionary writes,
# no import) keeps TensorFlow quiet whenever dltutor is imported before it; importing
# `dltutor.keras` always runs this first. Values a user has set are left alone.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # C++ INFO/WARNING/ERROR lines off
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # no oneDNN banner; reproducible float sums
os.environ.setdefault("KERAS_BACKEND", "tensorflow")  # Keras 3's default, made explicit

__version__ = "0.1.0"
__all__ = ["data", "keras", "metrics", "plot", "scratch", "torch", "__version__"]

_SUBMODULES = {"data", "keras", "metrics", "plot", "scratch", "torch"}


def __getattr__(name: str) -> ModuleType:
    # PEP 562: `dltutor.torch` imports PyTorch only when someone asks for it.
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'dltutor' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
