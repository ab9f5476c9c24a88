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
        sizes = []
        for x, label, row in DataLoader(stream, batch_size=None, num_workers=2):
            assert x.shape == (len(row), 8) and label.shape == row.shape
            sizes.append(len(row))
            seen += row.tolist()
        assert sizes == stream.batch_sizes(workers=2)  # as planned from the footers
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


# --- PyTorch: the cluster worker trains from the shards, on 1 to 4 processes ----------------------

UNEVEN_ROWS = (50, 173, 9, 301, 120, 88, 259)  # 7 files, 1,000 rows: no world size divides them
JOB_SECONDS = 240  # wall-clock limit of one launch: a hang fails the test instead of stalling it


@pytest.fixture(scope="module")
def uneven_shards(tmp_path_factory) -> Path:
    """Seven shards of unequal sizes, rows 0 ... 999, row groups of 64 rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path_factory.mktemp("uneven")
    x, labels, rows = data.read_all(data.write_shards(folder / "whole", rows=1000, shards=1))
    bounds = np.cumsum([0, *UNEVEN_ROWS])
    for index, (start, stop) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
        columns = {f"x{i}": x[start:stop, i] for i in range(8)}
        columns |= {"label": labels[start:stop], "row": rows[start:stop]}
        path = folder / "shards" / f"part-{index:05d}.parquet"
        path.parent.mkdir(exist_ok=True)
        pq.write_table(pa.table(columns), path, row_group_size=64)
    return folder / "shards"


def assert_every_row_once_in_step(report: dict, reference: list[dict], accumulate: int) -> None:
    """Every epoch: equal step counts on every rank, the planned batches, each row exactly once."""
    checksum = [1000, sum(range(1000)), sum(r * r for r in range(1000))]
    assert len(report["epochs"]) == len(reference)
    for ours, theirs in zip(report["epochs"], reference, strict=True):
        steps = ours["steps"][0]
        assert ours["steps"] == [steps] * report["world_size"]  # no rank waits for another
        assert [b + e for b, e in zip(ours["batches"], ours["empty"], strict=True)] == [
            steps * accumulate
        ] * report["world_size"]
        assert ours["checksum"] == checksum and sum(ours["rows"]) == 1000  # every row, once
        assert (ours["batches"], ours["empty"]) == (theirs["batches"], theirs["empty"])
        assert np.isfinite(ours["loss"])


def largest_gap(ours: list[np.ndarray], theirs: list[np.ndarray]) -> float:
    return max(float(np.abs(a - b).max()) for a, b in zip(ours, theirs, strict=True))


@pytest.mark.torch
def test_parquet_stream_plans_and_resumes_an_epoch(uneven_shards) -> None:
    pytest.importorskip("torch")
    import torch
    from torch.utils.data import DataLoader

    from dltutor.torch.big_data import ParquetStream, loader_order

    assert loader_order([3, 1, 2]) == [0, 1, 2, 0, 2, 0]  # round robin, skipping the finished
    files = [str(path) for path in data.list_shards(uneven_shards)]
    seen = []
    for rank in range(3):  # 7 files for 3 ranks: 3, 2 and 2 files, unequal rows
        for buffer_rows in (0, 40):
            stream = ParquetStream(files, 16, buffer_rows, seed=0, rank=rank, world_size=3)
            stream.set_epoch(1)
            batches = list(stream.rank_batches())
            assert [len(b[2]) for b in batches] == stream.batch_sizes()  # the plan, from footers
            assert all(len(b[2]) == 16 for b in batches[:-1])  # batches cross file edges
            for skip in (1, 5, len(batches)):  # resume: the rest of the uninterrupted epoch
                stream.set_epoch(1, skip_batches=skip)
                rest = list(stream.rank_batches())
                assert len(rest) == len(batches) - skip
                assert all(torch.equal(a[2], b[2]) for a, b in zip(rest, batches[skip:]))
            if buffer_rows:
                seen += [row for batch in batches for row in batch[2].tolist()]
    assert sorted(seen) == list(range(1000))
    # Two loader workers: the real DataLoader, whole and resumed after 5 batches (the
    # resumed loader starts at worker 0, so the streams rotate to match the old order).
    stream = ParquetStream(files, 16, 40, seed=0, rank=1, world_size=3)
    stream.set_epoch(1)
    whole = list(DataLoader(stream, batch_size=None, num_workers=2))
    assert [len(b[2]) for b in whole] == stream.batch_sizes(workers=2)
    assert all(torch.equal(a[2], b[2]) for a, b in zip(whole, stream.rank_batches(workers=2)))
    stream.set_epoch(1, skip_batches=5)
    rest = list(DataLoader(stream, batch_size=None, num_workers=2))
    assert len(rest) == len(whole) - 5
    assert all(torch.equal(a[2], b[2]) for a, b in zip(rest, whole[5:]))
    with pytest.raises(ValueError, match="cannot skip 99 batches of an epoch that has"):
        stream.set_epoch(1, skip_batches=99)
        next(iter(stream))


@pytest.mark.torch
def test_parquet_stream_keeps_up_with_its_reader(tmp_path) -> None:
    pytest.importorskip("torch")
    import time

    from torch.utils.data import DataLoader

    from dltutor.torch.big_data import ParquetStream

    files = data.write_shards(tmp_path, rows=100_000, shards=4, seed=0)
    stream = ParquetStream(files, batch_rows=1024)

    def seconds(batches) -> float:  # of this process's CPU: other jobs on the machine don't count
        start = time.process_time()
        assert sum(len(batch[1]) for batch in batches) == 100_000
        return time.process_time() - start

    reader, ours = [], []
    for _ in range(7):  # interleaved, the best of each
        reader.append(seconds(data.stream_batches(files, batch_rows=1024)))
        ours.append(seconds(DataLoader(stream, batch_size=None)))
    # measured 1.2-1.5x (5-6 M against 7-8 M rows/s); one row at a time it was 40-70x
    assert min(ours) < 2 * min(reader)


def run_worker(config, out: Path) -> tuple[list[np.ndarray], dict]:
    """The cluster worker as one plain process, no torchrun: a job of one."""
    import sys

    from dltutor.torch.big_data import start_job
    from dltutor.torch.cluster_worker import read_result

    out.mkdir(parents=True)
    command = [sys.executable, "-m", "dltutor.torch.cluster_worker", *config.to_arguments()]
    start_job([*command, "--out", str(out)], out / "worker.log").wait(JOB_SECONDS)
    return read_result(out)


@pytest.mark.torch
def test_one_process_without_torchrun_is_the_reference(uneven_shards, tmp_path) -> None:
    pytest.importorskip("torch")
    from dltutor.torch.cluster_worker import TrainConfig, parse_arguments, train_reference

    config = TrainConfig(
        data=(str(uneven_shards),), batch_rows=16, loader_workers=2, buffer_rows=40, timeout=60
    )
    assert parse_arguments([*config.to_arguments(), "--out", "x"]) == (config, Path("x"))
    parameters, report = run_worker(config, tmp_path / "one")
    expected, epochs = train_reference(config, world_size=1)
    assert (report["world_size"], report["backend"]) == (1, "gloo")
    assert_every_row_once_in_step(report, epochs, accumulate=1)
    assert largest_gap(parameters, expected) < 1e-12  # measured 0 to 2.8e-16


@pytest.mark.torch
def test_accumulation_under_no_sync_is_the_larger_batch(uneven_shards, tmp_path) -> None:
    pytest.importorskip("torch")
    import dataclasses

    from dltutor.torch.big_data import run_training
    from dltutor.torch.cluster_worker import TrainConfig, train_reference

    # two ranks, micro-batches of 16 rows, an all-reduce every second one (dropout off: its
    # masks depend on how a batch is split)
    config = TrainConfig(
        data=(str(uneven_shards),), batch_rows=16, accumulate=2, dropout=0.0, timeout=60
    )
    parameters, report = run_training(config, tmp_path, processes=2, timeout=JOB_SECONDS)
    larger = dataclasses.replace(config, batch_rows=32, accumulate=1)
    expected, epochs = train_reference(larger, world_size=2)
    assert_every_row_once_in_step(report, train_reference(config, world_size=2)[1], accumulate=2)
    assert [e["steps"] for e in report["epochs"]] == [e["steps"] for e in epochs]
    assert largest_gap(parameters, expected) < 1e-12  # measured 1.1e-16 to 1.7e-16


def worker_pids(parent: int) -> dict[int, int]:
    """The process ids of torchrun's workers, by rank: its children, with RANK in their environment."""
    found = {}
    for status in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = status.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) != parent:  # the parent's pid follows the state
                continue
            environment = (status.parent / "environ").read_bytes().split(b"\0")
        except (OSError, IndexError):  # a process that ended meanwhile
            continue
        for entry in environment:
            if entry.startswith(b"RANK="):
                found[int(entry[5:])] = int(status.parent.name)
    return found


