"""Memory and throughput against dataset size, streaming against loading; object storage; all-reduce.

Usage: .venv/bin/python benchmarks/big_data_benchmark.py [--rows 250000 1000000 4000000]
       [--stream-rows 1000000] [--skip-allreduce]

Part 1 writes Parquet shards of each size (into a temporary folder), then reads them whole
(``dltutor.data.read_all``) and streams them a batch at a time
(``dltutor.data.stream_batches``), each in a fresh process, printing the peak memory as
Python and NumPy count it (``tracemalloc``) and as Arrow's memory pool counts it (its
high-water mark, which only a fresh process starts at zero: ``dltutor.data.memory_peaks``),
and the rows per second. Part 2 streams the same files through PyTorch
(``DataLoader(ParquetStream(files, batch_rows=...), batch_size=None)``) and through
``stream_batches`` alone, and prints the ratio of their rates. Part 3 streams them from a
local S3 server (moto, on 127.0.0.1) by ``s3://`` URIs. Part 4 launches two gloo processes
with ``torchrun``, times ``all_reduce`` on messages from 1 KiB to 64 MiB, and fits the ring's
cost model ``2(K-1)α + 2(K-1)/K·n·β`` to the times (``dltutor.scratch.big_data.fit_alpha_beta``).
Not a test: timings depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dltutor import data

SIZES = [2**k for k in range(10, 27, 2)]  # bytes: 1 KiB ... 64 MiB
BATCH_ROWS = 4096


def measure(method: str, folder: str) -> dict[str, float]:
    """Run in a fresh process: read ``folder``'s shards by ``method``; peaks and rate."""
    import pyarrow.parquet  # noqa: F401  # imported now, not counted as the reading's memory

    files = data.list_shards(folder)
    start = time.perf_counter()
    if method == "load":
        (_, labels, _), peaks = data.memory_peaks(lambda: data.read_all(files))
        rows = len(labels)
    else:
        rows, peaks = data.memory_peaks(
            lambda: sum(len(b[1]) for b in data.stream_batches(files, BATCH_ROWS))
        )
    seconds = time.perf_counter() - start
    return {"python": peaks.python, "arrow": peaks.arrow, "rate": rows / seconds}


def measured(method: str, folder: Path) -> dict[str, float]:
    command = [sys.executable, __file__, "--measure", method, str(folder)]
    finished = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(finished.stdout.splitlines()[-1])


def memory_and_throughput(rows_list: list[int], folder: Path) -> None:
    print("Part 1: all in memory against streaming, each in a fresh process (MiB = 2**20 bytes)")
    print(
        f"{'rows':>10} {'load: Python':>13} {'Arrow':>8} {'rows/s':>11}"
        f" {'stream: Python':>15} {'Arrow':>8} {'rows/s':>11}"
    )
    for rows in rows_list:
        shards = folder / str(rows)
        data.write_shards(shards, rows, shards=16)
        load, stream = measured("load", shards), measured("stream", shards)
        print(
            f"{rows:>10,} {load['python'] / 2**20:>13.1f} {load['arrow'] / 2**20:>8.1f}"
            f" {load['rate']:>11,.0f} {stream['python'] / 2**20:>15.2f}"
            f" {stream['arrow'] / 2**20:>8.2f} {stream['rate']:>11,.0f}"
        )


def rows_per_second(
    *passes: Callable[[], Iterable[Sequence[Any]]], repeats: int = 3
) -> list[float]:
    """The best rate of each of ``passes`` over ``repeats`` rounds, taken in turn (A B A B ...).

    Taking them in turn, not one after the other, gives each the same share of a machine
    whose load changes. Each pass yields tuples whose second item is the labels.
    """
    best = [0.0] * len(passes)
    for _ in range(repeats):
        for index, batches in enumerate(passes):
            start = time.perf_counter()
            rows = sum(len(batch[1]) for batch in batches())
            best[index] = max(best[index], rows / (time.perf_counter() - start))
    return best


def torch_against_reader(folder: Path, rows: int) -> None:
    try:
        import torch
        from torch.utils.data import DataLoader

        from dltutor.torch.big_data import ParquetStream
    except ImportError:
        print("\nPart 2: skipped (PyTorch is not installed)")
        return
    torch.set_num_threads(1)
    files = data.write_shards(folder / "torch", rows, shards=16)
    reader, loader = rows_per_second(
        lambda: data.stream_batches(files, BATCH_ROWS),
        lambda: DataLoader(ParquetStream(files, batch_rows=BATCH_ROWS), batch_size=None),
        repeats=5,
    )
    print(f"\nPart 2: {rows:,} rows, batches of {BATCH_ROWS:,} (best of 5, no loader workers)")
    print(f"  stream_batches:                                  {reader:>12,.0f} rows/s")
    print(f"  DataLoader(ParquetStream(...), batch_size=None): {loader:>12,.0f} rows/s")
    print(f"  ratio, reader / loader:                          {reader / loader:>12.2f}")


