"""The training worker a cluster runs: ``torchrun`` starts one per process, on one machine or many.

``python -m torch.distributed.run --standalone --nproc-per-node 4 -m dltutor.torch.cluster_worker
--data SHARDS --out RESULT`` trains a small classifier on Parquet shards streamed through
:class:`~dltutor.torch.big_data.ParquetStream`; on N machines only the launch changes
(``--nnodes N --node-rank I --rdzv-backend c10d --rdzv-endpoint HOST:PORT --rdzv-id JOB``,
:func:`dltutor.torch.big_data.torchrun_command`). Without torchrun, ``python -m
dltutor.torch.cluster_worker ...`` runs the same code as a job of one process. ``--out`` must
be storage that every node sees (a shared file system): rank 0 writes the result and the
checkpoints there, and every rank reads the checkpoint it resumes from.

What makes it safe to launch anywhere:

- **Backend and device from the environment**: nccl and ``cuda:LOCAL_RANK`` when PyTorch
  sees GPUs, gloo and the CPU otherwise (:func:`backend_and_device`).
- **Every rank takes the same number of steps**, whatever the file and row counts. Files are
  whole units of reading, so readers get unequal numbers of rows (8 files for 3 ranks: 3, 3
  and 2), and a rank that runs out early while the others wait in an all-reduce hangs the
  job. Each epoch is *planned* from the Parquet footers before a row is read: every rank
  computes its batch sizes (:meth:`ParquetStream.batch_sizes`), the ranks exchange them (an
  ``all_reduce`` of the longest count, then an ``all_gather`` of the sizes), and all take the
  longest rank's number of steps; a rank whose data ran out takes part with an empty batch.
  We chose this over PyTorch's ``Join`` context, which shadows a finished rank's all-reduces
  with zeros: ``Join`` skips the finished ranks' optimiser steps, so their momentum goes
  stale and the replicas drift apart (3 ranks with 5, 4 and 2 batches, momentum 0.9: exact
  after one epoch, 5e-3 off after two); a plan costs two small collectives per epoch and
  keeps every rank stepping the same optimiser.
- **The global batch's mean loss, exactly**: DDP averages the ranks' gradients, so with
  unequal batches a plain per-rank mean would overweight the small ones (and an empty batch's
  mean is NaN). Each rank's loss is instead ``world_size * (sum of its rows' losses) /
  global_rows``, the global row count known from the plan: the averaged gradient is then the
  gradient of the mean loss over the global batch — all ranks' rows together — which is what
  :func:`train_reference` computes in one process. Every row is used once per epoch.
- **Gradient accumulation** over ``accumulate`` micro-batches under ``model.no_sync()`` (no
  all-reduce until the last), equal to one step on the larger batch.
- **Dropout seeded by rank**: each rank draws its own masks from ``(seed, rank)``.
- **Checkpoints** (:mod:`dltutor.torch.checkpoint`): every ``checkpoint_every`` steps rank 0
  saves the model, the optimiser, the scheduler, the epoch and step (from which, with the
  epoch's plan, each rank's position in its stream follows), each rank's random states and
  tally of the epoch, atomically; on a (re)start every rank resumes from the newest whole
  checkpoint and ends exactly as an uninterrupted run would. (The same number of processes:
  another world size would cut the epoch differently, and is refused.)
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import math
import os
import random
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from dltutor.checks import check_non_negative_int, check_number, check_positive_int, check_seed
from dltutor.torch.big_data import ParquetStream
from dltutor.torch.checkpoint import checkpoint_name, load_checkpoint, load_latest, save_checkpoint

FEATURES = 8  # the shards' feature columns x0 ... x7 (dltutor.data.write_shards)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """What to train, and how; every field is also a command-line flag (``batch_rows``: ``--batch-rows``)."""

    data: tuple[str, ...]  # Parquet files (paths or URIs), or one folder of them
    epochs: int = 2
    batch_rows: int = 32  # rows per rank per micro-batch; the global batch is up to world x this
    accumulate: int = 1  # micro-batches per optimiser step (all-reduce on the last only)
    loader_workers: int = 0  # DataLoader processes per rank; 0 decodes in the training process
    buffer_rows: int = 0  # shuffle buffer per reader (0: file order)
    hidden: int = 32  # units of the one hidden layer
    dropout: float = 0.1  # after the hidden layer; masks drawn per rank
    lr: float = 0.05  # after warm-up
    momentum: float = 0.9  # SGD momentum: what Join gets wrong for finished ranks
    warmup_steps: int = 5  # linear warm-up of the learning rate, from lr / 10
    seed: int = 0  # weights, file order, shuffles and dropout all follow from it
    checkpoint_every: int = 0  # optimiser steps between checkpoints (0: no checkpoints)
    keep_checkpoints: int = 2  # newest checkpoints kept on disk (2: one to fall back to)
    pause: float = 0.0  # seconds to sleep after each step: to watch a job, or kill it mid-epoch
    timeout: float = 600.0  # seconds a collective may wait for the other ranks before failing

    def __post_init__(self) -> None:
        if isinstance(self.data, str) or not self.data:
            raise ValueError(
                f"data must be a tuple of Parquet files or one folder, got {self.data!r}"
            )
        check_positive_int(self.batch_rows, "batch_rows")
        check_positive_int(self.accumulate, "accumulate")
        check_positive_int(self.hidden, "hidden")
        check_positive_int(self.keep_checkpoints, "keep_checkpoints")
        for name in ("epochs", "loader_workers", "buffer_rows", "warmup_steps", "checkpoint_every"):
            check_non_negative_int(getattr(self, name), name)
        check_seed(self.seed)
        check_number(self.lr, "lr", positive=True)
        check_number(self.timeout, "timeout", positive=True)
        for name, low, high in (("dropout", 0, 1), ("momentum", 0, 1), ("pause", 0, math.inf)):
            if not low <= check_number(getattr(self, name), name) < high:
                raise ValueError(f"{name} must lie in [{low}, {high}), got {getattr(self, name)}")

    def to_arguments(self) -> list[str]:
        """The command-line flags that give this configuration."""
        arguments = ["--data", *self.data]
        for field in dataclasses.fields(self)[1:]:
            arguments += [f"--{field.name.replace('_', '-')}", str(getattr(self, field.name))]
        return arguments

    def files(self) -> list[str]:
        """The Parquet files: ``data`` itself, or the shards in the one folder it names."""
        from dltutor.data.shards import list_shards

        if len(self.data) == 1 and not self.data[0].endswith(".parquet"):
            return [os.fspath(path) for path in list_shards(self.data[0])]
        return list(self.data)


def parse_arguments(argv: Sequence[str] | None = None) -> tuple[TrainConfig, Path]:
    """The configuration and the output folder from the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", required=True, help="Parquet files or one folder")
    parser.add_argument("--out", required=True, help="folder for the result and checkpoints")
    for field in dataclasses.fields(TrainConfig)[1:]:
        default = field.default
        parser.add_argument(
            f"--{field.name.replace('_', '-')}", type=type(default), default=default
        )
    arguments = vars(parser.parse_args(argv))
    out = Path(arguments.pop("out"))
    return TrainConfig(data=tuple(arguments.pop("data")), **arguments), out


