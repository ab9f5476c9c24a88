"""dltutor: deep learning from the equations up.

``import dltutor`` loads NumPy only. The subpackages load on first use:

- :mod:`dltutor.scratch` -- NumPy reference implementations, forward and backward.
- :mod:`dltutor.torch` -- the same models in PyTorch, a training loop, device selection.
- :mod:`dltutor.keras` -- the same models in Keras 3 on TensorFlow.
- :mod:`dltutor.specs` -- architectures described once, framework-free, validated.
- :mod:`dltutor.checks` -- input validation with errors that name expected and got.
- :mod:`dltutor.data` -- offline datasets as NumPy arrays; :mod:`dltutor.generate` -- decoding.
- :mod:`dltutor.metrics`, :mod:`dltutor.plot` -- evaluation and plotting helpers.

The layout rule: files are cut by concept. A chapter on topic *T* adds ``scratch/T.py``,
``torch/T.py``, ``keras/T.py``, ``book/T/`` and ``tests/test_T.py``, and its architectures
as specs in ``specs.py``. A model in ``torch`` or ``keras`` has a scratch twin of the same
name and arguments; every scratch-to-framework weight conversion lives in
``torch/layout.py`` or ``keras/layout.py``; a scratch layer enters only with its gradient
check and its parity tests against both frameworks.
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
_SUBMODULES = (
    "checks",
    "data",
    "generate",
    "keras",
    "metrics",
    "plot",
    "scratch",
    "specs",
    "torch",
)
__all__ = [*_SUBMODULES, "__version__"]


def __getattr__(name: str) -> ModuleType:
    # PEP 562: `dltutor.torch` imports PyTorch only when someone asks for it.
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'dltutor' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
