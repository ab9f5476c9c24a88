"""Sequence to sequence in PyTorch, the twins of :mod:`dltutor.scratch.seq2seq`.

:class:`Seq2SeqTransformer` is built from ``nn.TransformerEncoderLayer`` and
``nn.TransformerDecoderLayer`` (``norm_first=True``, ``batch_first=True``, no dropout);
:class:`GRUSeq2Seq` from ``nn.GRU`` and linear layers. PyTorch's masks say True =
*blocked* (:func:`dltutor.torch.attention.blocked` converts the book's polarity); padded
sources go in as ``src_key_padding_mask`` and ``memory_key_padding_mask``. PyTorch has no
key/value cache: :func:`generate` writes one from the layers' own weights.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dltutor.checks import check_positive_int
from dltutor.data.translation import TranslationPairs, encode_pairs
from dltutor.scratch.attention import causal_mask, sinusoidal_positional_encoding
from dltutor.scratch.seq2seq import (
    BOS,
    EOS,
    PAD,
    POSITIONS,
    corpus_bleu,
    exact_match,
    source_mask,
)
from dltutor.torch.attention import blocked
from dltutor.torch.device import set_seed


class Seq2SeqTransformer(nn.Module):
    """The twin of :class:`dltutor.scratch.seq2seq.Seq2SeqTransformer`: the same arguments,
    the same layers in the same order; ``forward(source, target_in)`` → logits (N, T, V)."""

    def __init__(
        self,
        source_vocab: int,
        target_vocab: int,
        context: int,
        embed_dim: int = 32,
        num_heads: int = 2,
        num_layers: int = 1,
        ff_units: int = 64,
        positions: str = "sinusoidal",
    ) -> None:
        super().__init__()
        if positions not in POSITIONS:
            raise ValueError(f"positions must be one of {POSITIONS}, got {positions!r}")
        self.context, self.positions = check_positive_int(context, "context"), positions
        self.source_embedding = nn.Embedding(source_vocab, embed_dim)
        self.target_embedding = nn.Embedding(target_vocab, embed_dim)
        if positions == "learned":
            self.source_positions = nn.Embedding(context, embed_dim)
            self.target_positions = nn.Embedding(context, embed_dim)
        layer = dict(dim_feedforward=ff_units, dropout=0.0, batch_first=True, norm_first=True)
        self.encoder = nn.ModuleList(
            nn.TransformerEncoderLayer(embed_dim, num_heads, **layer)  # type: ignore[arg-type]
            for _ in range(num_layers)
        )
        self.encoder_norm = nn.LayerNorm(embed_dim)
        self.decoder = nn.ModuleList(
            nn.TransformerDecoderLayer(embed_dim, num_heads, **layer)  # type: ignore[arg-type]
            for _ in range(num_layers)
        )
        self.decoder_norm = nn.LayerNorm(embed_dim)
        self.head = nn.Linear(embed_dim, target_vocab)
        sinusoids = torch.as_tensor(sinusoidal_positional_encoding(context, embed_dim))
        self.register_buffer("sinusoids", sinusoids)  # (T_max, E), float64
        self.register_buffer("causal", blocked(torch.as_tensor(causal_mask(context))))

    def embed(self, ids: torch.Tensor, side: int, start: int = 0) -> torch.Tensor:
        """Token embeddings plus positions ``start``, ``start + 1``, ... (N, T, E)."""
        if ids.ndim != 2 or start + ids.shape[1] > self.context:
            raise ValueError(
                f"ids must be (N, T) with T at most the context {self.context}, got {tuple(ids.shape)}"
            )
        x = (self.source_embedding, self.target_embedding)[side](ids.long())
        where = torch.arange(start, start + ids.shape[1], device=ids.device)
        if self.positions == "learned":
            return x + (self.source_positions, self.target_positions)[side](where)[None]
        return x + self.get_buffer("sinusoids")[where].to(x.dtype)

    def encode(self, source: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The memory (N, S, E) and the padding mask (N, S) in PyTorch's polarity."""
        padding = source == PAD
        x = self.embed(source, 0)
        for layer in self.encoder:
            x = layer(x, src_key_padding_mask=padding)
        return self.encoder_norm(x), padding

    def decode(
        self, target_in: torch.Tensor, memory: torch.Tensor, padding: torch.Tensor
    ) -> torch.Tensor:
        length = target_in.shape[1]
        x = self.embed(target_in, 1)
        mask = self.get_buffer("causal")[:length, :length]
        for layer in self.decoder:
            x = layer(x, memory, tgt_mask=mask, memory_key_padding_mask=padding)
        return self.head(self.decoder_norm(x))  # (N, T, V)

    def forward(self, source: torch.Tensor, target_in: torch.Tensor) -> torch.Tensor:
        memory, padding = self.encode(source)
        return self.decode(target_in, memory, padding)