def backend_and_device() -> tuple[str, torch.device]:
    """nccl and ``cuda:LOCAL_RANK`` when PyTorch sees a GPU, else gloo and the CPU.

    ``LOCAL_RANK`` (set by torchrun) is the process's number on its own machine: with one
    process per GPU, it picks the GPU. ``DLTUTOR_DEVICE=cpu`` keeps a GPU machine on gloo.
    """
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    wanted = os.environ.get("DLTUTOR_DEVICE", "")
    if torch.cuda.is_available() and not wanted.startswith("cpu"):
        visible = torch.cuda.device_count()
        if local_rank >= visible:
            raise ValueError(
                f"LOCAL_RANK {local_rank} needs at least {local_rank + 1} visible GPUs, "
                f"found {visible}: start at most {visible} processes per node"
            )
        return "nccl", torch.device("cuda", local_rank)
    return "gloo", torch.device("cpu")


def start_process_group(timeout: float) -> torch.device:
    """Join the job's process group; return this process's device.

    Under torchrun the environment (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``, ...) says where
    to meet; without it, the process is a job of one.
    """
    backend, device = backend_and_device()
    if device.type == "cuda":
        torch.cuda.set_device(device)
    limit = datetime.timedelta(seconds=timeout)
    if "RANK" in os.environ:
        torch.distributed.init_process_group(backend, timeout=limit)
    else:
        store = torch.distributed.HashStore()
        torch.distributed.init_process_group(
            backend, store=store, rank=0, world_size=1, timeout=limit
        )
    return device


