"""Streaming Parquet shards through ``tf.data``, and data parallelism with ``tf.distribute``.

The file assignment and the reading are framework-free (:mod:`dltutor.data.shards`), shared
with :class:`dltutor.torch.big_data.ParquetStream`. Two strategies, each run in processes
of its own: ``MirroredStrategy`` over logical devices of one process (:func:`run_mirrored`)
and ``MultiWorkerMirroredStrategy`` over worker processes, as on a cluster
(:func:`run_multi_worker`).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from dltutor.checks import check_non_negative_int, check_positive_int
from dltutor.data.shards import FEATURES, Location, assign_files, row_counts, stream_batches


def parquet_dataset(
    files: Sequence[Location],
    batch_size: int,
    epoch: int = 0,
    buffer_rows: int = 0,
    batch_rows: int = 1024,
    index: int = 0,
    count: int = 1,
    seed: int = 0,
    filesystem: Any = None,
) -> Any:
    """A ``tf.data.Dataset`` of ``(features, label, row number)`` batches read from Parquet shards.

    Reader ``index`` of ``count`` (a worker of a multi-worker job: its ``input_pipeline_id``
    of ``num_input_pipelines`` under ``strategy.distribute_datasets_from_function``) takes
    its own files of ``epoch`` (:func:`dltutor.data.assign_files`); rows stream
    ``batch_rows`` at a time, pass through ``Dataset.shuffle(buffer_rows)`` when
    ``buffer_rows`` > 0 and are batched by ``batch_size``. ``files``: local paths, URIs
    (``s3://bucket/key``) or paths inside ``filesystem``.

    ``tf.data`` cannot shard a generator by file itself, so the files are chosen before the
    generator starts, and the dataset turns ``tf.distribute``'s own sharding off
    (``AutoShardPolicy.OFF``). Left on, a multi-worker strategy falls back to sharding by
    DATA: every worker would read all it was given and keep only every ``count``-th batch
    of it — each worker reading ``count`` times what it uses, and rows dropped.
    """
    batch_size = check_positive_int(batch_size, "batch_size")
    buffer_rows = check_non_negative_int(buffer_rows, "buffer_rows")
    chosen = assign_files(files, epoch, index, count, seed=seed)

    def rows() -> Any:
        yield from stream_batches(chosen, batch_rows, filesystem)

    signature = (
        tf.TensorSpec((None, FEATURES), tf.float32),
        tf.TensorSpec((None,), tf.int64),
        tf.TensorSpec((None,), tf.int64),
    )
    dataset = tf.data.Dataset.from_generator(rows, output_signature=signature).unbatch()
    if buffer_rows:
        dataset = dataset.shuffle(buffer_rows, seed=seed + epoch)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE).with_options(options)


def agreed_steps(
    files: Sequence[Location],
    batch_size: int,
    epoch: int = 0,
    count: int = 1,
    seed: int = 0,
    filesystem: Any = None,
) -> int:
    """The number of full batches of ``batch_size`` that every one of ``count`` workers can take.

    Workers' files differ in number (7 files, 2 workers: 4 and 3) and in rows, but every
    step is an all-reduce of all workers: one that runs out of data first leaves the others
    waiting forever. Each worker computes this count alone, from the Parquet footers of
    every worker's files (no data read, no message sent), and takes that many batches; the
    rows past it, different ones each epoch, wait for the next.
    """
    batch_size = check_positive_int(batch_size, "batch_size")
    rows = [
        sum(row_counts(assign_files(files, epoch, index, count, seed=seed), filesystem))
        for index in range(check_positive_int(count, "count"))
    ]
    if min(rows) < batch_size:
        raise ValueError(
            f"a batch of {batch_size} rows needs at least that many rows per worker, "
            f"got {min(rows)} for one of {count} workers in epoch {epoch}"
        )
    return min(rows) // batch_size


def run_mirrored(
    devices: int = 2, epochs: int = 3, batch: int = 64, seed: int = 0, timeout: float = 300.0
) -> dict[str, dict[str, list[np.ndarray]]]:
    """Run :mod:`dltutor.keras.mirrored_worker` in a new process; return ``{variant: {where: weights}}``.

    ``where`` is ``"one device"`` or ``"mirrored"``: the same model, data and global batch,
    trained on one device and with ``MirroredStrategy`` over ``devices`` logical CPU devices.
    A failure raises ``RuntimeError`` with the worker's last output lines.
    """
    import os
    import subprocess
    import sys
    import tempfile

    devices = check_positive_int(devices, "devices")
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "weights.npz"
        command = [
            sys.executable, "-m", "dltutor.keras.mirrored_worker", "--out", str(out),
            "--devices", str(devices), "--epochs", str(epochs), "--batch", str(batch),
            "--seed", str(seed),
        ]  # fmt: skip
        environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0"}
        finished = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, env=environment
        )
        if finished.returncode != 0:
            raise RuntimeError(
                f"the MirroredStrategy worker exited with {finished.returncode}:\n"
                f"{finished.stderr[-3000:]}"
            )
        saved = np.load(out)
        result: dict[str, dict[str, list[np.ndarray]]] = {}
        for key in saved.files:
            variant, where, _ = key.split("/")
            result.setdefault(variant, {}).setdefault(where, [])
        for variant, places in result.items():
            for where in places:
                count = sum(k.startswith(f"{variant}/{where}/") for k in saved.files)
                places[where] = [saved[f"{variant}/{where}/{i}"] for i in range(count)]
        return result


def _free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` different TCP ports free on ``host`` now (each bound to port 0, then released)."""
    probes = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for probe in probes:  # all held open at once, so no port is handed out twice
            probe.bind((host, 0))
        return [int(probe.getsockname()[1]) for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def tf_config(addresses: Sequence[str], index: int) -> str:
    """The ``TF_CONFIG`` of worker ``index``: every worker's ``host:port``, and which one it is."""
    if not 0 <= index < len(addresses):
        raise ValueError(f"need 0 <= index < {len(addresses)} workers, got {index}")
    cluster = {"worker": list(addresses)}
    return json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})


def run_multi_worker(
    shards: Location,
    workers: int = 2,
    epochs: int = 2,
    batch: int = 64,
    seed: int = 0,
    timeout: float = 180.0,
) -> list[tuple[list[np.ndarray], np.ndarray]]:
    """Train with ``MultiWorkerMirroredStrategy`` in ``workers`` processes; return each one's result.

    Starts ``python -m dltutor.keras.multi_worker --shards <shards> ...`` ``workers`` times,
    each with its own ``TF_CONFIG`` naming all of them on free ports of 127.0.0.1 — on a
    cluster, the same command runs once per machine with the machines' addresses. Returns,
    for each worker, its final weights and the row numbers it read
    (:func:`dltutor.keras.multi_worker.train`). A worker that fails, or a job past
    ``timeout`` seconds, stops them all and raises ``RuntimeError`` with the workers' last
    output lines.
    """
    import tempfile

    workers = check_positive_int(workers, "workers")
    addresses = [f"127.0.0.1:{port}" for port in _free_ports(workers)]
    with tempfile.TemporaryDirectory() as folder:
        outs = [Path(folder) / f"worker-{index}.npz" for index in range(workers)]
        logs = [Path(folder) / f"worker-{index}.log" for index in range(workers)]
        processes = []
        for index in range(workers):
            command = [
                sys.executable, "-m", "dltutor.keras.multi_worker", "--shards", os.fspath(shards),
                "--out", str(outs[index]), "--epochs", str(epochs), "--batch", str(batch),
                "--seed", str(seed), "--timeout", str(timeout),
            ]  # fmt: skip
            environment = {
                **os.environ,
                "TF_CONFIG": tf_config(addresses, index),
                "TF_CPP_MIN_LOG_LEVEL": "3",
                "TF_ENABLE_ONEDNN_OPTS": "0",
            }
            with open(logs[index], "w") as log:  # a file, not a pipe: a full pipe blocks
                processes.append(
                    subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=environment)
                )
        deadline = time.monotonic() + timeout
        codes: list[int | None] = [None] * workers  # None: still running at the deadline
        try:
            for index, process in enumerate(processes):
                codes[index] = process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
        finally:
            for process in processes:  # one left waiting for a lost partner: stop it
                if process.poll() is None:
                    process.kill()
                    process.wait()
        if any(code != 0 for code in codes):
            tails = "\n".join(
                f"--- worker {index} (exit {code}):\n{logs[index].read_text()[-2000:]}"
                for index, code in enumerate(codes)
            )
            reason = "timed out" if None in codes else "failed"
            raise RuntimeError(f"the MultiWorkerMirroredStrategy job {reason}:\n{tails}")
        results = []
        for out in outs:
            saved = np.load(out)
            count = len([key for key in saved.files if key.startswith("arr_")])
            results.append(([saved[f"arr_{i}"] for i in range(count)], saved["rows"]))
        return results