def object_storage(folder: Path, rows: int) -> None:
    try:
        import logging

        from moto.server import ThreadedMotoServer
    except ImportError:
        print("\nPart 3: skipped (moto is not installed: pip install moto flask flask-cors)")
        return
    import pyarrow.fs as pafs

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        s3 = pafs.S3FileSystem(
            access_key="bench", secret_key="bench", region="us-east-1",
            endpoint_override=f"{host}:{port}", scheme="http", allow_bucket_creation=True,
        )  # fmt: skip
        s3.create_dir("bench")
        local = data.write_shards(folder / "s3", rows, shards=16)
        start = time.perf_counter()
        data.write_shards("bench/shards", rows, shards=16, filesystem=s3)
        written = time.perf_counter() - start
        uri = f"s3://bench:bench@bench/shards?endpoint_override={host}%3A{port}&scheme=http"
        files = data.list_shards(uri)
        disk, remote = rows_per_second(
            lambda: data.stream_batches(local, BATCH_ROWS),
            lambda: data.stream_batches(files, BATCH_ROWS),
            repeats=2,
        )
        same = all(
            np.array_equal(a, b)
            for a, b in zip(data.read_all(local), data.read_all(files), strict=True)
        )
        print(f"\nPart 3: {rows:,} rows in 16 shards on a local S3 server (moto, loopback)")
        print("  (moto is a Python web server: this counts requests, not the speed of S3)")
        print(f"  write to s3://: {written:.2f} s; read back equal to the local copy: {same}")
        print(f"  stream_batches from disk: {disk:>12,.0f} rows/s")
        print(f"  stream_batches from s3:// {remote:>12,.0f} rows/s")
    finally:
        server.stop()


def allreduce_worker() -> None:
    """Run by torchrun: time all_reduce on each message size; rank 0 prints one JSON line."""
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    times = []
    for size in SIZES:
        tensor = torch.ones(size // 4)  # float32
        dist.all_reduce(tensor)  # warm-up
        repeats = max(3, min(200, 2**24 // size))
        dist.barrier()
        start = time.perf_counter()
        for _ in range(repeats):
            dist.all_reduce(tensor)
        times.append((time.perf_counter() - start) / repeats)
    if dist.get_rank() == 0:
        print(json.dumps({"workers": dist.get_world_size(), "sizes": SIZES, "seconds": times}))
    dist.destroy_process_group()


def allreduce_times() -> None:
    from dltutor.scratch.big_data import allreduce_seconds, fit_alpha_beta

    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
        __file__, "--allreduce-worker",
    ]  # fmt: skip
    finished = subprocess.run(
        command, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True
    )
    if finished.returncode:
        sys.exit(
            f"torchrun failed with {finished.returncode} (is the loopback interface up?):\n"
            f"{finished.stderr[-2000:]}"
        )
    found = json.loads(finished.stdout.strip().splitlines()[-1])
    sizes, seconds = np.array(found["sizes"], float), np.array(found["seconds"])
    workers = found["workers"]
    alpha, beta = fit_alpha_beta(sizes, seconds, workers)
    print(f"\nPart 4: all_reduce between {workers} gloo processes on this machine")
    print(f"{'message':>14} {'time':>12} {'rate':>12} {'fit':>12}")
    for size, time_taken in zip(sizes, seconds, strict=True):
        model = allreduce_seconds(int(size) // 4, workers, latency=alpha, bandwidth=1 / beta)
        print(
            f"{size / 1024:>10,.0f} KiB {time_taken * 1e3:>9.3f} ms"
            f" {size / time_taken / 1e9:>7.3f} GB/s {model * 1e3:>9.3f} ms"
        )
    print(
        f"fitted ring model 2(K-1)α + 2(K-1)/K·n·β, K = {workers}: "
        f"α = {alpha * 1e6:.1f} µs, β = {beta * 1e9:.3f} ns/byte ({1 / beta / 1e9:.2f} GB/s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[250_000, 1_000_000, 4_000_000])
    parser.add_argument("--stream-rows", type=int, default=1_000_000, help="for parts 2 and 3")
    parser.add_argument("--skip-allreduce", action="store_true", help="no torchrun (part 4)")
    parser.add_argument("--allreduce-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--measure", nargs=2, metavar=("METHOD", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.allreduce_worker:
        allreduce_worker()
        return
    if args.measure:
        print(json.dumps(measure(*args.measure)))
        return
    with tempfile.TemporaryDirectory() as folder:
        memory_and_throughput(args.rows, Path(folder))
        torch_against_reader(Path(folder), args.stream_rows)
        object_storage(Path(folder), args.stream_rows)
    if not args.skip_allreduce:
        allreduce_times()


if __name__ == "__main__":
    main()
