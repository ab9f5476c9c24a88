"""Data parallelism with ``tf.distribute.MirroredStrategy``, in a process of its own.

TensorFlow can split one CPU into logical devices only before its runtime starts, so this
worker runs as ``python -m dltutor.keras.mirrored_worker --out result.npz``:
it makes two logical CPU devices, trains the same small classifier with Keras' ``fit`` on one
device and mirrored on two (plainly, with ``BatchNormalization`` and with
``BatchNormalization(synchronized=True)``), all in float64, and saves the final weights.
:func:`dltutor.keras.big_data.run_mirrored` launches it and reads the result.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import numpy as np

VARIANTS = ("plain", "batch norm", "synchronized batch norm")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="where to save the weights (.npz)")
    parser.add_argument("--devices", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=64, help="the global batch")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(  # first: before the runtime starts
        cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(args.devices)]
    )
    import keras

    keras.config.set_floatx("float64")
    rng = np.random.default_rng(args.seed)
    x = rng.standard_normal((1024, 8))
    y = (x @ rng.standard_normal(8) > 0).astype(np.int64)

    def model(variant: str) -> keras.Model:
        keras.utils.set_random_seed(args.seed)  # the same initial weights each time
        normalise = {
            "batch norm": [keras.layers.BatchNormalization()],
            "synchronized batch norm": [keras.layers.BatchNormalization(synchronized=True)],
        }.get(variant, [])
        built = keras.Sequential(
            [
                keras.Input(shape=(8,)),
                keras.layers.Dense(16),
                *normalise,
                keras.layers.Activation("tanh"),
                keras.layers.Dense(2),
            ]
        )
        built.compile(
            optimizer=keras.optimizers.SGD(0.1),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        return built

    def train(variant: str, strategy: tf.distribute.Strategy | None) -> list[np.ndarray]:
        dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(args.batch)
        if strategy is None:
            trained = model(variant)
        else:
            with strategy.scope():
                trained = model(variant)
        trained.fit(dataset, epochs=args.epochs, verbose=0)
        return [np.asarray(w) for w in trained.trainable_weights]

    devices = [f"/cpu:{index}" for index in range(args.devices)]
    mirrored = tf.distribute.MirroredStrategy(devices)
    results: dict[str, np.ndarray] = {}
    for variant in VARIANTS:
        for where, strategy in (("one device", None), ("mirrored", mirrored)):
            weights = train(variant, strategy)
            results |= {f"{variant}/{where}/{i}": w for i, w in enumerate(weights)}
    np.savez(args.out, **results)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
