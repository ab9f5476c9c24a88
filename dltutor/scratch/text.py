r"""Words as vectors in NumPy: skip-gram with the full softmax and with negative sampling, its
count-based relative (PPMI and a truncated SVD), vector-offset analogies, a TF-IDF baseline,
and the layers of three text classifiers — a bag of embeddings, a 1-D convolution over
embeddings (Kim, 2014) and, in :mod:`dltutor.scratch.recurrent`, an LSTM.

Sequences of vectors are (N, T, D): example, position, feature — the layout of the
recurrent layers, and of Keras' ``Conv1D`` (PyTorch's ``conv1d`` wants (N, D, T)).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from dltutor.checks import (
    as_float_array,
    as_index_array,
    check_number,
    check_positive_int,
    describe,
)
from dltutor.scratch.activations import Activation
from dltutor.scratch.layers import Embedding, Layer, Linear, glorot_uniform
from dltutor.scratch.losses import sigmoid_cross_entropy
from dltutor.scratch.sequential import Sequential
from dltutor.specs import SkipGramSpec, TextCNNSpec, TextSpec

# --- Skip-gram with negative sampling -------------------------------------------------------


class SkipGram(Layer):
    r"""Skip-gram with negative sampling (Mikolov et al., 2013): two tables of word vectors.

    ``centre`` holds :math:`u_w`, the vector of a word as the centre of a window, and
    ``context`` holds :math:`v_w`, its vector as a neighbour. An example is a row of ids
    ``[c, o, n_1, ..., n_K]``: a centre word, a word seen near it, and K noise words.
    The output is the logits :math:`s_j = u_c \cdot v_j` for ``j`` in ``[o, n_1, ...,
    n_K]``, shape (N, 1 + K); :class:`SkipGramLoss` asks for :math:`\sigma(s_o) \to 1` and
    :math:`\sigma(s_{n_k}) \to 0`. Backward, with :math:`g_j = \partial L / \partial s_j`:

    .. math::

        \frac{\partial L}{\partial u_c} = \sum_j g_j v_j, \qquad
        \frac{\partial L}{\partial v_j} = g_j u_c ,

    each added onto the row it came from (a word can occur in several places of a batch).
    As in word2vec's C code, centre vectors start uniform in :math:`\pm 0.5/D` and context
    vectors at zero.
    """

    def __init__(
        self,
        vocab_size: int,
        embed_dim: int,
        *,
        rng: np.random.Generator | None = None,
        dtype: npt.DTypeLike = np.float64,
    ) -> None:
        super().__init__()
        self.spec = SkipGramSpec(vocab_size, embed_dim)
        rng = np.random.default_rng(rng)
        self.centre = self.add_layer("centre", Embedding(vocab_size, embed_dim, dtype=dtype))
        self.context = self.add_layer("context", Embedding(vocab_size, embed_dim, dtype=dtype))
        limit = 0.5 / embed_dim
        self.centre.weight.value[...] = rng.uniform(-limit, limit, (vocab_size, embed_dim))
        self.context.weight.value[...] = 0.0
        self._u: np.ndarray | None = None
        self._v: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = as_index_array(x, "x", self.spec.vocab_size)
        if x.ndim != 2 or x.shape[1] < 2:
            raise ValueError(
                f"SkipGram expects rows [centre, context, noise...] of shape (N, 2 + K), got {describe(x)}"
            )
        self._u = self.centre.forward(x[:, 0])  # (N, D)
        self._v = self.context.forward(x[:, 1:])  # (N, 1 + K, D)
        return np.einsum("nd,njd->nj", self._u, self._v)  # (N, 1 + K)

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        if self._u is None or self._v is None:
            raise RuntimeError("SkipGram.backward called before forward")
        grad_output = as_float_array(grad_output, "grad_output")
        if grad_output.shape != self._v.shape[:2]:
            raise ValueError(
                f"grad_output must have shape {self._v.shape[:2]}, got {describe(grad_output)}"
            )
        self.centre.backward(np.einsum("nj,njd->nd", grad_output, self._v))
        self.context.backward(grad_output[:, :, None] * self._u[:, None, :])
        return np.zeros(self._v.shape[:1] + (self._v.shape[1] + 1,))  # ids: no gradient

    @property
    def vectors(self) -> np.ndarray:
        """The word vectors to use afterwards: the centre table, (vocab_size, embed_dim)."""
        return self.centre.weight.value


class SkipGramSoftmax(SkipGram):
    r"""Skip-gram with the full softmax: which of the V words is the context of centre c?

    .. math::

        p(o \mid c) = \frac{\exp(u_c \cdot v_o)}{\sum_{w=1}^{V} \exp(u_c \cdot v_w)}, \qquad
        L = -\log p(o \mid c) = -s_o + \log \sum_w e^{s_w}, \quad s_w = u_c \cdot v_w .

    Input: centre ids (N, 1); output: the logits :math:`s_w` for every word, (N, V), to be
    scored against the context ids by :class:`~dltutor.scratch.losses.CrossEntropyLoss`.
    With :math:`g_w = \partial L/\partial s_w = p(w \mid c) - [w = o]`:

    .. math::

        \frac{\partial L}{\partial u_c} = \sum_{w=1}^{V} g_w v_w
            = \mathbb{E}_{w \sim p(\cdot \mid c)}[v_w] - v_o, \qquad
        \frac{\partial L}{\partial v_w} = g_w u_c ,

    a sum over the whole vocabulary for every pair; :class:`SkipGram`'s negative sampling
    replaces it by K + 1 terms. Same tables and initialisation as :class:`SkipGram`, whose
    ``vectors`` it shares; only the question asked of them differs.
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = as_index_array(x, "x", self.spec.vocab_size)
        if x.ndim != 2 or x.shape[1] != 1:
            raise ValueError(
                f"SkipGramSoftmax expects centre ids of shape (N, 1), got {describe(x)}"
            )
        self._u = self.centre.forward(x[:, 0])  # (N, D)
        return self._u @ self.context.weight.value.T  # (N, V)

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        if self._u is None:
            raise RuntimeError("SkipGramSoftmax.backward called before forward")
        grad_output = as_float_array(grad_output, "grad_output")
        expected = (len(self._u), self.spec.vocab_size)
        if grad_output.shape != expected:
            raise ValueError(f"grad_output must have shape {expected}, got {describe(grad_output)}")
        self.centre.backward(grad_output @ self.context.weight.value)  # (N, D)
        self.context.weight.grad = grad_output.T @ self._u  # (V, D)
        return np.zeros((len(self._u), 1))  # ids: no gradient


