"""Sequence-to-sequence data, generated with a known answer and a known alignment.

Two tasks, both seeded and offline:

- :func:`make_translation` renders sentences of the book's word-class grammar
  (:data:`dltutor.data.corpora.WORD_CLASSES`) into an invented language with its own
  words, subject–object–verb order, adjectives after their noun, no articles, and a
  plural marked on the noun and, by agreement with the subject, on the verb. The
  generator knows which English word each invented word translates: the gold alignment.
- :func:`make_dates` writes calendar dates in several human formats ("3 March 2021",
  "03/03/21", "March 3rd, 2021", ...) with their ISO form ("2021-03-03") as the target,
  character by character, with the input characters each output character comes from.

:class:`TokenVocabulary` turns either into padded id arrays: id 0 is padding, 1 begins a
target sequence, 2 ends one.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from dltutor.checks import check_positive_int, check_seed, describe
from dltutor.data.corpora import WORD_CLASSES

PAD, BOS, EOS, UNKNOWN = 0, 1, 2, 3
SPECIALS = ("<pad>", "<bos>", "<eos>", "<unk>")


class TokenVocabulary:
    """Tokens and their ids: ``<pad>`` 0, ``<bos>`` 1, ``<eos>`` 2, ``<unk>`` 3, then the
    tokens of the training sequences in sorted order. Build it from training data only."""

    def __init__(self, sequences: Iterable[Sequence[str]]) -> None:
        tokens = sorted({token for sequence in sequences for token in sequence})
        if not tokens:
            raise ValueError("TokenVocabulary needs at least one token, got none")
        self.tokens = [*SPECIALS, *(t for t in tokens if t not in SPECIALS)]
        self._ids = {token: index for index, token in enumerate(self.tokens)}

    @property
    def size(self) -> int:
        return len(self.tokens)

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(
        self, sequences: Sequence[Sequence[str]], length: int | None = None, eos: bool = True
    ) -> np.ndarray:
        """(N, T) int64 ids, right-padded with 0; ``eos=True`` appends the end token.

        ``length`` defaults to the longest sequence; a longer sequence raises ``ValueError``.
        """
        if isinstance(sequences, str) or not all(
            isinstance(s, (list, tuple, str)) for s in sequences
        ):
            raise TypeError(f"sequences must be a list of token lists, got {describe(sequences)}")
        rows = [[self._ids.get(t, UNKNOWN) for t in s] + ([EOS] if eos else []) for s in sequences]
        longest = max((len(row) for row in rows), default=0)
        length = longest if length is None else check_positive_int(length, "length")
        if longest > length:
            raise ValueError(f"length must hold the longest sequence ({longest} ids), got {length}")
        ids = np.zeros((len(rows), length), dtype=np.int64)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = row
        return ids

    def decode(self, ids: Sequence[int] | np.ndarray) -> list[str]:
        """The tokens of one id sequence, stopping at the first end or padding id."""
        tokens = []
        for index in np.asarray(ids).tolist():
            if index in (EOS, PAD):
                break
            if index != BOS:
                tokens.append(self.tokens[index])
        return tokens


def teacher_forcing(target_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Decoder inputs ``<bos> y_1 .. y_{T-1}`` and outputs ``y_1 .. y_T`` from (N, T) target ids
    that end in ``<eos>``: the decoder learns to predict each token from the ones before it."""
    target_ids = np.asarray(target_ids)
    if target_ids.ndim != 2:
        raise ValueError(f"target_ids must be (N, T), got {describe(target_ids)}")
    inputs = np.concatenate(
        [np.full((len(target_ids), 1), BOS, dtype=target_ids.dtype), target_ids[:, :-1]], axis=1
    )
    inputs[inputs == EOS] = PAD  # after the end nothing is fed
    return inputs, target_ids


@dataclass(frozen=True)
class EncodedPairs:
    """Training pairs as a seq2seq model takes them: both vocabularies, read off the training
    pairs only, source token ids (N, S), and the decoder's inputs and targets (N, T)."""

    source_vocab: TokenVocabulary
    target_vocab: TokenVocabulary
    source: np.ndarray
    target_in: np.ndarray
    target_out: np.ndarray


