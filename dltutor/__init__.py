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
from types import ModuleType

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
