"""Datasets larger than memory: Parquet shards written from a seed, and read back a batch at a time.

A dataset that does not fit in memory is stored as many files ("shards"), each a Parquet
file: columnar, compressed, read a row group at a time. A training job never holds more than
a few batches: :func:`stream_batches` reads one batch from one file, :func:`assign_files`
decides which files each reader (a process, ``rank``, and a loader worker inside it) takes,
and :func:`shuffle_rows` mixes rows within a bounded buffer. The PyTorch and ``tf.data``
pipelines of :mod:`dltutor.torch.big_data` build on these.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dltutor.checks import check_non_negative_int, check_positive_int

FEATURES = 8  # columns x0 ... x7
COLUMNS = (*(f"x{i}" for i in range(FEATURES)), "label", "row")


def write_shards(
    folder: str | Path, rows: int, shards: int = 8, seed: int = 0, rows_per_group: int = 4096
) -> list[Path]:
    """Write a seeded classification dataset of ``rows`` rows as ``shards`` Parquet files.

    Columns: ``x0`` … ``x7`` (float32 features, standard normal), ``label`` (int64, 1 when a
    fixed linear score of the features plus noise is positive) and ``row`` (int64, the row's
    number — a checksum for "every row exactly once"). Shards are generated one at a time
    from ``(seed, shard)``, so writing needs memory for one shard, not the dataset. Returns the
    file paths, ``part-00000.parquet`` and on.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = check_positive_int(rows, "rows")
    shards = check_positive_int(shards, "shards")
    if shards > rows:
        raise ValueError(f"cannot write {rows} rows into {shards} non-empty shards")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    weights = np.random.default_rng(seed).standard_normal(FEATURES)  # the rule to learn
    bounds = np.linspace(0, rows, shards + 1).astype(np.int64)
    paths = []
    for index, (start, stop) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
        rng = np.random.default_rng([seed, index])
        x = rng.standard_normal((stop - start, FEATURES)).astype(np.float32)
        label = (x @ weights + 0.5 * rng.standard_normal(stop - start) > 0).astype(np.int64)
        columns = {f"x{i}": x[:, i] for i in range(FEATURES)}
        columns |= {"label": label, "row": np.arange(start, stop, dtype=np.int64)}
        path = folder / f"part-{index:05d}.parquet"
        pq.write_table(pa.table(columns), path, row_group_size=rows_per_group)
        paths.append(path)
    return paths


def list_shards(folder: str | Path) -> list[Path]:
    """The ``*.parquet`` files of ``folder``, sorted; a missing or empty folder raises with the fix."""
    folder = Path(folder)
    files = sorted(folder.glob("*.parquet"))
    if not files:
        raise FileNotFoundError(
            f"no Parquet shards in {folder}: write them with dltutor.data.write_shards({str(folder)!r}, rows)"
        )
    return files


def read_all(files: Sequence[str | Path]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every row of ``files`` in memory at once: features (N, 8) float32, labels (N,), row numbers (N,).

    The approach that stops working when the data outgrows memory.
    """
    import pyarrow.parquet as pq

    tables = [pq.read_table(path) for path in files]
    x = np.concatenate(
        [np.column_stack([t.column(f"x{i}").to_numpy() for i in range(FEATURES)]) for t in tables]
    )
    labels = np.concatenate([t.column("label").to_numpy() for t in tables])
    rows = np.concatenate([t.column("row").to_numpy() for t in tables])
    return x, labels, rows


def stream_batches(
    files: Iterable[str | Path], batch_rows: int = 1024
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Features, labels and row numbers of ``files``, in order, at most ``batch_rows`` rows at a time.

    Only one batch (and Parquet's one row group) is in memory at a time, whatever the size
    of the files.
    """
    import pyarrow.parquet as pq

    batch_rows = check_positive_int(batch_rows, "batch_rows")
    for path in files:
        for batch in pq.ParquetFile(path).iter_batches(
            batch_size=batch_rows, columns=list(COLUMNS)
        ):
            x = np.column_stack([batch.column(f"x{i}").to_numpy() for i in range(FEATURES)])
            labels = batch.column("label").to_numpy().copy()  # Arrow's buffers are read-only
            yield x, labels, batch.column("row").to_numpy().copy()


def assign_files(
    files: Sequence[str | Path],
    epoch: int,
    rank: int = 0,
    world_size: int = 1,
    worker: int = 0,
    workers: int = 1,
    seed: int = 0,
) -> list[Path]:
    """The files one reader takes in one epoch: every file to exactly one reader, in a new order each epoch.

    All readers shuffle the file list the same way, with ``(seed, epoch)``; reader slot
    ``rank * workers + worker`` then takes every ``world_size * workers``-th file, starting at
    its slot. Splitting by process (``rank``) *and* by loader worker is what keeps two
    readers from returning the same rows — the classic bug of a streaming dataset used with
    several workers. Needs at least as many files as readers.
    """
    epoch = check_non_negative_int(epoch, "epoch")
    world_size, workers = (
        check_positive_int(world_size, "world_size"),
        check_positive_int(workers, "workers"),
    )
    if not (0 <= rank < world_size and 0 <= worker < workers):
        raise ValueError(
            f"need 0 <= rank < {world_size} and 0 <= worker < {workers}, got {rank}, {worker}"
        )
    readers = world_size * workers
    if len(files) < readers:
        raise ValueError(
            f"{len(files)} files cannot feed {readers} readers: write at least {readers} shards"
        )
    order = np.random.default_rng([seed, epoch]).permutation(len(files))
    return [Path(files[i]) for i in order[rank * workers + worker :: readers]]


def shuffle_rows(
    batches: Iterable[tuple[np.ndarray, ...]], buffer_rows: int, seed: int | np.random.Generator = 0
) -> Iterator[tuple[np.ndarray, ...]]:
    """Rows of ``batches`` (tuples of arrays, one row per index) in a shuffled order, one at a time.

    A buffer holds ``buffer_rows`` rows; each new row replaces a randomly chosen one, which
    is emitted — the scheme of ``tf.data.Dataset.shuffle``. Memory stays at the buffer, and
    the shuffle is only local: a row leaves at most a few buffer lengths from where it came
    in. A buffer as large as the dataset shuffles perfectly.
    """
    buffer_rows = check_positive_int(buffer_rows, "buffer_rows")
    rng = np.random.default_rng(seed)
    buffer: list[tuple[np.ndarray, ...]] = []
    for batch in batches:
        for index in range(len(batch[0])):
            row = tuple(column[index] for column in batch)
            if len(buffer) < buffer_rows:
                buffer.append(row)
                continue
            slot = int(rng.integers(buffer_rows))
            buffer[slot], row = row, buffer[slot]
            yield row
    order = rng.permutation(len(buffer))
    for slot in order:
        yield buffer[slot]


def peak_memory(function: Callable[[], Any]) -> tuple[Any, int]:
    """Run ``function()``; return its result and the peak bytes Python and NumPy allocated meanwhile.

    Measured with :mod:`tracemalloc`, which counts every allocation Python and NumPy make — a
    deterministic counter, the same on every run, unlike the process' resident memory. (Arrow
    allocates its own buffers outside it; a Parquet reader holds one row group at a time.)
    """
    import tracemalloc

    tracemalloc.start()
    try:
        result = function()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak
