"""Streaming Parquet shards through ``tf.data``, and data parallelism with ``MirroredStrategy``.

The file assignment and the reading are framework-free (:mod:`dltutor.data.shards`), shared
with :class:`dltutor.torch.big_data.ParquetStream`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from dltutor.checks import check_non_negative_int, check_positive_int
from dltutor.data.shards import FEATURES, assign_files, stream_batches


def parquet_dataset(
    files: Sequence[str | Path],
    batch_size: int,
    epoch: int = 0,
    buffer_rows: int = 0,
    batch_rows: int = 1024,
    index: int = 0,
    count: int = 1,
    seed: int = 0,
) -> Any:
    """A ``tf.data.Dataset`` of ``(features, label, row number)`` batches read from Parquet shards.

    Reader ``index`` of ``count`` (a worker of a multi-worker job) takes its own files of
    ``epoch`` (:func:`dltutor.data.assign_files`); rows stream ``batch_rows`` at a time, pass
    through ``Dataset.shuffle(buffer_rows)`` when ``buffer_rows`` > 0 and are batched by
    ``batch_size``. ``tf.data`` cannot shard a generator by file itself, so the files are
    chosen before the generator starts.
    """
    batch_size = check_positive_int(batch_size, "batch_size")
    buffer_rows = check_non_negative_int(buffer_rows, "buffer_rows")
    chosen = [str(path) for path in assign_files(files, epoch, index, count, seed=seed)]

    def rows() -> Any:
        yield from stream_batches(chosen, batch_rows)

    signature = (
        tf.TensorSpec((None, FEATURES), tf.float32),
        tf.TensorSpec((None,), tf.int64),
        tf.TensorSpec((None,), tf.int64),
    )
    dataset = tf.data.Dataset.from_generator(rows, output_signature=signature).unbatch()
    if buffer_rows:
        dataset = dataset.shuffle(buffer_rows, seed=seed + epoch)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


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