class GRUSeq2Seq(nn.Module):
    """The twin of :class:`dltutor.scratch.seq2seq.GRUSeq2Seq`: ``nn.GRU`` encoder, an
    ``nn.GRU`` decoder run one step at a time, optional additive attention."""

    def __init__(
        self,
        source_vocab: int,
        target_vocab: int,
        embed_dim: int = 32,
        hidden_size: int = 64,
        attention: bool = True,
    ) -> None:
        super().__init__()
        h = hidden_size
        self.use_attention = attention
        self.source_embedding = nn.Embedding(source_vocab, embed_dim)
        self.encoder = nn.GRU(embed_dim, h, batch_first=True)
        self.target_embedding = nn.Embedding(target_vocab, embed_dim)
        if attention:
            self.query = nn.Linear(h, h)
            self.key = nn.Linear(h, h)
            self.score = nn.Linear(h, 1)
        self.decoder = nn.GRU(embed_dim + h, h, batch_first=True)
        self.output = nn.Linear(2 * h, target_vocab)

    def forward(self, source: torch.Tensor, target_in: torch.Tensor) -> torch.Tensor:
        valid = source != PAD
        states, _ = self.encoder(self.source_embedding(source.long()))  # (N, S, H)
        rows = torch.arange(len(source), device=source.device)
        state = states[rows, valid.sum(1) - 1]  # the last real position: (N, H)
        initial = state
        projected = self.key(states) if self.use_attention else None
        embedded = self.target_embedding(target_in.long())
        outputs = []
        for t in range(target_in.shape[1]):
            if projected is not None:
                hidden = torch.tanh(self.query(state)[:, None] + projected)  # (N, S, H)
                scores = self.score(hidden)[..., 0].masked_fill(~valid, float("-inf"))
                context = (scores.softmax(-1)[..., None] * states).sum(1)  # (N, H)
            else:
                context = initial
            step = torch.cat([embedded[:, t], context], dim=1)[:, None]
            _, state = self.decoder(step, state[None].contiguous())
            state = state[0]
            outputs.append(torch.cat([state, context], dim=1))
        return self.output(torch.stack(outputs, dim=1))  # (N, T, V)


def next_log_probs(
    model: nn.Module, device: torch.device | None = None
) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """The model as the function :func:`dltutor.scratch.seq2seq.beam_search` takes: NumPy
    ``(source, prefixes)`` → log-probabilities of the next token (B, V), in eval mode."""
    device = next(model.parameters()).device if device is None else device

    @torch.no_grad()
    def function(source: np.ndarray, prefixes: np.ndarray) -> np.ndarray:
        model.eval()
        logits = model(
            torch.as_tensor(source, device=device), torch.as_tensor(prefixes, device=device)
        )
        return logits[:, -1].double().log_softmax(-1).cpu().numpy()

    return function