@pytest.mark.torch
def test_a_killed_worker_restarts_and_resumes_exactly(uneven_shards, tmp_path) -> None:
    pytest.importorskip("torch")
    import os
    import signal
    import time

    from dltutor.torch.big_data import start_job, torchrun_command
    from dltutor.torch.cluster_worker import TrainConfig, read_result, train_reference

    # three ranks with two loader workers each, a shuffle buffer, dropout and momentum; a
    # checkpoint every 3 steps; a pause per step leaves the test time to strike mid-epoch
    config = TrainConfig(
        data=(str(uneven_shards),),
        batch_rows=32,
        loader_workers=2,
        buffer_rows=40,
        checkpoint_every=3,
        pause=0.05,
        timeout=60,
    )
    out = tmp_path / "job"
    arguments = [*config.to_arguments(), "--out", str(out)]
    command = torchrun_command("dltutor.torch.cluster_worker", arguments, 3, max_restarts=1)
    job = start_job(command, tmp_path / "torchrun.log")
    try:
        marker = out / "checkpoints" / "checkpoint-e0000-s0000003.pt.sha256"
        deadline = time.monotonic() + JOB_SECONDS
        while not marker.exists():  # the first checkpoint is on disk: training is mid-epoch
            assert job.process.poll() is None, job.tail()
            assert time.monotonic() < deadline, job.tail()
            time.sleep(0.01)
        os.kill(worker_pids(job.process.pid)[1], signal.SIGKILL)  # rank 1 dies
        log = job.wait(JOB_SECONDS)
    finally:
        if job.process.poll() is None:
            job.kill()
    parameters, report = read_result(out)
    expected, epochs = train_reference(config, world_size=3)
    assert "failed (exitcode: -9)" in log and "resuming from checkpoint-e0000-s" in log
    first, second = report["starts"]  # the job started twice: killed, restarted
    assert first == {"restart": 0, "resumed_from": None} and second["restart"] == 1
    assert second["resumed_from"] >= "checkpoint-e0000-s0000003.pt"
    assert_every_row_once_in_step(report, epochs, accumulate=1)
    assert any(sum(e["empty"]) for e in report["epochs"])  # a rank ran out and kept stepping
    assert largest_gap(parameters, expected) < 1e-12  # measured 1.7e-16 to 2.2e-16