def make_model(config: TrainConfig) -> nn.Module:
    """8 → hidden → 2 with tanh and dropout, float64; the same initial weights in every process."""
    torch.manual_seed(config.seed)
    return nn.Sequential(
        nn.Linear(FEATURES, config.hidden),
        nn.Tanh(),
        nn.Dropout(config.dropout),
        nn.Linear(config.hidden, 2),
    ).double()


def make_optimizer(
    model: nn.Module, config: TrainConfig
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """SGD with momentum, its learning rate warmed up linearly over the first steps."""
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum)
    scheduler = torch.optim.lr_scheduler.LinearLR(
        optimizer, start_factor=0.1, total_iters=config.warmup_steps
    )
    return optimizer, scheduler


def dropout_seed(seed: int, rank: int) -> int:
    """The seed of ``rank``'s dropout masks: different for every rank, fixed by ``seed``."""
    return int(np.random.SeedSequence([seed, rank]).generate_state(1)[0])


def make_stream(config: TrainConfig, rank: int, world_size: int) -> ParquetStream:
    return ParquetStream(
        config.files(), config.batch_rows, config.buffer_rows, config.seed, rank, world_size
    )


def empty_tally() -> dict[str, Any]:
    """What one rank counts in one epoch: steps, batches, rows, a checksum of row numbers, loss."""
    return dict(steps=0, batches=0, empty=0, rows=0, row_sum=0, row_square_sum=0, loss_sum=0.0)


def count(tally: dict[str, Any], rows: torch.Tensor, loss_sum: float) -> None:
    """Add one micro-batch to ``tally``: rows seen, their numbers' sum and sum of squares."""
    numbers = rows.to(torch.int64)
    tally["batches" if len(numbers) else "empty"] += 1
    tally["rows"] += len(numbers)
    tally["row_sum"] += int(numbers.sum())
    tally["row_square_sum"] += int((numbers * numbers).sum())
    tally["loss_sum"] += loss_sum