class SkipGramLoss:
    r"""Negative sampling's loss: the logistic loss of each of the 1 + K logits, summed per example.

    .. math::

        L = \frac1N \sum_n \Big[ -\log \sigma(s_{n,o}) - \sum_{k=1}^{K} \log \sigma(-s_{n,k}) \Big]

    written with labels (1 for the context word, 0 for the noise words) as the binary
    cross-entropy :math:`\text{softplus}(s) - y s`, summed over the row, averaged over the
    batch. :math:`\partial L / \partial s = (\sigma(s) - y) / N`.
    """

    def __init__(self) -> None:
        self._cache: tuple[np.ndarray, np.ndarray] | None = None

    def forward(self, logits: np.ndarray, labels: np.ndarray) -> float:
        logits, labels = as_float_array(logits, "logits"), as_float_array(labels, "labels")
        if logits.shape != labels.shape or logits.ndim != 2:
            raise ValueError(
                f"logits and labels must both be (N, 1 + K), got {logits.shape} and {labels.shape}"
            )
        self._cache = (logits, labels)
        return float(sigmoid_cross_entropy(logits, labels).sum(axis=1).mean())

    def backward(self) -> np.ndarray:
        if self._cache is None:
            raise RuntimeError("SkipGramLoss.backward called before forward")
        logits, labels = self._cache
        return (1.0 / (1.0 + np.exp(-logits)) - labels) / len(logits)


# --- The count-based relative: PPMI and a truncated SVD ------------------------------------


def cooccurrence_matrix(
    sentences: Sequence[np.ndarray], vocab_size: int, window: int
) -> np.ndarray:
    """Counts :math:`C_{wc}`: how often word id c occurs within ``window`` places of word id w.

    The same pairs skip-gram trains on (:func:`dltutor.data.skipgram_examples`); symmetric.
    """
    vocab_size = check_positive_int(vocab_size, "vocab_size")
    window = check_positive_int(window, "window")
    counts = np.zeros((vocab_size, vocab_size))
    for sentence in sentences:
        ids = as_index_array(sentence, "sentence", vocab_size)
        for offset in range(1, window + 1):
            np.add.at(counts, (ids[:-offset], ids[offset:]), 1.0)
            np.add.at(counts, (ids[offset:], ids[:-offset]), 1.0)
    return counts


