"""Text corpora offline: generated with a planted truth, built from Python's own docstrings, or
read from a local copy of a public dataset.

The generated corpora are what make claims checkable. In :func:`make_class_grammar` every
word belongs to a known class, so an embedding's neighbours can be scored against it; in
:func:`make_sentiment` the label depends on word order ("not", "but"), so a model that
ignores order must fail on known sentence types.
"""

from __future__ import annotations

import ast
import csv
import sysconfig
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dltutor.checks import check_choice, check_fraction, check_path, check_positive_int, check_seed
from dltutor.data.text import Vocabulary

# --- A grammar whose words belong to known classes --------------------------------------

WORD_CLASSES: dict[str, tuple[str, ...]] = {
    "animal": ("cat", "dog", "cow", "sheep", "goat", "horse", "rabbit", "mouse"),
    "food": ("bread", "apple", "cheese", "rice", "soup", "cake", "grass", "corn"),
    "vehicle": ("car", "bus", "train", "bike", "boat", "truck", "tram", "van"),
    "person": ("doctor", "teacher", "farmer", "baker", "pilot", "nurse", "judge", "chef"),
    "colour": ("red", "blue", "green", "black", "white", "brown", "grey", "yellow"),
    "place": ("park", "farm", "city", "house", "garden", "school", "market", "forest"),
    "eat": ("eats", "chews", "devours", "swallows"),
    "drive": ("drives", "rides", "parks", "steers"),
    "cook": ("cooks", "bakes", "serves", "sells"),
    "visit": ("visits", "enters", "leaves", "cleans"),
    "rest": ("sleeps", "hides", "waits", "plays"),
}
"""The classes of :func:`make_class_grammar`: six of nouns and adjectives, five of verbs."""

# (subject class, verb class, object class, preposition before the object or "")
_TEMPLATES = (
    ("animal", "eat", "food", ""),
    ("person", "drive", "vehicle", ""),
    ("person", "cook", "food", ""),
    ("person", "visit", "place", ""),
    ("animal", "rest", "place", "in"),
)


def make_class_grammar(num_sentences: int = 20_000, seed: int = 0) -> list[list[str]]:
    """Sentences from a small grammar in which each word's class decides where it can go.

    Five templates — "the [colour] <animal> <eat> the [colour] <food>", "the <person>
    <drive> the [colour] <vehicle>", "the <person> <cook> the [colour] <food>", "the
    <person> <visit> the <place>", "the [colour] <animal> <rest> in the <place>" — with
    every slot filled uniformly at random from its class in :data:`WORD_CLASSES` and each
    colour present with probability 1/2. Words of
    one class share their contexts and nothing else: the distributional hypothesis, planted.
    """
    num_sentences = check_positive_int(num_sentences, "num_sentences")
    rng = np.random.default_rng(check_seed(seed))
    sentences = []
    for template in rng.integers(len(_TEMPLATES), size=num_sentences):
        subject, verb, obj, preposition = _TEMPLATES[template]
        words = ["the", *_noun_phrase(subject, rng), _pick(verb, rng)]
        words += [preposition] if preposition else []
        words += ["the", *_noun_phrase(obj, rng)]
        sentences.append(words)
    return sentences


def _pick(word_class: str, rng: np.random.Generator) -> str:
    words = WORD_CLASSES[word_class]
    return words[rng.integers(len(words))]


def _noun_phrase(noun_class: str, rng: np.random.Generator) -> list[str]:
    """A noun of ``noun_class``; animals, foods and vehicles get a colour half of the time."""
    coloured = noun_class in ("animal", "food", "vehicle") and rng.random() < 0.5
    colour = [_pick("colour", rng)] if coloured else []
    return [*colour, _pick(noun_class, rng)]


def word_classes() -> dict[str, str]:
    """Each word of :func:`make_class_grammar` and its class."""
    return {word: name for name, words in WORD_CLASSES.items() for word in words}


# --- A grammar with planted relations, for vector-offset analogies ------------------------