def epoch_record(tallies: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One epoch's report from every rank's tally: per-rank counts, the row checksum, the mean loss."""
    rows = sum(t["rows"] for t in tallies)
    return {
        "steps": [t["steps"] for t in tallies],
        "batches": [t["batches"] for t in tallies],
        "empty": [t["empty"] for t in tallies],
        "rows": [t["rows"] for t in tallies],
        "checksum": [
            rows,
            sum(t["row_sum"] for t in tallies),
            sum(t["row_square_sum"] for t in tallies),
        ],
        "loss": sum(t["loss_sum"] for t in tallies) / rows,
    }


def plan_epoch(stream: ParquetStream, config: TrainConfig, device: torch.device) -> np.ndarray:
    """Every rank's batch sizes this epoch, ``(world, micro-batches)``, zero where a rank has run out.

    Each rank reads its own files' footers; two collectives share the result: the longest
    count (``all_reduce`` MAX), then the padded size lists (``all_gather``). The micro-batch
    count is rounded up to whole optimiser steps.
    """
    sizes = stream.batch_sizes(config.loader_workers)
    longest = torch.tensor([len(sizes)], device=device)
    torch.distributed.all_reduce(longest, op=torch.distributed.ReduceOp.MAX)
    micro = math.ceil(int(longest) / config.accumulate) * config.accumulate
    mine = torch.zeros(micro, dtype=torch.int64, device=device)
    mine[: len(sizes)] = torch.tensor(sizes, dtype=torch.int64)
    every = [torch.empty_like(mine) for _ in range(torch.distributed.get_world_size())]
    torch.distributed.all_gather(every, mine)
    return torch.stack(every).cpu().numpy()


def micro_batch_loss(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, global_rows: int
) -> torch.Tensor:
    """This micro-batch's share of the global batch's mean loss: (sum of its losses) / global rows.

    An empty micro-batch gives 0 (and gradient 0), not the NaN of an empty mean.
    """
    return nn.functional.cross_entropy(model(x), y, reduction="sum") / global_rows


def random_states(device: torch.device) -> dict[str, Any]:
    """Every random generator this process could draw from, in a form ``torch.load`` accepts."""
    legacy = np.random.get_state()  # NumPy's global generator, for code that still uses it
    assert isinstance(legacy, tuple)
    kind, keys, position, has_gauss, gauss = legacy
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
        "numpy": [kind, keys.tolist(), position, has_gauss, gauss],
        "python": random.getstate(),
    }


def set_random_states(states: dict[str, Any], device: torch.device) -> None:
    torch.set_rng_state(states["torch"])
    if states["cuda"] is not None and device.type == "cuda":
        torch.cuda.set_rng_state(states["cuda"], device)
    kind, keys, position, has_gauss, gauss = states["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), position, has_gauss, gauss))
    version, internal, gauss_next = states["python"]
    random.setstate((version, tuple(internal), gauss_next))


def next_batch(
    batches: Iterator[tuple[torch.Tensor, ...]], expected: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The next batch from the loader, of the planned size; an empty one once this rank has run out."""
    if expected == 0:
        return (
            torch.empty(0, FEATURES, dtype=torch.float64, device=device),
            torch.empty(0, dtype=torch.int64, device=device),
            torch.empty(0, dtype=torch.int64),
        )
    x, y, rows = next(batches)
    if len(y) != expected:
        raise RuntimeError(
            f"the plan expected a batch of {expected} rows, the loader gave {len(y)}"
        )
    return x.to(device, torch.float64), y.to(device), rows


def resume(
    config: TrainConfig, out: Path, rank: int, world: int
) -> tuple[dict[str, Any] | None, str | None]:
    """The newest whole checkpoint in ``out/checkpoints`` (chosen by rank 0, loaded by all), and its name."""
    chosen: list[str | None] = [None]
    if rank == 0:
        found = load_latest(out / "checkpoints")
        chosen = [None if found is None else str(found[1])]
    torch.distributed.broadcast_object_list(chosen, src=0)
    if chosen[0] is None:
        return None, None
    state = load_checkpoint(chosen[0])
    if state["world_size"] != world:
        raise ValueError(
            f"{chosen[0]} was written by {state['world_size']} processes; this job has {world}: "
            "restart with the same number, or start afresh in another --out"
        )
    saved = TrainConfig(**{**state["config"], "data": tuple(state["config"]["data"])})
    changed = [
        f"{f.name} {getattr(saved, f.name)!r} -> {getattr(config, f.name)!r}"
        for f in dataclasses.fields(TrainConfig)
        if f.name not in ("pause", "timeout", "checkpoint_every", "keep_checkpoints")
        and getattr(saved, f.name) != getattr(config, f.name)
    ]
    if changed:
        raise ValueError(f"{chosen[0]} was trained with other settings: {', '.join(changed)}")
    return state, Path(chosen[0]).name


def train(config: TrainConfig, out: Path) -> None:
    """Train under ``torch.distributed``; rank 0 writes ``out/parameters.npz`` and ``out/report.json``.

    The report gives the world size, each rank's node, the backend and the device; per
    epoch, each rank's optimiser steps, non-empty and empty micro-batches and rows, the
    row-number checksum (count, sum, sum of squares over all ranks) and the mean loss; and each
    start of the job (its torchrun restart count and the checkpoint it resumed from).
    """
    device = start_process_group(config.timeout)
    rank, world = torch.distributed.get_rank(), torch.distributed.get_world_size()
    torch.set_num_threads(1)  # one core per process
    module = make_model(config).to(device)
    model = nn.parallel.DistributedDataParallel(
        module, device_ids=[device.index] if device.type == "cuda" else None
    )
    optimizer, scheduler = make_optimizer(module, config)
    torch.manual_seed(dropout_seed(config.seed, rank))
    stream = make_stream(config, rank, world)
    state, resumed = resume(config, out, rank, world)
    epoch, step, tally, epochs, starts = 0, 0, empty_tally(), [], []
    if state is not None:
        module.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        epoch, step = state["epoch"], state["step"]  # the next step to take
        epochs, starts = state["epochs"], state["starts"]  # the report so far
        tally = state["tallies"][rank]
        set_random_states(state["random"][rank], device)
    restart = int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0"))
    starts = [*starts, {"restart": restart, "resumed_from": resumed}]
    if rank == 0 and resumed:
        print(f"resuming from {resumed}: epoch {epoch}, step {step}", file=sys.stderr)
    while epoch < config.epochs:
        stream.set_epoch(epoch)
        plan = plan_epoch(stream, config, device)
        k = config.accumulate
        steps = plan.shape[1] // k
        stream.set_epoch(epoch, skip_batches=int((plan[rank, : step * k] > 0).sum()))
        loader = torch.utils.data.DataLoader(
            stream,
            batch_size=None,
            num_workers=config.loader_workers,
            generator=torch.Generator().manual_seed(config.seed),  # not the dropout stream
        )
        batches = iter(loader)
        model.train()
        while step < steps:
            global_rows = int(plan[:, step * k : (step + 1) * k].sum())
            optimizer.zero_grad(set_to_none=True)
            for micro in range(k):
                x, y, rows = next_batch(batches, int(plan[rank, step * k + micro]), device)
                synchronise = micro == k - 1  # all-reduce after the last micro-batch only
                with nullcontext() if synchronise else model.no_sync():
                    loss = micro_batch_loss(model, x, y, global_rows)
                    (world * loss).backward()  # DDP divides the summed gradients by world
                count(tally, rows, float(loss.detach()) * global_rows)
            optimizer.step()
            scheduler.step()
            step += 1
            tally["steps"] += 1
            if not math.isfinite(tally["loss_sum"]):
                raise FloatingPointError(
                    f"rank {rank}: loss not finite at epoch {epoch}, step {step}"
                )
            if config.checkpoint_every and step % config.checkpoint_every == 0:
                save(config, out, module, optimizer, scheduler, epoch, step, tally, epochs, starts)
            time.sleep(config.pause)
        if next(batches, None) is not None:
            raise RuntimeError(f"rank {rank}'s loader has more batches than the plan")
        tallies: list[Any] = [None] * world
        torch.distributed.all_gather_object(tallies, tally)
        epochs.append(epoch_record(tallies))
        epoch, step, tally = epoch + 1, 0, empty_tally()
    nodes: list[Any] = [None] * world  # which node (torchrun agent) each rank ran on
    torch.distributed.all_gather_object(nodes, int(os.environ.get("GROUP_RANK", "0")))
    if rank == 0:
        parameters = {str(i): p.detach().cpu().numpy() for i, p in enumerate(module.parameters())}
        np.savez(out / "parameters.npz", **parameters)  # type: ignore[arg-type]
        backend = torch.distributed.get_backend()
        report = dict(world_size=world, nodes=nodes, backend=backend, device=str(device))
        report["epochs"] = epochs
        (out / "report.json").write_text(json.dumps({**report, "starts": starts}, indent=1))
    torch.distributed.destroy_process_group()


def save(
    config: TrainConfig,
    out: Path,
    module: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    epoch: int,
    step: int,
    tally: dict[str, Any],
    epochs: list[dict[str, Any]],
    starts: list[dict[str, Any]],
) -> None:
    """Rank 0 saves the whole training state; the ranks first send it their own parts.

    Each rank's own: its random states (its dropout masks) and its tally of the epoch so far.
    Its stream position needs no saving: it follows from the step and the epoch's plan.
    """
    device = next(module.parameters()).device
    mine = {"random": random_states(device), "tally": dict(tally)}
    rank, world = torch.distributed.get_rank(), torch.distributed.get_world_size()
    every: list[Any] = [None] * world
    torch.distributed.gather_object(mine, every if rank == 0 else None, dst=0)
    if rank != 0:
        return
    state = {
        "model": module.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "epoch": epoch,
        "step": step,
        "random": [part["random"] for part in every],
        "tallies": [part["tally"] for part in every],
        "epochs": epochs,
        "starts": starts,
        "world_size": world,
        "config": dataclasses.asdict(config),
    }
    name = checkpoint_name(epoch, step)
    save_checkpoint(state, out / "checkpoints", name, keep=config.keep_checkpoints)


def train_reference(
    config: TrainConfig, world_size: int
) -> tuple[list[np.ndarray], list[dict[str, Any]]]:
    """One process, no ``torch.distributed``: what a job of ``world_size`` ranks must compute.

    Each step takes every rank's micro-batches of that step (read by ``world_size`` streams
    in this process), forms the mean loss over all their rows — the global batch — and takes
    one optimiser step on its gradient. Dropout masks are drawn from each rank's own
    generator, as the ranks draw them. Returns the final parameters and the per-epoch report.
    """
    model = make_model(config)
    optimizer, scheduler = make_optimizer(model, config)
    generators = []
    for rank in range(world_size):
        torch.manual_seed(dropout_seed(config.seed, rank))
        generators.append(torch.get_rng_state())
    streams = [make_stream(config, rank, world_size) for rank in range(world_size)]
    k, epochs = config.accumulate, []
    model.train()
    for epoch in range(config.epochs):
        sizes = []
        for stream in streams:
            stream.set_epoch(epoch)
            sizes.append(stream.batch_sizes(config.loader_workers))
        steps = math.ceil(max(len(s) for s in sizes) / k)
        batches = [stream.rank_batches(config.loader_workers) for stream in streams]
        tallies = [empty_tally() for _ in streams]
        for step in range(steps):
            parts = [
                [s[i] if i < len(s) else 0 for i in range(step * k, (step + 1) * k)] for s in sizes
            ]
            global_rows = sum(map(sum, parts))
            optimizer.zero_grad()
            total = torch.zeros((), dtype=torch.float64)
            for rank in range(world_size):
                torch.set_rng_state(generators[rank])  # this rank's dropout masks
                for expected in parts[rank]:
                    x, y, rows = next_batch(batches[rank], expected, torch.device("cpu"))
                    loss = micro_batch_loss(model, x, y, global_rows)
                    count(tallies[rank], rows, float(loss.detach()) * global_rows)
                    total = total + loss
                generators[rank] = torch.get_rng_state()
                tallies[rank]["steps"] += 1
            total.backward()
            optimizer.step()
            scheduler.step()
        epochs.append(epoch_record(tallies))
    return [p.detach().numpy().copy() for p in model.parameters()], epochs


def read_result(out: str | Path) -> tuple[list[np.ndarray], dict[str, Any]]:
    """The parameters and the report a job wrote to ``out``."""
    out = Path(out)
    saved = np.load(out / "parameters.npz")
    parameters = [saved[str(index)] for index in range(len(saved.files))]
    return parameters, json.loads((out / "report.json").read_text())


def main(argv: Sequence[str] | None = None) -> None:
    config, out = parse_arguments(argv)
    out.mkdir(parents=True, exist_ok=True)
    train(config, out)


if __name__ == "__main__":
    main()
