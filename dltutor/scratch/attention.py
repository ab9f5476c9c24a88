r"""Attention and the Transformer, forward and backward side by side.

Layout: batch first. A batch of sequences ``x`` is (N, T, E); with H heads each head works
in d = E / H dimensions, on queries, keys and values of shape (N, H, T, d).

Scaled dot-product attention (Vaswani et al., 2017): a query attends to every key and
mixes the values,

.. math::

    S = \frac{Q K^\top}{\sqrt{d}}, \qquad A = \mathrm{softmax}_j(S), \qquad Y = A V,

so :math:`y_i = \sum_j a_{ij} v_j` with :math:`a_{ij} \propto e^{q_i \cdot k_j / \sqrt d}`.

**Masks: True means "may attend".** This is the convention of
``torch.nn.functional.scaled_dot_product_attention`` and of Keras' ``MultiHeadAttention``;
``torch.nn.MultiheadAttention`` and ``torch.nn.TransformerEncoderLayer`` take the opposite
(True = blocked), and :mod:`dltutor.torch.attention` converts in one place. A masked pair
gets weight exactly 0. A query whose keys are *all* masked has no distribution to take:
its weights and its output are zero, as in ``scaled_dot_product_attention`` and Keras, and
no gradient flows through it.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from dltutor.checks import as_float_array, check_positive_int, describe
from dltutor.scratch.activations import Activation
from dltutor.scratch.layers import Embedding, Layer, Linear, glorot_uniform
from dltutor.scratch.sequential import Sequential
from dltutor.specs import TransformerSpec


def causal_mask(length: int) -> np.ndarray:
    """(T, T) boolean mask, True on and below the diagonal: position i may attend to j ≤ i."""
    length = check_positive_int(length, "length")
    return np.tril(np.ones((length, length), dtype=bool))


def masked_softmax(scores: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """Softmax over the last axis where ``mask`` is True; exactly 0 elsewhere, and 0 on rows with no True."""
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    top = scores.max(axis=-1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)  # a fully masked row: exp(-inf) = 0 below
    exp = np.exp(scores - top)
    total = exp.sum(axis=-1, keepdims=True)
    return np.divide(exp, total, out=np.zeros_like(exp), where=total > 0)


def attention(
    q: np.ndarray, k: np.ndarray, v: np.ndarray, mask: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Scaled dot-product attention: returns ``(y, weights)``.

    ``q`` (..., T, d), ``k`` (..., S, d), ``v`` (..., S, d_v); ``mask`` broadcasts to
    (..., T, S), True = may attend. ``weights`` (..., T, S) are the softmax of
    :math:`q k^\top / \\sqrt d`; ``y = weights @ v`` (..., T, d_v).
    """
    scores = q @ k.swapaxes(-1, -2) / np.sqrt(q.shape[-1])  # (..., T, S)
    weights = masked_softmax(scores, mask)
    return weights @ v, weights