@pytest.mark.torch
def test_two_nodes_on_one_host_are_the_reference(uneven_shards, tmp_path) -> None:
    pytest.importorskip("torch")
    from dltutor.torch.big_data import run_training
    from dltutor.torch.cluster_worker import TrainConfig, train_reference

    # two torchrun commands, --nnodes 2 --node-rank 0/1 --rdzv-endpoint 127.0.0.1:PORT (c10d),
    # with two processes each: world size 4, as two machines would run it
    config = TrainConfig(data=(str(uneven_shards),), batch_rows=16, buffer_rows=30, timeout=60)
    parameters, report = run_training(config, tmp_path, processes=2, nodes=2, timeout=JOB_SECONDS)
    expected, epochs = train_reference(config, world_size=4)
    assert report["world_size"] == 4 and sorted(report["nodes"]) == [0, 0, 1, 1]
    assert_every_row_once_in_step(report, epochs, accumulate=1)
    assert largest_gap(parameters, expected) < 1e-12  # measured 1.1e-16 to 1.3e-16


@pytest.mark.torch
def test_cluster_worker_bad_input(tmp_path) -> None:
    pytest.importorskip("torch")
    import sys

    from dltutor.torch.big_data import ParquetStream, start_job, torchrun_command
    from dltutor.torch.cluster_worker import TrainConfig

    with pytest.raises(ValueError, match="accumulate must be a positive integer, got 0"):
        TrainConfig(data=("shards",), accumulate=0)
    with pytest.raises(ValueError, match=r"dropout must lie in \[0, 1\), got 1.5"):
        TrainConfig(data=("shards",), dropout=1.5)
    with pytest.raises(ValueError, match="data must be a tuple of Parquet files"):
        TrainConfig(data="shards")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="files must name at least one Parquet shard"):
        ParquetStream([])
    sleeper = start_job([sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "log")
    with pytest.raises(TimeoutError, match="ran past 1 s; killed"):  # a hang ends the job
        sleeper.wait(1)
    assert sleeper.process.returncode == -9
    with pytest.raises(ValueError, match="2 nodes need an endpoint HOST:PORT"):
        torchrun_command("m", nodes=2)
    command = torchrun_command("m", ["--x"], 2, nodes=2, node_rank=1, endpoint="10.0.0.1:29500")
    assert command[3:] == [
        "--nnodes", "2", "--node-rank", "1",
        "--rdzv-backend", "c10d", "--rdzv-endpoint", "10.0.0.1:29500", "--rdzv-id", "dltutor",
        "--nproc-per-node", "2", "--max-restarts", "0", "-m", "m", "--x",
    ]  # fmt: skip


# --- Keras: MultiWorkerMirroredStrategy over two processes, each reading its own shards ----------


@pytest.fixture(scope="module")
def seven_shards(tmp_path_factory) -> list[Path]:
    """7 files for 2 workers: one reads 4 files, the other 3 — unequal rows, as real shards are."""
    return data.write_shards(tmp_path_factory.mktemp("seven"), rows=1000, shards=7, seed=0)


@pytest.mark.keras
def test_workers_agree_on_their_steps_from_the_footers(seven_shards) -> None:
    pytest.importorskip("tensorflow")
    import json

    import tensorflow as tf

    from dltutor.keras.big_data import agreed_steps, parquet_dataset, tf_config

    for epoch in range(3):
        read = [  # rows each worker's pipeline really gives
            sum(
                len(row) for _, _, row in parquet_dataset(seven_shards, 32, epoch, index=i, count=2)
            )
            for i in range(2)
        ]
        assert read[0] != read[1] and sum(read) == 1000
        assert agreed_steps(seven_shards, 32, epoch, count=2) == min(read) // 32
    dataset = parquet_dataset(seven_shards, 32)
    policy = dataset.options().experimental_distribute.auto_shard_policy
    assert policy == tf.data.experimental.AutoShardPolicy.OFF  # the files are already split
    with pytest.raises(ValueError, match="at least that many rows per worker, got 4"):
        agreed_steps(seven_shards, 500, count=2)
    config = json.loads(tf_config(["127.0.0.1:2001", "127.0.0.1:2002"], 1))
    assert config == {
        "cluster": {"worker": ["127.0.0.1:2001", "127.0.0.1:2002"]},
        "task": {"type": "worker", "index": 1},
    }
    with pytest.raises(ValueError, match="need 0 <= index < 2 workers, got 2"):
        tf_config(["127.0.0.1:2001", "127.0.0.1:2002"], 2)


@pytest.mark.keras
def test_multi_worker_strategy_on_two_processes_is_one_process(seven_shards) -> None:
    pytest.importorskip("tensorflow")
    from dltutor.keras.big_data import agreed_steps, run_multi_worker
    from dltutor.keras.multi_worker import initial_weights, train

    workers = run_multi_worker(seven_shards[0].parent, workers=2, epochs=2, batch=64, timeout=240)
    reference, reference_rows = train(seven_shards, None, workers=2, epochs=2, batch=64)
    for weights, _ in workers:
        gap = max(np.abs(a - b).max() for a, b in zip(weights, reference, strict=True))
        assert gap < 1e-12  # measured 1.1e-16: float64 summation order only
    for a, b in zip(workers[0][0], workers[1][0], strict=True):
        np.testing.assert_array_equal(a, b)  # every worker holds the same model
    assert max(np.abs(a - b).max() for a, b in zip(reference, initial_weights(0))) > 0.1
    # each step, worker 0 read the first half of the reference's batch and worker 1 the second
    steps = sum(agreed_steps(seven_shards, 32, epoch, count=2) for epoch in range(2))
    halves = reference_rows.reshape(steps, 2, 32)
    for index, (_, rows) in enumerate(workers):
        np.testing.assert_array_equal(rows.reshape(steps, 32), halves[:, index])
    first_epoch = halves[: agreed_steps(seven_shards, 32, 0, count=2)].ravel()
    assert len(set(first_epoch.tolist())) == len(first_epoch)  # no row twice in an epoch
