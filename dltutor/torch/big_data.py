"""Streaming Parquet shards into PyTorch, and launching a training job with ``torchrun``.

The file assignment and the reading are framework-free (:mod:`dltutor.data.shards`); this
module asks PyTorch who is reading — the process's ``rank`` in ``torch.distributed`` and the
``DataLoader`` worker — and hands out whole batches as tensors. :class:`ParquetStream` also
*plans* an epoch from the Parquet footers (how many batches of which size each reader will
give) and can resume an epoch part-way, which is what a job needs to keep its ranks in step
and to survive a restart (:mod:`dltutor.torch.cluster_worker`). The second half starts such a
job: ``torchrun`` in a subprocess, with a wall-clock limit.
"""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from dltutor.checks import check_non_negative_int, check_positive_int
from dltutor.data.shards import assign_files, row_counts, stream_batches

if TYPE_CHECKING:
    from dltutor.torch.cluster_worker import TrainConfig

Batch = tuple[np.ndarray, ...]  # columns of equal length: features (n, 8), labels (n,), rows (n,)
Location = str | os.PathLike  # a local path or a URI such as s3://bucket/key, kept as given


def rechunk(batches: Iterable[Batch], batch_rows: int) -> Iterator[Batch]:
    """The rows of ``batches``, in order, cut again into batches of exactly ``batch_rows`` rows.

    Only the very last batch may be shorter. Parquet hands rows over by file and by row group;
    cutting across those edges makes a reader's batch sizes depend on nothing but its number
    of rows — ``[batch_rows] * (rows // batch_rows)`` and the rest — so they can be known in
    advance from the files' footers. A batch that already has the right size passes through
    without a copy.
    """
    pending: list[Batch] = []
    held = 0
    for batch in batches:
        if not pending and len(batch[0]) == batch_rows:
            yield batch
            continue
        pending.append(batch)
        held += len(batch[0])
        while held >= batch_rows:
            joined = _join(pending)
            yield tuple(column[:batch_rows] for column in joined)
            rest = tuple(column[batch_rows:] for column in joined)
            held -= batch_rows
            pending = [rest] if held else []
    if held:
        yield _join(pending)


def _join(parts: list[Batch]) -> Batch:
    """One batch of ``parts``' rows (no copy when there is one part)."""
    if len(parts) == 1:
        return parts[0]
    return tuple(np.concatenate(columns) for columns in zip(*parts, strict=True))


def shuffle_batches(
    batches: Iterable[Batch], buffer_rows: int, rng: np.random.Generator
) -> Iterator[Batch]:
    """The rows of ``batches`` shuffled through a buffer of ``buffer_rows`` rows, a block at a time.

    The scheme of ``tf.data.Dataset.shuffle`` (and of :func:`dltutor.data.shuffle_rows`),
    vectorised: the buffer first fills up; then each arriving block of rows takes the places
    of as many randomly chosen rows of the buffer, which leave as one block; at the end the
    buffer leaves in a random order. Memory stays at the buffer and one block, and a row moves
    at most a few buffer lengths. The blocks' sizes follow the input: :func:`rechunk` after it.
    """
    buffer: Batch | None = None
    filling: list[Batch] = []
    filled = 0
    for batch in batches:
        start = 0
        if buffer is None:  # still filling: keep what fits
            start = min(buffer_rows - filled, len(batch[0]))
            filling.append(tuple(column[:start] for column in batch))
            filled += start
            if filled == buffer_rows:
                buffer = tuple(np.concatenate(columns) for columns in zip(*filling, strict=True))
                filling = []
        while buffer is not None and start < len(batch[0]):
            stop = min(len(batch[0]), start + buffer_rows)
            places = rng.choice(buffer_rows, size=stop - start, replace=False)
            yield tuple(column[places] for column in buffer)  # fancy indexing copies
            for column, arriving in zip(buffer, batch, strict=True):
                column[places] = arriving[start:stop]
            start = stop
    if buffer is None and filling:  # fewer rows than the buffer holds
        buffer = tuple(np.concatenate(columns) for columns in zip(*filling, strict=True))
    if buffer is not None:
        order = rng.permutation(len(buffer[0]))
        yield tuple(column[order] for column in buffer)