def attention_backward(
    q: np.ndarray, k: np.ndarray, v: np.ndarray, weights: np.ndarray, grad_y: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""The gradients of :func:`attention` with respect to q, k and v.

    With :math:`G = \partial L/\partial Y`: :math:`\partial L/\partial V = A^\top G`,
    :math:`\partial L/\partial A = G V^\top`, through the softmax of each row
    :math:`(\partial L/\partial S)_{ij} = A_{ij}\big((G V^\top)_{ij} - \sum_k A_{ik} (G V^\top)_{ik}\big)`
    — the sum is one number per row i, the same for every j —
    then :math:`\partial L/\partial Q = \partial L/\partial S \, K / \sqrt d` and
    :math:`\partial L/\partial K = (\partial L/\partial S)^\top Q / \sqrt d`. Masked weights are 0,
    so no gradient reaches a masked score.
    """
    grad_v = weights.swapaxes(-1, -2) @ grad_y  # (..., S, d_v)
    grad_weights = grad_y @ v.swapaxes(-1, -2)  # (..., T, S)
    row_sum = (weights * grad_weights).sum(axis=-1, keepdims=True)  # (..., T, 1): per row i
    grad_scores = weights * (grad_weights - row_sum)  # (..., T, S)
    scale = 1.0 / np.sqrt(q.shape[-1])
    return grad_scores @ k * scale, grad_scores.swapaxes(-1, -2) @ q * scale, grad_v


def sinusoidal_positional_encoding(length: int, dim: int) -> np.ndarray:
    r"""(T, E) positions as waves (Vaswani et al., 2017): for :math:`i < E/2`,

    .. math::

        PE_{p, 2i} = \sin(p\,\omega_i), \quad PE_{p, 2i+1} = \cos(p\,\omega_i), \quad
        \omega_i = 10000^{-2i/E}.

    Moving by k positions rotates every pair :math:`(PE_{p,2i}, PE_{p,2i+1})` by the angle
    :math:`k \omega_i`, whatever p is: a shift is a fixed linear map of the encoding.
    """
    length = check_positive_int(length, "length")
    dim = check_positive_int(dim, "dim")
    if dim % 2:
        raise ValueError(f"dim must be even (pairs of sine and cosine), got {dim}")
    frequencies = 10000.0 ** (-np.arange(0, dim, 2) / dim)  # (E/2,)
    angles = np.arange(length)[:, None] * frequencies  # (T, E/2)
    encoding = np.empty((length, dim))
    encoding[:, 0::2], encoding[:, 1::2] = np.sin(angles), np.cos(angles)
    return encoding


class PositionalEncoding(Layer):
    """Adds the sinusoidal encoding of each position to (N, T, E) inputs; backward passes g through."""

    def __init__(self, max_length: int, dim: int) -> None:
        super().__init__()
        self.encoding = sinusoidal_positional_encoding(max_length, dim)  # (T_max, E): no parameters

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = as_float_array(x, "x", ndim=3)
        if x.shape[1] > len(self.encoding) or x.shape[2] != self.encoding.shape[1]:
            raise ValueError(
                f"PositionalEncoding expects (N, T ≤ {len(self.encoding)}, {self.encoding.shape[1]}), "
                f"got {describe(x)}"
            )
        return x + self.encoding[: x.shape[1]]

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        return as_float_array(grad_output, "grad_output")

    def __repr__(self) -> str:
        return f"PositionalEncoding({len(self.encoding)}, {self.encoding.shape[1]})"


class LayerNorm(Layer):
    r"""Layer normalisation (Ba et al., 2016) over the last axis:

    .. math::

        \hat x = \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}}, \qquad y = \gamma \odot \hat x + \beta,

    with :math:`\mu, \sigma^2` the mean and the *biased* variance of each row (as
    ``torch.nn.LayerNorm``; Keras' ``LayerNormalization`` needs ``epsilon=1e-5`` to agree).
    Backward, with :math:`D` features and :math:`\hat g = g \odot \gamma`:
    :math:`\partial L/\partial x = \frac{1}{D\sqrt{\sigma^2+\epsilon}}\big(D\hat g - \sum \hat g
    - \hat x \sum \hat g \odot \hat x\big)`.
    """

    def __init__(self, dim: int, eps: float = 1e-5, *, dtype: npt.DTypeLike = np.float64) -> None:
        super().__init__()
        self.dim = check_positive_int(dim, "dim")
        if not eps > 0:
            raise ValueError(f"eps must be positive, got {eps!r}")
        self.eps = float(eps)
        self.gamma = self.add_parameter("gamma", np.ones(self.dim, dtype=dtype))
        self.beta = self.add_parameter("beta", np.zeros(self.dim, dtype=dtype))
        self._cache: tuple[np.ndarray, np.ndarray] | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = as_float_array(x, "x")
        if x.shape[-1] != self.dim:
            raise ValueError(f"LayerNorm expects (..., {self.dim}), got {describe(x)}")
        inverse_std = 1.0 / np.sqrt(x.var(axis=-1, keepdims=True) + self.eps)
        normalised = (x - x.mean(axis=-1, keepdims=True)) * inverse_std
        self._cache = (normalised, inverse_std)
        return self.gamma.value * normalised + self.beta.value

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        if self._cache is None:
            raise RuntimeError("LayerNorm.backward called before forward")
        normalised, inverse_std = self._cache
        grad_output = as_float_array(grad_output, "grad_output")
        batch_axes = tuple(range(grad_output.ndim - 1))
        self.gamma.grad = (grad_output * normalised).sum(axis=batch_axes)
        self.beta.grad = grad_output.sum(axis=batch_axes)
        g = grad_output * self.gamma.value  # dL/d(normalised)
        return inverse_std * (
            g
            - g.mean(axis=-1, keepdims=True)
            - normalised * (g * normalised).mean(axis=-1, keepdims=True)
        )

    def __repr__(self) -> str:
        return f"LayerNorm({self.dim}, eps={self.eps:g})"


def _split_heads(x: np.ndarray, heads: int) -> np.ndarray:
    n, t, e = x.shape
    return x.reshape(n, t, heads, e // heads).transpose(0, 2, 1, 3)  # (N, H, T, d)


def _merge_heads(x: np.ndarray) -> np.ndarray:
    n, h, t, d = x.shape
    return x.transpose(0, 2, 1, 3).reshape(n, t, h * d)  # (N, T, E)


class MultiHeadAttention(Layer):
    r"""Multi-head self-attention: H heads, each scaled dot-product attention in d = E/H dimensions.

    .. math::

        Q = x W_q + b_q,\; K = x W_k + b_k,\; V = x W_v + b_v \;\;(\text{each split into } H \text{ heads}),
        \qquad y = \mathrm{concat}_h\big(\mathrm{attention}(Q_h, K_h, V_h)\big) W_o + b_o .

    Parameters, in this order: ``W_q, W_k, W_v`` (E, E), ``b_q, b_k, b_v`` (E,), then the
    output projection ``out`` (a :class:`Linear`). ``causal=True`` lets position i attend only
    to positions j ≤ i. After ``forward``, ``weights`` holds the attention maps (N, H, T, T).
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        *,
        causal: bool = False,
        rng: np.random.Generator | None = None,
        dtype: npt.DTypeLike = np.float64,
    ) -> None:
        super().__init__()
        self.embed_dim = check_positive_int(embed_dim, "embed_dim")
        self.num_heads = check_positive_int(num_heads, "num_heads")
        if self.embed_dim % self.num_heads:
            raise ValueError(
                f"embed_dim must be divisible by num_heads, got {self.embed_dim} and {self.num_heads}"
            )
        self.causal = bool(causal)
        rng = np.random.default_rng(rng)
        e = self.embed_dim
        self.W_q, self.W_k, self.W_v = (
            self.add_parameter(name, glorot_uniform(e, e, rng, dtype))
            for name in ("W_q", "W_k", "W_v")
        )
        self.b_q, self.b_k, self.b_v = (
            self.add_parameter(name, np.zeros(e, dtype=dtype)) for name in ("b_q", "b_k", "b_v")
        )
        self.out = self.add_layer("out", Linear(e, e, rng=rng, dtype=dtype))
        self.weights: np.ndarray | None = None
        self._cache: tuple[np.ndarray, ...] | None = None

    def attend(self, x: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        """Self-attention of ``x`` (N, T, E) with an optional mask (T, T) or (N, T, T), True = may attend."""
        x = as_float_array(x, "x", ndim=3)
        if x.shape[2] != self.embed_dim:
            raise ValueError(
                f"MultiHeadAttention expects (N, T, {self.embed_dim}), got {describe(x)}"
            )
        length = x.shape[1]
        if mask is not None:
            mask = np.asarray(mask)
            if mask.dtype != bool or mask.shape[-2:] != (length, length) or mask.ndim not in (2, 3):
                raise ValueError(
                    f"mask must be boolean (T, T) or (N, T, T) with T = {length}, got {describe(mask)}"
                )
        if self.causal:
            mask = causal_mask(length) if mask is None else mask & causal_mask(length)
        heads = self.num_heads
        q = _split_heads(x @ self.W_q.value + self.b_q.value, heads)  # (N, H, T, d)
        k = _split_heads(x @ self.W_k.value + self.b_k.value, heads)
        v = _split_heads(x @ self.W_v.value + self.b_v.value, heads)
        head_mask = (
            None if mask is None else (mask[None, None] if mask.ndim == 2 else mask[:, None])
        )
        y, self.weights = attention(q, k, v, head_mask)  # (N, H, T, d), (N, H, T, T)
        self._cache = (x, q, k, v, self.weights)
        return self.out.forward(_merge_heads(y))  # (N, T, E)

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self.attend(x)

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        if self._cache is None:
            raise RuntimeError("MultiHeadAttention.backward called before forward")
        x, q, k, v, weights = self._cache
        grad_heads = _split_heads(self.out.backward(grad_output), self.num_heads)  # (N, H, T, d)
        grads = attention_backward(q, k, v, weights, grad_heads)
        rows = x.reshape(-1, self.embed_dim)  # (N·T, E)
        grad_x = np.zeros_like(x)
        for grad, weight, bias in zip(
            grads, (self.W_q, self.W_k, self.W_v), (self.b_q, self.b_k, self.b_v), strict=True
        ):
            grad_rows = _merge_heads(grad).reshape(-1, self.embed_dim)  # (N·T, E)
            weight.grad = rows.T @ grad_rows
            bias.grad = grad_rows.sum(axis=0)
            grad_x += (grad_rows @ weight.value.T).reshape(x.shape)
        return grad_x

    def __repr__(self) -> str:
        return f"MultiHeadAttention({self.embed_dim}, {self.num_heads}, causal={self.causal})"


class TransformerBlock(Layer):
    r"""A pre-LN Transformer block (Xiong et al., 2020): two residual sub-layers,

    .. math::

        h = x + \mathrm{MHA}(\mathrm{LN}_1(x)), \qquad y = h + W_2\,\mathrm{ReLU}(\mathrm{LN}_2(h) W_1 + b_1) + b_2 .

    Normalising *before* each sub-layer keeps the residual path an identity, so gradients
    reach early blocks undamped. Backward: a residual connection adds its two gradients.
    Parameters are registered in the order of ``torch.nn.TransformerEncoderLayer``:
    attention, ``linear1``, ``linear2``, ``norm1``, ``norm2``.
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        ff_units: int,
        *,
        causal: bool = False,
        rng: np.random.Generator | None = None,
        dtype: npt.DTypeLike = np.float64,
    ) -> None:
        super().__init__()
        rng = np.random.default_rng(rng)
        self.attention = self.add_layer(
            "attention",
            MultiHeadAttention(embed_dim, num_heads, causal=causal, rng=rng, dtype=dtype),
        )
        self.linear1 = self.add_layer(
            "linear1",
            Linear(embed_dim, check_positive_int(ff_units, "ff_units"), rng=rng, dtype=dtype),
        )
        self.relu = Activation("relu")
        self.linear2 = self.add_layer("linear2", Linear(ff_units, embed_dim, rng=rng, dtype=dtype))
        self.norm1 = self.add_layer("norm1", LayerNorm(embed_dim, dtype=dtype))
        self.norm2 = self.add_layer("norm2", LayerNorm(embed_dim, dtype=dtype))

    def forward(self, x: np.ndarray) -> np.ndarray:
        h = x + self.attention.forward(self.norm1.forward(x))  # (N, T, E)
        return h + self.linear2.forward(
            self.relu.forward(self.linear1.forward(self.norm2.forward(h)))
        )

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        feed_forward = self.linear1.backward(self.relu.backward(self.linear2.backward(grad_output)))
        grad_h = grad_output + self.norm2.backward(feed_forward)  # both paths from y = h + FF(h)
        return grad_h + self.norm1.backward(self.attention.backward(grad_h))

    def __repr__(self) -> str:
        return f"TransformerBlock({self.attention!r}, ff_units={self.linear1.out_features})"


class Transformer(Sequential):
    """A small Transformer over token ids (N, T): per-position logits (N, T, ``vocab_size``).

    Embedding → + sinusoidal positions → ``num_layers`` pre-LN blocks → LayerNorm → Linear.
    With ``causal=True`` (the default) it is a decoder-only language model: position t sees
    tokens 0..t only. With ``causal=False`` every position sees the whole sequence (an
    encoder, as for reversing a sequence). The twins in :mod:`dltutor.torch` and
    :mod:`dltutor.keras` take the same arguments.
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
        *,
        rng: np.random.Generator | None = None,
        dtype: npt.DTypeLike = np.float64,
    ) -> None:
        self.spec = TransformerSpec(
            vocab_size, context, embed_dim, num_heads, num_layers, ff_units, causal
        )
        rng = np.random.default_rng(rng)
        spec = self.spec
        layers: list[Layer] = [
            Embedding(spec.vocab_size, spec.embed_dim, rng=rng, dtype=dtype),
            PositionalEncoding(spec.context, spec.embed_dim),
        ]
        layers += [
            TransformerBlock(
                spec.embed_dim,
                spec.num_heads,
                spec.ff_units,
                causal=spec.causal,
                rng=rng,
                dtype=dtype,
            )
            for _ in range(spec.num_layers)
        ]
        layers += [
            LayerNorm(spec.embed_dim, dtype=dtype),
            Linear(spec.embed_dim, spec.vocab_size, rng=rng, dtype=dtype),
        ]
        super().__init__(layers)

    def attention_maps(self) -> list[np.ndarray]:
        """The attention weights of each block's last forward, (N, H, T, T) each."""
        blocks = [layer for layer in self.layers if isinstance(layer, TransformerBlock)]
        return [block.attention.weights for block in blocks if block.attention.weights is not None]


