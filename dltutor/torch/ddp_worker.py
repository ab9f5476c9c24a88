"""The data-parallel training worker: run by ``torchrun``, one process per rank.

``python -m torch.distributed.run --standalone --nproc-per-node 2 -m dltutor.torch.ddp_worker
--out result.npz`` trains the same small classifier four ways with
``DistributedDataParallel`` on the gloo backend (CPU) — plainly, with batch normalisation,
with dropout, and with a ``DistributedSampler`` that must pad — and rank 0 saves the final
parameters. :func:`dltutor.torch.big_data.run_data_parallel` launches it and reads the
result; :func:`train_single` is the one-process reference with the doubled batch. (A
worker defined in a notebook cannot be started in new processes: it must live in an
importable module, such as this one.)

This worker demonstrates the equivalence and what breaks it, on in-memory data, on the CPU
(gloo), in float64. The worker to launch on a cluster — backend and device from the
environment, data streamed from Parquet shards, uneven shards, checkpoints and restarts — is
:mod:`dltutor.torch.cluster_worker`.
"""

from __future__ import annotations

import argparse
import datetime
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

VARIANTS = ("plain", "batch norm", "dropout", "padding sampler")
ROWS = 1024  # global batches wrap around its end (1024 % 96 = 64: 3 ranks of 32)
PADDED_ROWS = 1001  # odd: a DistributedSampler over 2 ranks must repeat one example


def make_data(rows: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The same seeded classification data on every rank, float64."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, 8))
    y = (x @ rng.standard_normal(8) > 0).astype(np.int64)
    return torch.from_numpy(x), torch.from_numpy(y)


def make_model(variant: str, seed: int) -> nn.Module:
    """8 → 16 → 2 with tanh; a BatchNorm1d or a Dropout(0.2) after the first layer for those variants."""
    torch.manual_seed(seed)  # the same initial weights in every process
    extra: list[nn.Module] = []
    if variant == "batch norm":
        extra = [nn.BatchNorm1d(16)]
    elif variant == "dropout":
        extra = [nn.Dropout(0.2)]
    return nn.Sequential(nn.Linear(8, 16), *extra, nn.Tanh(), nn.Linear(16, 2)).double()


def batches(
    variant: str, steps: int, batch: int, rank: int, world: int, seed: int
) -> list[torch.Tensor]:
    """The indices each step of ``rank`` uses: its share of one global batch of ``world * batch``."""
    if variant == "padding sampler":  # full-batch steps over a DistributedSampler's share
        from torch.utils.data import DistributedSampler, TensorDataset

        examples = TensorDataset(torch.arange(PADDED_ROWS))
        sampler: DistributedSampler = DistributedSampler(
            examples, num_replicas=world, rank=rank, shuffle=False
        )
        indices = torch.tensor(list(sampler))
        return [indices for _ in range(steps)]
    order = torch.from_numpy(np.random.default_rng([seed, 1]).permutation(ROWS))
    size = world * batch
    found = []
    for step in range(steps):
        # wrap around the end of the data: every global batch is full, whatever the world size
        positions = (step * size + torch.arange(size)) % ROWS
        global_batch = order[positions]
        found.append(global_batch[rank * batch : (rank + 1) * batch])
    return found


def train(
    model: nn.Module, variant: str, steps: int, batch: int, rank: int, world: int, seed: int
) -> list[np.ndarray]:
    """Plain SGD on the mean cross-entropy; returns the final parameters."""
    rows = PADDED_ROWS if variant == "padding sampler" else ROWS
    x, y = make_data(rows, seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    torch.manual_seed(seed + 1)  # the dropout masks' stream, the same seed in every process
    model.train()
    for indices in batches(variant, steps, batch, rank, world, seed):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x[indices]), y[indices]).backward()
        optimizer.step()
    module = model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model
    return [p.detach().numpy().copy() for p in module.parameters()]


def train_single(variant: str, steps: int = 50, batch: int = 64, seed: int = 0) -> list[np.ndarray]:
    """The reference: one process, one model, batches of ``batch`` (the workers' batches together)."""
    return train(make_model(variant, seed), variant, steps, batch, rank=0, world=1, seed=seed)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="where rank 0 saves the parameters (.npz)")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--batch", type=int, default=32, help="examples per rank per step")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # two processes on two cores
    torch.distributed.init_process_group("gloo", timeout=datetime.timedelta(seconds=60))
    rank, world = torch.distributed.get_rank(), torch.distributed.get_world_size()
    results: dict[str, np.ndarray] = {}
    for variant in VARIANTS:
        model = nn.parallel.DistributedDataParallel(make_model(variant, args.seed))
        parameters = train(model, variant, args.steps, args.batch, rank, world, args.seed)
        results |= {f"{variant}/{index}": value for index, value in enumerate(parameters)}
    if rank == 0:
        np.savez(args.out, **results)  # type: ignore[arg-type]
    torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