RELATION_PAIRS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "number": (
        ("cat", "cats", "fish"),
        ("dog", "dogs", "bone"),
        ("cow", "cows", "grass"),
        ("horse", "horses", "hay"),
        ("mouse", "mice", "cheese"),
        ("rabbit", "rabbits", "carrot"),
        ("duck", "ducks", "bread"),
        ("bird", "birds", "seed"),
    ),
    "gender": (
        ("king", "queen", "crown"),
        ("man", "woman", "coat"),
        ("boy", "girl", "ball"),
        ("father", "mother", "car"),
        ("son", "daughter", "bike"),
        ("brother", "sister", "book"),
        ("uncle", "aunt", "hat"),
        ("prince", "princess", "sword"),
    ),
    "capital": (
        ("france", "paris", "french"),
        ("italy", "rome", "italian"),
        ("spain", "madrid", "spanish"),
        ("germany", "berlin", "german"),
        ("japan", "tokyo", "japanese"),
        ("egypt", "cairo", "arabic"),
        ("russia", "moscow", "russian"),
        ("greece", "athens", "greek"),
    ),
}
"""The relations of :func:`make_relation_grammar`: per relation, triples (first form, second
form, the word only this pair uses) — singular and plural, male and female, country and
capital."""

_RELATION_VERBS = ("likes", "wants", "sees", "finds", "keeps", "needs", "takes", "gets")


def make_relation_grammar(num_sentences: int = 20_000, seed: int = 0) -> list[list[str]]:
    """Sentences in which pairs of words stand in planted relations: number, gender, capital.

    Each sentence picks a relation, a pair of it (:data:`RELATION_PAIRS`) and one of the
    pair's two forms, then fills its template:

    - number: "a cat <verb>s fish" or "two cats <verb> fish";
    - gender: "the king <verb>s his crown" or "the queen <verb>s her crown";
    - capital: "in the country of france people speak french" or "in the city of paris
      people speak french".

    Within a relation the pairs are drawn with probability proportional to 1/rank (Zipf's
    law: the first pair is eight times as frequent as the last), the verbs too. A form's
    neighbours are then what its side shares ("two", "her", "city") plus what its pair shares
    ("fish", "crown", "french"), so "cats" − "cat" + "dog" should land on "dogs": a
    vector-offset analogy. Every such word is within three places of its form: use a window
    of at least 3.
    """
    num_sentences = check_positive_int(num_sentences, "num_sentences")
    rng = np.random.default_rng(check_seed(seed))
    relations = list(RELATION_PAIRS.values())
    pair_weights = _zipf(len(relations[0]))
    verb_weights = _zipf(len(_RELATION_VERBS))
    sentences = []
    for _ in range(num_sentences):
        relation = relations[rng.integers(len(relations))]
        first, second, shared = relation[rng.choice(len(relation), p=pair_weights)]
        side = int(rng.integers(2))
        verb = _RELATION_VERBS[rng.choice(len(_RELATION_VERBS), p=verb_weights)]
        if relation is relations[0]:  # number: the verb agrees
            words = ["a", first, verb] if side == 0 else ["two", second, verb[:-1]]
            words.append(shared)
        elif relation is relations[1]:  # gender: the pronoun agrees
            words = ["the", (first, second)[side], verb, ("his", "her")[side], shared]
        else:  # country and capital
            kind, name = ("country", first) if side == 0 else ("city", second)
            words = ["in", "the", kind, "of", name, "people", "speak", shared]
        sentences.append(words)
    return sentences


def _zipf(size: int) -> np.ndarray:
    weights = 1.0 / np.arange(1, size + 1)
    return weights / weights.sum()


# --- Sentiment that depends on word order -------------------------------------------------

SENTIMENT_WORDS: dict[str, tuple[str, ...]] = {
    "subject": ("film", "book", "game", "phone", "meal", "show", "song", "hotel"),
    "positive": ("good", "great", "fun", "clever", "fast", "lovely", "fresh", "cheap"),
    "negative": ("bad", "dull", "boring", "slow", "awful", "noisy", "stale", "pricey"),
    "intensifier": ("very", "really", "quite"),
}
SENTENCE_KINDS: tuple[str, ...] = ("plain", "negated", "contrast")