# --- associative recall: a baseline, and the circuit read off the attention maps -----------


def _check_recall(x: np.ndarray) -> tuple[np.ndarray, int]:
    x = np.asarray(x)
    if x.ndim != 2 or x.dtype.kind not in "iu" or x.shape[1] < 4 or x.shape[1] % 2:
        raise ValueError(
            "x must be associative-recall sequences k1 v1 ... kP vP ? kq, integer ids of "
            f"shape (N, 2P + 2), got {describe(x)}"
        )
    return x, (x.shape[1] - 2) // 2


def key_blind_answers(x: np.ndarray) -> np.ndarray:
    """(N,) answers of the best model that ignores the query: the most frequent value stored
    in each sequence ``x`` (N, 2P + 2) of :func:`dltutor.data.make_associative_recall`.

    The answer is one of the P stored values, each equally likely to be asked, so a value
    stored m times is the answer with probability m / P, whatever the query: the most
    frequent one (ties: the smallest id) is the best guess that does not read the query.
    """
    x, pairs = _check_recall(x)
    values = x[:, 1 : 2 * pairs : 2]  # (N, P)
    counts = (values[:, :, None] == values[:, None, :]).sum(axis=-1)  # (N, P): m per value
    best = np.where(counts == counts.max(axis=1, keepdims=True), values, np.iinfo(values.dtype).max)
    return best.min(axis=1)