def encode_pairs(source: Sequence[Sequence[str]], target: Sequence[Sequence[str]]) -> EncodedPairs:
    """Vocabularies from the training sentences, then their ids for teacher forcing."""
    source_vocab, target_vocab = TokenVocabulary(source), TokenVocabulary(target)
    target_in, target_out = teacher_forcing(target_vocab.encode(target))
    return EncodedPairs(
        source_vocab, target_vocab, source_vocab.encode(source, eos=False), target_in, target_out
    )


# --- The invented language ---------------------------------------------------------------

_TEMPLATES = (  # (subject class, verb class, object class, preposition before the object)
    ("animal", "eat", "food", ""),
    ("person", "drive", "vehicle", ""),
    ("person", "cook", "food", ""),
    ("person", "visit", "place", ""),
    ("animal", "rest", "place", "in"),
)
_IRREGULAR_PLURALS = {
    "mouse": "mice",
    "sheep": "sheep",
    "bus": "buses",
    "grass": "grasses",
    "city": "cities",
}
_CONSONANTS, _VOWELS = "bdgklmnprstvz", "aeiou"


def _lexicon() -> dict[str, str]:
    """Each English word of the grammar (and "in", "and") and its invented word, fixed."""
    rng = np.random.default_rng(2024)  # the language itself never changes
    english = [word for words in WORD_CLASSES.values() for word in words] + ["in", "and"]
    invented: dict[str, str] = {}
    used: set[str] = set()
    for word in english:
        while True:
            syllables = rng.integers(2, 4) if word not in ("in", "and") else 1
            candidate = "".join(
                _CONSONANTS[rng.integers(len(_CONSONANTS))] + _VOWELS[rng.integers(len(_VOWELS))]
                for _ in range(syllables)
            )
            if candidate not in used:
                break
        used.add(candidate)
        invented[word] = candidate
    return invented


LEXICON: dict[str, str] = _lexicon()
"""English word → invented word; a plural noun adds "ri" to it, a plural verb adds "n"."""


@dataclass(frozen=True)
class TranslationPairs:
    """English sentences, their translations, and for each translated word the position of
    the English word it renders (``alignment[n][i]`` indexes ``source[n]``)."""

    source: list[list[str]]
    target: list[list[str]]
    alignment: list[list[int]]

    def __len__(self) -> int:
        return len(self.source)


def _clause(rng: np.random.Generator, offset: int) -> tuple[list[str], list[str], list[int]]:
    """One clause: its English words, its translation and the alignment, positions + offset."""
    subject_class, verb_class, object_class, preposition = _TEMPLATES[rng.integers(5)]
    english: list[str] = []
    invented: list[str] = []
    alignment: list[int] = []

    def pick(word_class: str) -> str:
        words = WORD_CLASSES[word_class]
        return words[rng.integers(len(words))]

    def noun_phrase(word_class: str) -> tuple[list[str], list[int], bool]:
        """English words; the invented noun [adjective] with their English positions."""
        coloured = word_class in ("animal", "food", "vehicle") and rng.random() < 0.5
        colour = pick("colour") if coloured else None
        noun, plural = pick(word_class), bool(rng.random() < 0.5)
        start = offset + len(english)
        words = ["the"] + ([colour] if colour else [])
        words.append(_IRREGULAR_PLURALS.get(noun, noun + "s") if plural else noun)
        english.extend(words)
        phrase = [LEXICON[noun] + ("ri" if plural else "")]
        positions = [start + len(words) - 1]
        if colour:
            phrase.append(LEXICON[colour])
            positions.append(start + 1)
        return phrase, positions, plural

    subject, subject_at, plural_subject = noun_phrase(subject_class)
    verb = pick(verb_class)
    verb_at = offset + len(english)
    english.append(verb[:-1] if plural_subject else verb)  # "eats" → "eat" after a plural
    postposition: list[str] = []
    if preposition:
        postposition_at = [offset + len(english)]
        english.append(preposition)
        postposition = [LEXICON[preposition]]
    obj, object_at, _ = noun_phrase(object_class)
    invented = subject + obj + postposition + [LEXICON[verb] + ("n" if plural_subject else "")]
    alignment = subject_at + object_at + (postposition_at if preposition else []) + [verb_at]
    return english, invented, alignment