@dataclass(frozen=True)
class SentimentCorpus:
    """Sentences (lists of words), labels (1 positive, 0 negative) and each sentence's kind."""

    sentences: list[list[str]]
    labels: np.ndarray  # (N,) int64
    kinds: np.ndarray  # (N,) str: "plain", "negated" or "contrast"

    @property
    def predicates(self) -> list[str]:
        """What each review says of its subject: the words after "the <subject> is", joined.

        "the film is not very good" and "the song is not very good" share the predicate
        "not very good"; split by predicate (``split_text(..., groups=corpus.predicates)``)
        and no test review's predicate was seen in training.
        """
        return [" ".join(sentence[3:]) for sentence in self.sentences]


def make_sentiment(num_sentences: int = 6000, seed: int = 0) -> SentimentCorpus:
    """Reviews whose label needs word order: negation flips a clause, "but" makes the last clause decide.

    Kinds, a third each: *plain* "the film is [very] good"; *negated* "the film is not
    [very] good" (label flipped); *contrast* "the film is good but [not] slow" — two clauses
    of opposite polarity, each possibly negated, labelled by the second. A contrast
    sentence and its clauses swapped contain the same words with opposite labels, so no
    model that sees only which words occur can get both right.
    """
    num_sentences = check_positive_int(num_sentences, "num_sentences")
    rng = np.random.default_rng(check_seed(seed))
    sentences, labels, kinds = [], [], []
    for index in range(num_sentences):
        kind = SENTENCE_KINDS[index % 3]
        polarity = int(rng.integers(2))
        if kind == "contrast":
            first = _clause(1 - polarity, bool(rng.integers(2)), rng)
            words = [*first, "but", *_clause(polarity, bool(rng.integers(2)), rng)]
        else:
            words = _clause(polarity, kind == "negated", rng)
        sentences.append(["the", _choose("subject", rng), "is", *words])
        labels.append(polarity)
        kinds.append(kind)
    order = rng.permutation(num_sentences)
    return SentimentCorpus(
        [sentences[i] for i in order], np.array(labels)[order], np.array(kinds)[order]
    )


def _choose(group: str, rng: np.random.Generator) -> str:
    words = SENTIMENT_WORDS[group]
    return words[rng.integers(len(words))]


def _clause(polarity: int, negated: bool, rng: np.random.Generator) -> list[str]:
    """Words whose meaning has ``polarity``; negated, the adjective has the opposite one."""
    adjective = _choose("negative" if polarity == int(negated) else "positive", rng)
    intensifier = [_choose("intensifier", rng)] if rng.random() < 0.5 else []
    return [*(["not"] if negated else []), *intensifier, adjective]


# --- Real text: Python's docstrings, labelled by package ----------------------------------

DOCSTRING_PACKAGES: tuple[str, ...] = (
    "asyncio",
    "email",
    "http",
    "logging",
    "multiprocessing",
    "unittest",
    "xml",
)
"""Packages of the standard library on every CPython install (tkinter, which Debian ships
apart, is left out)."""


@dataclass(frozen=True)
class TextCorpus:
    """Texts with integer labels and the name of each label."""

    texts: list[str]
    labels: np.ndarray  # (N,) int64
    label_names: tuple[str, ...]