def _cached_self_attention(
    attention: nn.MultiheadAttention, x: torch.Tensor, cache: dict[str, torch.Tensor]
) -> torch.Tensor:
    """Self-attention of one new position x (N, 1, E) to every cached position, no mask."""
    n, _, e = x.shape
    heads = attention.num_heads
    q, k, v = F.linear(x, attention.in_proj_weight, attention.in_proj_bias).chunk(3, dim=-1)
    q, k, v = (z.view(n, 1, heads, e // heads).transpose(1, 2) for z in (q, k, v))  # (N, H, 1, d)
    cache["k"] = k if "k" not in cache else torch.cat([cache["k"], k], dim=2)
    cache["v"] = v if "v" not in cache else torch.cat([cache["v"], v], dim=2)
    y = F.scaled_dot_product_attention(q, cache["k"], cache["v"])  # no mask: all in the past
    return attention.out_proj(y.transpose(1, 2).reshape(n, 1, e))


def _memory_attention(
    attention: nn.MultiheadAttention,
    x: torch.Tensor,
    memory_kv: tuple[torch.Tensor, torch.Tensor],
    may_attend: torch.Tensor,
) -> torch.Tensor:
    n, _, e = x.shape
    heads = attention.num_heads
    q = F.linear(x, attention.in_proj_weight[:e], attention.in_proj_bias[:e])
    q = q.view(n, 1, heads, e // heads).transpose(1, 2)
    y = F.scaled_dot_product_attention(q, *memory_kv, attn_mask=may_attend[:, None, None, :])
    return attention.out_proj(y.transpose(1, 2).reshape(n, 1, e))


def _memory_keys_values(
    attention: nn.MultiheadAttention, memory: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    n, s, e = memory.shape
    heads = attention.num_heads
    kv = F.linear(memory, attention.in_proj_weight[e:], attention.in_proj_bias[e:])
    k, v = (z.view(n, s, heads, e // heads).transpose(1, 2) for z in kv.chunk(2, dim=-1))
    return k, v  # (N, H, S, d) each, computed once per source


@torch.no_grad()
def generate(
    model: Seq2SeqTransformer, source: np.ndarray, max_length: int, cache: bool = True
) -> np.ndarray:
    """Greedy decoding (N, ``max_length``) ids. With ``cache`` each step feeds only the new
    token through the decoder and reads earlier positions' keys and values from a cache;
    without, it reruns the decoder over the whole prefix."""
    max_length = check_positive_int(max_length, "max_length")
    source_mask(np.asarray(source))  # every row has a real token
    model.eval()
    device = next(model.parameters()).device
    src = torch.as_tensor(np.asarray(source), device=device)
    memory, padding = model.encode(src)
    tokens = torch.full((len(src), 1), BOS, device=device)
    done = torch.zeros(len(src), dtype=torch.bool, device=device)
    out = torch.full((len(src), max_length), PAD, device=device)
    layers: list[nn.TransformerDecoderLayer] = list(model.decoder)  # type: ignore[arg-type]
    memory_kv = [_memory_keys_values(layer.multihead_attn, memory) for layer in layers]
    caches: list[dict[str, torch.Tensor]] = [{} for _ in layers]
    prefix = tokens
    for t in range(max_length):
        if cache:
            x = model.embed(tokens, 1, start=t)  # (N, 1, E)
            for layer, layer_cache, kv in zip(layers, caches, memory_kv, strict=True):
                x = x + _cached_self_attention(layer.self_attn, layer.norm1(x), layer_cache)
                x = x + _memory_attention(layer.multihead_attn, layer.norm2(x), kv, ~padding)
                x = x + layer.linear2(F.relu(layer.linear1(layer.norm3(x))))
            logits = model.head(model.decoder_norm(x))[:, -1]
        else:
            logits = model.decode(prefix, memory, padding)[:, -1]
        tokens = logits.argmax(-1, keepdim=True)
        out[:, t] = torch.where(done, PAD, tokens[:, 0])
        prefix = torch.cat([prefix, tokens], dim=1)
        done |= tokens[:, 0] == EOS
        if bool(done.all()):
            break
    return out.cpu().numpy()


@torch.no_grad()
def cross_attention_maps(
    model: Seq2SeqTransformer, source: np.ndarray, target_in: np.ndarray
) -> list[np.ndarray]:
    """Each decoder layer's cross-attention weights, (N, H, T, S) per layer."""
    model.eval()
    device = next(model.parameters()).device
    src = torch.as_tensor(np.asarray(source), device=device)
    tgt = torch.as_tensor(np.asarray(target_in), device=device)
    memory, padding = model.encode(src)
    x = model.embed(tgt, 1)
    mask = model.get_buffer("causal")[: tgt.shape[1], : tgt.shape[1]]
    maps = []
    layers: list[nn.TransformerDecoderLayer] = list(model.decoder)  # type: ignore[arg-type]
    for layer in layers:
        h = x + layer._sa_block(layer.norm1(x), mask, None)
        _, weights = layer.multihead_attn(
            layer.norm2(h),
            memory,
            memory,
            key_padding_mask=padding,
            need_weights=True,
            average_attn_weights=False,
        )
        maps.append(weights.cpu().numpy())
        x = layer(x, memory, tgt_mask=mask, memory_key_padding_mask=padding)
    return maps


def fit(
    model: nn.Module,
    source: np.ndarray,
    target_in: np.ndarray,
    target_out: np.ndarray,
    *,
    epochs: int,
    batch_size: int = 64,
    learning_rate: float = 3e-3,
    seed: int = 0,
    device: torch.device | None = None,
) -> list[float]:
    """Teacher forcing with Adam: cross-entropy of ``model(source, target_in)`` against
    ``target_out``, padding ignored. Returns the mean training loss of each epoch."""
    epochs, batch_size = (
        check_positive_int(epochs, "epochs"),
        check_positive_int(batch_size, "batch_size"),
    )
    device = next(model.parameters()).device if device is None else device
    model.to(device).train()
    arrays = [
        torch.as_tensor(np.asarray(a), device=device) for a in (source, target_in, target_out)
    ]
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    loss_fn = nn.CrossEntropyLoss(ignore_index=PAD)
    generator = torch.Generator().manual_seed(seed)
    history = []
    for _ in range(epochs):
        order = torch.randperm(len(source), generator=generator).to(device)
        total = 0.0
        for start in range(0, len(source), batch_size):
            src, tgt_in, tgt_out = (a[order[start : start + batch_size]] for a in arrays)
            optimizer.zero_grad()
            logits = model(src, tgt_in)
            loss = loss_fn(logits.reshape(-1, logits.shape[-1]), tgt_out.reshape(-1))
            loss.backward()
            optimizer.step()
            total += loss.item() * len(src)
        history.append(total / len(source))
    model.eval()
    return history


def length_generalisation(
    train: TranslationPairs,
    tests: dict[str, TranslationPairs],
    positions: str,
    *,
    epochs: int = 3,
    seed: int = 0,
    device: torch.device | None = None,
) -> dict[str, tuple[float, float]]:
    """Train a small :class:`Seq2SeqTransformer` (width 32, 2 heads, 2 layers, 64 hidden
    units) with ``positions`` on ``train`` and judge greedy decoding on each of ``tests``.

    The context is one more than the longest sentence of any set, so a learned table has a
    row for every test position, but rows beyond the training length never get a gradient.
    Returns, for each test set's name, (exact match in [0, 1], corpus BLEU in [0, 100]).
    """
    if positions not in POSITIONS:
        raise ValueError(f"positions must be one of {POSITIONS}, got {positions!r}")
    if not isinstance(tests, dict) or not tests:
        raise ValueError(f"tests must be a non-empty dict of name to pairs, got {tests!r}")
    encoded = encode_pairs(train.source, train.target)
    source_vocab, target_vocab = encoded.source_vocab, encoded.target_vocab
    sentences = [s for pairs in (train, *tests.values()) for s in pairs.source + pairs.target]
    context = 1 + max(len(sentence) for sentence in sentences)
    set_seed(seed)
    model = Seq2SeqTransformer(
        source_vocab.size, target_vocab.size, context, 32, 2, 2, 64, positions
    )
    if device is not None:
        model.to(device)
    fit(
        model,
        encoded.source,  # (N, S)
        encoded.target_in,  # (N, T)
        encoded.target_out,
        epochs=epochs,
        learning_rate=5e-3,
        seed=seed,
    )
    scores = {}
    for name, held in tests.items():
        written = generate(model, source_vocab.encode(held.source, eos=False), context)
        decoded = [target_vocab.decode(row) for row in written]
        scores[name] = (exact_match(decoded, held.target), corpus_bleu(decoded, held.target))
    return scores
