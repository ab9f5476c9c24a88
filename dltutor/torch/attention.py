"""The Transformer in PyTorch, the twin of :class:`dltutor.scratch.Transformer`.

Its blocks are ``torch.nn.TransformerEncoderLayer(norm_first=True, batch_first=True,
dropout=0)``: the pre-LN block of the scratch code. The weight mapping (``in_proj_weight``
stacks the query, key and value projections) is in :mod:`dltutor.torch.layout`.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from dltutor.checks import check_id_sequences, check_ids
from dltutor.scratch.attention import causal_mask, sinusoidal_positional_encoding
from dltutor.specs import TransformerSpec


def blocked(may_attend: torch.Tensor) -> torch.Tensor:
    """The book's mask (True = may attend) in the polarity of ``nn.MultiheadAttention`` and
    ``nn.TransformerEncoderLayer`` (True = blocked). ``F.scaled_dot_product_attention`` takes
    the book's polarity as it is. The one place the polarity flips."""
    return ~may_attend.bool()


class Transformer(nn.Module):
    """Embedding → + sinusoidal positions → pre-LN blocks → LayerNorm → Linear, on token ids (N, T).

    The twin of :class:`dltutor.scratch.Transformer`: the same arguments, the same layers in
    the same order. ``causal=True`` masks the future: a decoder-only language model.
    """

    def __init__(
        self,
        vocab_size: int,
        context: int,
        embed_dim: int = 32,
        num_heads: int = 2,
        num_layers: int = 1,
        ff_units: int = 64,
        causal: bool = True,
    ) -> None:
        super().__init__()
        self.spec = spec = TransformerSpec(
            vocab_size, context, embed_dim, num_heads, num_layers, ff_units, causal
        )
        self.embedding = nn.Embedding(spec.vocab_size, spec.embed_dim)
        encoding = torch.as_tensor(sinusoidal_positional_encoding(spec.context, spec.embed_dim))
        self.register_buffer("positions", encoding)  # (T_max, E), float64: exact for .double()
        self.register_buffer("mask", blocked(torch.as_tensor(causal_mask(spec.context))))
        self.blocks = nn.ModuleList(
            nn.TransformerEncoderLayer(
                spec.embed_dim,
                spec.num_heads,
                dim_feedforward=spec.ff_units,
                dropout=0.0,
                batch_first=True,
                norm_first=True,
            )
            for _ in range(spec.num_layers)
        )
        self.norm = nn.LayerNorm(spec.embed_dim)
        self.head = nn.Linear(spec.embed_dim, spec.vocab_size)

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        """Token embeddings plus the sinusoidal encoding of their positions, (N, T, E).

        Ids outside the vocabulary and sequences longer than the context raise ``ValueError``
        (PyTorch itself would speak of an index "out of range in self" or of tensor sizes).
        """
        check_id_sequences(ids.shape, self.spec.context)
        check_ids(ids, self.spec.vocab_size, size_name="vocab_size")
        tokens = self.embedding(ids.long())
        return tokens + self.get_buffer("positions")[: ids.shape[1]].to(tokens.dtype)

    def causal_mask(self, length: int) -> torch.Tensor | None:
        """The blocks' mask in PyTorch's polarity (True = blocked), or None for an encoder."""
        return self.get_buffer("mask")[:length, :length] if self.spec.causal else None

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x, mask = self.embed(ids), self.causal_mask(ids.shape[1])
        for block in self.blocks:
            x = block(x, src_mask=mask, is_causal=self.spec.causal)
        return self.head(self.norm(x))  # (N, T, V)


class LastPosition(nn.Module):
    """The logits of ``model``'s last position, (N, V) from (N, T, V): the answer to a
    question asked at the end of the sequence, as in associative recall."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.model(ids)[:, -1]


@torch.no_grad()
def attention_maps(model: Transformer, ids: np.ndarray) -> list[np.ndarray]:
    """The attention weights of every block for token ids (N, T): a list of (N, H, T, T).

    ``nn.TransformerEncoderLayer`` does not return its weights, so each block's
    self-attention is asked for them on the block's own (normalised) input.
    """
    model.eval()
    device = next(model.parameters()).device
    ids_tensor = torch.as_tensor(np.asarray(ids), device=device)
    x, mask = model.embed(ids_tensor), model.causal_mask(ids_tensor.shape[1])
    maps = []
    for block in model.blocks:
        assert isinstance(block, nn.TransformerEncoderLayer)
        normalised = block.norm1(x)
        _, weights = block.self_attn(
            normalised,
            normalised,
            normalised,
            attn_mask=mask,
            need_weights=True,
            average_attn_weights=False,
        )
        maps.append(weights.cpu().numpy())
        x = block(x, src_mask=mask, is_causal=model.spec.causal)
    return maps
