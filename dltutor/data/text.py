"""Text as numbers: characters, words and byte-pair tokens with their ids, next-token pairs, and
text that ships with Python."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

from dltutor.checks import (
    as_float_array,
    as_index_array,
    check_non_negative_int,
    check_number,
    check_positive_int,
    check_seed,
    check_sentences,
    check_words,
    describe,
)


def load_python_docs_text() -> str:
    """The help texts of Python's keywords and topics (module ``pydoc_data.topics``, standard library).

    English technical prose and code, on every Python install: 465 thousand characters
    on Python 3.11; the size varies between Python versions.
    """
    from pydoc_data.topics import topics

    return "\n\n".join(topics[key] for key in sorted(topics))


class CharVocabulary:
    """The characters of a text, each with an integer id: ``encode`` text → ids, ``decode`` ids → text."""

    def __init__(self, text: str) -> None:
        if not isinstance(text, str) or not text:
            raise ValueError(f"text must be a non-empty string, got {text!r:.40}")
        self.characters = sorted(set(text))
        self._ids = {character: index for index, character in enumerate(self.characters)}

    @property
    def size(self) -> int:
        return len(self.characters)

    def encode(self, text: str) -> np.ndarray:
        if not isinstance(text, str):
            raise TypeError(f"text must be a string, got {describe(text)} {text!r:.40}")
        unknown = sorted(set(text) - self._ids.keys())
        if unknown:
            raise ValueError(f"text has characters outside the vocabulary: {unknown[:10]}")
        return np.fromiter((self._ids[c] for c in text), dtype=np.int64, count=len(text))

    def decode(self, ids: np.ndarray) -> str:
        ids = as_index_array(ids, "ids", self.size)  # a negative id would wrap around silently
        return "".join(self.characters[i] for i in ids.ravel())


def next_token_pairs(ids: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Cut a token sequence into non-overlapping pieces of ``length``: inputs and the same shifted by one.

    Returns ``x`` and ``y`` of shape (N, length), int64, with ``y[n, t] = x[n, t + 1]`` in the text.
    """
    ids = np.asarray(ids)
    if ids.dtype.kind not in "iu":
        raise TypeError(f"ids must be a 1-D array of integers, got {describe(ids)}")
    if ids.ndim != 1:
        raise ValueError(f"ids must be a 1-D array of integers, got {describe(ids)}")
    length = check_positive_int(length, "length")
    count = (len(ids) - 1) // length
    if count < 1:
        raise ValueError(
            f"need more than {length} tokens to make one piece of length {length}, got {len(ids)}"
        )
    x = ids[: count * length].reshape(count, length)
    y = ids[1 : count * length + 1].reshape(count, length)
    return x.astype(np.int64), y.astype(np.int64)


# --- Words ----------------------------------------------------------------------------

WORD_PATTERN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[^\sa-z0-9]")
"""A word tokenizer's whole rule: runs of letters and digits (with an apostrophe suffix such
as "don't"), or any single other visible character (punctuation)."""