def make_translation(
    num_pairs: int = 12_000, min_clauses: int = 1, max_clauses: int = 2, seed: int = 0
) -> TranslationPairs:
    """English sentences of ``min_clauses``..``max_clauses`` clauses joined by "and", and
    their translations into an invented language.

    An English clause is "the [colour] <subject> <verb> [in] the [colour] <object>", with
    the word classes of :func:`dltutor.data.corpora.make_class_grammar`, each noun plural
    with probability 1/2 (and the verb agreeing with its subject: "the cats eat"). Its
    translation is "<subject> [colour] <object> [colour] [in] <verb>": subject–object–verb,
    adjectives after the noun, no articles, plural nouns with the suffix "ri" and verbs with
    a plural subject with "n". "the sheep" is singular or plural: only the verb says which.
    Clauses are translated in order and joined by the word for "and". One clause has 4–7
    English words, two 9–15.
    """
    num_pairs = check_positive_int(num_pairs, "num_pairs")
    min_clauses = check_positive_int(min_clauses, "min_clauses")
    max_clauses = check_positive_int(max_clauses, "max_clauses")
    if min_clauses > max_clauses:
        raise ValueError(
            f"min_clauses must not exceed max_clauses, got {min_clauses} and {max_clauses}"
        )
    rng = np.random.default_rng(check_seed(seed))
    sources, targets, alignments = [], [], []
    for _ in range(num_pairs):
        english: list[str] = []
        invented: list[str] = []
        alignment: list[int] = []
        for clause in range(rng.integers(min_clauses, max_clauses + 1)):
            if clause:
                alignment.append(len(english))
                english.append("and")
                invented.append(LEXICON["and"])
            words, translation, positions = _clause(rng, len(english))
            english += words
            invented += translation
            alignment += positions
        sources.append(english)
        targets.append(invented)
        alignments.append(alignment)
    return TranslationPairs(sources, targets, alignments)


def length_split(
    num_pairs: int = 5000, num_held_out: int = 500, seed: int = 0
) -> tuple[TranslationPairs, TranslationPairs, TranslationPairs]:
    """Data for length generalisation: ``num_pairs`` training pairs of one or two clauses
    (at most 15 English words), ``num_held_out`` held-out pairs of the same lengths and
    ``num_held_out`` of three clauses (16 to 23 words, about 1.5 times the longest seen).

    The three sets come from :func:`make_translation` with seeds ``seed``, ``seed + 1`` and
    ``seed + 2``. Returns (train, short, long).
    """
    num_pairs = check_positive_int(num_pairs, "num_pairs")
    num_held_out = check_positive_int(num_held_out, "num_held_out")
    seed = check_seed(seed)
    return (
        make_translation(num_pairs, seed=seed),
        make_translation(num_held_out, seed=seed + 1),
        make_translation(num_held_out, min_clauses=3, max_clauses=3, seed=seed + 2),
    )


def word_dictionary(pairs: TranslationPairs) -> dict[str, str]:
    """A word-by-word dictionary from training pairs: each English word's most frequent
    aligned translation. Words never aligned to anything ("the") are left out."""
    counts: dict[str, dict[str, int]] = {}
    for source, target, alignment in zip(pairs.source, pairs.target, pairs.alignment, strict=True):
        for word, position in zip(target, alignment, strict=True):
            seen = counts.setdefault(source[position], {})
            seen[word] = seen.get(word, 0) + 1
    return {english: max(seen, key=lambda w: (seen[w], w)) for english, seen in counts.items()}


def translate_word_by_word(
    dictionary: dict[str, str], sentences: Sequence[Sequence[str]]
) -> list[list[str]]:
    """Each sentence translated word by word in its own order; unknown words are dropped."""
    return [[dictionary[word] for word in sentence if word in dictionary] for sentence in sentences]


