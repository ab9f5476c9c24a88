"""Where tensors live: CUDA when present, else Apple's MPS, else the CPU, unless told otherwise."""

from __future__ import annotations

import os
import random

import numpy as np
import torch

DEVICE_VARIABLE = "DLTUTOR_DEVICE"
"""Environment variable that overrides the automatic choice, e.g. ``DLTUTOR_DEVICE=cpu``."""


def _available(device: torch.device) -> bool:
    if device.type == "cpu":
        return True
    if device.type == "cuda":
        index = device.index or 0
        return torch.cuda.is_available() and index < torch.cuda.device_count()
    if device.type == "mps":
        return torch.backends.mps.is_available()
    return False


def get_device(name: str | None = None) -> torch.device:
    """The device to train on.

    Order of precedence: the ``name`` argument, then the ``DLTUTOR_DEVICE`` environment
    variable, then the first available of CUDA, MPS and CPU.

    Raises:
        ValueError: if the requested device is not a device name or is not available here.
    """
    requested = name if name is not None else os.environ.get(DEVICE_VARIABLE) or None
    if requested is None:
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    source = "name" if name is not None else DEVICE_VARIABLE
    try:
        device = torch.device(requested)
    except (RuntimeError, TypeError) as error:
        raise ValueError(
            f"{source} must be a device such as 'cpu', 'cuda', 'cuda:1' or 'mps', got {requested!r}"
        ) from error
    if not _available(device):
        raise ValueError(f"{source} asks for device {requested!r}, which PyTorch does not see here")
    return device


def set_seed(seed: int) -> None:
    """Seed Python's, NumPy's global and PyTorch's (CPU and CUDA) random generators."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
