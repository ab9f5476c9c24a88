"""Memory and throughput against dataset size, streaming against loading; all-reduce time.

Usage: .venv/bin/python benchmarks/big_data_benchmark.py [--rows 250000 1000000 4000000]

Part 1 writes Parquet shards of each size (into a temporary folder), then reads them whole
(``dltutor.data.read_all``) and streams them a batch at a time
(``dltutor.data.stream_batches``), printing the peak memory Python and NumPy allocated
(``tracemalloc``) and the rows per second. Part 2 launches two gloo processes with
``torchrun`` and times ``all_reduce`` on messages from 1 KiB to 64 MiB. Not a test: timings
depend on the machine.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dltutor import data

SIZES = [2**k for k in range(10, 27, 2)]  # bytes: 1 KiB ... 64 MiB


def memory_and_throughput(rows_list: list[int]) -> None:
    print(f"{'rows':>10} {'load: MiB':>10} {'rows/s':>12} {'stream: MiB':>12} {'rows/s':>12}")
    with tempfile.TemporaryDirectory() as folder:
        for rows in rows_list:
            files = data.write_shards(Path(folder) / str(rows), rows, shards=16)
            start = time.perf_counter()
            _, loaded = data.peak_memory(lambda files=files: data.read_all(files))
            load_rate = rows / (time.perf_counter() - start)
            start = time.perf_counter()
            _, streamed = data.peak_memory(
                lambda files=files: sum(len(b[1]) for b in data.stream_batches(files, 4096))
            )
            stream_rate = rows / (time.perf_counter() - start)
            print(
                f"{rows:>10,} {loaded / 2**20:>10.1f} {load_rate:>12,.0f} "
                f"{streamed / 2**20:>12.2f} {stream_rate:>12,.0f}"
            )


def allreduce_worker() -> None:
    """Run by torchrun: time all_reduce on each message size, rank 0 prints."""
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    for size in SIZES:
        tensor = torch.ones(size // 4)  # float32
        dist.all_reduce(tensor)  # warm-up
        repeats = max(3, min(200, 2**24 // size))
        dist.barrier()
        start = time.perf_counter()
        for _ in range(repeats):
            dist.all_reduce(tensor)
        seconds = (time.perf_counter() - start) / repeats
        if dist.get_rank() == 0:
            print(
                f"{size / 1024:>10,.0f} KiB {seconds * 1e3:>9.3f} ms {size / seconds / 1e9:>7.3f} GB/s"
            )
    dist.destroy_process_group()


def allreduce_times() -> None:
    print(
        f"\nall_reduce between 2 gloo processes on this machine:\n{'message':>14} {'time':>12} {'rate':>12}"
    )
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
        __file__, "--allreduce-worker",
    ]  # fmt: skip
    finished = subprocess.run(command, env={**os.environ, "OMP_NUM_THREADS": "1"}, check=False)
    if finished.returncode:
        sys.exit(f"torchrun failed with {finished.returncode} (is the loopback interface up?)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[250_000, 1_000_000, 4_000_000])
    parser.add_argument("--allreduce-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.allreduce_worker:
        allreduce_worker()
        return
    memory_and_throughput(args.rows)
    allreduce_times()


if __name__ == "__main__":
    main()