def tokenize_words(text: str) -> list[str]:
    """Lower-case ``text`` and split it into words and punctuation marks.

    ``tokenize_words("Don't panic, it's 42!")`` is ``["don't", "panic", ",", "it's", "42",
    "!"]``. Whitespace separates and disappears, so this tokenizer cannot be undone exactly;
    byte-pair encoding (:class:`BytePairEncoding`) can.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a string, got {describe(text)}")
    return WORD_PATTERN.findall(text.lower())


class Vocabulary:
    """Words and their integer ids, from the words of a training corpus.

    Id 0 is ``PAD`` (filler that makes sentences the same length), id 1 is ``UNKNOWN`` (any
    word not kept); then the kept words, most frequent first (ties alphabetical). A word is
    kept if it occurs at least ``min_count`` times, and at most ``max_size`` ids exist in all.
    Build it from training text only: a word seen only in test data must stay unknown.
    """

    PAD = "<pad>"
    UNKNOWN = "<unk>"

    def __init__(
        self,
        sentences: Iterable[Sequence[str]],
        min_count: int = 1,
        max_size: int | None = None,
    ) -> None:
        self.min_count = check_positive_int(min_count, "min_count")
        if max_size is not None and check_positive_int(max_size, "max_size") < 3:
            raise ValueError(
                f"max_size must leave room for a word beside <pad> and <unk>, got {max_size}"
            )
        check_sentences(sentences)
        counts: Counter[str] = Counter()
        for sentence in sentences:
            check_words(sentence, "each sentence")
            counts.update(sentence)
        kept = sorted(
            (word for word, count in counts.items() if count >= self.min_count),
            key=lambda word: (-counts[word], word),
        )
        if max_size is not None:
            kept = kept[: max_size - 2]
        if not kept:
            raise ValueError(f"no word occurs {self.min_count} times or more: nothing to keep")
        self.words = [self.PAD, self.UNKNOWN, *kept]
        self.counts = np.array([0, 0, *(counts[word] for word in kept)], dtype=np.int64)
        self._ids = {word: index for index, word in enumerate(self.words)}

    @property
    def size(self) -> int:
        return len(self.words)

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return word in self._ids

    def id(self, word: str) -> int:
        """The id of ``word``; 1 (unknown) for a word not kept."""
        if not isinstance(word, str):
            raise TypeError(f"word must be a string, got {describe(word)} {word!r:.40}")
        return self._ids.get(word, 1)

    def encode(self, words: Sequence[str]) -> np.ndarray:
        """The ids of a list of words, int64; unknown words become 1."""
        check_words(words)
        return self._encode(words)

    def _encode(self, words: Sequence[str]) -> np.ndarray:
        return np.array([self._ids.get(word, 1) for word in words], dtype=np.int64)

    def decode(self, ids: Iterable[int]) -> list[str]:
        """The words of ``ids``, padding dropped."""
        return [self.words[i] for i in as_index_array(ids, "ids", self.size).ravel() if i != 0]

    def encode_batch(self, sentences: Sequence[Sequence[str]], length: int) -> np.ndarray:
        """Sentences as one (N, ``length``) int64 array, padded and cut at the front.

        A shorter sentence gets ``PAD`` ids before it, a longer one keeps its last
        ``length`` words (Keras' ``pad_sequences`` default): a recurrent network reads the
        words last, right before it answers.
        """
        length = check_positive_int(length, "length")
        check_sentences(sentences)
        batch = np.zeros((len(sentences), length), dtype=np.int64)
        for row, sentence in enumerate(sentences):
            check_words(sentence, "each sentence")
            ids = self._encode(sentence)[-length:]
            if len(ids):
                batch[row, -len(ids) :] = ids
        return batch


# --- Byte-pair encoding -------------------------------------------------------------------

PIECE_PATTERN = re.compile(r" ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+")
"""Text is cut into pieces before merging (as GPT-2 does): a word with the space before it,
a number, a run of punctuation, or whitespace. Merges never cross a piece boundary, so a
token never spans two words."""


class BytePairEncoding:
    """Byte-pair encoding (Sennrich et al., 2016) over UTF-8 bytes, trained from scratch.

    Tokens start as the 256 byte values. Training repeats ``num_merges`` times: count
    every adjacent pair of tokens inside the pieces of the text (:data:`PIECE_PATTERN`),
    weighted by how often each piece occurs, and make the most frequent pair a new token.
    ``encode`` applies the merges in the order they were learned; ``decode`` joins the
    tokens' bytes. Every string round-trips exactly — ``decode(encode(t)) == t`` — even
    one with characters training never saw, since every byte is a base token.
    """

    def __init__(self, merges: Sequence[tuple[int, int]] = ()) -> None:
        self.merges: list[tuple[int, int]] = []
        self.tokens: list[bytes] = [bytes([b]) for b in range(256)]
        self._ranks: dict[tuple[int, int], int] = {}  # merge -> its place in the order learned
        self._cache: dict[str, list[int]] = {}  # piece -> its token ids
        for merge in merges:
            if isinstance(merge, (str, bytes)) or not hasattr(merge, "__len__"):
                raise TypeError(f"each merge must be a pair of token ids, got {merge!r:.40}")
            if len(merge) != 2:
                raise ValueError(f"each merge must be a pair of token ids, got {merge!r:.40}")
            self._add((int(merge[0]), int(merge[1])))

    def _add(self, pair: tuple[int, int]) -> int:
        first, second = pair
        if not (0 <= first < len(self.tokens) and 0 <= second < len(self.tokens)):
            raise ValueError(f"merge {pair} names a token that does not exist yet")
        self._ranks[(first, second)] = len(self.merges)
        self._cache.clear()
        self.merges.append((first, second))
        self.tokens.append(self.tokens[first] + self.tokens[second])
        return len(self.tokens) - 1

    @property
    def size(self) -> int:
        """256 byte tokens plus one per merge."""
        return len(self.tokens)

    @classmethod
    def train(cls, text: str, num_merges: int) -> BytePairEncoding:
        """Learn ``num_merges`` merges from ``text``; stops early if no pair occurs twice.

        Pair counts are updated incrementally: a merge changes only the pieces that contain
        the pair, so each merge costs time in proportion to those pieces, not to the text.
        """
        if not isinstance(text, str) or not text:
            raise ValueError(f"text must be a non-empty string, got {text!r:.40}")
        num_merges = check_non_negative_int(num_merges, "num_merges")
        bpe = cls()
        piece_counts = Counter(PIECE_PATTERN.findall(text))
        pieces = [list(piece.encode("utf-8")) for piece in piece_counts]
        weights = list(piece_counts.values())
        pair_counts: Counter[tuple[int, int]] = Counter()
        where: dict[tuple[int, int], set[int]] = {}  # pair -> the pieces that contain it
        for index, (piece, weight) in enumerate(zip(pieces, weights, strict=True)):
            for pair in zip(piece, piece[1:]):
                pair_counts[pair] += weight
                where.setdefault(pair, set()).add(index)
        for _ in range(num_merges):
            if not pair_counts:
                break
            # the most frequent pair; among equals, the smallest ids (deterministic)
            best = min(pair_counts, key=lambda pair: (-pair_counts[pair], pair))
            if pair_counts[best] < 2:
                break
            new = bpe._add(best)
            for index in sorted(where.pop(best, ())):
                piece, weight = pieces[index], weights[index]
                for pair in zip(piece, piece[1:]):  # forget the piece's old pairs
                    pair_counts[pair] -= weight
                    if pair_counts[pair] <= 0:
                        del pair_counts[pair]
                pieces[index] = piece = _merge(piece, best, new)
                for pair in zip(piece, piece[1:]):  # and count its new ones
                    pair_counts[pair] += weight
                    where.setdefault(pair, set()).add(index)
        return bpe

    def _encode_piece(self, piece: str) -> list[int]:
        ids = self._cache.get(piece)
        if ids is None:
            ranks, never = self._ranks, len(self.merges)
            ids = list(piece.encode("utf-8"))
            while len(ids) > 1:  # apply the earliest-learned merge present, until none is
                best = min(zip(ids, ids[1:]), key=lambda pair: ranks.get(pair, never))
                if best not in ranks:
                    break
                ids = _merge(ids, best, 256 + ranks[best])
            self._cache[piece] = ids
        return ids

    def encode(self, text: str) -> np.ndarray:
        """Token ids of ``text``, int64: each piece's bytes, merged in the order learned."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a string, got {describe(text)}")
        ids = [i for piece in PIECE_PATTERN.findall(text) for i in self._encode_piece(piece)]
        return np.array(ids, dtype=np.int64)

    def decode(self, ids: Iterable[int]) -> str:
        """The text of token ids: their bytes joined, read as UTF-8."""
        ids = as_index_array(ids, "ids", self.size)  # a negative id would wrap around silently
        data = b"".join(self.tokens[i] for i in ids.ravel())
        return data.decode("utf-8", errors="replace")

    def token_text(self, token: int) -> str:
        """A token's bytes as text for display (a space shown as ``␣``)."""
        token = int(as_index_array(token, "token", self.size))
        return self.tokens[token].decode("utf-8", errors="replace").replace(" ", "␣")


def _merge(ids: list[int], pair: tuple[int, int], new: int) -> list[int]:
    """``ids`` with every non-overlapping occurrence of ``pair``, left to right, replaced by ``new``."""
    merged, index = [], 0
    while index < len(ids):
        if index + 1 < len(ids) and ids[index] == pair[0] and ids[index + 1] == pair[1]:
            merged.append(new)
            index += 2
        else:
            merged.append(ids[index])
            index += 1
    return merged


# --- Training examples for skip-gram ------------------------------------------------------


def noise_distribution(counts: np.ndarray, power: float = 0.75) -> np.ndarray:
    r"""Word2vec's noise distribution :math:`P_n(w) \propto \text{count}(w)^{0.75}`.

    The power 3/4 (Mikolov et al., 2013) samples rare words more often than their
    frequency would; words with count 0 (padding, unknown) are never drawn.
    """
    counts = as_float_array(np.asarray(counts), "counts").astype(np.float64)  # numbers, finite
    power = check_number(power, "power")
    if counts.ndim != 1 or (counts < 0).any() or counts.sum() == 0:
        raise ValueError(
            f"counts must be 1-D, non-negative and not all zero, got {describe(counts)}"
        )
    weights = counts**power
    return weights / weights.sum()


def skipgram_pairs(sentences: Sequence[np.ndarray], window: int) -> np.ndarray:
    """Every (centre, context) pair of word ids at most ``window`` places apart: (P, 2) int64.

    Both directions are kept — (w_t, w_t+o) and (w_t+o, w_t) — so each pair of neighbours
    counts twice, once with each word as the centre. Pairs never cross a sentence boundary.
    """
    window = check_positive_int(window, "window")
    centres, contexts = [], []
    for sentence in sentences:
        ids = np.asarray(sentence)
        if ids.ndim != 1 or ids.dtype.kind not in "iu":
            raise ValueError(f"each sentence must be a 1-D array of word ids, got {describe(ids)}")
        for offset in range(1, window + 1):  # both directions: (w_t, w_t+o) and (w_t+o, w_t)
            centres += [ids[:-offset], ids[offset:]]
            contexts += [ids[offset:], ids[:-offset]]
    if not centres:
        raise ValueError("sentences must hold at least one sentence, got none")
    centre, context = np.concatenate(centres), np.concatenate(contexts)
    if len(centre) == 0:
        raise ValueError("no pairs: every sentence is a single word")
    if min(centre.min(), context.min()) < 0:
        raise ValueError(f"word ids must be non-negative, got {min(centre.min(), context.min())}")
    return np.column_stack([centre, context]).astype(np.int64)


def keep_probability(counts: np.ndarray, threshold: float = 1e-3) -> np.ndarray:
    r"""Word2vec's subsampling: keep each occurrence of word w with probability :math:`\min(1, \sqrt{t / f(w)})`.

    :math:`f(w)` is the word's share of all tokens and :math:`t` the ``threshold``
    (Mikolov et al., 2013): a word more frequent than :math:`t` loses occurrences in
    proportion to how common it is, so "the", which says little about its neighbours,
    stops dominating the pairs. Words with count 0 get probability 1 (they never occur).
    """
    counts = as_float_array(np.asarray(counts), "counts").astype(np.float64)
    threshold = check_number(threshold, "threshold", positive=True)
    if counts.ndim != 1 or (counts < 0).any() or counts.sum() == 0:
        raise ValueError(
            f"counts must be 1-D, non-negative and not all zero, got {describe(counts)}"
        )
    share = counts / counts.sum()
    with np.errstate(divide="ignore"):
        return np.minimum(1.0, np.sqrt(threshold / share))


def subsample(
    sentences: Sequence[np.ndarray],
    counts: np.ndarray,
    threshold: float = 1e-3,
    seed: int | np.random.Generator | None = 0,
) -> list[np.ndarray]:
    """Sentences of word ids with frequent words dropped at random (:func:`keep_probability`).

    Dropping a word brings its neighbours closer, so the window reaches further past it.
    Draw again each epoch with a new seed.
    """
    keep = keep_probability(counts, threshold)
    rng = np.random.default_rng(check_seed(seed, generator=True))
    if isinstance(sentences, (str, bytes)) or not hasattr(sentences, "__iter__"):
        raise TypeError(
            f"sentences must be a list of arrays of word ids, got {describe(sentences)}"
        )
    kept = []
    for sentence in sentences:
        ids = as_index_array(sentence, "each sentence", len(keep))
        kept.append(ids[rng.random(len(ids)) < keep[ids]])
    return kept


def skipgram_examples(
    sentences: Sequence[np.ndarray],
    window: int,
    num_negatives: int,
    noise: np.ndarray,
    seed: int | np.random.Generator | None = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Skip-gram's training rows from sentences of word ids: ``x`` (P, 2 + K) and ``labels`` (P, 1 + K).

    Every pair (centre, context) of words at most ``window`` places apart in a sentence
    gives one row ``[centre, context, n_1, ..., n_K]`` with K = ``num_negatives`` noise
    words drawn from ``noise`` (:func:`noise_distribution`), and labels ``[1, 0, ..., 0]``.
    Draw new noise words each epoch by calling it again with a new seed.
    """
    window = check_positive_int(window, "window")
    num_negatives = check_positive_int(num_negatives, "num_negatives")
    seed = check_seed(seed, generator=True)
    noise = as_float_array(np.asarray(noise), "noise").astype(np.float64)
    if noise.ndim != 1 or not np.isclose(noise.sum(), 1.0) or (noise < 0).any():
        raise ValueError(f"noise must be a probability vector, got {describe(noise)}")
    pairs = skipgram_pairs(sentences, window)
    centre, context = pairs[:, 0], pairs[:, 1]
    if max(centre.max(), context.max()) >= len(noise):
        raise ValueError(
            f"word ids go up to {max(centre.max(), context.max())}, noise covers {len(noise)}"
        )
    rng = np.random.default_rng(seed)
    negatives = rng.choice(len(noise), size=(len(centre), num_negatives), p=noise)
    x = np.column_stack([centre, context, negatives]).astype(np.int64)
    labels = np.zeros((len(x), 1 + num_negatives))
    labels[:, 0] = 1.0
    return x, labels