def recall_head_scores(
    first_layer: np.ndarray, second_layer: np.ndarray, x: np.ndarray
) -> dict[str, np.ndarray]:
    """How well two layers' heads implement the recall circuit on sequences ``x`` (N, 2P + 2),
    from their attention maps (N, H, T, T):

    ``previous``: per head of the first layer, the fraction of value positions whose
    largest weight falls on the token before — the value's own key. ``matching``: per head
    of the second layer, the fraction of sequences in which the last position's (the query
    key's) largest weight falls on the value stored with the queried key; ``mass``: the
    mean weight it puts there. Each an (H,) array.
    """
    x, pairs = _check_recall(x)
    n, t = x.shape
    for name, maps in (("first_layer", first_layer), ("second_layer", second_layer)):
        if np.ndim(maps) != 4 or np.shape(maps)[0] != n or np.shape(maps)[2:] != (t, t):
            raise ValueError(
                f"{name} must be attention maps (N, H, {t}, {t}) with N = {n}, got {describe(maps)}"
            )
    values = np.arange(1, 2 * pairs, 2)  # positions of v1 .. vP; their keys sit just before
    previous = (first_layer[:, :, values].argmax(-1) == values - 1).mean(axis=(0, 2))
    asked = (x[:, 0 : 2 * pairs : 2] == x[:, -1:]).argmax(axis=1)  # which pair was asked
    stored_at = 2 * asked + 1  # (N,): the position of its value
    last = second_layer[:, :, -1]  # (N, H, T): what the query key attends to
    matching = (last.argmax(-1) == stored_at[:, None]).mean(axis=0)
    mass = last[np.arange(n), :, stored_at].mean(axis=0)
    return {"previous": previous, "matching": matching, "mass": mass}
