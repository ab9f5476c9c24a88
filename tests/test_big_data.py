"""Data parallelism in NumPy: averaged worker gradients against the big batch, and the ring all-reduce."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dltutor import scratch
from dltutor.scratch import big_data


def classifier_and_batch(rng: np.random.Generator, size: int):
    model = scratch.MLP([5, 7, 3], activation="tanh", rng=rng)
    return model, rng.standard_normal((size, 5)), rng.integers(0, 3, size)


def big_batch_gradients(model, x, y) -> list[np.ndarray]:
    loss = scratch.CrossEntropyLoss()
    loss.forward(model.forward(x), y)
    model.backward(loss.backward())
    return [g.copy() for g in model.gradients()]


@pytest.mark.parametrize("workers", [1, 2, 4, 8])
def test_averaged_worker_gradients_are_the_big_batch_gradient(workers, rng) -> None:
    model, x, y = classifier_and_batch(rng, 32)  # 32 splits evenly for every count here
    parts = big_data.worker_gradients(model, scratch.CrossEntropyLoss(), x, y, workers)
    for ours, whole in zip(big_data.average(parts), big_batch_gradients(model, x, y), strict=True):
        np.testing.assert_allclose(ours, whole, rtol=1e-12, atol=1e-15)


def test_uneven_shards_need_weights(rng) -> None:
    model, x, y = classifier_and_batch(rng, 10)  # 3 workers: shards of 4, 3 and 3
    parts = big_data.worker_gradients(model, scratch.CrossEntropyLoss(), x, y, 3)
    whole = big_batch_gradients(model, x, y)
    plain = big_data.average(parts)
    weighted = big_data.average(parts, weights=np.array([4, 3, 3]))
    assert max(np.abs(a - b).max() for a, b in zip(plain, whole, strict=True)) > 1e-4
    for ours, expected in zip(weighted, whole, strict=True):
        np.testing.assert_allclose(ours, expected, rtol=1e-12, atol=1e-15)


@given(
    workers=st.integers(1, 6),
    length=st.integers(1, 20),
    seed=st.integers(0, 2**16),
)
def test_ring_allreduce_gives_every_worker_the_sum(workers, length, seed) -> None:
    rng = np.random.default_rng(seed)
    vectors = [rng.standard_normal(length) for _ in range(workers)]
    results, log = big_data.ring_allreduce(vectors)
    total = np.sum(vectors, axis=0)
    for result in results:
        np.testing.assert_allclose(result, total, rtol=1e-12, atol=1e-12)
    # 2 (K - 1) steps, every worker sends one chunk to its right-hand neighbour per step
    assert len(log) == 2 * (workers - 1) * workers
    assert all(t.receiver == (t.sender + 1) % workers for t in log)
    assert set(Counter(t.sender for t in log).values()) <= {2 * (workers - 1)}


def test_allreduce_cost_model() -> None:
    ring = [big_data.allreduce_seconds(10**7, k, "ring", latency=0.0) for k in (2, 4, 8, 64)]
    naive = [big_data.allreduce_seconds(10**7, k, "naive", latency=0.0) for k in (2, 4, 8, 64)]
    assert ring[0] == pytest.approx(naive[0] / 2)  # two workers: both links busy at once
    assert all(a < b for a, b in zip(naive, naive[1:]))  # the root's link carries ever more
    assert ring[-1] < 2 * 4e7 / 1e9  # bounded by 2n / bandwidth, whatever K
    with pytest.raises(ValueError, match="'ring' or 'naive'"):
        big_data.allreduce_seconds(10, 2, "tree")


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="cannot split 3 examples among 4 workers"):
        big_data.shard(np.zeros((3, 2)), 4)
    with pytest.raises(ValueError, match="same length"):
        big_data.ring_allreduce([np.zeros(3), np.zeros(4)])


# --- Parquet shards, streamed ------------------------------------------------------------------

from pathlib import Path  # noqa: E402

from dltutor import data  # noqa: E402


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> list[Path]:
    return data.write_shards(tmp_path_factory.mktemp("shards"), rows=1000, shards=8, seed=0)


def test_written_shards_are_seeded_and_complete(shards, tmp_path) -> None:
    x, labels, rows = data.read_all(shards)
    assert x.shape == (1000, 8) and x.dtype == np.float32
    assert sorted(rows) == list(range(1000))
    assert 0.3 < labels.mean() < 0.7
    again = data.read_all(data.write_shards(tmp_path, rows=1000, shards=8, seed=0))
    np.testing.assert_array_equal(again[0], x)
    assert data.list_shards(shards[0].parent) == shards
    with pytest.raises(FileNotFoundError, match="write_shards"):
        data.list_shards(tmp_path / "empty")


def test_streaming_reads_the_same_rows_a_batch_at_a_time(shards) -> None:
    batches = list(data.stream_batches(shards, batch_rows=64))
    assert max(len(b[1]) for b in batches) == 64
    x, labels, rows = (np.concatenate(parts) for parts in zip(*batches, strict=True))
    expected = data.read_all(shards)
    np.testing.assert_array_equal(x, expected[0])
    np.testing.assert_array_equal(rows, expected[2])


@pytest.mark.parametrize("world_size, workers", [(1, 1), (1, 2), (2, 2), (2, 4)])
def test_every_file_goes_to_exactly_one_reader(shards, world_size, workers) -> None:
    for epoch in range(3):
        taken = [
            path
            for rank in range(world_size)
            for worker in range(workers)
            for path in data.assign_files(shards, epoch, rank, world_size, worker, workers)
        ]
        assert sorted(taken) == sorted(shards)
    first, second = (data.assign_files(shards, epoch, 0, 1, 0, 1) for epoch in (0, 1))
    assert first != second  # a new order each epoch
    with pytest.raises(ValueError, match="cannot feed 16 readers"):
        data.assign_files(shards, 0, 0, 4, 0, 4)


def test_shuffle_buffer_is_a_permutation_that_moves_rows_locally(shards) -> None:
    stream = data.stream_batches(shards, batch_rows=100)
    rows = np.array([row for _, _, row in data.shuffle_rows(stream, buffer_rows=50, seed=0)])
    assert sorted(rows) == list(range(1000))
    assert (rows != np.arange(1000)).mean() > 0.9  # shuffled
    # a row leaves the buffer no earlier than buffer_rows places before its turn
    assert (np.arange(1000) - np.argsort(rows)).max() <= 50


@pytest.mark.torch
def test_parquet_stream_gives_every_row_once_across_processes_and_workers(shards) -> None:
    pytest.importorskip("torch")
    from torch.utils.data import DataLoader

    from dltutor.torch.big_data import ParquetStream

    seen = []
    for rank in range(2):  # two processes, each with a DataLoader of two workers
        stream = ParquetStream(shards, batch_rows=50, buffer_rows=30, rank=rank, world_size=2)
        stream.set_epoch(1)
        for x, label, row in DataLoader(stream, batch_size=32, num_workers=2):
            assert x.shape[1] == 8 and label.shape == row.shape
            seen += row.tolist()
    assert sorted(seen) == list(range(1000))  # every row, exactly once


@pytest.mark.torch
def test_ddp_on_two_processes_is_one_process_with_the_doubled_batch() -> None:
    pytest.importorskip("torch")
    from dltutor.torch.big_data import run_data_parallel
    from dltutor.torch.ddp_worker import VARIANTS, train_single

    parallel = run_data_parallel(workers=2, steps=50, batch=32)
    gaps = {
        variant: max(
            np.abs(a - b).max()
            for a, b in zip(parallel[variant], train_single(variant, 50, 64), strict=True)
        )
        for variant in VARIANTS
    }
    assert gaps["plain"] < 1e-12  # measured 1.7e-16: float64 summation order only
    # what breaks it: measured 1.5e-2, 3.7e-2 and 7.8e-4
    assert min(gaps["batch norm"], gaps["dropout"], gaps["padding sampler"]) > 1e-4


@pytest.mark.keras
def test_mirrored_strategy_is_one_device_with_the_same_global_batch() -> None:
    pytest.importorskip("tensorflow")
    from dltutor.keras.big_data import run_mirrored

    weights = run_mirrored(devices=2, epochs=3, batch=64)
    gaps = {
        variant: max(
            np.abs(a - b).max()
            for a, b in zip(places["one device"], places["mirrored"], strict=True)
        )
        for variant, places in weights.items()
    }
    assert gaps["plain"] < 1e-12  # measured 1.2e-16
    assert gaps["batch norm"] > 1e-4  # measured 1.3e-2: each device's own statistics
    assert gaps["synchronized batch norm"] < 1e-12  # measured 1.1e-16


@pytest.mark.keras
def test_tf_data_pipeline_reads_every_row_once(shards) -> None:
    pytest.importorskip("tensorflow")
    from dltutor.keras.big_data import parquet_dataset

    seen = []
    for index in range(2):  # two workers of one job
        for x, _, row in parquet_dataset(shards, 32, epoch=1, buffer_rows=40, index=index, count=2):
            assert x.shape[1] == 8 and x.dtype.name == "float32"
            seen += row.numpy().tolist()
    assert sorted(seen) == list(range(1000))


# --- Shards on any filesystem: local, file://, s3:// (a local S3 server), fsspec in memory -------


def rows_of(files, filesystem=None) -> np.ndarray:
    """Row numbers of ``files``, streamed."""
    return np.concatenate([row for _, _, row in data.stream_batches(files, 64, filesystem)])


def test_shards_read_the_same_from_a_path_a_file_uri_and_fsspec_memory(shards, tmp_path) -> None:
    fsspec = pytest.importorskip("fsspec")
    expected = data.read_all(shards)
    uri = tmp_path.as_uri() + "/shards"  # file:///tmp/.../shards
    memory = fsspec.filesystem("memory")
    try:
        for folder, filesystem in [
            (uri, None),
            ("memory://dltutor-test/shards", None),  # fsspec's, through Arrow's FSSpecHandler
            ("dltutor-test/explicit", memory),  # a path inside an fsspec filesystem object
        ]:
            written = data.write_shards(folder, rows=1000, shards=8, seed=0, filesystem=filesystem)
            assert data.list_shards(folder, filesystem) == written
            assert all(isinstance(f, str) for f in written)
            if filesystem is None:
                assert all(f.startswith(folder + "/part-") for f in written)  # URIs stay URIs
            for ours, theirs in zip(data.read_all(written, filesystem), expected, strict=True):
                np.testing.assert_array_equal(ours, theirs)
            np.testing.assert_array_equal(rows_of(written, filesystem), expected[2])
            taken = data.assign_files(written, epoch=1, rank=1, world_size=2)
            assert set(taken) <= set(written)  # the locations come back as given
    finally:
        memory.rm("/dltutor-test", recursive=True)  # fsspec's memory store is one per process


@pytest.fixture(scope="module")
def s3_endpoint():
    """A local S3 server (moto) on 127.0.0.1 and a free port; yields "127.0.0.1:PORT"."""
    server_module = pytest.importorskip("moto.server")
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"{host}:{port}"
    server.stop()


def test_shards_round_trip_through_s3(shards, s3_endpoint) -> None:
    import pyarrow.fs as pafs

    s3 = pafs.S3FileSystem(
        access_key="testing", secret_key="testing", region="us-east-1",
        endpoint_override=s3_endpoint, scheme="http", allow_bucket_creation=True,
    )  # fmt: skip
    s3.create_dir("dltutor-shards")  # a bucket
    written = data.write_shards("dltutor-shards/train", 1000, shards=8, seed=0, filesystem=s3)
    assert written[0] == "dltutor-shards/train/part-00000.parquet"
    expected = data.read_all(shards)
    for ours, theirs in zip(data.read_all(written, filesystem=s3), expected, strict=True):
        np.testing.assert_array_equal(ours, theirs)
    # The same objects by URI alone: keys and endpoint in the URI, as a job's config would give
    endpoint = s3_endpoint.replace(":", "%3A")
    folder = f"s3://testing:testing@dltutor-shards/train?endpoint_override={endpoint}&scheme=http"
    files = data.list_shards(folder)
    assert files[1].startswith("s3://testing:testing@dltutor-shards/train/part-00001.parquet?")
    np.testing.assert_array_equal(rows_of(files), expected[2])
    filesystem, path = data.resolve(files[0])
    assert isinstance(filesystem, pafs.S3FileSystem) and path == written[0]
    with pytest.raises(
        FileNotFoundError, match=r"no Parquet shards in s3://\*\*\*@dltutor-shards/empty"
    ):
        data.list_shards(folder.replace("/train?", "/empty?"))  # and the keys are not shown


def test_a_bad_location_names_its_scheme(shards) -> None:
    with pytest.raises(ValueError, match="no filesystem for the scheme 'nosuch'"):
        data.read_all(["nosuch://bucket/x.parquet"])
    with pytest.raises(ValueError, match="scheme 's3'.*Missing bucket name"):
        list(data.stream_batches(["s3:///x.parquet"]))
    with pytest.raises(ValueError, match="lost a slash.*pass URIs as str"):
        data.read_all([Path("s3://bucket/x.parquet")])  # Path folds // into /
    with pytest.raises(ValueError, match=r"'s3://\*\*\*@/x.parquet'") as caught:
        data.resolve("s3://KEY:SECRET@/x.parquet")
    assert "SECRET" not in str(caught.value)
    import pyarrow.fs as pafs

    with pytest.raises(ValueError, match="not a URI"):
        data.resolve("s3://bucket/x.parquet", filesystem=pafs.LocalFileSystem())
    with pytest.raises(
        ValueError,
        match="filesystem must be a pyarrow.fs.FileSystem or an fsspec filesystem, got str",
    ):
        data.list_shards("folder", filesystem="s3")
    filesystem, path = data.resolve(shards[0])  # a local path stays a local path
    assert type(filesystem).__name__ == "LocalFileSystem" and path == str(shards[0])


# --- Memory as Arrow counts it --------------------------------------------------------------------

MEASURE = """
import sys
from dltutor import data
files = data.list_shards(sys.argv[1])
_, streamed = data.memory_peaks(lambda: sum(len(b[1]) for b in data.stream_batches(files, 1024)))
_, loaded = data.memory_peaks(lambda: data.read_all(files))
_, again = data.memory_peaks(lambda: sum(len(b[1]) for b in data.stream_batches(files, 1024)))
print(streamed.arrow, streamed.arrow_exact, loaded.arrow, loaded.arrow_exact, again.arrow, again.arrow_exact)
"""


def test_arrow_memory_of_streaming_is_flat_and_of_loading_grows(tmp_path) -> None:
    import subprocess
    import sys

    found = {}
    for rows in (40_000, 160_000):  # 5,000 and 20,000 rows a shard: row groups of 4,096
        folder = tmp_path / str(rows)
        data.write_shards(folder, rows, shards=8, seed=0)
        # a fresh process per size: Arrow's high-water mark cannot be reset
        output = subprocess.run(
            [sys.executable, "-c", MEASURE, str(folder)], capture_output=True, text=True, check=True
        ).stdout.split()
        found[rows] = [int(v) if v.isdigit() else v == "True" for v in output]
    for rows, (streamed, exact, loaded, loaded_exact, again, again_exact) in found.items():
        assert exact and loaded_exact
        assert loaded >= rows * 48  # 8 float32 features, two int64 columns: 48 bytes a row
        assert not again_exact and again > streamed  # an upper bound: loading's peak shows through
    small, large = found[40_000][0], found[160_000][0]
    assert large < 1.2 * small < 2**20  # one row group at a time: measured 654 KB and 677 KB
    assert found[160_000][2] > 3.5 * found[40_000][2]  # measured 2.3 MB and 9.8 MB


# --- The ring's α and β, fitted to measured times ------------------------------------------------


@pytest.mark.parametrize("workers", [2, 4])
def test_fit_alpha_beta_recovers_the_cost_model(workers) -> None:
    sizes = np.array([2**k for k in range(10, 27, 2)], dtype=float)  # bytes: 1 KiB ... 64 MiB
    exact = np.array(
        [
            big_data.allreduce_seconds(int(n) // 4, workers, latency=2e-4, bandwidth=1.5e9)
            for n in sizes
        ]
    )
    alpha, beta = big_data.fit_alpha_beta(sizes, exact, workers)
    assert alpha == pytest.approx(2e-4, rel=1e-9) and beta == pytest.approx(1 / 1.5e9, rel=1e-9)
    noisy = exact * np.random.default_rng(0).uniform(0.9, 1.1, len(sizes))  # a loaded machine
    alpha, beta = big_data.fit_alpha_beta(sizes, noisy, workers)
    assert alpha == pytest.approx(2e-4, rel=0.15) and beta == pytest.approx(1 / 1.5e9, rel=0.15)
    with pytest.raises(ValueError, match="at least 2 workers"):
        big_data.fit_alpha_beta(sizes, exact, 1)
    with pytest.raises(ValueError, match="two different message sizes"):
        big_data.fit_alpha_beta(np.full(3, 1024.0), exact[:3], workers)
    with pytest.raises(ValueError, match="same number of examples, got 9 and 8"):
        big_data.fit_alpha_beta(sizes, exact[:-1], workers)


# --- PyTorch: checkpoints that survive a crash ----------------------------------------------------


@pytest.mark.torch
def test_a_damaged_checkpoint_is_detected_and_the_previous_one_used(tmp_path, capsys) -> None:
    pytest.importorskip("torch")
    import torch

    from dltutor.torch.checkpoint import checkpoint_name, load_latest, save_checkpoint

    assert load_latest(tmp_path) is None
    for step in (3, 6, 9):
        save_checkpoint(
            {"step": step, "w": torch.full((100,), step)}, tmp_path, checkpoint_name(0, step)
        )
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [f"checkpoint-e0000-s000000{s}.pt{x}" for s in (6, 9) for x in ("", ".sha256")]
    newest = tmp_path / checkpoint_name(0, 9)
    whole = newest.read_bytes()
    newest.write_bytes(whole[: len(whole) // 2])  # cut short on disk
    state, path = load_latest(tmp_path)
    assert state["step"] == 6 and path.name == checkpoint_name(0, 6)
    assert "checkpoint-e0000-s0000009.pt has" in capsys.readouterr().err
    newest.write_bytes(whole[:-1] + bytes([whole[-1] ^ 1]))  # one bit flipped, length intact
    assert load_latest(tmp_path)[0]["step"] == 6
    assert "does not match its SHA-256" in capsys.readouterr().err
    newest.write_bytes(whole)
    newest.with_name(newest.name + ".sha256").unlink()  # killed before its digest was written
    assert load_latest(tmp_path)[0]["step"] == 6
    assert "its save did not finish" in capsys.readouterr().err