def loader_order(counts: Sequence[int]) -> list[int]:
    """The worker each batch of a ``DataLoader`` comes from, in the order it yields them.

    ``counts[w]`` batches wait in worker ``w``. With an ``IterableDataset`` and ``in_order=True``
    (the default) a ``DataLoader`` asks its workers in turn, 0, 1, …, and skips a worker that
    has run out: a round robin. (With ``num_workers=0`` there is one reader: ``counts`` has
    one entry.)
    """
    remaining, order, turn = list(counts), [], 0
    while any(remaining):
        if remaining[turn]:
            order.append(turn)
            remaining[turn] -= 1
        turn = (turn + 1) % len(remaining)
    return order


def _position(counts: Sequence[int], taken: int) -> tuple[list[int], int]:
    """After ``taken`` batches of :func:`loader_order`: how many came from each worker, whose turn is next."""
    order = loader_order(counts)
    if taken > len(order):
        raise ValueError(f"cannot skip {taken} batches of an epoch that has {len(order)}")
    took = [0] * len(counts)
    for worker in order[:taken]:
        took[worker] += 1
    turn = (order[taken - 1] + 1) % len(counts) if taken else 0
    return took, turn


def _tensors(batch: Batch) -> tuple[torch.Tensor, ...]:
    return tuple(torch.from_numpy(column) for column in batch)  # no copies


