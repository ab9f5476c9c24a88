"""Words as vectors in PyTorch: skip-gram and two text classifiers, twins of :mod:`dltutor.scratch.text`.

The third classifier, Embedding → LSTM → Linear, is :class:`dltutor.torch.RecurrentNet` with
``vocab_size``. Weight layouts (``nn.Embedding``, ``nn.EmbeddingBag``, ``nn.Conv1d``) are in
:mod:`dltutor.torch.layout`.
"""

from __future__ import annotations

import torch
from torch import nn

from dltutor.checks import check_id_sequences, check_ids
from dltutor.specs import SkipGramSpec, TextCNNSpec, TextSpec
from dltutor.torch.build import glorot


class SkipGram(nn.Module):
    """Two ``nn.Embedding`` tables; rows ``[centre, context, noise...]`` in, (N, 1 + K) logits out.

    The twin of :class:`dltutor.scratch.SkipGram`, with the same initialisation (centre
    vectors uniform in ±0.5/D, context vectors zero).
    """

    def __init__(self, vocab_size: int, embed_dim: int) -> None:
        super().__init__()
        self.spec = SkipGramSpec(vocab_size, embed_dim)
        self.centre = nn.Embedding(vocab_size, embed_dim)
        self.context = nn.Embedding(vocab_size, embed_dim)
        nn.init.uniform_(self.centre.weight, -0.5 / embed_dim, 0.5 / embed_dim)
        nn.init.zeros_(self.context.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 2 or x.shape[1] < 2:
            raise ValueError(
                "x must have shape (N, 2 + K): centre, context, noise ids; "
                f"got shape {tuple(x.shape)}"
            )
        check_ids(x, self.spec.vocab_size, "x", "vocab_size")
        u = self.centre(x[:, 0])  # (N, D)
        v = self.context(x[:, 1:])  # (N, 1 + K, D)
        return torch.einsum("nd,njd->nj", u, v)

    @property
    def vectors(self) -> torch.Tensor:
        """The word vectors to use afterwards: the centre table."""
        return self.centre.weight.detach()


class SkipGramSoftmax(SkipGram):
    """Skip-gram with the full softmax: centre ids (N, 1) in, logits over all V words out.

    The twin of :class:`dltutor.scratch.text.SkipGramSoftmax`: :math:`s_w = u_c \\cdot
    v_w` for every word w, scored against the context ids by ``nn.CrossEntropyLoss``.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 2 or x.shape[1] != 1:
            raise ValueError(f"x must have shape (N, 1): centre ids; got shape {tuple(x.shape)}")
        check_ids(x, self.spec.vocab_size, "x", "vocab_size")
        u = self.centre(x[:, 0])  # (N, D)
        return u @ self.context.weight.T  # (N, V)


class SkipGramLoss(nn.Module):
    """Binary cross-entropy of each of the 1 + K logits, summed per row, averaged over rows."""

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        losses = nn.functional.binary_cross_entropy_with_logits(logits, labels, reduction="none")
        return losses.sum(dim=1).mean()


class BagOfEmbeddings(nn.Module):
    """``nn.EmbeddingBag`` (the mean of a sentence's word vectors, padding id 0 left out) → Linear."""

    def __init__(self, vocab_size: int, embed_dim: int, num_classes: int) -> None:
        super().__init__()
        self.spec = TextSpec(vocab_size, embed_dim, num_classes)
        self.bag = nn.EmbeddingBag(vocab_size, embed_dim, mode="mean", padding_idx=0)
        self.head = glorot(nn.Linear(embed_dim, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_id_sequences(x.shape, name="x")
        check_ids(x, self.spec.vocab_size, "x", "vocab_size")
        return self.head(self.bag(x.long()))  # (N, T) ids -> (N, D) -> (N, classes)


class TextCNN(nn.Module):
    """Embedding → ``nn.Conv1d`` → ReLU → max over positions → Linear (Kim, 2014)."""

    def __init__(
        self,
        vocab_size: int,
        embed_dim: int,
        num_classes: int,
        filters: int = 32,
        kernel_size: int = 3,
    ) -> None:
        super().__init__()
        self.spec = TextCNNSpec(vocab_size, embed_dim, num_classes, filters, kernel_size)
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.conv = glorot(nn.Conv1d(embed_dim, filters, kernel_size))
        self.head = glorot(nn.Linear(filters, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_id_sequences(x.shape, name="x")
        if x.shape[1] < self.spec.kernel_size:
            raise ValueError(
                f"x must have shape (N, T) with T at least kernel_size = {self.spec.kernel_size} "
                f"ids, got shape {tuple(x.shape)}"
            )
        check_ids(x, self.spec.vocab_size, "x", "vocab_size")
        vectors = self.embedding(x.long())  # (N, T, D)
        features = torch.relu(self.conv(vectors.transpose(1, 2)))  # conv1d wants (N, D, T)
        return self.head(features.amax(dim=2))  # max over positions: (N, filters)
