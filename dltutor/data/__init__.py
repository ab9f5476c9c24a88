"""Offline datasets as NumPy arrays: shipped with an installed package, generated from a
seed, or read from a local copy of a public dataset. Nothing here downloads."""

from dltutor.data.corpora import (
    SENTENCE_KINDS,
    SentimentCorpus,
    TextCorpus,
    TextSplit,
    load_python_docstrings,
    make_class_grammar,
    make_sentiment,
    read_ag_news,
    read_imdb,
    split_text,
    word_classes,
)
from dltutor.data.idx import load_mnist, read_idx
from dltutor.data.images import (
    CIFAR10_CLASSES,
    SHAPE_CLASSES,
    augment_with_shifts,
    load_cifar10,
    make_shapes,
    random_shifts,
    shift_images,
)
from dltutor.data.sequences import (
    make_adding_problem,
    make_associative_recall,
    make_lorenz,
    make_reversal,
    sliding_windows,
)
from dltutor.data.synthetic import add_gaussian_noise, make_linear, make_moons
from dltutor.data.tabular import DataSplit, load_digits, split
from dltutor.data.text import (
    BytePairEncoding,
    CharVocabulary,
    Vocabulary,
    load_python_docs_text,
    next_token_pairs,
    noise_distribution,
    skipgram_examples,
    tokenize_words,
)

__all__ = [
    "SENTENCE_KINDS",
    "BytePairEncoding",
    "SentimentCorpus",
    "TextCorpus",
    "TextSplit",
    "split_text",
    "Vocabulary",
    "load_python_docstrings",
    "make_class_grammar",
    "make_sentiment",
    "noise_distribution",
    "read_ag_news",
    "read_imdb",
    "skipgram_examples",
    "tokenize_words",
    "word_classes",
    "CharVocabulary",
    "load_python_docs_text",
    "make_adding_problem",
    "make_associative_recall",
    "make_reversal",
    "make_lorenz",
    "next_token_pairs",
    "sliding_windows",
    "CIFAR10_CLASSES",
    "SHAPE_CLASSES",
    "DataSplit",
    "add_gaussian_noise",
    "augment_with_shifts",
    "load_cifar10",
    "load_digits",
    "load_mnist",
    "make_linear",
    "make_moons",
    "make_shapes",
    "random_shifts",
    "read_idx",
    "shift_images",
    "split",
]