def load_python_docstrings(
    packages: tuple[str, ...] = DOCSTRING_PACKAGES, min_words: int = 4
) -> TextCorpus:
    """The first paragraph of every docstring in some standard-library packages, labelled by package.

    Modules, classes and functions of each package (its test folders excluded) are parsed
    with :mod:`ast`, nothing is imported. A text that occurs more than once — an inherited
    "Return the ..." line, say — is kept once, and dropped altogether if two packages
    share it, so no text can sit on both sides of a train/test split. Texts of fewer than
    ``min_words`` words are dropped. Counts change between Python versions (about 1,800
    texts on 3.11): test with thresholds, never exact counts.
    """
    if isinstance(packages, str) or not packages:
        raise ValueError(f"packages must be a non-empty tuple of package names, got {packages!r}")
    for package in packages:
        if not isinstance(package, str):
            raise TypeError(f"packages must be names (strings), got {package!r} among them")
    min_words = check_positive_int(min_words, "min_words")
    root = Path(sysconfig.get_paths()["stdlib"])
    found: dict[str, set[str]] = {}
    for package in packages:
        folder = root / package
        if not folder.is_dir():
            raise ValueError(f"no standard-library package {package!r} at {folder}")
        for path in sorted(folder.rglob("*.py")):
            if any(part.startswith("test") for part in path.relative_to(folder).parts):
                continue
            for text in _first_paragraphs(path):
                if len(text.split()) >= min_words:
                    found.setdefault(text, set()).add(package)
    texts = sorted(text for text, owners in found.items() if len(owners) == 1)
    label_of = {package: index for index, package in enumerate(packages)}
    labels = np.array([label_of[next(iter(found[text]))] for text in texts], dtype=np.int64)
    return TextCorpus(texts, labels, tuple(packages))


def _first_paragraphs(path: Path) -> list[str]:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
    except SyntaxError:  # a file written for another Python version
        return []
    nodes = [tree, *(n for n in ast.walk(tree) if isinstance(n, _DOCUMENTED))]
    paragraphs = []
    for node in nodes:
        docstring = ast.get_docstring(node)
        if docstring:
            paragraphs.append(" ".join(docstring.strip().split("\n\n")[0].split()))
    return paragraphs


_DOCUMENTED = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


# --- Readers for public datasets in a local folder ----------------------------------------

IMDB_HINT = (
    "download aclImdb_v1.tar.gz from https://ai.stanford.edu/~amaas/data/sentiment/ and "
    "unpack it, so that {path}/train/pos/*.txt exists"
)
AG_NEWS_HINT = (
    "put the AG News files train.csv and test.csv (rows: class 1-4, title, description; no "
    "header) in {path}"
)
AG_NEWS_CLASSES: tuple[str, ...] = ("World", "Sports", "Business", "Sci/Tech")


def read_imdb(path: str | Path, split: str = "train") -> TextCorpus:
    """The IMDB movie reviews (Maas et al., 2011) from a local ``aclImdb`` folder.

    Reads ``{path}/{split}/neg/*.txt`` (label 0) and ``{path}/{split}/pos/*.txt`` (label 1),
    in file-name order; the unlabelled ``unsup`` reviews are not read. Nothing downloads:
    a missing folder raises ``FileNotFoundError`` that says where to put the data.
    """
    split = check_choice(split, ("train", "test"), "split")
    check_path(path)
    root = Path(path)
    texts, labels = [], []
    for label, name in enumerate(("neg", "pos")):
        folder = root / split / name
        if not folder.is_dir():
            raise FileNotFoundError(f"no IMDB folder {folder}: " + IMDB_HINT.format(path=root))
        files = sorted(folder.glob("*.txt"))
        if not files:
            raise FileNotFoundError(
                f"no reviews (*.txt) in {folder}: " + IMDB_HINT.format(path=root)
            )
        for file in files:
            texts.append(file.read_text(encoding="utf-8").replace("<br />", " "))
            labels.append(label)
    return TextCorpus(texts, np.array(labels, dtype=np.int64), ("negative", "positive"))


