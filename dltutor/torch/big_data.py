"""Streaming Parquet shards into PyTorch: an ``IterableDataset`` split by process and by loader worker.

The file assignment, the reading and the shuffle buffer are framework-free
(:mod:`dltutor.data.shards`); this module only asks PyTorch who is reading — the process's
``rank`` in ``torch.distributed`` and the ``DataLoader`` worker — and turns rows into tensors.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from dltutor.checks import check_non_negative_int, check_positive_int
from dltutor.data.shards import assign_files, shuffle_rows, stream_batches


class ParquetStream(IterableDataset):
    """Rows ``(features, label, row number)`` of Parquet shards, each row once per epoch across all readers.

    Each reader — process ``rank`` of ``world_size`` and ``DataLoader`` worker — reads only
    its own files (:func:`dltutor.data.assign_files`), ``batch_rows`` rows at a time, and
    shuffles them through a buffer of ``buffer_rows`` rows (0: no shuffling). Call
    :meth:`set_epoch` before each epoch for a new file order and a new shuffle, as with
    ``DistributedSampler``. ``rank`` and ``world_size`` default to ``torch.distributed``'s
    when it is initialised, else 0 and 1. Memory is bounded by the buffer and one batch per
    reader, whatever the size of the dataset.
    """

    def __init__(
        self,
        files: Sequence[str | Path],
        batch_rows: int = 1024,
        buffer_rows: int = 0,
        seed: int = 0,
        rank: int | None = None,
        world_size: int | None = None,
    ) -> None:
        super().__init__()
        if not files:
            raise ValueError("files must name at least one Parquet shard")
        self.files = [Path(path) for path in files]
        self.batch_rows = check_positive_int(batch_rows, "batch_rows")
        self.buffer_rows = check_non_negative_int(buffer_rows, "buffer_rows")
        self.seed, self.epoch = seed, 0
        distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
        self.rank = rank if rank is not None else torch.distributed.get_rank() if distributed else 0
        self.world_size = (
            world_size
            if world_size is not None
            else torch.distributed.get_world_size()
            if distributed
            else 1
        )

    def set_epoch(self, epoch: int) -> None:
        """Use the file order and the shuffle of ``epoch`` in the next pass."""
        self.epoch = check_non_negative_int(epoch, "epoch")

    def reader_files(self, worker: int = 0, workers: int = 1) -> list[Path]:
        """The files one reader takes this epoch."""
        return assign_files(
            self.files, self.epoch, self.rank, self.world_size, worker, workers, self.seed
        )

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        info = get_worker_info()
        worker, workers = (0, 1) if info is None else (info.id, info.num_workers)
        batches = stream_batches(self.reader_files(worker, workers), self.batch_rows)
        if self.buffer_rows:
            slot = self.rank * workers + worker  # each reader shuffles differently
            rng = np.random.default_rng([self.seed, self.epoch, slot])
            rows = shuffle_rows(batches, self.buffer_rows, seed=rng)
            for x, label, row in rows:
                yield torch.from_numpy(x), torch.tensor(label), torch.tensor(row)
        else:
            for x, labels, row_numbers in batches:
                for index in range(len(labels)):
                    yield (
                        torch.from_numpy(x[index]),
                        torch.tensor(labels[index]),
                        torch.tensor(row_numbers[index]),
                    )


def run_data_parallel(
    workers: int = 2, steps: int = 50, batch: int = 32, seed: int = 0, timeout: float = 180.0
) -> dict[str, list[np.ndarray]]:
    """Run :mod:`dltutor.torch.ddp_worker` under ``torchrun`` with ``workers`` processes; return its parameters.

    The command is ``python -m torch.distributed.run --standalone --nproc-per-node <workers> -m
    dltutor.torch.ddp_worker``, in a subprocess whose output is captured (a failure raises
    ``RuntimeError`` with its last lines). On many machines the same worker runs with
    ``--nnodes``, ``--node-rank`` and ``--rdzv-endpoint`` in place of ``--standalone``.
    Returns each variant's final parameters, to compare with
    :func:`dltutor.torch.ddp_worker.train_single` at batch ``workers * batch``.
    """
    import os
    import subprocess
    import sys
    import tempfile

    workers = check_positive_int(workers, "workers")
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "parameters.npz"
        command = [
            sys.executable, "-m", "torch.distributed.run", "--standalone",
            "--nproc-per-node", str(workers),
            "-m", "dltutor.torch.ddp_worker",
            "--out", str(out), "--steps", str(steps), "--batch", str(batch), "--seed", str(seed),
        ]  # fmt: skip
        environment = {**os.environ, "OMP_NUM_THREADS": "1"}
        finished = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, env=environment
        )
        if finished.returncode != 0:
            hint = ""
            if "unreachable" in finished.stderr or "DistNetworkError" in finished.stderr:
                hint = " (torchrun needs the loopback interface: `ip link set lo up`)"
            raise RuntimeError(
                f"torchrun exited with {finished.returncode}{hint}:\n{finished.stderr[-3000:]}"
            )
        saved = np.load(out)
        variants = {key.rsplit("/", 1)[0] for key in saved.files if "/" in key}
        return {
            variant: [
                saved[f"{variant}/{index}"]
                for index in range(sum(k.startswith(f"{variant}/") for k in saved.files))
            ]
            for variant in sorted(variants)
        }