def ppmi(counts: np.ndarray) -> np.ndarray:
    r"""Positive pointwise mutual information, :math:`\max(0, \log \frac{P(w, c)}{P(w) P(c)})`.

    PMI is how much more often two words meet than they would by chance. Levy and Goldberg
    (2014) showed that skip-gram with K noise words drawn from :math:`P_n` is optimal when
    :math:`u_w \cdot v_c = \log \frac{P(w, c)}{P(w) P_n(c)} - \log K`: PMI shifted by
    :math:`\log K`, with the context's probability taken from the noise distribution —
    the smoothed :math:`\text{count}^{3/4}` one in word2vec, not :math:`P(c)`. PPMI is
    a relative, not that matrix: it clips the negative cells, is not shifted, and uses
    :math:`P(c)`. Pairs never seen get 0.
    """
    counts = as_float_array(counts, "counts", ndim=2)
    if counts.shape[0] != counts.shape[1] or (counts < 0).any():
        raise ValueError(
            f"counts must be a square matrix of non-negative counts, got {describe(counts)}"
        )
    total = counts.sum()
    if total == 0:
        raise ValueError("counts are all zero: no pairs to measure")
    row, column = counts.sum(axis=1, keepdims=True), counts.sum(axis=0, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        pmi = np.log(counts * total / (row * column))
    return np.where(np.isfinite(pmi) & (pmi > 0), pmi, 0.0)


def svd_vectors(matrix: np.ndarray, dim: int) -> np.ndarray:
    r"""Word vectors from a truncated SVD :math:`M \approx U_d \Sigma_d V_d^\top`: rows of :math:`U_d \Sigma_d^{1/2}`.

    The best rank-``dim`` approximation of ``matrix`` (Eckart–Young); splitting
    :math:`\Sigma` evenly between words and contexts is what Levy, Goldberg and Dagan
    (2015) found works best. Signs are fixed so each column's largest entry is positive.
    """
    matrix = as_float_array(matrix, "matrix", ndim=2)
    dim = check_positive_int(dim, "dim")
    if dim > min(matrix.shape):
        raise ValueError(
            f"dim must be at most {min(matrix.shape)} for a {matrix.shape} matrix, got {dim}"
        )
    u, s, _ = np.linalg.svd(matrix, full_matrices=False)
    u = u[:, :dim] * np.sign(u[np.abs(u[:, :dim]).argmax(axis=0), range(dim)])
    return u * np.sqrt(s[:dim])


# --- Judging word vectors --------------------------------------------------------------


def analogy_accuracy(
    vectors: np.ndarray,
    pairs: Sequence[tuple[int, int]],
    candidates: Sequence[int] | None = None,
) -> float:
    r"""How often the vector offset answers "a is to b as a′ is to ?" (Mikolov et al., 2013).

    For every ordered choice of two different pairs :math:`(a, b)` and :math:`(a', b')`
    among ``pairs`` (row ids of ``vectors``), the answer is the candidate word closest in
    cosine to :math:`\hat b - \hat a + \hat a'`, with :math:`\hat x = x / \lVert x
    \rVert` ("3CosAdd"); the three query words are never answers. Returns the fraction
    answered with :math:`b'`. ``candidates`` are the rows that may answer (default: all).
    """
    vectors = as_float_array(vectors, "vectors", ndim=2)
    pairs_array = as_index_array(np.asarray(pairs), "pairs", len(vectors))
    if pairs_array.ndim != 2 or pairs_array.shape[1] != 2 or len(pairs_array) < 2:
        raise ValueError(
            f"pairs must be at least two (a, b) pairs of row ids, got {describe(pairs_array)}"
        )
    allowed = np.zeros(len(vectors), dtype=bool)
    if candidates is None:
        allowed[:] = True
    else:
        allowed[as_index_array(np.asarray(candidates), "candidates", len(vectors))] = True
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = vectors / np.where(norms > 0, norms, 1.0)
    correct, asked = 0, 0
    for a, b in pairs_array:
        for a2, b2 in pairs_array:
            if a2 == a:
                continue
            scores = unit @ (unit[b] - unit[a] + unit[a2])  # (V,)
            scores[~allowed] = -np.inf
            scores[[a, b, a2]] = -np.inf
            correct += int(scores.argmax() == b2)
            asked += 1
    return correct / asked


def tfidf_classifier(max_c: float = 100.0) -> Any:
    r"""The strong simple baseline for text classification: TF-IDF features, logistic regression.

    A scikit-learn pipeline: ``TfidfVectorizer`` (a text becomes its words' counts times
    :math:`\log \frac{1 + N}{1 + \text{df}(w)} + 1`, scaled to unit length; words by
    :func:`dltutor.data.tokenize_words`, so it reads the same words as the networks), then
    ``LogisticRegressionCV`` (L2 penalty, solver SAGA), whose inverse regularisation
    strength C is chosen among 1e-2 … ``max_c`` by 3-fold cross-validation on the training
    texts only. Fit with
    ``.fit(train_texts, labels)``, then ``.predict(texts)``.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.pipeline import make_pipeline

    from dltutor.data.text import tokenize_words

    max_c = check_number(max_c, "max_c", positive=True)
    return make_pipeline(
        TfidfVectorizer(analyzer=tokenize_words),
        LogisticRegressionCV(
            Cs=np.logspace(-2, np.log10(max_c), 5),
            cv=3,
            max_iter=2000,
            solver="saga",  # no BLAS threads: fast on a busy CPU too
            l1_ratios=(0.0,),  # plain L2, stated: scikit-learn's default is changing
            scoring="accuracy",
            use_legacy_attributes=False,
        ),
    )


# --- Layers for text classifiers -------------------------------------------------------------


class EmbeddingBag(Layer):
    r"""The mean of the vectors of a sentence's words, padding (id 0) left out.

    :math:`y_n = \frac{1}{|S_n|} \sum_{t \in S_n} E_{x_{n,t}}` with :math:`S_n` the
    positions of row n whose id is not 0. Word order is lost: a bag of words. Backward adds
    :math:`g_n / |S_n|` to the row of each word of sentence n. PyTorch's
    ``nn.EmbeddingBag(mode="mean", padding_idx=0)`` and Keras'
    ``Embedding(mask_zero=True)`` → :class:`dltutor.keras.text.MaskedMean` compute the same.
    """

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        *,
        rng: np.random.Generator | None = None,
        dtype: npt.DTypeLike = np.float64,
    ) -> None:
        super().__init__()
        self.embedding = self.add_layer(
            "embedding", Embedding(num_embeddings, embedding_dim, rng=rng, dtype=dtype)
        )
        self._weights: np.ndarray | None = None  # (N, T): 1/|S_n| on words, 0 on padding

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = as_index_array(x, "ids", self.embedding.num_embeddings)
        if x.ndim != 2:
            raise ValueError(f"EmbeddingBag expects ids of shape (N, T), got {describe(x)}")
        words = (x != 0).astype(self.embedding.weight.value.dtype)
        self._weights = words / np.maximum(words.sum(axis=1, keepdims=True), 1.0)
        vectors = self.embedding.forward(x)  # (N, T, D)
        return np.einsum("nt,ntd->nd", self._weights, vectors)

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        if self._weights is None:
            raise RuntimeError("EmbeddingBag.backward called before forward")
        grad_output = as_float_array(grad_output, "grad_output")
        return self.embedding.backward(self._weights[:, :, None] * grad_output[:, None, :])


class Conv1D(Layer):
    r"""A 1-D convolution over a sequence: :math:`y_{n,t,o} = b_o + \sum_{j<k} \sum_c x_{n,t+j,c} W_{o,c,j}`.

    Shapes: ``x`` (N, T, C_in), kernel ``W`` (C_out, C_in, k) as in PyTorch, ``y`` (N, T −
    k + 1, C_out) — stride 1, no padding ("valid"). Each output position sees k
    consecutive words: an n-gram detector. Backward, with :math:`g = \partial L/\partial y`:

    .. math::

        \frac{\partial L}{\partial W_{o,c,j}} = \sum_{n,t} g_{n,t,o}\, x_{n,t+j,c}, \qquad
        \frac{\partial L}{\partial x_{n,s,c}} = \sum_{j} \sum_o g_{n,s-j,o} W_{o,c,j} .
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        *,
        rng: np.random.Generator | None = None,
        dtype: npt.DTypeLike = np.float64,
    ) -> None:
        super().__init__()
        self.in_channels = check_positive_int(in_channels, "in_channels")
        self.out_channels = check_positive_int(out_channels, "out_channels")
        self.kernel_size = check_positive_int(kernel_size, "kernel_size")
        rng = np.random.default_rng(rng)
        shape = (self.out_channels, self.in_channels, self.kernel_size)
        weight = glorot_uniform(
            in_channels * kernel_size, out_channels * kernel_size, rng, dtype, shape
        )
        self.weight = self.add_parameter("W", weight)
        self.bias = self.add_parameter("b", np.zeros(self.out_channels, dtype=dtype))
        self._windows: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = as_float_array(x, "x")
        if x.ndim != 3 or x.shape[2] != self.in_channels or x.shape[1] < self.kernel_size:
            raise ValueError(
                f"Conv1D expects x of shape (N, T >= {self.kernel_size}, {self.in_channels}), "
                f"got {describe(x)}"
            )
        # every window of k positions: (N, T', C_in, k), a view, no copy
        self._windows = np.lib.stride_tricks.sliding_window_view(x, self.kernel_size, axis=1)
        return np.einsum("ntcj,ocj->nto", self._windows, self.weight.value) + self.bias.value

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        if self._windows is None:
            raise RuntimeError("Conv1D.backward called before forward")
        grad_output = as_float_array(grad_output, "grad_output")
        n, steps = self._windows.shape[:2]
        if grad_output.shape != (n, steps, self.out_channels):
            raise ValueError(
                f"grad_output must have shape {(n, steps, self.out_channels)}, got {describe(grad_output)}"
            )
        self.weight.grad = np.einsum("nto,ntcj->ocj", grad_output, self._windows)
        self.bias.grad = grad_output.sum(axis=(0, 1))
        grad_x = np.zeros((n, steps + self.kernel_size - 1, self.in_channels))
        for j in range(self.kernel_size):  # offset j: output t read input t + j
            grad_x[:, j : j + steps] += grad_output @ self.weight.value[:, :, j]
        return grad_x

    def __repr__(self) -> str:
        return f"Conv1D({self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size})"


