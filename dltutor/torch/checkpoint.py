"""Checkpoints that survive a crash: written atomically, checked when read, the newest good one used.

A job on many machines will lose a process sooner or later — a node fails, a job is
preempted — and restarts from its last checkpoint. Two things can go wrong on disk. A process
killed while writing leaves half a file: so a checkpoint is written to a temporary name,
flushed to the disk (``fsync``) and only then renamed (``os.replace``, atomic on POSIX file
systems), and a file of the final name is always whole. And a file can still be damaged
later (a full disk, a copy cut short): so each checkpoint has a sidecar ``.sha256`` holding
its length and digest, written after it — a checkpoint without one was never finished — and
:func:`load_latest` falls back to the previous checkpoint, saying why, when the newest does
not match.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import sys
from pathlib import Path
from typing import Any

import torch

from dltutor.checks import check_positive_int

NAME = re.compile(r"^checkpoint-e(\d+)-s(\d+)\.pt$")


class DamagedCheckpoint(ValueError):
    """A checkpoint whose bytes do not match its recorded length and digest."""


def checkpoint_name(epoch: int, step: int) -> str:
    """``checkpoint-e0001-s0000042.pt``: names sort in the order of training."""
    return f"checkpoint-e{epoch:04d}-s{step:07d}.pt"


def _write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that ``path`` is either the old file or the whole new one."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with temporary.open("wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())  # on the disk, not only in the page cache
    os.replace(temporary, path)  # the atomic step
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)  # and the rename itself
    finally:
        os.close(folder)


def save_checkpoint(state: dict[str, Any], folder: str | Path, name: str, keep: int = 2) -> Path:
    """Save ``state`` (``torch.save``) as ``folder/name``, atomically; keep the newest ``keep`` checkpoints.

    The file first, then its ``name.sha256`` (length and SHA-256 of the file): the sidecar's
    presence says the checkpoint is complete. Older checkpoints beyond ``keep`` are deleted —
    keep at least two, so that a damaged newest one leaves one to fall back to.
    """
    keep = check_positive_int(keep, "keep")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    data = buffer.getvalue()
    path = folder / name
    _write_atomically(path, data)
    digest = hashlib.sha256(data).hexdigest()
    _write_atomically(path.with_name(f"{name}.sha256"), f"{len(data)} {digest}\n".encode())
    for old in checkpoints(folder)[keep:]:
        old.with_name(f"{old.name}.sha256").unlink(missing_ok=True)
        old.unlink(missing_ok=True)
    return path


def checkpoints(folder: str | Path) -> list[Path]:
    """The checkpoints in ``folder``, newest first (none if the folder does not exist)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if NAME.match(p.name)), reverse=True)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """The state saved in ``path``, onto the CPU; :class:`DamagedCheckpoint` if its bytes do not match."""
    path = Path(path)
    sidecar = path.with_name(f"{path.name}.sha256")
    if not sidecar.exists():
        raise DamagedCheckpoint(f"{path.name} has no {sidecar.name}: its save did not finish")
    length, digest = sidecar.read_text().split()
    data = path.read_bytes()
    if len(data) != int(length):
        raise DamagedCheckpoint(f"{path.name} has {len(data)} bytes, expected {length}")
    if hashlib.sha256(data).hexdigest() != digest:
        raise DamagedCheckpoint(f"{path.name} does not match its SHA-256 in {sidecar.name}")
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)


def load_latest(folder: str | Path) -> tuple[dict[str, Any], Path] | None:
    """The newest checkpoint in ``folder`` that is whole, and its path; ``None`` if there is none.

    A damaged checkpoint is skipped with a message on stderr naming it and the reason, and
    the one before it is tried.
    """
    for path in checkpoints(folder):
        try:
            return load_checkpoint(path), path
        except DamagedCheckpoint as error:
            print(f"checkpoint damaged, using the previous one: {error}", file=sys.stderr)
    return None