def _clause_roles(sentence: Sequence[str]) -> list[tuple[int, str]]:
    """The grammar's reordering as rules: for each word of the translation, in its order,
    the position of the English word it renders and that word's role. The subject noun's
    role carries the verb's number ("noun-pl" after "eat", "noun-sg" after "eats"), which
    settles "the sheep"; a word that is both noun and verb ("parks") gets its role from
    where it stands. ValueError if the sentence is not of the grammar."""
    colours = set(WORD_CLASSES["colour"])
    roles: list[tuple[int, str]] = []
    at = 0

    def word(index: int) -> str:
        if index >= len(sentence):
            raise ValueError(f"expected a sentence of the grammar, got {' '.join(sentence)!r}")
        return sentence[index]

    def noun_phrase(index: int) -> tuple[list[tuple[int, str]], int]:
        if word(index) != "the":
            raise ValueError(
                f"expected 'the' at word {index}, got {word(index)!r} in {' '.join(sentence)!r}"
            )
        if word(index + 1) in colours:
            return [(index + 2, "noun"), (index + 1, "colour")], index + 3
        return [(index + 1, "noun")], index + 2

    while at < len(sentence):
        if roles:
            if word(at) != "and":
                raise ValueError(f"expected 'and' at word {at}, got {word(at)!r}")
            roles.append((at, "and"))
            at += 1
        subject, at = noun_phrase(at)
        verb_at, at = at, at + 1
        number = "-sg" if word(verb_at).endswith("s") else "-pl"
        postposition = []
        if word(at) == "in":
            postposition, at = [(at, "in")], at + 1
        obj, at = noun_phrase(at)
        subject = [(i, role + number if role == "noun" else role) for i, role in subject]
        roles += subject + obj + postposition + [(verb_at, "verb")]
    return roles


def rule_dictionary(pairs: TranslationPairs) -> dict[tuple[str, str], str]:
    """The rule system's dictionary, learned from training pairs: for each (English word,
    role) of :func:`translate_by_rules`' reordering, its most frequent aligned translation.
    ValueError if a pair's gold alignment disagrees with the rules' reordering."""
    counts: dict[tuple[str, str], dict[str, int]] = {}
    for source, target, alignment in zip(pairs.source, pairs.target, pairs.alignment, strict=True):
        roles = _clause_roles(source)
        if [position for position, _ in roles] != list(alignment):
            raise ValueError(f"the rules do not reorder {' '.join(source)!r} as its alignment")
        for (position, role), translated in zip(roles, target, strict=True):
            seen = counts.setdefault((source[position], role), {})
            seen[translated] = seen.get(translated, 0) + 1
    return {key: max(seen, key=lambda w: (seen[w], w)) for key, seen in counts.items()}


def translate_by_rules(
    dictionary: dict[tuple[str, str], str], sentences: Sequence[Sequence[str]]
) -> list[list[str]]:
    """A hand-written rule system: each sentence reordered by the clause template (drop
    "the", subject–object–verb, colour after its noun, "in" before the verb) and each word
    looked up with its role in ``dictionary`` (:func:`rule_dictionary`); a (word, role)
    never seen in training becomes ``"<unk>"``."""
    return [
        [
            dictionary.get((sentence[i], role), SPECIALS[UNKNOWN])
            for i, role in _clause_roles(sentence)
        ]
        for sentence in sentences
    ]


def positional_alignment(train: TranslationPairs, held_out: TranslationPairs) -> float:
    """A content-blind rival to attention's alignment: for each (output position, source
    length), the input position the training pairs' gold alignment points to most often.
    Returns the share of ``held_out``'s output words whose gold position it guesses."""
    votes: dict[tuple[int, int], dict[int, int]] = {}
    for source, alignment in zip(train.source, train.alignment, strict=True):
        for t, gold in enumerate(alignment):
            seen = votes.setdefault((t, len(source)), {})
            seen[gold] = seen.get(gold, 0) + 1
    table = {key: max(seen, key=lambda g: (seen[g], -g)) for key, seen in votes.items()}
    hits = [
        table.get((t, len(source))) == gold
        for source, alignment in zip(held_out.source, held_out.alignment, strict=True)
        for t, gold in enumerate(alignment)
    ]
    return float(np.mean(hits))