def read_ag_news(path: str | Path, split: str = "train") -> TextCorpus:
    """The AG News topics (Zhang et al., 2015) from a local ``{split}.csv``.

    Each row is ``class, title, description`` with class 1–4 (World, Sports, Business,
    Sci/Tech); labels come back as 0–3 and each text is "title. description". A missing
    file raises ``FileNotFoundError`` that says where to put it; a malformed row raises
    ``ValueError`` with its line number.
    """
    split = check_choice(split, ("train", "test"), "split")
    check_path(path)
    file = Path(path) / f"{split}.csv"
    if not file.is_file():
        raise FileNotFoundError(f"no AG News file {file}: " + AG_NEWS_HINT.format(path=Path(path)))
    texts, labels = [], []
    with file.open(encoding="utf-8", newline="") as handle:
        try:
            for line, row in enumerate(csv.reader(handle), start=1):
                if len(row) != 3 or row[0].strip() not in {"1", "2", "3", "4"}:
                    raise ValueError(
                        f"{file}, line {line}: expected 'class (1-4), title, description', "
                        f"got {row!r:.80}"
                    )
                labels.append(int(row[0]) - 1)
                texts.append(f"{row[1].strip()}. {row[2].strip()}".replace("\\\\", " "))
        except UnicodeDecodeError as error:
            raise ValueError(
                f"{file} is not UTF-8 text (expected the AG News CSV): {error}"
            ) from error
    if not texts:
        raise ValueError(f"{file} has no rows")
    return TextCorpus(texts, np.array(labels, dtype=np.int64), AG_NEWS_CLASSES)


# --- From texts to a train/test split of padded id arrays -----------------------------------


@dataclass(frozen=True)
class TextSplit:
    """A text classification task as arrays: padded word ids, labels, and the held-out part.

    ``x_*`` are (N, ``length``) int64 word ids (0 is padding); ``train_index`` and
    ``test_index`` say which examples of the corpus went where (to look up their texts or
    kinds), in the order of the rows of ``x_train`` and ``x_test``.
    """

    vocabulary: Vocabulary
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    test_index: np.ndarray
    train_index: np.ndarray

    def __repr__(self) -> str:
        return (
            f"TextSplit(vocabulary={self.vocabulary.size}, train={self.x_train.shape}, "
            f"test={self.x_test.shape})"
        )


def split_text(
    sentences: Sequence[Sequence[str]],
    labels: np.ndarray,
    length: int,
    test_size: float = 0.2,
    min_count: int = 1,
    seed: int = 0,
    groups: Sequence[object] | None = None,
) -> TextSplit:
    """Split tokenized sentences into train and test (stratified), then encode both.

    The vocabulary is built from the training sentences only (words kept at ``min_count``
    or more): a word seen only in test text stays unknown, as it would for new text.
    Sentences are padded or cut at the front to ``length`` (:meth:`Vocabulary.encode_batch`).
    With ``groups`` (one label per sentence) the split keeps each group on one side —
    scikit-learn's ``GroupShuffleSplit``, with about ``test_size`` of the groups, not of
    the sentences, held out and no stratification — so that no test sentence shares its
    group (a review's predicate, say) with a training sentence.
    """
    from sklearn.model_selection import GroupShuffleSplit, train_test_split

    from dltutor.data.tabular import SKLEARN_SEEDS

    labels = np.asarray(labels)
    if len(sentences) != len(labels):
        raise ValueError(f"got {len(sentences)} sentences and {len(labels)} labels")
    test_size = check_fraction(test_size, "test_size")
    seed = check_seed(seed, maximum=SKLEARN_SEEDS)
    if groups is None:
        train_index, test_index = train_test_split(
            np.arange(len(labels)), test_size=test_size, random_state=seed, stratify=labels
        )
    else:
        if isinstance(groups, (str, bytes)) or len(groups) != len(labels):
            raise ValueError(
                f"groups must give one group per sentence ({len(labels)}), got "
                f"{len(groups) if not isinstance(groups, (str, bytes)) else repr(groups)[:40]}"
            )
        if len(set(groups)) < 2:
            raise ValueError("groups must hold at least two different groups to split")
        splitter = GroupShuffleSplit(n_splits=1, test_size=test_size, random_state=seed)
        train_index, test_index = next(splitter.split(labels, groups=list(groups)))
    vocabulary = Vocabulary([sentences[i] for i in train_index], min_count=min_count)

    def encode(index: np.ndarray) -> np.ndarray:
        return vocabulary.encode_batch([sentences[i] for i in index], length)

    return TextSplit(
        vocabulary,
        encode(train_index),
        labels[train_index],
        encode(test_index),
        labels[test_index],
        test_index,
        train_index,
    )
