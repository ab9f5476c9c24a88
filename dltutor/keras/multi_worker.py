"""Data parallelism across processes with ``tf.distribute.MultiWorkerMirroredStrategy``.

One process per worker, as on a cluster: each process is told who it is by ``TF_CONFIG``
(the addresses of all workers, and its own index), reads only its own Parquet shards, and
all-reduces its gradients with the others at every step. Run one per machine (here: per
local process) as::

    TF_CONFIG='{"cluster": {"worker": ["host0:12345", "host1:12345"]},
                "task": {"type": "worker", "index": 0}}' \\
        python -m dltutor.keras.multi_worker --shards s3://bucket/train --out weights.npz

:func:`dltutor.keras.big_data.run_multi_worker` starts such processes on this machine, on
free ports of 127.0.0.1, and :func:`train` with no strategy is the one-process reference.

The training loop is written out (``strategy.run``, ``tf.nn.compute_average_loss``,
``optimizer.apply``) because Keras 3's ``model.fit`` fails under this strategy with
TensorFlow ≥ 2.16 — ``ValueError: Attempt to convert a value (PerReplica:{...})`` —
keras-team/keras#20585 (open). ``MirroredStrategy`` (several devices, one process) is not
affected: :mod:`dltutor.keras.mirrored_worker` uses ``fit``.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from dltutor.data.shards import FEATURES, Location, list_shards
from dltutor.keras.big_data import agreed_steps, parquet_dataset

HIDDEN = 16  # a small classifier: 8 features -> 16 tanh units -> 2 logits


def initial_weights(seed: int) -> list[np.ndarray]:
    """The starting weights, drawn by NumPy: the same in every process, with or without a strategy."""
    rng = np.random.default_rng(seed)
    return [
        rng.normal(0.0, 1 / np.sqrt(FEATURES), (FEATURES, HIDDEN)),  # (8, 16)
        np.zeros(HIDDEN),
        rng.normal(0.0, 1 / np.sqrt(HIDDEN), (HIDDEN, 2)),  # (16, 2)
        np.zeros(2),
    ]


def train(
    files: Sequence[Location],
    strategy: Any = None,
    workers: int = 2,
    epochs: int = 2,
    batch: int = 64,
    learning_rate: float = 0.1,
    seed: int = 0,
) -> tuple[list[np.ndarray], np.ndarray]:
    """Train the classifier in float64 on ``files``; return its weights and the row numbers it used.

    With a ``MultiWorkerMirroredStrategy``, this process is one of ``workers``: each step it
    takes ``batch / workers`` rows of its own files (its ``input_pipeline_id`` of
    ``num_input_pipelines``), split among its replicas (one per CPU worker, or one per GPU),
    and the strategy sums the gradients of all replicas. With ``strategy=None``, the
    one-process reference: each step it reads the same ``workers`` per-worker batches and
    trains on all of them at once, a batch of ``batch`` rows. Every worker takes
    :func:`~dltutor.keras.big_data.agreed_steps` steps an epoch: the same count, or the job
    would wait forever at the first all-reduce a worker never reaches. The row numbers
    returned are those this process read, step by step.
    """
    import keras
    import tensorflow as tf

    if batch % workers:
        raise ValueError(f"the global batch must split evenly over {workers} workers, got {batch}")
    per_worker = batch // workers
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        model = keras.Sequential(
            [
                keras.Input(shape=(FEATURES,), dtype="float64"),
                keras.layers.Dense(HIDDEN, activation="tanh", dtype="float64"),
                keras.layers.Dense(2, dtype="float64"),
            ]
        )
        model.set_weights(initial_weights(seed))
        optimizer = keras.optimizers.SGD(learning_rate)
        optimizer.build(model.trainable_variables)  # its variables too, inside the scope
    # dtype: a Keras loss computes in floatx (float32) unless told otherwise
    loss_of = keras.losses.SparseCategoricalCrossentropy(
        from_logits=True, reduction=None, dtype="float64"
    )

    def step(x: Any, labels: Any) -> Any:
        with tf.GradientTape() as tape:
            logits = model(tf.cast(x, tf.float64), training=True)
            # the sum of this replica's losses / the global batch: summed over replicas, the mean
            loss = tf.nn.compute_average_loss(loss_of(labels, logits), global_batch_size=batch)
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply(gradients, model.trainable_variables)  # all-reduced under a strategy
        return loss

    @tf.function
    def distributed_step(x: Any, labels: Any) -> Any:
        return strategy.run(step, args=(x, labels))

    one_process_step = tf.function(step)
    replicas = 1 if strategy is None else strategy.num_replicas_in_sync // workers  # per worker
    used = []
    for epoch in range(epochs):
        steps = agreed_steps(files, per_worker, epoch, workers, seed=seed)

        if strategy is None:
            readers = [
                parquet_dataset(files, per_worker, epoch, index=index, count=workers, seed=seed)
                for index in range(workers)
            ]
            for parts in zip(*(reader.take(steps) for reader in readers), strict=True):
                x, labels, rows = (tf.concat(column, axis=0) for column in zip(*parts, strict=True))
                one_process_step(x, labels)
                used.append(rows.numpy())
            continue

        def worker_data(context: Any, epoch: int = epoch, steps: int = steps) -> Any:
            """This worker's batches: its own files, a batch per replica per step."""
            return parquet_dataset(
                files,
                context.get_per_replica_batch_size(batch),
                epoch,
                index=context.input_pipeline_id,
                count=context.num_input_pipelines,
                seed=seed,
            ).take(steps * replicas)

        for x, labels, rows in strategy.distribute_datasets_from_function(worker_data):
            distributed_step(x, labels)
            here = strategy.experimental_local_results(rows)
            used.append(np.concatenate([r.numpy() for r in here]))
    return [np.asarray(w) for w in model.get_weights()], np.concatenate(used)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shards", required=True, help="folder or URI of the Parquet shards")
    parser.add_argument("--out", required=True, help="where to save weights and rows (.npz)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch", type=int, default=64, help="the global batch")
    parser.add_argument("--learning-rate", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds a collective waits")
    args = parser.parse_args(argv)

    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)  # one core per worker process
    # First, before any other TensorFlow op: it reads TF_CONFIG and connects to the others.
    strategy = tf.distribute.MultiWorkerMirroredStrategy(
        communication_options=tf.distribute.experimental.CommunicationOptions(
            timeout_seconds=args.timeout  # a lost worker fails the job instead of hanging it
        )
    )
    weights, rows = train(
        list_shards(args.shards),
        strategy,
        workers=strategy.cluster_resolver.cluster_spec().num_tasks("worker"),
        epochs=args.epochs,
        batch=args.batch,
        learning_rate=args.learning_rate,
        seed=args.seed,
    )
    np.savez(args.out, *weights, rows=rows)


if __name__ == "__main__":
    main()
