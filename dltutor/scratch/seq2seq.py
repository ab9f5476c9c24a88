r"""Sequence to sequence: encoder–decoder models, attention over the input sequence, decoding.

Layout: batch first. Source ids (N, S), decoder inputs (N, T), logits (N, T, V). Ids 0, 1,
2 are padding, begin and end (:mod:`dltutor.data.translation`); sources are right-padded,
and ``source_mask`` (N, S) is True on real tokens. Masks keep the book's polarity:
True = may attend.

- :class:`AdditiveAttention` (Bahdanau et al., 2015): :math:`e_j = w^\top \tanh(W_q s +
  b_q + W_k h_j + b_k) + c`, :math:`a = \mathrm{softmax}(e)`, context :math:`\sum_j a_j h_j`.
- :class:`CrossAttention`: multi-head attention whose queries come from the decoder and
  whose keys and values come from the encoder's states (the memory).
- :class:`GRUSeq2Seq`: a GRU encoder and a GRU decoder, with a fixed context vector (Cho
  et al., 2014) or additive attention over the encoder states.
- :class:`Seq2SeqTransformer` (Vaswani et al., 2017): pre-LN encoder blocks and decoder
  blocks (causal self-attention, cross-attention, feed-forward), with a key/value cache
  for incremental decoding.
- :func:`greedy_decode` and :func:`beam_search` work on any model through a function that
  returns the log-probabilities of the next token.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from dltutor.checks import as_float_array, check_positive_int, describe
from dltutor.scratch.activations import Activation
from dltutor.scratch.attention import (
    LayerNorm,
    MultiHeadAttention,
    TransformerBlock,
    _merge_heads,
    _split_heads,
    attention,
    attention_backward,
    masked_softmax,
    sinusoidal_positional_encoding,
)
from dltutor.scratch.layers import Embedding, Layer, Linear
from dltutor.scratch.losses import log_softmax
from dltutor.scratch.recurrent import GRU

PAD, BOS, EOS = 0, 1, 2


def source_mask(source: np.ndarray) -> np.ndarray:
    """(N, S) True on real tokens, False on padding (id 0); every row needs a real token."""
    source = np.asarray(source)
    if source.ndim != 2 or source.dtype.kind not in "iu":
        raise ValueError(f"source must be integer ids (N, S), got {describe(source)}")
    mask = source != PAD
    if not mask.any(axis=1).all():
        raise ValueError("every source sequence needs at least one token that is not padding")
    return mask


# --- Additive attention ----------------------------------------------------------------------


class AdditiveAttention(Layer):
    r"""Additive (Bahdanau) attention of one query per example over S keys.

    .. math::

        u_j = \tanh(s W_q + b_q + h_j W_k + b_k), \quad e_j = u_j w + c, \quad
        a = \mathrm{softmax}_j(e), \quad \mathrm{context} = \sum_j a_j h_j .

    Parameters: ``query`` (D_q → A), ``key`` (D_k → A) and ``score`` (A → 1) linear layers.
    The score's bias c adds the same number to every :math:`e_j`, so its gradient is zero;
    it is kept so that the layer maps onto a framework's dense layer. Backward, with
    :math:`g = \partial L/\partial \mathrm{context}`: :math:`\partial L/\partial a_j = g \cdot
    h_j`, through the softmax :math:`\partial L/\partial e_j = a_j(\partial L/\partial a_j -
    \sum_k a_k \partial L/\partial a_k)`, then :math:`\partial L/\partial u_j = \partial
    L/\partial e_j\, w^\top` and through tanh :math:`\partial L/\partial (\cdot) =
    \partial L/\partial u_j \odot (1 - u_j^2)`, which reaches the query (summed over j)
    and each key.
    """

    def __init__(
        self,
        query_size: int,
        key_size: int,
        attention_size: int,
        *,
        rng: np.random.Generator | None = None,
        dtype: npt.DTypeLike = np.float64,
    ) -> None:
        super().__init__()
        rng = np.random.default_rng(rng)
        self.query = self.add_layer(
            "query", Linear(query_size, attention_size, rng=rng, dtype=dtype)
        )
        self.key = self.add_layer("key", Linear(key_size, attention_size, rng=rng, dtype=dtype))
        self.score = self.add_layer("score", Linear(attention_size, 1, rng=rng, dtype=dtype))
        self.weights: np.ndarray | None = None
        self._cache: tuple[Any, ...] | None = None

    def project_keys(self, keys: np.ndarray) -> np.ndarray:
        """:math:`h_j W_k + b_k` for every key (N, S, A): computed once per source."""
        return keys @ self.key.weight.value + self.key.bias.value

    def step(
        self, query: np.ndarray, projected_keys: np.ndarray, values: np.ndarray, mask: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, ...]]:
        """One query (N, D_q) over projected keys (N, S, A): ``(context (N, D_k), weights (N, S), cache)``."""
        hidden = np.tanh(
            (query @ self.query.weight.value + self.query.bias.value)[:, None] + projected_keys
        )  # (N, S, A)
        scores = (hidden @ self.score.weight.value)[..., 0] + self.score.bias.value  # (N, S)
        weights = masked_softmax(scores, mask)
        context = np.einsum("ns,nsd->nd", weights, values)  # (N, D_k)
        return context, weights, (query, hidden, weights, values)

    def step_backward(
        self, grad_context: np.ndarray, cache: tuple[np.ndarray, ...], grads: dict[str, np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Add this step's weight gradients to ``grads``; return dL/dquery, dL/d(projected keys), dL/dvalues."""
        query, hidden, weights, values = cache
        grad_values = weights[..., None] * grad_context[:, None]  # (N, S, D_k)
        grad_weights = np.einsum("nd,nsd->ns", grad_context, values)  # (N, S)
        grad_scores = weights * (grad_weights - (weights * grad_weights).sum(-1, keepdims=True))
        grads["score.W"] += np.einsum("ns,nsa->a", grad_scores, hidden)[:, None]
        grads["score.b"] += grad_scores.sum()
        grad_pre = grad_scores[..., None] * self.score.weight.value[:, 0] * (1 - hidden**2)
        grad_query_projection = grad_pre.sum(axis=1)  # (N, A): one query reached every key
        grads["query.W"] += query.T @ grad_query_projection
        grads["query.b"] += grad_query_projection.sum(axis=0)
        return grad_query_projection @ self.query.weight.value.T, grad_pre, grad_values

    def keys_backward(
        self, keys: np.ndarray, grad_projected: np.ndarray, grads: dict[str, np.ndarray]
    ) -> np.ndarray:
        """Through :meth:`project_keys`: add the key weights' gradients, return dL/dkeys."""
        grads["key.W"] += keys.reshape(-1, keys.shape[-1]).T @ grad_projected.reshape(
            -1, grad_projected.shape[-1]
        )
        grads["key.b"] += grad_projected.sum(axis=(0, 1))
        return grad_projected @ self.key.weight.value.T

    def zero_grads(self) -> dict[str, np.ndarray]:
        return {name: np.zeros_like(value) for name, value in self.named_parameters().items()}

    def set_grads(self, grads: dict[str, np.ndarray]) -> None:
        for name, parameter in self.parameters():
            parameter.grad = grads[name]

    def forward(  # type: ignore[override]
        self, query: np.ndarray, keys: np.ndarray, mask: np.ndarray | None = None
    ) -> np.ndarray:
        """Context vectors (N, D_k) of queries (N, D_q) over keys = values (N, S, D_k)."""
        query = as_float_array(query, "query", ndim=2)
        keys = as_float_array(keys, "keys", ndim=3)
        if (
            query.shape[1] != self.query.in_features
            or keys.shape[2] != self.key.in_features
            or len(keys) != len(query)
        ):
            raise ValueError(
                f"AdditiveAttention expects queries (N, {self.query.in_features}) and keys "
                f"(N, S, {self.key.in_features}), got {describe(query)} and {describe(keys)}"
            )
        mask = np.ones(keys.shape[:2], dtype=bool) if mask is None else np.asarray(mask, bool)
        context, self.weights, cache = self.step(query, self.project_keys(keys), keys, mask)
        self._cache = (keys, cache)
        return context

    def backward(self, grad_output: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[override]
        """dL/dquery (N, D_q) and dL/dkeys (N, S, D_k); sets every parameter's gradient."""
        if self._cache is None:
            raise RuntimeError("AdditiveAttention.backward called before forward")
        keys, cache = self._cache
        grads = self.zero_grads()
        grad_query, grad_projected, grad_values = self.step_backward(grad_output, cache, grads)
        grad_keys = grad_values + self.keys_backward(keys, grad_projected, grads)
        self.set_grads(grads)
        return grad_query, grad_keys

    def __repr__(self) -> str:
        return f"AdditiveAttention({self.query.in_features}, {self.key.in_features}, {self.query.out_features})"


# --- Cross-attention -------------------------------------------------------------------------


class CrossAttention(MultiHeadAttention):
    r"""Multi-head attention from a decoder stream x (N, T, E) to a memory m (N, S, E).

    .. math::

        Q = x W_q + b_q, \quad K = m W_k + b_k, \quad V = m W_v + b_v, \qquad
        y = \mathrm{concat}_h\big(\mathrm{attention}(Q_h, K_h, V_h)\big) W_o + b_o,

    with padded memory positions masked. The same parameters as
    :class:`~dltutor.scratch.attention.MultiHeadAttention`, in the same order. Backward
    reuses :func:`~dltutor.scratch.attention.attention_backward`: the query's gradient goes
    to x, the key's and value's to the memory (``grad_memory`` after ``backward``).
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        *,
        rng: np.random.Generator | None = None,
        dtype: npt.DTypeLike = np.float64,
    ) -> None:
        super().__init__(embed_dim, num_heads, rng=rng, dtype=dtype)
        self.grad_memory: np.ndarray | None = None

    def memory_keys_values(self, memory: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Keys and values of the memory (N, H, S, d) each: computed once per source."""
        k = _split_heads(memory @ self.W_k.value + self.b_k.value, self.num_heads)
        v = _split_heads(memory @ self.W_v.value + self.b_v.value, self.num_heads)
        return k, v

    def attend_memory(
        self, x: np.ndarray, memory: np.ndarray, memory_mask: np.ndarray | None = None
    ) -> np.ndarray:
        """x (N, T, E) attends to memory (N, S, E); ``memory_mask`` (N, S), True = a real position."""
        x = as_float_array(x, "x", ndim=3)
        memory = as_float_array(memory, "memory", ndim=3)
        if (
            x.shape[2] != self.embed_dim
            or memory.shape[2] != self.embed_dim
            or len(x) != len(memory)
        ):
            raise ValueError(
                f"CrossAttention expects x (N, T, {self.embed_dim}) and memory (N, S, "
                f"{self.embed_dim}), got {describe(x)} and {describe(memory)}"
            )
        mask = None if memory_mask is None else np.asarray(memory_mask, bool)[:, None, None, :]
        q = _split_heads(x @ self.W_q.value + self.b_q.value, self.num_heads)  # (N, H, T, d)
        k, v = self.memory_keys_values(memory)  # (N, H, S, d)
        y, self.weights = attention(q, k, v, mask)  # (N, H, T, d), (N, H, T, S)
        self._cache = (x, memory, q, k, v, self.weights)
        return self.out.forward(_merge_heads(y))  # (N, T, E)

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        if self._cache is None:
            raise RuntimeError("CrossAttention.backward called before forward")
        x, memory, q, k, v, weights = self._cache
        grad_heads = _split_heads(self.out.backward(grad_output), self.num_heads)  # (N, H, T, d)
        grad_q, grad_k, grad_v = attention_backward(q, k, v, weights, grad_heads)
        grad_x = np.zeros_like(x)
        self.grad_memory = np.zeros_like(memory)
        for grad, source, weight, bias in (
            (grad_q, x, self.W_q, self.b_q),
            (grad_k, memory, self.W_k, self.b_k),
            (grad_v, memory, self.W_v, self.b_v),
        ):
            rows = _merge_heads(grad).reshape(-1, self.embed_dim)  # (N·T or N·S, E)
            weight.grad = source.reshape(-1, self.embed_dim).T @ rows
            bias.grad = rows.sum(axis=0)
            into = grad_x if source is x else self.grad_memory
            into += (rows @ weight.value.T).reshape(source.shape)
        return grad_x

    def __repr__(self) -> str:
        return f"CrossAttention({self.embed_dim}, {self.num_heads})"


# --- Transformer encoder and decoder blocks -------------------------------------------------


class EncoderBlock(TransformerBlock):
    """The pre-LN block of :class:`~dltutor.scratch.attention.TransformerBlock`, with the
    padded positions of each source masked as keys."""

    def encode(self, x: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """x (N, S, E) with ``mask`` (N, S), True = a real token."""
        keys = np.broadcast_to(mask[:, None, :], (len(x), x.shape[1], x.shape[1]))  # (N, S, S)
        h = x + self.attention.attend(self.norm1.forward(x), keys)
        return h + self.linear2.forward(
            self.relu.forward(self.linear1.forward(self.norm2.forward(h)))
        )


class DecoderBlock(Layer):
    r"""A pre-LN decoder block (``torch.nn.TransformerDecoderLayer(norm_first=True)``):

    .. math::

        h = x + \mathrm{MHA}_{causal}(\mathrm{LN}_1 x), \quad
        g = h + \mathrm{Cross}(\mathrm{LN}_2 h, m), \quad
        y = g + W_2\,\mathrm{ReLU}(\mathrm{LN}_3(g) W_1 + b_1) + b_2 .

    The memory m is not normalised inside the block. Parameters in PyTorch's order:
    self-attention, cross-attention, ``linear1``, ``linear2``, ``norm1..3``.
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        ff_units: int,
        *,
        rng: np.random.Generator | None = None,
        dtype: npt.DTypeLike = np.float64,
    ) -> None:
        super().__init__()
        rng = np.random.default_rng(rng)
        self.self_attention = self.add_layer(
            "self_attention",
            MultiHeadAttention(embed_dim, num_heads, causal=True, rng=rng, dtype=dtype),
        )
        self.cross_attention = self.add_layer(
            "cross_attention", CrossAttention(embed_dim, num_heads, rng=rng, dtype=dtype)
        )
        self.linear1 = self.add_layer(
            "linear1",
            Linear(embed_dim, check_positive_int(ff_units, "ff_units"), rng=rng, dtype=dtype),
        )
        self.linear2 = self.add_layer("linear2", Linear(ff_units, embed_dim, rng=rng, dtype=dtype))
        self.relu = Activation("relu")
        self.norm1 = self.add_layer("norm1", LayerNorm(embed_dim, dtype=dtype))
        self.norm2 = self.add_layer("norm2", LayerNorm(embed_dim, dtype=dtype))
        self.norm3 = self.add_layer("norm3", LayerNorm(embed_dim, dtype=dtype))
        self.grad_memory: np.ndarray | None = None

    def decode(self, x: np.ndarray, memory: np.ndarray, memory_mask: np.ndarray) -> np.ndarray:
        h = x + self.self_attention.attend(self.norm1.forward(x))  # causal
        g = h + self.cross_attention.attend_memory(self.norm2.forward(h), memory, memory_mask)
        return g + self.linear2.forward(
            self.relu.forward(self.linear1.forward(self.norm3.forward(g)))
        )

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        feed_forward = self.linear1.backward(self.relu.backward(self.linear2.backward(grad_output)))
        grad_g = grad_output + self.norm3.backward(feed_forward)
        grad_h = grad_g + self.norm2.backward(self.cross_attention.backward(grad_g))
        self.grad_memory = self.cross_attention.grad_memory
        return grad_h + self.norm1.backward(self.self_attention.backward(grad_h))

    def step(
        self,
        x: np.ndarray,
        cache: dict[str, np.ndarray],
        memory_kv: tuple[np.ndarray, np.ndarray],
        memory_mask: np.ndarray,
    ) -> np.ndarray:
        """One new position x (N, 1, E): append its key and value to ``cache`` and attend to
        all cached positions without a mask — every cached position is in the past."""
        sa, ca = self.self_attention, self.cross_attention
        a = self.norm1.forward(x)
        q, k, v = (
            _split_heads(a @ W.value + b.value, sa.num_heads)
            for W, b in ((sa.W_q, sa.b_q), (sa.W_k, sa.b_k), (sa.W_v, sa.b_v))
        )  # (N, H, 1, d)
        cache["k"] = k if "k" not in cache else np.concatenate([cache["k"], k], axis=2)
        cache["v"] = v if "v" not in cache else np.concatenate([cache["v"], v], axis=2)
        y, _ = attention(q, cache["k"], cache["v"])  # (N, H, 1, d) over t cached positions
        h = x + sa.out.forward(_merge_heads(y))
        c = self.norm2.forward(h)
        q = _split_heads(c @ ca.W_q.value + ca.b_q.value, ca.num_heads)
        y, _ = attention(q, *memory_kv, memory_mask[:, None, None, :])
        g = h + ca.out.forward(_merge_heads(y))
        return g + self.linear2.forward(
            self.relu.forward(self.linear1.forward(self.norm3.forward(g)))
        )

    def __repr__(self) -> str:
        return f"DecoderBlock({self.self_attention!r}, {self.cross_attention!r})"


POSITIONS = ("sinusoidal", "learned")


class Seq2SeqTransformer(Layer):
    """A Transformer encoder–decoder over token ids: ``forward(source, target_in)`` →
    logits (N, T, ``target_vocab``).

    Source: embedding + positions → ``num_layers`` :class:`EncoderBlock` → LayerNorm (the
    memory). Target: embedding + positions → ``num_layers`` :class:`DecoderBlock` →
    LayerNorm → Linear. ``positions`` is "sinusoidal" (fixed waves) or "learned" (a table of
    ``context`` vectors per side, which knows no position beyond it). Parameters in the
    order of the PyTorch and Keras twins.
    """

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
        *,
        rng: np.random.Generator | None = None,
        dtype: npt.DTypeLike = np.float64,
    ) -> None:
        super().__init__()
        if positions not in POSITIONS:
            raise ValueError(f"positions must be one of {POSITIONS}, got {positions!r}")
        self.context = check_positive_int(context, "context")
        self.positions = positions
        self.target_vocab = check_positive_int(target_vocab, "target_vocab")
        rng = np.random.default_rng(rng)
        e = embed_dim
        self.source_embedding = self.add_layer(
            "source_embedding", Embedding(source_vocab, e, rng=rng, dtype=dtype)
        )
        self.target_embedding = self.add_layer(
            "target_embedding", Embedding(target_vocab, e, rng=rng, dtype=dtype)
        )
        self.position_tables: list[Embedding] = []
        if positions == "learned":
            self.position_tables = [
                self.add_layer(f"{side}_positions", Embedding(context, e, rng=rng, dtype=dtype))
                for side in ("source", "target")
            ]
        self.encoder = [
            self.add_layer(
                f"encoder{i}", EncoderBlock(e, num_heads, ff_units, rng=rng, dtype=dtype)
            )
            for i in range(num_layers)
        ]
        self.encoder_norm = self.add_layer("encoder_norm", LayerNorm(e, dtype=dtype))
        self.decoder = [
            self.add_layer(
                f"decoder{i}", DecoderBlock(e, num_heads, ff_units, rng=rng, dtype=dtype)
            )
            for i in range(num_layers)
        ]
        self.decoder_norm = self.add_layer("decoder_norm", LayerNorm(e, dtype=dtype))
        self.head = self.add_layer("head", Linear(e, target_vocab, rng=rng, dtype=dtype))
        self._sinusoids = sinusoidal_positional_encoding(context, e)
        self._memory: tuple[np.ndarray, np.ndarray] | None = None

    def _embed(self, ids: np.ndarray, side: int, start: int = 0) -> np.ndarray:
        ids = np.asarray(ids)
        if ids.ndim != 2 or start + ids.shape[1] > self.context:
            raise ValueError(
                f"ids must be (N, T) with T at most the context {self.context}, got {describe(ids)}"
            )
        table = (self.source_embedding, self.target_embedding)[side]
        x = table.forward(ids)
        if self.positions == "learned":
            where = np.broadcast_to(np.arange(start, start + ids.shape[1]), ids.shape)
            return x + self.position_tables[side].forward(where)
        return x + self._sinusoids[start : start + ids.shape[1]]

    def encode(self, source: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The memory (N, S, E) and the mask of real source tokens (N, S)."""
        mask = source_mask(source)
        x = self._embed(source, 0)
        for block in self.encoder:
            x = block.encode(x, mask)
        return self.encoder_norm.forward(x), mask

    def decode(self, target_in: np.ndarray, memory: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Logits (N, T, V) for decoder inputs (N, T), recomputing every position."""
        x = self._embed(target_in, 1)
        for block in self.decoder:
            x = block.decode(x, memory, mask)
        return self.head.forward(self.decoder_norm.forward(x))

    def forward(self, source: np.ndarray, target_in: np.ndarray) -> np.ndarray:  # type: ignore[override]
        memory, mask = self.encode(source)
        self._memory = (memory, mask)
        return self.decode(target_in, memory, mask)

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        """Back through decoder and encoder; sets every gradient. Ids have none: returns zeros."""
        if self._memory is None:
            raise RuntimeError("Seq2SeqTransformer.backward called before forward")
        grad = self.decoder_norm.backward(self.head.backward(grad_output))
        grad_memory = np.zeros_like(self._memory[0])
        for block in reversed(self.decoder):
            grad = block.backward(grad)
            grad_memory += block.grad_memory  # every decoder block read the same memory
        self._embedding_backward(grad, 1)
        grad = self.encoder_norm.backward(grad_memory)
        for encoder_block in reversed(self.encoder):
            grad = encoder_block.backward(grad)
        return self._embedding_backward(grad, 0)

    def _embedding_backward(self, grad: np.ndarray, side: int) -> np.ndarray:
        if self.positions == "learned":
            self.position_tables[side].backward(grad)
        return (self.source_embedding, self.target_embedding)[side].backward(grad)

    def next_log_probs(self, source: np.ndarray, prefixes: np.ndarray) -> np.ndarray:
        """log P(next token | source, prefix) (N, V), recomputing the whole prefix."""
        return log_softmax(self.forward(source, prefixes)[:, -1])

    def start_cache(self, source: np.ndarray) -> dict[str, Any]:
        """Encode ``source`` once for :meth:`decode_step`: the memory's keys and values for
        every decoder block, its mask, and an empty key/value cache per block."""
        memory, mask = self.encode(source)
        return {
            "memory_kv": [b.cross_attention.memory_keys_values(memory) for b in self.decoder],
            "mask": mask,
            "blocks": [{} for _ in self.decoder],
            "length": 0,
        }

    def decode_step(self, tokens: np.ndarray, cache: dict[str, Any]) -> np.ndarray:
        """Logits (N, V) for the next position, given the newest tokens (N,): the decoder
        runs on this one position, reading earlier ones from ``cache`` (and extending it)."""
        t = cache["length"]
        x = self._embed(np.asarray(tokens)[:, None], 1, start=t)  # (N, 1, E)
        for block, block_cache, kv in zip(
            self.decoder, cache["blocks"], cache["memory_kv"], strict=True
        ):
            x = block.step(x, block_cache, kv, cache["mask"])
        cache["length"] = t + 1
        return self.head.forward(self.decoder_norm.forward(x))[:, 0]

    def generate(self, source: np.ndarray, max_length: int, cache: bool = True) -> np.ndarray:
        """Greedy decoding, (N, ``max_length``) ids; with ``cache`` each step runs on the new
        token only (:meth:`decode_step`), else the decoder reruns the whole prefix."""
        max_length = check_positive_int(max_length, "max_length")
        if not cache:
            return greedy_decode(self.next_log_probs, source, max_length)
        state = self.start_cache(source)
        tokens = np.full(len(source), BOS)
        done = np.zeros(len(source), dtype=bool)
        out = np.full((len(source), max_length), PAD)
        for t in range(max_length):
            tokens = self.decode_step(tokens, state).argmax(axis=-1)
            out[:, t] = np.where(done, PAD, tokens)
            done |= tokens == EOS
            if done.all():
                break
        return out

    def cross_attention_maps(self) -> list[np.ndarray]:
        """Each decoder block's cross-attention weights (N, H, T, S) from the last forward."""
        return [
            b.cross_attention.weights for b in self.decoder if b.cross_attention.weights is not None
        ]

    def __repr__(self) -> str:
        return f"Seq2SeqTransformer(layers={len(self.encoder)}, positions={self.positions!r})"


# --- The GRU encoder–decoder ----------------------------------------------------------------


class GRUSeq2Seq(Layer):
    r"""A GRU encoder and a GRU decoder, with or without additive attention.

    The encoder reads the input sequence into states :math:`h_1..h_S`; the decoder starts from the
    last real one, :math:`s_0 = h_S`. At step t it reads the previous target token and a
    context :math:`c_t`, :math:`s_t = \mathrm{GRU}([E y_{t-1}; c_t], s_{t-1})`, and predicts
    :math:`y_t` from :math:`[s_t; c_t]`. Without attention :math:`c_t = h_S` at every step
    (Cho et al., 2014): the whole source must pass through one vector. With attention
    :math:`c_t` is :class:`AdditiveAttention` of :math:`s_{t-1}` over :math:`h_1..h_S`
    (Bahdanau et al., 2015). Backward runs the decoder steps in reverse, then the encoder.
    Parameters in the order of the twins: source embedding, encoder GRU, target embedding,
    attention, decoder GRU, output layer.
    """

    def __init__(
        self,
        source_vocab: int,
        target_vocab: int,
        embed_dim: int = 32,
        hidden_size: int = 64,
        attention: bool = True,
        *,
        rng: np.random.Generator | None = None,
        dtype: npt.DTypeLike = np.float64,
    ) -> None:
        super().__init__()
        rng = np.random.default_rng(rng)
        e, h = (
            check_positive_int(embed_dim, "embed_dim"),
            check_positive_int(hidden_size, "hidden_size"),
        )
        self.embed_dim, self.hidden_size, self.use_attention = e, h, bool(attention)
        self.target_vocab = check_positive_int(target_vocab, "target_vocab")
        self.source_embedding = self.add_layer(
            "source_embedding", Embedding(source_vocab, e, rng=rng, dtype=dtype)
        )
        self.encoder = self.add_layer("encoder", GRU(e, h, rng=rng, dtype=dtype))
        self.target_embedding = self.add_layer(
            "target_embedding", Embedding(target_vocab, e, rng=rng, dtype=dtype)
        )
        self.attention: AdditiveAttention | None = None
        if self.use_attention:
            self.attention = self.add_layer(
                "attention", AdditiveAttention(h, h, h, rng=rng, dtype=dtype)
            )
        self.decoder = self.add_layer("decoder", GRU(e + h, h, rng=rng, dtype=dtype))
        self.output = self.add_layer("output", Linear(2 * h, target_vocab, rng=rng, dtype=dtype))
        self.weights: np.ndarray | None = None  # attention weights (N, T, S) of the last forward
        self._cache: dict[str, Any] = {}

    def forward(self, source: np.ndarray, target_in: np.ndarray) -> np.ndarray:  # type: ignore[override]
        mask = source_mask(source)
        target_in = np.asarray(target_in)
        states = self.encoder.forward(self.source_embedding.forward(source))  # (N, S, H)
        last = mask.sum(axis=1) - 1  # the last real position of each source
        rows = np.arange(len(source))
        state = states[rows, last]  # (N, H)
        initial = state
        embedded = self.target_embedding.forward(target_in)  # (N, T, E)
        projected = self.attention.project_keys(states) if self.attention else None
        steps, outputs, weights = [], [], []
        for t in range(target_in.shape[1]):
            attention_cache = None
            if self.attention is not None:
                assert projected is not None
                context, step_weights, attention_cache = self.attention.step(
                    state, projected, states, mask
                )
                weights.append(step_weights)
            else:
                context = initial
            (state,), cell_cache = self.decoder.cell.step(
                np.concatenate([embedded[:, t], context], axis=1), (state,)
            )
            steps.append((cell_cache, attention_cache))
            outputs.append(np.concatenate([state, context], axis=1))
        self.weights = np.stack(weights, axis=1) if weights else None
        self._cache = {"states": states, "last": last, "steps": steps, "shape": target_in.shape}
        return self.output.forward(np.stack(outputs, axis=1))  # (N, T, V)

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        if not self._cache:
            raise RuntimeError("GRUSeq2Seq.backward called before forward")
        states, last, steps = self._cache["states"], self._cache["last"], self._cache["steps"]
        h, e = self.hidden_size, self.embed_dim
        grad_outputs = self.output.backward(grad_output)  # (N, T, 2H)
        cell = self.decoder.cell
        cell_grads = {name: np.zeros_like(v) for name, v in cell.params.items()}
        attention_grads = self.attention.zero_grads() if self.attention else {}
        grad_states = np.zeros_like(states)  # (N, S, H)
        grad_projected = np.zeros(states.shape[:2] + (h,)) if self.attention else None
        grad_initial = np.zeros_like(states[:, 0])
        grad_embedded = np.zeros(self._cache["shape"] + (e,))
        grad_state = np.zeros_like(grad_initial)  # dL/ds_t from later steps
        for t in reversed(range(len(steps))):
            cell_cache, attention_cache = steps[t]
            grad_state = grad_state + grad_outputs[:, t, :h]
            grad_context = grad_outputs[:, t, h:]
            grad_x, (grad_state,) = cell.step_backward((grad_state,), cell_cache, cell_grads)
            grad_embedded[:, t] = grad_x[:, :e]
            grad_context = grad_context + grad_x[:, e:]
            if self.attention is not None:
                grad_query, grad_keys, grad_values = self.attention.step_backward(
                    grad_context, attention_cache, attention_grads
                )
                grad_state = grad_state + grad_query  # the query was s_{t-1}
                grad_projected += grad_keys
                grad_states += grad_values
            else:
                grad_initial += grad_context  # c_t = h_S at every step
        grad_initial += grad_state  # s_0 = h_S
        if self.attention is not None and grad_projected is not None:
            grad_states += self.attention.keys_backward(states, grad_projected, attention_grads)
            self.attention.set_grads(attention_grads)
        for name, parameter in self.decoder.parameters():
            parameter.grad = cell_grads[name]
        grad_states[np.arange(len(states)), last] += grad_initial
        self.target_embedding.backward(grad_embedded)
        return self.source_embedding.backward(self.encoder.backward(grad_states))

    def generate(self, source: np.ndarray, max_length: int) -> np.ndarray:
        """Greedy decoding (N, ``max_length``) ids, one decoder step per token: the GRU's
        state is its whole cache. ``weights`` then holds the attention maps (N, T, S)."""
        max_length = check_positive_int(max_length, "max_length")
        mask = source_mask(source)
        states = self.encoder.forward(self.source_embedding.forward(source))  # (N, S, H)
        state = initial = states[np.arange(len(source)), mask.sum(axis=1) - 1]
        projected = self.attention.project_keys(states) if self.attention else None
        tokens = np.full(len(source), BOS)
        done = np.zeros(len(source), dtype=bool)
        out = np.full((len(source), max_length), PAD)
        weights = []
        for t in range(max_length):
            context = initial
            if self.attention is not None and projected is not None:
                context, step_weights, _ = self.attention.step(state, projected, states, mask)
                weights.append(step_weights)
            embedded = self.target_embedding.weight.value[tokens]  # (N, E)
            (state,), _ = self.decoder.cell.step(
                np.concatenate([embedded, context], axis=1), (state,)
            )
            logits = np.concatenate([state, context], axis=1) @ self.output.weight.value
            tokens = (logits + self.output.bias.value).argmax(axis=1)
            out[:, t] = np.where(done, PAD, tokens)
            done |= tokens == EOS
            if done.all():
                break
        self.weights = np.stack(weights, axis=1) if weights else None
        return out

    def next_log_probs(self, source: np.ndarray, prefixes: np.ndarray) -> np.ndarray:
        """log P(next token | source, prefix) (N, V), rerunning the decoder over the prefix."""
        return log_softmax(self.forward(source, prefixes)[:, -1])

    def __repr__(self) -> str:
        return f"GRUSeq2Seq(hidden_size={self.hidden_size}, attention={self.use_attention})"


# --- Training -------------------------------------------------------------------------------


def padded_cross_entropy(logits: np.ndarray, targets: np.ndarray) -> tuple[float, np.ndarray]:
    r"""Mean cross-entropy over the real (non-padding) target positions, and its gradient.

    :math:`L = -\frac{1}{M}\sum_{(n,t):\,y_{nt} \ne 0} \log p_{nt}(y_{nt})` over the M real
    positions; :math:`\partial L/\partial z_{nt} = (p_{nt} - \mathrm{onehot}(y_{nt}))/M`
    there and 0 at padding (``torch.nn.CrossEntropyLoss(ignore_index=0)``).
    """
    logits = as_float_array(logits, "logits", ndim=3)
    targets = np.asarray(targets)
    if targets.shape != logits.shape[:2]:
        raise ValueError(
            f"targets must be (N, T) = {logits.shape[:2]} ids, got {describe(targets)}"
        )
    real = targets != PAD
    count = max(int(real.sum()), 1)
    log_p = log_softmax(logits)  # (N, T, V)
    picked = np.take_along_axis(log_p, targets[..., None], axis=-1)[..., 0]  # (N, T)
    grad = np.exp(log_p)
    np.put_along_axis(
        grad, targets[..., None], np.take_along_axis(grad, targets[..., None], -1) - 1, -1
    )
    grad *= real[..., None] / count
    return float(-(picked * real).sum() / count), grad


def fit(
    model: GRUSeq2Seq | Seq2SeqTransformer,
    source: np.ndarray,
    target_in: np.ndarray,
    target_out: np.ndarray,
    optimizer: Any,
    *,
    epochs: int,
    batch_size: int = 64,
    seed: int = 0,
) -> list[float]:
    """Teacher forcing: minimise :func:`padded_cross_entropy` of ``model.forward(source,
    target_in)`` against ``target_out`` with ``optimizer`` (:mod:`dltutor.scratch.optim`);
    returns each epoch's mean loss. Batches are shuffled by a generator seeded with ``seed``."""
    epochs = check_positive_int(epochs, "epochs")
    batch_size = check_positive_int(batch_size, "batch_size")
    rng = np.random.default_rng(seed)
    history = []
    for _ in range(epochs):
        order = rng.permutation(len(source))
        total = 0.0
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            loss, grad = padded_cross_entropy(
                model.forward(source[rows], target_in[rows]), target_out[rows]
            )
            model.backward(grad)
            optimizer.step(model.parameters())
            total += loss * len(rows)
        history.append(total / len(source))
    return history


# --- Decoding --------------------------------------------------------------------------------

NextLogProbs = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""``(source (B, S), prefixes (B, t)) → log P(next token) (B, V)``, prefixes starting with BOS."""


def greedy_decode(next_log_probs: NextLogProbs, source: np.ndarray, max_length: int) -> np.ndarray:
    """The most probable next token at every step: (N, ``max_length``) ids, padded after EOS."""
    max_length = check_positive_int(max_length, "max_length")
    source = np.asarray(source)
    prefixes = np.full((len(source), 1), BOS)
    done = np.zeros(len(source), dtype=bool)
    for _ in range(max_length):
        tokens = next_log_probs(source, prefixes).argmax(axis=-1)
        tokens = np.where(done, PAD, tokens)
        prefixes = np.concatenate([prefixes, tokens[:, None]], axis=1)
        done |= tokens == EOS
        if done.all():
            break
    out = np.full((len(source), max_length), PAD)
    out[:, : prefixes.shape[1] - 1] = prefixes[:, 1:]
    return out


def length_penalty(length: np.ndarray, alpha: float) -> np.ndarray:
    r"""GNMT's length normalisation (Wu et al., 2016): :math:`lp(Y) = ((5 + |Y|)/6)^\alpha`;
    a hypothesis is ranked by :math:`\log P(Y) / lp(Y)`. :math:`\alpha = 0` turns it off."""
    return ((5.0 + np.asarray(length, dtype=float)) / 6.0) ** alpha


def beam_search(
    next_log_probs: NextLogProbs,
    source: np.ndarray,
    beam_width: int,
    max_length: int,
    alpha: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Beam search: keep the ``beam_width`` most probable prefixes of each source at every step.

    A hypothesis that has produced EOS keeps its score and only grows by padding (at no
    cost) until every beam of every source has ended or ``max_length`` is reached; then
    the hypotheses are ranked by :func:`length_penalty`-normalised log-probability.
    Returns the best ids (N, ``max_length``) and their log-probabilities (N,). With
    ``beam_width=1`` it is :func:`greedy_decode`.
    """
    k = check_positive_int(beam_width, "beam_width")
    max_length = check_positive_int(max_length, "max_length")
    source = np.asarray(source)
    n = len(source)
    expanded = np.repeat(source, k, axis=0)  # (N·k, S): beam b of source i is row i·k + b
    prefixes = np.full((n * k, 1), BOS)
    scores = np.full((n, k), -np.inf)
    scores[:, 0] = 0.0  # one live hypothesis to start: the others would be copies
    done = np.zeros((n, k), dtype=bool)
    lengths = np.zeros((n, k))
    for _ in range(max_length):
        log_probs = next_log_probs(expanded, prefixes)  # (N·k, V)
        vocab = log_probs.shape[1]
        log_probs = log_probs.reshape(n, k, vocab).copy()
        log_probs[done] = -np.inf
        log_probs[done, PAD] = 0.0  # an ended hypothesis only pads, at no cost
        candidates = (scores[..., None] + log_probs).reshape(n, k * vocab)
        best = np.argsort(-candidates, axis=1, kind="stable")[:, :k]  # ties: the lower id
        beam, token = best // vocab, best % vocab
        scores = np.take_along_axis(candidates, best, axis=1)
        rows = (np.arange(n)[:, None] * k + beam).reshape(-1)
        prefixes = np.concatenate([prefixes[rows], token.reshape(-1, 1)], axis=1)
        was_done = np.take_along_axis(done, beam, axis=1)
        lengths = np.take_along_axis(lengths, beam, axis=1) + ~was_done
        done = was_done | (token == EOS)
        if done.all():
            break
    ranked = np.where(np.isfinite(scores), scores / length_penalty(lengths, alpha), -np.inf)
    choice = ranked.argmax(axis=1)
    best_rows = np.arange(n) * k + choice
    out = np.full((n, max_length), PAD)
    out[:, : prefixes.shape[1] - 1] = prefixes[best_rows, 1:]
    return out, scores[np.arange(n), choice]


# --- Evaluation ------------------------------------------------------------------------------


def _ngrams(tokens: list[str], n: int) -> dict[tuple[str, ...], int]:
    counts: dict[tuple[str, ...], int] = {}
    for i in range(len(tokens) - n + 1):
        gram = tuple(tokens[i : i + n])
        counts[gram] = counts.get(gram, 0) + 1
    return counts


def _check_corpus(hypotheses: Any, references: Any) -> list[list[list[str]]]:
    """References as a list, per hypothesis, of reference token lists."""
    if not isinstance(hypotheses, (list, tuple)) or not all(
        isinstance(h, (list, tuple)) and all(isinstance(t, str) for t in h) for h in hypotheses
    ):
        raise TypeError(f"hypotheses must be a list of token lists, got {describe(hypotheses)}")
    if not isinstance(references, (list, tuple)) or len(references) != len(hypotheses):
        raise ValueError(
            f"references must be a list of {len(hypotheses)} entries (one per hypothesis), "
            f"got {describe(references)}"
        )
    grouped = []
    for entry in references:
        if isinstance(entry, (list, tuple)) and entry and all(isinstance(t, str) for t in entry):
            grouped.append([list(entry)])  # one reference, given as its tokens
        elif (
            isinstance(entry, (list, tuple))
            and entry
            and all(isinstance(r, (list, tuple)) for r in entry)
        ):
            grouped.append([list(r) for r in entry])
        else:
            raise TypeError(
                "each reference must be a token list or a non-empty list of token lists, "
                f"got {describe(entry)}"
            )
    return grouped


def corpus_bleu(hypotheses: list[list[str]], references: list[Any], max_order: int = 4) -> float:
    r"""Corpus BLEU (Papineni et al., 2002), 0–100, on tokens as given, with no smoothing:

    .. math::

        \mathrm{BLEU} = \mathrm{BP} \cdot \exp\Big(\frac{1}{4}\sum_{n=1}^{4} \log p_n\Big), \quad
        \mathrm{BP} = \begin{cases} 1 & c > r \\ e^{1 - r/c} & c \le r \end{cases}

    :math:`p_n` is the number of hypothesis n-grams found in a reference, each clipped to
    its largest count in any one reference, over the number of hypothesis n-grams, both
    summed over the whole corpus; c is the total hypothesis length and r the sum of the
    reference lengths closest to each hypothesis (the shorter on a tie). Any :math:`p_n = 0`
    gives 0. ``references[i]`` is one token list or a list of them. Equals sacrebleu's
    ``corpus_bleu(..., tokenize="none", smooth_method="none")``.
    """
    max_order = check_positive_int(max_order, "max_order")
    grouped = _check_corpus(hypotheses, references)
    matches, totals = np.zeros(max_order), np.zeros(max_order)
    hypothesis_length = reference_length = 0
    for hypothesis, refs in zip(hypotheses, grouped, strict=True):
        hypothesis = list(hypothesis)
        hypothesis_length += len(hypothesis)
        reference_length += min((abs(len(r) - len(hypothesis)), len(r)) for r in refs)[1]
        for n in range(1, max_order + 1):
            counts = _ngrams(hypothesis, n)
            most: dict[tuple[str, ...], int] = {}
            for reference in refs:
                for gram, count in _ngrams(reference, n).items():
                    most[gram] = max(most.get(gram, 0), count)
            matches[n - 1] += sum(min(count, most.get(gram, 0)) for gram, count in counts.items())
            totals[n - 1] += max(len(hypothesis) - n + 1, 0)
    if hypothesis_length == 0 or (matches == 0).any():
        return 0.0
    log_precision = np.mean(np.log(matches / totals))
    brevity = (
        1.0
        if hypothesis_length > reference_length
        else np.exp(1 - reference_length / hypothesis_length)
    )
    return float(100 * brevity * np.exp(log_precision))


def exact_match(hypotheses: list[list[str]], references: list[list[str]]) -> float:
    """The fraction of hypotheses equal to their reference, token for token."""
    grouped = _check_corpus(hypotheses, references)
    if not hypotheses:
        raise ValueError("exact_match needs at least one hypothesis, got none")
    return float(np.mean([list(h) in refs for h, refs in zip(hypotheses, grouped, strict=True)]))


def token_accuracy(predicted: np.ndarray, target: np.ndarray) -> float:
    """The fraction of non-padding target positions (id ≠ 0) predicted right: (N, T) ids each."""
    predicted, target = np.asarray(predicted), np.asarray(target)
    if predicted.shape != target.shape or target.ndim != 2:
        raise ValueError(
            f"predicted and target must be (N, T) ids of one shape, got {describe(predicted)} "
            f"and {describe(target)}"
        )
    real = target != PAD
    if not real.any():
        raise ValueError("target has no position that is not padding")
    return float((predicted == target)[real].mean())


def alignment_accuracy(weights: np.ndarray, alignments: list[list[int]]) -> np.ndarray:
    r"""For each head, the share of output words whose strongest attention weight falls on
    the input word they translate: :math:`\operatorname{mean}_{n,t}
    [\arg\max_j a^{(h)}_{ntj} = g_{nt}]`, with ``weights`` (N, H, T, S) and ``alignments[n][t]``
    the gold input position :math:`g_{nt}`. Returns (H,)."""
    weights = np.asarray(weights)
    if weights.ndim != 4 or len(weights) != len(alignments):
        raise ValueError(
            f"expected weights (N, H, T, S) with N = {len(alignments)} alignments, "
            f"got shape {weights.shape}"
        )
    rows = [
        (n, t, gold) for n, alignment in enumerate(alignments) for t, gold in enumerate(alignment)
    ]
    n, t, gold = (np.array(column) for column in zip(*rows, strict=True))
    strongest = weights[n, :, t].argmax(axis=-1)  # (words, H)
    return (strongest == gold[:, None]).mean(axis=0)