# --- Dates -------------------------------------------------------------------------------

MONTHS = (
    "January February March April May June July August September October November December"
).split()
DATE_FORMATS = ("d Month yyyy", "dd/mm/yy", "Month dth, yyyy", "d Mon yyyy", "yyyy.mm.dd")


@dataclass(frozen=True)
class DatePairs:
    """Dates as written (``source``), in ISO form (``target``), and for each target
    character the input positions it comes from (empty for the hyphens)."""

    source: list[str]
    target: list[str]
    alignment: list[list[list[int]]]
    formats: list[str]

    def __len__(self) -> int:
        return len(self.source)


def _ordinal(day: int) -> str:
    if day in (11, 12, 13):
        return "th"
    return {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")


def _render(date: datetime.date, style: str) -> tuple[str, dict[str, list[int]]]:
    """The date in ``style`` and where its year, month and day digits sit."""
    day, month, year = str(date.day), date.month, str(date.year)
    name = MONTHS[month - 1]
    if style == "d Month yyyy":
        parts = [("day", day), ("", " "), ("month", name), ("", " "), ("year", year)]
    elif style == "dd/mm/yy":
        parts = [("day", f"{date.day:02d}"), ("", "/"), ("month", f"{month:02d}"), ("", "/")]
        parts.append(("year", year[2:]))
    elif style == "Month dth, yyyy":
        parts = [("month", name), ("", " "), ("day", day), ("", _ordinal(date.day) + ", ")]
        parts.append(("year", year))
    elif style == "d Mon yyyy":
        parts = [("day", day), ("", " "), ("month", name[:3]), ("", " "), ("year", year)]
    else:
        parts = [("year", year), ("", "."), ("month", f"{month:02d}"), ("", "."), ("day", "")]
        parts[-1] = ("day", f"{date.day:02d}")
    text, spans = "", {}
    for field, piece in parts:
        if field:
            spans[field] = list(range(len(text), len(text) + len(piece)))
        text += piece
    return text, spans


def _gold(spans: dict[str, list[int]], digits: dict[str, int]) -> list[list[int]]:
    """Source positions of each character of "yyyy-mm-dd": digit to digit where the input
    writes the same number of digits, else the whole field (a month name, "3" for "03")."""

    def field(name: str, width: int) -> list[list[int]]:
        span = spans[name]
        if len(span) == width and digits[name] == width:
            return [[p] for p in span]
        if name == "year" and len(span) == 2:  # "21": the century comes from both digits
            return [span, span, [span[0]], [span[1]]]
        return [span] * width

    return field("year", 4) + [[]] + field("month", 2) + [[]] + field("day", 2)


def make_dates(num_pairs: int = 5000, seed: int = 0) -> DatePairs:
    """Random dates from 1950 to 2049 written in one of :data:`DATE_FORMATS` at random, with
    their ISO form as the target. A two-digit year "yy" means 19yy for yy ≥ 50, else 20yy."""
    num_pairs = check_positive_int(num_pairs, "num_pairs")
    rng = np.random.default_rng(check_seed(seed))
    first = datetime.date(1950, 1, 1).toordinal()
    last = datetime.date(2049, 12, 31).toordinal()
    sources, targets, alignments, formats = [], [], [], []
    for ordinal, style in zip(
        rng.integers(first, last + 1, size=num_pairs),
        rng.integers(len(DATE_FORMATS), size=num_pairs),
        strict=True,
    ):
        date = datetime.date.fromordinal(int(ordinal))
        text, spans = _render(date, DATE_FORMATS[style])
        numeric = {
            name: len(span) if text[span[0]].isdigit() else 0 for name, span in spans.items()
        }
        sources.append(text)
        targets.append(date.isoformat())
        alignments.append(_gold(spans, numeric))
        formats.append(DATE_FORMATS[style])
    return DatePairs(sources, targets, alignments, formats)
