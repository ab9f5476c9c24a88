"""Datasets larger than memory: Parquet shards written from a seed, and read back a batch at a time.

A dataset that does not fit in memory is stored as many files ("shards"), each a Parquet
file: columnar, compressed, read a row group at a time. A training job never holds more than
a few batches: :func:`stream_batches` reads one batch from one file, :func:`assign_files`
decides which files each reader (a process, ``rank``, and a loader worker inside it) takes,
and :func:`shuffle_rows` mixes rows within a bounded buffer. The PyTorch and ``tf.data``
pipelines of :mod:`dltutor.torch.big_data` build on these.

Shards live wherever the data lives: on a local disk, or in object storage, where large
datasets are kept. Every function here that takes a location takes a local path, a
``file://`` URI, an ``s3://bucket/key`` URI (or any other scheme :mod:`pyarrow.fs` or fsspec
knows), or a path inside an explicit ``filesystem=`` (a ``pyarrow.fs`` or an fsspec
filesystem); :func:`resolve` says which filesystem and which path a location means.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, Union
from urllib.parse import quote, urlsplit, urlunsplit

import numpy as np

from dltutor.checks import (
    check_non_negative_int,
    check_paths,
    check_positive_int,
    check_seed,
    describe,
)

if TYPE_CHECKING:
    import pyarrow.fs
    import pyarrow.parquet

Location = Union[str, "os.PathLike[str]"]  # a local path, or a URI such as s3://bucket/key
T = TypeVar("T")

FEATURES = 8  # columns x0 ... x7
COLUMNS = (*(f"x{i}" for i in range(FEATURES)), "label", "row")

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+)://")  # s3://..., file://... (not C:/...)
_LOST_SLASH = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):/(?!/)")  # what Path("s3://b/k") makes


def _shown(location: str) -> str:
    """``location`` with any ``key:secret@`` in it hidden, for an error message."""
    return re.sub(r"://[^/@]*@", "://***@", location)


def as_arrow_filesystem(filesystem: Any) -> pyarrow.fs.FileSystem:
    """``filesystem`` as a :class:`pyarrow.fs.FileSystem`: itself, or an fsspec filesystem wrapped.

    Arrow reads Parquet through its own filesystems (local, S3, GCS, Azure, HDFS); fsspec
    has many more (in memory, HTTP, SFTP, ...), and ``PyFileSystem(FSSpecHandler(fs))`` lets
    Arrow use any of them.
    """
    import pyarrow.fs as pafs

    if isinstance(filesystem, pafs.FileSystem):
        return filesystem
    try:
        from fsspec import AbstractFileSystem
    except ImportError:  # fsspec is optional: without it, only Arrow's own filesystems
        AbstractFileSystem = ()  # noqa: N806
    if isinstance(filesystem, AbstractFileSystem):
        return pafs.PyFileSystem(pafs.FSSpecHandler(filesystem))
    raise ValueError(
        "filesystem must be a pyarrow.fs.FileSystem or an fsspec filesystem, "
        f"got {type(filesystem).__name__}"
    )


def resolve(location: Location, filesystem: Any = None) -> tuple[pyarrow.fs.FileSystem, str]:
    """The filesystem that holds ``location``, and the path of ``location`` inside it.

    - a local path (``str`` or :class:`~pathlib.Path`): the local filesystem;
    - a URI, ``scheme://...``: the filesystem of its scheme — ``file://``, ``s3://bucket/key``
      and the other schemes of :meth:`pyarrow.fs.FileSystem.from_uri` (``gs://``, ``abfs://``,
      ``hdfs://``), then any protocol fsspec knows (``memory://``, ...). Options may ride in
      the URI: ``s3://KEY:SECRET@bucket/key?endpoint_override=host%3A9000&scheme=http``;
      without them, S3 takes its credentials and region from the environment (``AWS_*``);
    - with ``filesystem`` (a ``pyarrow.fs`` or fsspec filesystem): a path inside it.

    A URI must stay a ``str``: ``Path("s3://bucket/x")`` is ``s3:/bucket/x`` (``Path`` folds
    the double slash), which names no bucket. A URI with no filesystem for its scheme, or
    that its filesystem rejects, raises ``ValueError`` naming the scheme.
    """
    import pyarrow.fs as pafs

    text = location.as_posix() if isinstance(location, Path) else os.fspath(location)
    scheme = _SCHEME.match(text)
    if filesystem is not None:
        if scheme:
            raise ValueError(
                f"with filesystem= give a path inside that filesystem, not a URI: got {_shown(text)!r}"
            )
        return as_arrow_filesystem(filesystem), text
    if scheme is None:
        lost = _LOST_SLASH.match(text)
        if lost:
            raise ValueError(
                f"{_shown(text)!r} looks like a URI ({lost[1]}://) that lost a slash, as "
                f"Path({lost[1] + '://...'!r}) makes it: pass URIs as str"
            )
        return pafs.LocalFileSystem(), text
    try:
        return pafs.FileSystem.from_uri(text)
    except ValueError as error:  # pyarrow.ArrowInvalid is a ValueError
        if "Unrecognized filesystem type" not in str(error):
            raise ValueError(
                f"cannot open {_shown(text)!r} (scheme {scheme[1]!r}): {_shown(str(error))}"
            ) from None
    return _fsspec_resolve(text, scheme[1])


def _fsspec_resolve(uri: str, scheme: str) -> tuple[pyarrow.fs.FileSystem, str]:
    """A URI whose scheme Arrow does not know, through fsspec's filesystem for it."""
    expected = "a local path, file://, s3:// (or another scheme pyarrow.fs or fsspec knows)"
    try:
        import fsspec
    except ImportError:
        raise ValueError(
            f"no filesystem for the scheme {scheme!r} of {_shown(uri)!r}: expected {expected}; "
            "install fsspec for more schemes, or pass filesystem="
        ) from None
    if scheme not in fsspec.available_protocols():
        raise ValueError(
            f"no filesystem for the scheme {scheme!r} of {_shown(uri)!r}: expected {expected}, "
            "or pass filesystem="
        )
    try:
        filesystem, path = fsspec.core.url_to_fs(uri)
    except ImportError as error:  # a protocol whose package is not installed
        raise ValueError(f"the scheme {scheme!r} of {_shown(uri)!r} needs {error}") from None
    return as_arrow_filesystem(filesystem), path


def _inside(folder: Location, name: str, filesystem: Any = None) -> Path | str:
    """The location of ``name`` in ``folder``, in the form ``folder`` was given (Path, URI or path)."""
    text = folder.as_posix() if isinstance(folder, Path) else os.fspath(folder)
    if _SCHEME.match(text):  # a URI: the name goes into its path, before any ?query
        parts = urlsplit(text)
        return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/" + quote(name)))
    if filesystem is not None:
        return posixpath.join(text, name)
    return Path(text) / name


def _parquet_file(
    location: Location, filesystem: Any = None, pre_buffer: bool = True
) -> pyarrow.parquet.ParquetFile:
    """``location`` opened as a Parquet file, on whatever filesystem holds it.

    ``pre_buffer=True`` (pyarrow's default) fetches every column chunk the reader will need
    up front, in a few large reads — fast on object storage, but it holds the whole file in
    memory; ``False`` reads each row group's columns when they are needed.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrow_filesystem, path = resolve(location, filesystem)
    try:
        return pq.ParquetFile(path, filesystem=arrow_filesystem, pre_buffer=pre_buffer)
    except FileNotFoundError as error:  # which shard of many: the file's name, keys hidden
        raise FileNotFoundError(f"no Parquet shard at {_shown(os.fspath(location))}") from error
    except pa.ArrowInvalid as error:
        raise ValueError(
            f"{_shown(os.fspath(location))} is not a Parquet file: {_shown(str(error))}"
        ) from error


def _shard(
    location: Location, filesystem: Any = None, pre_buffer: bool = True
) -> pyarrow.parquet.ParquetFile:
    """:func:`_parquet_file`, checked to have the columns :func:`write_shards` writes."""
    parquet = _parquet_file(location, filesystem, pre_buffer)
    names = parquet.schema_arrow.names
    missing = [name for name in COLUMNS if name not in names]
    if missing:
        raise ValueError(
            f"{_shown(os.fspath(location))} is not a shard of write_shards: it lacks the "
            f"columns {missing} (it has {names})"
        )
    return parquet


def write_shards(
    folder: Location,
    rows: int,
    shards: int = 8,
    seed: int = 0,
    rows_per_group: int = 4096,
    filesystem: Any = None,
) -> list[Path | str]:
    """Write a seeded classification dataset of ``rows`` rows as ``shards`` Parquet files.

    Columns: ``x0`` … ``x7`` (float32 features, standard normal), ``label`` (int64, 1 when a
    fixed linear score of the features plus noise is positive) and ``row`` (int64, the row's
    number — a checksum for "every row exactly once"). Shards are generated one at a time
    from ``(seed, shard)``, so writing needs memory for one shard, not the dataset. ``folder``
    is a local folder, a URI (``s3://bucket/prefix``) or a path inside ``filesystem``
    (:func:`resolve`). Returns the files, ``part-00000.parquet`` and on, in the form ``folder``
    was given: paths for a local folder, URIs for a URI.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = check_positive_int(rows, "rows")
    shards = check_positive_int(shards, "shards")
    rows_per_group = check_positive_int(rows_per_group, "rows_per_group")
    seed = check_seed(seed)
    if shards > rows:
        raise ValueError(f"cannot write {rows} rows into {shards} non-empty shards")
    arrow_filesystem, root = resolve(folder, filesystem)
    arrow_filesystem.create_dir(root, recursive=True)
    weights = np.random.default_rng(seed).standard_normal(FEATURES)  # the rule to learn
    bounds = np.linspace(0, rows, shards + 1).astype(np.int64)
    paths = []
    for index, (start, stop) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
        rng = np.random.default_rng([seed, index])
        x = rng.standard_normal((stop - start, FEATURES)).astype(np.float32)
        label = (x @ weights + 0.5 * rng.standard_normal(stop - start) > 0).astype(np.int64)
        columns = {f"x{i}": x[:, i] for i in range(FEATURES)}
        columns |= {"label": label, "row": np.arange(start, stop, dtype=np.int64)}
        name = f"part-{index:05d}.parquet"
        pq.write_table(
            pa.table(columns),
            posixpath.join(root, name),
            row_group_size=rows_per_group,
            filesystem=arrow_filesystem,
        )
        paths.append(_inside(folder, name, filesystem))
    return paths


def list_shards(folder: Location, filesystem: Any = None) -> list[Path | str]:
    """The ``*.parquet`` files of ``folder``, sorted; a missing or empty folder raises with the fix.

    ``folder`` is a local folder, a URI or a path inside ``filesystem`` (:func:`resolve`); the
    files come back in the same form.
    """
    import pyarrow.fs as pafs

    arrow_filesystem, root = resolve(folder, filesystem)
    found = arrow_filesystem.get_file_info(pafs.FileSelector(root, allow_not_found=True))
    names = sorted(
        info.base_name
        for info in found
        if info.type == pafs.FileType.File and info.base_name.endswith(".parquet")
    )
    if not names:
        shown = _shown(os.fspath(folder))
        raise FileNotFoundError(
            f"no Parquet shards in {shown}: write them with dltutor.data.write_shards({shown!r}, rows)"
        )
    return [_inside(folder, name, filesystem) for name in names]


def read_all(
    files: Sequence[Location], filesystem: Any = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every row of ``files`` in memory at once: features (N, 8) float32, labels (N,), row numbers (N,).

    The approach that stops working when the data outgrows memory. ``files``: local paths,
    URIs or paths inside ``filesystem`` (:func:`resolve`).
    """
    check_paths(files)
    if not len(files):
        raise ValueError("files must name at least one Parquet shard, got none")
    tables = [_shard(path, filesystem).read(columns=list(COLUMNS)) for path in files]
    x = np.concatenate(
        [np.column_stack([t.column(f"x{i}").to_numpy() for i in range(FEATURES)]) for t in tables]
    )
    labels = np.concatenate([t.column("label").to_numpy() for t in tables])
    rows = np.concatenate([t.column("row").to_numpy() for t in tables])
    return x, labels, rows


def stream_batches(
    files: Iterable[Location], batch_rows: int = 1024, filesystem: Any = None
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Features, labels and row numbers of ``files``, in order, at most ``batch_rows`` rows at a time.

    Only one batch (and Parquet's one row group) is in memory at a time, whatever the size
    of the files: the reader does not pre-buffer a file (which would hold all of it).
    ``files``: local paths, URIs or paths inside ``filesystem`` (:func:`resolve`); on object
    storage each column of a row group is then one ranged read.
    """
    check_paths(files)
    batch_rows = check_positive_int(batch_rows, "batch_rows")
    for path in files:
        for batch in _shard(path, filesystem, pre_buffer=False).iter_batches(
            batch_size=batch_rows, columns=list(COLUMNS)
        ):
            x = np.column_stack([batch.column(f"x{i}").to_numpy() for i in range(FEATURES)])
            labels = batch.column("label").to_numpy().copy()  # Arrow's buffers are read-only
            yield x, labels, batch.column("row").to_numpy().copy()


def row_counts(files: Iterable[Location], filesystem: Any = None) -> list[int]:
    """The number of rows of each of ``files``, read from their Parquet footers alone.

    A footer is a few kilobytes at the end of the file that describes its row groups; reading
    it costs one small read, not a pass over the data. That is how a training job plans an
    epoch — how many batches each reader will produce — before it reads a row.
    """
    return [_parquet_file(path, filesystem).metadata.num_rows for path in files]


def assign_files(
    files: Sequence[T],
    epoch: int,
    rank: int = 0,
    world_size: int = 1,
    worker: int = 0,
    workers: int = 1,
    seed: int = 0,
) -> list[T]:
    """The files one reader takes in one epoch: every file to exactly one reader, in a new order each epoch.

    All readers shuffle the file list the same way, with ``(seed, epoch)``; reader slot
    ``rank * workers + worker`` then takes every ``world_size * workers``-th file, starting at
    its slot. Splitting by process (``rank``) *and* by loader worker is what keeps two
    readers from returning the same rows — the classic bug of a streaming dataset used with
    several workers. Needs at least as many files as readers. The files come back as given
    (paths or URIs).
    """
    check_paths(files)
    epoch = check_non_negative_int(epoch, "epoch")
    seed = check_seed(seed)
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
    return [files[i] for i in order[rank * workers + worker :: readers]]


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
    rng = np.random.default_rng(check_seed(seed, generator=True))
    buffer: list[tuple[np.ndarray, ...]] = []
    for batch in batches:
        if not isinstance(batch, (tuple, list)):
            raise TypeError(f"batches must yield tuples of columns, got {describe(batch)}")
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
    deterministic counter, the same on every run, unlike the process' resident memory. Arrow
    allocates its own buffers outside it (a Parquet reader holds a row group at a time):
    :func:`memory_peaks` counts both.
    """
    import tracemalloc

    tracemalloc.start()
    try:
        result = function()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


@dataclass(frozen=True)
class MemoryPeaks:
    """The peak bytes a call allocated, counted by Python's allocator and by Arrow's."""

    python: int  # tracemalloc's peak: every Python object and NumPy array
    arrow: int  # Arrow's memory pool: its high-water mark above what it held at the start
    arrow_exact: bool  # False: an earlier, higher peak of the process hid this one (see below)


def memory_peaks(function: Callable[[], Any]) -> tuple[Any, MemoryPeaks]:
    """Run ``function()``; return its result and its peak memory, as Python and as Arrow count it.

    Arrow allocates the buffers of its tables and of the Parquet reader (pages read,
    decompressed, decoded) from its own memory pool, which :mod:`tracemalloc` does not see.
    The pool keeps a high-water mark (``pyarrow.default_memory_pool().max_memory()``) that
    only rises and cannot be reset: the call's Arrow peak is that mark minus the bytes Arrow
    held when the call started (``pyarrow.total_allocated_bytes()``). It is exact when the
    call raised the mark (``arrow_exact``) — always so in a fresh process — and otherwise an
    upper bound, the earlier peak showing through: measure each method in a process of its
    own, as ``benchmarks/big_data_benchmark.py`` does, to compare small peaks.
    """
    import pyarrow as pa

    pool = pa.default_memory_pool()
    held, mark = pool.bytes_allocated(), pool.max_memory()
    result, python = peak_memory(function)
    raised = pool.max_memory()
    return result, MemoryPeaks(python=python, arrow=raised - held, arrow_exact=raised > mark)