class ParquetStream(IterableDataset):
    """Batches ``(features, labels, row numbers)`` of Parquet shards, each row once per epoch across readers.

    Use it with ``DataLoader(stream, batch_size=None)``: it yields ready batches of
    ``batch_rows`` rows (tensors: float32 ``(n, 8)``, int64 ``(n,)``, int64 ``(n,)``), so no
    collate runs per row. Each reader — process ``rank`` of ``world_size`` and ``DataLoader``
    worker — reads only its own files (:func:`dltutor.data.assign_files`) and cuts their rows
    into batches across file edges (:func:`rechunk`): a reader with ``R`` rows gives
    ``R // batch_rows`` full batches and one with the rest. A shuffle buffer of
    ``buffer_rows`` rows mixes rows within a reader (0: file order). Call :meth:`set_epoch`
    before each epoch for a new file order and shuffle, as with ``DistributedSampler``.
    ``rank`` and ``world_size`` default to ``torch.distributed``'s when it is initialised,
    else 0 and 1. ``files`` are local paths or URIs (``s3://bucket/key``, kept as strings) or
    paths inside ``filesystem`` (:func:`dltutor.data.shards.resolve`). Memory is bounded by
    the buffer and a batch or two per reader, whatever the size of the dataset.

    Planning and resuming: :meth:`batch_sizes` gives, from the files' footers alone, the sizes
    of the batches this rank's ``DataLoader`` will yield this epoch, in order;
    ``set_epoch(epoch, skip_batches=n)`` resumes an epoch after its first ``n`` batches, the
    remaining batches equal to those an uninterrupted pass gives.
    """

    def __init__(
        self,
        files: Sequence[Location],
        batch_rows: int = 1024,
        buffer_rows: int = 0,
        seed: int = 0,
        rank: int | None = None,
        world_size: int | None = None,
        filesystem: Any = None,
    ) -> None:
        super().__init__()
        if not files:
            raise ValueError("files must name at least one Parquet shard")
        self.files = list(files)  # as given: a Path(...) would turn s3://b/k into s3:/b/k
        self.batch_rows = check_positive_int(batch_rows, "batch_rows")
        self.buffer_rows = check_non_negative_int(buffer_rows, "buffer_rows")
        self.filesystem = filesystem
        self.seed, self.epoch, self.skip_batches = seed, 0, 0
        distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
        self.rank = rank if rank is not None else torch.distributed.get_rank() if distributed else 0
        self.world_size = (
            world_size
            if world_size is not None
            else torch.distributed.get_world_size()
            if distributed
            else 1
        )
        self._rows: dict[str, int] = {}  # rows per file, from the footers, read once

    def set_epoch(self, epoch: int, skip_batches: int = 0) -> None:
        """Use the file order and shuffle of ``epoch`` in the next pass, after ``skip_batches`` batches."""
        self.epoch = check_non_negative_int(epoch, "epoch")
        self.skip_batches = check_non_negative_int(skip_batches, "skip_batches")

    def reader_files(self, worker: int = 0, workers: int = 1) -> list[Location]:
        """The files one reader takes this epoch."""
        return assign_files(
            self.files, self.epoch, self.rank, self.world_size, worker, workers, self.seed
        )

    def _row_counts(self, files: Sequence[Location]) -> list[int]:
        missing = [path for path in files if os.fspath(path) not in self._rows]
        for path, count in zip(missing, row_counts(missing, self.filesystem), strict=True):
            self._rows[os.fspath(path)] = count
        return [self._rows[os.fspath(path)] for path in files]

    def reader_batch_sizes(self, worker: int = 0, workers: int = 1) -> list[int]:
        """The sizes of one reader's batches this epoch, from the footers: full ones, then the rest."""
        rows = sum(self._row_counts(self.reader_files(worker, workers)))
        return [self.batch_rows] * (rows // self.batch_rows) + [rows % self.batch_rows] * (
            rows % self.batch_rows > 0
        )

    def batch_sizes(self, workers: int = 0) -> list[int]:
        """The sizes of the batches ``DataLoader(self, batch_size=None, num_workers=workers)`` yields this epoch.

        Read from the Parquet footers, before any row is: each reader's sizes, taken in the
        ``DataLoader``'s round robin (:func:`loader_order`). The whole epoch, whatever
        ``skip_batches`` is.
        """
        readers = max(check_non_negative_int(workers, "workers"), 1)
        sizes = [self.reader_batch_sizes(worker, readers) for worker in range(readers)]
        taken = [0] * readers
        found = []
        for worker in loader_order([len(reader) for reader in sizes]):
            found.append(sizes[worker][taken[worker]])
            taken[worker] += 1
        return found

    def reader_batches(self, worker: int = 0, workers: int = 1, skip: int = 0) -> Iterator[Batch]:
        """One reader's batches this epoch as NumPy arrays, after its first ``skip``."""
        files = self.reader_files(worker, workers)
        rows_to_skip = skip * self.batch_rows
        if self.buffer_rows == 0:  # seek: skip whole files by their footers, then rows
            counts = self._row_counts(files)
            while files and counts[0] <= rows_to_skip:
                rows_to_skip -= counts.pop(0)
                files.pop(0)
            batches = stream_batches(files, self.batch_rows, filesystem=self.filesystem)
            yield from rechunk(_drop_rows(batches, rows_to_skip), self.batch_rows)
            return
        # a shuffle buffer's content depends on every row before: replay the epoch to the spot
        slot = self.rank * workers + worker  # each reader shuffles differently
        rng = np.random.default_rng([self.seed, self.epoch, slot])
        ordered = rechunk(
            stream_batches(files, self.batch_rows, filesystem=self.filesystem), self.batch_rows
        )
        shuffled = rechunk(shuffle_batches(ordered, self.buffer_rows, rng), self.batch_rows)
        yield from itertools.islice(shuffled, skip, None)

    def _reader_plan(self, workers: int) -> tuple[list[int], int]:
        """Batches already taken from each of ``workers`` readers, and whose turn is next."""
        counts = [len(self.reader_batch_sizes(worker, workers)) for worker in range(workers)]
        return _position(counts, self.skip_batches)

    def rank_batches(self, workers: int = 0) -> Iterator[tuple[torch.Tensor, ...]]:
        """This rank's batches as a ``DataLoader`` with ``num_workers=workers`` yields them, in this process.

        The readers' batches in the loader's round robin, after ``skip_batches``: what the
        ``DataLoader`` gives, without starting worker processes (a reference for tests).
        """
        readers = max(check_non_negative_int(workers, "workers"), 1)
        took, turn = self._reader_plan(readers)
        streams = {
            worker: self.reader_batches(worker, readers, took[worker]) for worker in range(readers)
        }
        counts = [len(self.reader_batch_sizes(w, readers)) - took[w] for w in range(readers)]
        rotated = [counts[(turn + index) % readers] for index in range(readers)]
        for index in loader_order(rotated):
            yield _tensors(next(streams[(turn + index) % readers]))

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        info = get_worker_info()
        worker, workers = (0, 1) if info is None else (info.id, info.num_workers)
        took, turn = self._reader_plan(workers)
        # A resumed loader asks worker 0 first; the reader whose turn it was is served by it.
        reader = (turn + worker) % workers
        for batch in self.reader_batches(reader, workers, took[reader]):
            yield _tensors(batch)


def _drop_rows(batches: Iterable[Batch], rows: int) -> Iterator[Batch]:
    """``batches`` without their first ``rows`` rows."""
    for batch in batches:
        if rows >= len(batch[0]):
            rows -= len(batch[0])
            continue
        yield tuple(column[rows:] for column in batch) if rows else batch
        rows = 0


# --- launching ---------------------------------------------------------------------------------


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` now: ask the system for one (bind to port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def torchrun_command(
    module: str,
    arguments: Sequence[str] = (),
    processes: int = 2,
    nodes: int = 1,
    node_rank: int = 0,
    endpoint: str | None = None,
    max_restarts: int = 0,
    job_id: str = "dltutor",
) -> list[str]:
    """The ``torchrun`` command that starts ``python -m module arguments`` on one node.

    One node and no ``endpoint``: ``--standalone`` (a rendezvous on a free local port). Else
    the same command on every node but for ``--node-rank``: ``--nnodes nodes --node-rank
    node_rank --rdzv-backend c10d --rdzv-endpoint HOST:PORT --rdzv-id job_id``. The node on
    ``HOST`` keeps the rendezvous store on ``PORT``; the others connect to it, and all agree on
    the ranks (c10d numbers the nodes in their order of arrival). ``max_restarts``: how often
    torchrun restarts every worker after one fails.
    """
    command = [sys.executable, "-m", "torch.distributed.run"]
    if nodes == 1 and endpoint is None:
        command += ["--standalone"]
    else:
        if endpoint is None:
            raise ValueError(f"{nodes} nodes need an endpoint HOST:PORT to meet at, got None")
        command += ["--nnodes", str(nodes), "--node-rank", str(node_rank)]
        command += ["--rdzv-backend", "c10d", "--rdzv-endpoint", endpoint, "--rdzv-id", job_id]
    command += ["--nproc-per-node", str(check_positive_int(processes, "processes"))]
    command += ["--max-restarts", str(check_non_negative_int(max_restarts, "max_restarts"))]
    return [*command, "-m", module, *arguments]


def launch_environment() -> dict[str, str]:
    """This process's environment, plus what torchrun needs to behave on a shared machine.

    ``OMP_NUM_THREADS=1``: one thread per worker process (and no warning about it).
    ``TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1``: a restarted group gets a fresh store and port;
    without it, restarted workers read stale addresses and fail to connect (PyTorch 2.13).
    """
    return {**os.environ, "OMP_NUM_THREADS": "1", "TORCH_DISABLE_SHARE_RDZV_TCP_STORE": "1"}


@dataclass
class Job:
    """A started command — torchrun and the workers it starts — with its output in ``log``."""

    process: subprocess.Popen
    log: Path

    def wait(self, timeout: float) -> str:
        """Wait at most ``timeout`` seconds; return the output, or raise with its last lines.

        On timeout the whole process group (torchrun and every worker) is killed: a hung
        collective must not outlive its job.
        """
        try:
            returncode = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise TimeoutError(
                f"{self.describe()} ran past {timeout:.0f} s; killed:\n{self.tail()}"
            ) from None
        if returncode != 0:
            text = self.tail()
            hint = ""
            if "unreachable" in text or "DistNetworkError" in text:
                hint = " (torchrun needs the loopback interface: `ip link set lo up`)"
            raise RuntimeError(f"{self.describe()} exited with {returncode}{hint}:\n{text}")
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        """Kill the command and everything it started (its process group)."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()

    def describe(self) -> str:
        """What ran: ``torchrun -m module``, ``python -m module``, or the command's start."""
        arguments = [str(part) for part in self.process.args]  # type: ignore[union-attr]
        launcher = "torchrun" if "torch.distributed.run" in arguments else "python"
        modules = [after for before, after in itertools.pairwise(arguments) if before == "-m"]
        modules = [module for module in modules if module != "torch.distributed.run"]
        return f"{launcher} -m {modules[-1]}" if modules else " ".join(arguments[:3])

    def tail(self, characters: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-characters:]


def start_job(command: Sequence[str], log: str | Path) -> Job:
    """Start ``command`` in a process group of its own, its output going to the file ``log``."""
    log = Path(log)
    with log.open("wb") as output:
        process = subprocess.Popen(
            list(command),
            stdout=output,
            stderr=subprocess.STDOUT,
            env=launch_environment(),
            start_new_session=True,  # one group: a timeout kills the workers too
        )
    return Job(process, log)


def run_training(
    config: TrainConfig,
    folder: str | Path,
    processes: int = 2,
    nodes: int = 1,
    max_restarts: int = 0,
    timeout: float = 300.0,
) -> tuple[list[np.ndarray], dict[str, Any]]:
    """Train with :mod:`dltutor.torch.cluster_worker` on ``nodes * processes`` processes; return its result.

    Each of ``nodes`` nodes is one ``torchrun`` on this machine (:func:`torchrun_command`),
    meeting at a free loopback port, just as ``nodes`` machines would meet at node 0's
    address. Output, checkpoints and logs go to ``folder``. Returns the final parameters and
    the job's report (:func:`dltutor.torch.cluster_worker.train`). Each launch is bounded by
    ``timeout`` seconds.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    arguments = [*config.to_arguments(), "--out", str(folder)]
    endpoint = None if nodes == 1 else f"127.0.0.1:{free_port()}"
    jobs = [
        start_job(
            torchrun_command(
                "dltutor.torch.cluster_worker",
                arguments,
                processes,
                nodes,
                node,
                endpoint,
                max_restarts,
            ),
            folder / f"node-{node}.log",
        )
        for node in range(nodes)
    ]
    try:
        for job in jobs:
            job.wait(timeout)
    finally:
        for job in jobs:
            if job.process.poll() is None:
                job.kill()
    from dltutor.torch.cluster_worker import read_result

    return read_result(folder)


def run_data_parallel(
    workers: int = 2, steps: int = 50, batch: int = 32, seed: int = 0, timeout: float = 180.0
) -> dict[str, list[np.ndarray]]:
    """Run :mod:`dltutor.torch.ddp_worker` under ``torchrun`` with ``workers`` processes; return its parameters.

    The command is ``python -m torch.distributed.run --standalone --nproc-per-node <workers> -m
    dltutor.torch.ddp_worker``, in a subprocess whose output is captured (a failure raises
    ``RuntimeError`` with its last lines). Returns each variant's final parameters, to compare
    with :func:`dltutor.torch.ddp_worker.train_single` at batch ``workers * batch``. (The
    worker that trains from the Parquet shards, checkpoints and runs on many machines is
    :mod:`dltutor.torch.cluster_worker`: :func:`run_training`.)
    """
    import tempfile

    workers = check_positive_int(workers, "workers")
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "parameters.npz"
        arguments = ["--out", str(out), "--steps", str(steps), "--batch", str(batch)]
        command = torchrun_command(
            "dltutor.torch.ddp_worker", [*arguments, "--seed", str(seed)], workers
        )
        start_job(command, Path(folder) / "torchrun.log").wait(timeout)
        saved = np.load(out)
        variants = {key.rsplit("/", 1)[0] for key in saved.files if "/" in key}
        return {
            variant: [
                saved[f"{variant}/{index}"]
                for index in range(sum(k.startswith(f"{variant}/") for k in saved.files))
            ]
            for variant in sorted(variants)
        }
