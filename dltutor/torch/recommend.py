"""The two-tower recommender in PyTorch, the twin of :class:`dltutor.scratch.recommend.TwoTower`."""

from __future__ import annotations

import torch
from torch import nn

from dltutor.checks import check_positive_int
from dltutor.scratch.recommend import TwoTowerSpec


class Tower(nn.Module):
    r""":math:`t(\text{id}) = \mathrm{ReLU}(E_{\text{id}} W_1 + b_1) W_2 + b_2`: (N,) ids → (N, D)."""

    def __init__(self, count: int, embedding_dim: int, hidden: int, output_dim: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(check_positive_int(count, "count"), embedding_dim)
        self.hidden = nn.Linear(embedding_dim, hidden)
        self.output = nn.Linear(hidden, output_dim)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.output(torch.relu(self.hidden(self.embedding(ids))))  # (N, D)


class TwoTower(nn.Module):
    r"""Two towers and a dot product, :math:`\hat r_{ui} = \mu + u(u) \cdot v(i)`.

    Input (N, 2) int64 (user, item) pairs, output (N, 1); the same layers in the same
    order as the scratch model, so :func:`dltutor.torch.set_weights` loads its weights.
    """

    def __init__(
        self,
        num_users: int,
        num_items: int,
        embedding_dim: int = 16,
        hidden: int = 32,
        output_dim: int = 16,
        mean: float = 0.0,
    ) -> None:
        super().__init__()
        self.spec = spec = TwoTowerSpec(
            num_users, num_items, embedding_dim, hidden, output_dim, mean
        )
        self.num_users, self.num_items, self.mean = spec.num_users, spec.num_items, spec.mean
        sizes = (spec.embedding_dim, spec.hidden, spec.output_dim)
        self.user_tower = Tower(spec.num_users, *sizes)
        self.item_tower = Tower(spec.num_items, *sizes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 2 or x.shape[1] != 2 or x.dtype != torch.long:
            raise ValueError(
                f"x must be (N, 2) int64 (user, item) pairs, got {x.dtype} {tuple(x.shape)}"
            )
        u = self.user_tower(x[:, 0])  # (N, D)
        v = self.item_tower(x[:, 1])  # (N, D)
        return self.mean + (u * v).sum(dim=1, keepdim=True)  # (N, 1)

    @torch.no_grad()
    def scores(self) -> torch.Tensor:
        """Predicted ratings of every user for every item, (U, I): one matrix product."""
        device = self.user_tower.embedding.weight.device
        u = self.user_tower(torch.arange(self.num_users, device=device))  # (U, D)
        v = self.item_tower(torch.arange(self.num_items, device=device))  # (I, D)
        return self.mean + u @ v.T