class GlobalMaxPool1D(Layer):
    """The largest value of each feature over the positions: (N, T, C) → (N, C).

    "Was this n-gram anywhere in the sentence?" Backward sends each gradient to the
    position that won (the first, on a tie).
    """

    def __init__(self) -> None:
        super().__init__()
        self._winners: np.ndarray | None = None
        self._shape: tuple[int, ...] = ()

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = as_float_array(x, "x", ndim=3)
        self._winners, self._shape = x.argmax(axis=1), x.shape  # (N, C)
        return x.max(axis=1)

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        if self._winners is None:
            raise RuntimeError("GlobalMaxPool1D.backward called before forward")
        grad_output = as_float_array(grad_output, "grad_output")
        grad_x = np.zeros(self._shape)
        n, c = np.indices(self._winners.shape)
        grad_x[n, self._winners, c] = grad_output
        return grad_x


# --- Text classifiers -----------------------------------------------------------------------


class BagOfEmbeddings(Sequential):
    """The mean of a sentence's word vectors, then a linear layer: word order cannot matter.

    :class:`EmbeddingBag` → :class:`~dltutor.scratch.layers.Linear`; inputs (N, T) word
    ids with 0 as padding, outputs (N, ``num_classes``) logits. Fast and often strong on
    topics (fastText's classifier is this model); blind to "not" and "but".
    """

    def __init__(
        self,
        vocab_size: int,
        embed_dim: int,
        num_classes: int,
        *,
        rng: np.random.Generator | None = None,
        dtype: npt.DTypeLike = np.float64,
    ) -> None:
        self.spec = TextSpec(vocab_size, embed_dim, num_classes)
        rng = np.random.default_rng(rng)
        super().__init__(
            [
                EmbeddingBag(vocab_size, embed_dim, rng=rng, dtype=dtype),
                Linear(embed_dim, num_classes, rng=rng, dtype=dtype),
            ]
        )


class TextCNN(Sequential):
    """A convolution over word vectors (Kim, 2014): n-gram detectors, max over the sentence, a linear layer.

    Embedding → :class:`Conv1D` (``filters`` detectors of ``kernel_size`` words) → ReLU →
    :class:`GlobalMaxPool1D` → Linear(``num_classes``). It sees order inside each window
    of ``kernel_size`` words — enough for "not very good" — but not beyond it.
    """

    def __init__(
        self,
        vocab_size: int,
        embed_dim: int,
        num_classes: int,
        filters: int = 32,
        kernel_size: int = 3,
        *,
        rng: np.random.Generator | None = None,
        dtype: npt.DTypeLike = np.float64,
    ) -> None:
        self.spec = TextCNNSpec(vocab_size, embed_dim, num_classes, filters, kernel_size)
        rng = np.random.default_rng(rng)
        super().__init__(
            [
                Embedding(vocab_size, embed_dim, rng=rng, dtype=dtype),
                Conv1D(embed_dim, filters, kernel_size, rng=rng, dtype=dtype),
                Activation("relu"),
                GlobalMaxPool1D(),
                Linear(filters, num_classes, rng=rng, dtype=dtype),
            ]
        )
