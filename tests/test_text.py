"""Words as vectors: tokenizers, corpora, readers, skip-gram, PPMI + SVD, and the text layers.

Gradients are checked against finite differences in float64; the layers against
``torch.nn.functional.conv1d``, ``nn.Embedding``, ``nn.EmbeddingBag`` and Keras' ``Conv1D``,
``Embedding`` and ``GlobalAveragePooling1D``. Real-text corpora change with the Python
version, so their tests use thresholds, never exact counts.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dltutor import data, metrics, scratch
from dltutor.data import corpora

TOLERANCE = 1e-7  # central differences in float64 agree to ~1e-9 when backward is right
TORCH = {"rtol": 1e-10, "atol": 1e-12}
KERAS = {"rtol": 1e-5, "atol": 1e-6}


# --- words and the vocabulary ------------------------------------------------------------


def test_tokenize_words() -> None:
    assert data.tokenize_words("Don't panic, it's 42!") == [
        "don't",
        "panic",
        ",",
        "it's",
        "42",
        "!",
    ]
    assert data.tokenize_words("  ") == []
    with pytest.raises(TypeError, match="text must be a string"):
        data.tokenize_words(["a", "list"])  # type: ignore[arg-type]


def test_vocabulary_ids_counts_and_unknown_words() -> None:
    sentences = [["b", "a", "b"], ["c", "b", "a"], ["d"]]
    vocabulary = data.Vocabulary(sentences, min_count=2)
    assert vocabulary.words == ["<pad>", "<unk>", "b", "a"]  # most frequent first
    assert vocabulary.counts.tolist() == [0, 0, 3, 2]
    assert vocabulary.encode(["a", "c", "b"]).tolist() == [3, 1, 2]  # c was too rare
    assert vocabulary.decode([0, 3, 2]) == ["a", "b"]  # padding dropped
    assert "a" in vocabulary and "c" not in vocabulary and len(vocabulary) == 4
    assert data.Vocabulary(sentences, max_size=3).words == ["<pad>", "<unk>", "b"]


def test_encode_batch_pads_and_cuts_at_the_front() -> None:
    vocabulary = data.Vocabulary([["x", "y", "z"]])
    batch = vocabulary.encode_batch([["x"], ["x", "y", "z", "y"]], length=3)
    x, y, z = (vocabulary.id(w) for w in "xyz")
    assert batch.tolist() == [[0, 0, x], [y, z, y]]
    assert batch.dtype == np.int64


def test_vocabulary_bad_input() -> None:
    with pytest.raises(TypeError, match="tokenize it first"):
        data.Vocabulary(["a sentence as a string"])
    with pytest.raises(ValueError, match="min_count"):
        data.Vocabulary([["a"]], min_count=0)
    with pytest.raises(ValueError, match="no word occurs 5 times"):
        data.Vocabulary([["a"]], min_count=5)
    with pytest.raises(TypeError, match="tokenize it first"):
        data.Vocabulary([["a"]]).encode("a")


# --- byte-pair encoding ------------------------------------------------------------------

SMALL_TEXT = "low lower lowest newer newest wider widest " * 20


def test_bpe_first_merge_is_the_most_frequent_pair() -> None:
    bpe = data.BytePairEncoding.train(SMALL_TEXT, 1)
    pairs: Counter[bytes] = Counter()
    for piece in data.text.PIECE_PATTERN.findall(SMALL_TEXT):
        raw = piece.encode()
        pairs.update(raw[i : i + 2] for i in range(len(raw) - 1))
    assert bpe.tokens[256] == pairs.most_common(1)[0][0]
    assert bpe.size == 257


def test_bpe_learns_words_and_stops_when_nothing_repeats() -> None:
    bpe = data.BytePairEncoding.train(SMALL_TEXT, 1000)
    assert bpe.size < 1000 + 256  # stopped early: no pair occurs twice any more
    assert len(bpe.encode(" lowest")) == 1  # a frequent word became one token
    assert bpe.decode(bpe.encode(SMALL_TEXT)) == SMALL_TEXT


@given(st.text(max_size=60))
def test_bpe_round_trips_any_text(text: str) -> None:
    bpe = BPE_ON_DOCS
    assert bpe.decode(bpe.encode(text)) == text  # even characters training never saw


BPE_ON_DOCS = data.BytePairEncoding.train(data.load_python_docs_text()[:50_000], 200)


def test_bpe_merges_compress_held_out_text() -> None:
    text = data.load_python_docs_text()
    train, held_out = text[:50_000], text[100_000:120_000]
    full = data.BytePairEncoding.train(train, 300)
    ratios = [
        len(data.BytePairEncoding(full.merges[:m]).encode(held_out)) / len(held_out)
        for m in (0, 50, 150, 300)
    ]
    assert ratios[0] >= 1.0  # bytes: at least one token per character
    assert all(a > b for a, b in zip(ratios, ratios[1:]))  # every merge batch compresses
    assert ratios[-1] < 0.6  # measured 0.49 on Python 3.11


def test_bpe_from_merges_is_the_same_encoder() -> None:
    again = data.BytePairEncoding(BPE_ON_DOCS.merges)
    text = "Return the value of the attribute."
    assert again.encode(text).tolist() == BPE_ON_DOCS.encode(text).tolist()
    with pytest.raises(ValueError, match="does not exist yet"):
        data.BytePairEncoding([(256, 3)])
    with pytest.raises(ValueError, match="non-empty string"):
        data.BytePairEncoding.train("", 5)


# --- generated corpora ---------------------------------------------------------------------


def test_class_grammar_is_seeded_and_follows_its_templates() -> None:
    sentences = data.make_class_grammar(500, seed=3)
    assert sentences == data.make_class_grammar(500, seed=3)
    assert sentences != data.make_class_grammar(500, seed=4)
    classes = data.word_classes()
    allowed = {(s, v, o) for s, v, o, _ in corpora._TEMPLATES}
    for sentence in sentences:
        content = [classes[w] for w in sentence if w not in ("the", "in")]
        nouns = [c for c in content if c != "colour"]
        assert len(nouns) == 3 and tuple(nouns) in allowed, sentence
    assert set(classes) == {w for s in sentences for w in s} - {"the", "in"}


def clause_polarity(words: list[str]) -> int:
    """The rule, re-derived from the words: the adjective's polarity, flipped by "not"."""
    positive = any(w in corpora.SENTIMENT_WORDS["positive"] for w in words)
    return int(positive) ^ int("not" in words)


def test_sentiment_labels_follow_negation_and_contrast() -> None:
    corpus = data.make_sentiment(600, seed=1)
    assert Counter(corpus.kinds.tolist()) == {"plain": 200, "negated": 200, "contrast": 200}
    for words, label, kind in zip(corpus.sentences, corpus.labels, corpus.kinds, strict=True):
        last = words[words.index("but") + 1 :] if "but" in words else words[3:]
        assert label == clause_polarity(last)
        assert ("but" in words) == (kind == "contrast")
        assert ("not" in words[3:]) == (kind == "negated") or kind == "contrast"
        if kind == "contrast":
            first = words[3 : words.index("but")]
            assert clause_polarity(first) != label  # "but" joins opposite clauses
    assert 0.4 < corpus.labels.mean() < 0.6


# --- real text and public datasets --------------------------------------------------------


def test_python_docstrings_corpus() -> None:
    corpus = data.load_python_docstrings()
    counts = np.bincount(corpus.labels, minlength=len(corpus.label_names))
    # measured on 3.11: 1,494 texts, 135 to 299 per package
    assert len(corpus.texts) >= 1000 and counts.min() >= 60
    assert len(set(corpus.texts)) == len(corpus.texts)  # each text once: no split can leak
    assert all(len(text.split()) >= 4 for text in corpus.texts)
    with pytest.raises(ValueError, match="no standard-library package 'nope'"):
        data.load_python_docstrings(("asyncio", "nope"))


def write_imdb(root: Path) -> None:
    for split in ("train", "test"):
        for name, reviews in (("pos", ["Great<br />fun.", "Loved it"]), ("neg", ["Dull."])):
            folder = root / split / name
            folder.mkdir(parents=True)
            for index, review in enumerate(reviews):
                (folder / f"{index}_7.txt").write_text(review)


def test_read_imdb(tmp_path: Path) -> None:
    write_imdb(tmp_path / "aclImdb")
    corpus = data.read_imdb(tmp_path / "aclImdb", "test")
    assert corpus.texts == ["Dull.", "Great fun.", "Loved it"]
    assert corpus.labels.tolist() == [0, 1, 1]
    with pytest.raises(FileNotFoundError, match=r"nowhere/train/neg.*aclImdb_v1\.tar\.gz"):
        data.read_imdb(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="split"):
        data.read_imdb(tmp_path / "aclImdb", "unsup")


def test_read_ag_news(tmp_path: Path) -> None:
    (tmp_path / "train.csv").write_text(
        '"3","Wall St. Bears","Short-sellers, see green again."\n"2","Final","A late goal, a win"\n'
    )
    corpus = data.read_ag_news(tmp_path)
    assert corpus.labels.tolist() == [2, 1]
    assert corpus.texts[0] == "Wall St. Bears. Short-sellers, see green again."
    assert corpus.label_names[2] == "Business"
    with pytest.raises(FileNotFoundError, match=r"test\.csv.*train\.csv and test\.csv"):
        data.read_ag_news(tmp_path, "test")
    (tmp_path / "test.csv").write_text('"5","x","y"\n')
    with pytest.raises(ValueError, match="line 1"):
        data.read_ag_news(tmp_path, "test")


# --- skip-gram -----------------------------------------------------------------------------


def test_skipgram_examples_pairs_and_noise() -> None:
    sentences = [np.array([2, 3, 4, 5]), np.array([3, 2])]
    noise = data.noise_distribution(np.array([0, 0, 1, 1, 1, 1]))
    x, labels = data.skipgram_examples(sentences, window=2, num_negatives=3, noise=noise, seed=0)
    # window 2 in a 4-word sentence: 3 + 2 pairs each way; the 2-word sentence: 1 each way
    assert x.shape == (2 * (3 + 2) + 2, 5) and labels.shape == (12, 4)
    assert labels[:, 0].tolist() == [1.0] * 12 and not labels[:, 1:].any()
    pairs = Counter(map(tuple, x[:, :2].tolist()))
    assert pairs[(2, 3)] == 2 and pairs[(2, 4)] == 1 and (2, 5) not in pairs  # 3 apart
    assert x[:, 2:].min() >= 2  # words of count 0 are never noise
    counts = np.array([0, 1, 16])
    assert data.noise_distribution(counts).tolist() == pytest.approx([0, 1 / 9, 8 / 9])


def test_skipgram_gradients(rng) -> None:
    model = scratch.SkipGram(7, 4, rng=rng)
    model.context.weight.value[...] = rng.standard_normal((7, 4))  # context starts at zero
    x = rng.integers(0, 7, size=(6, 5))
    x[0, :3] = [2, 2, 2]  # a word that is centre, context and noise at once
    errors = scratch.check_layer(model, x, rng)
    assert max(errors.values()) < TOLERANCE, errors
    labels = np.zeros((6, 4))
    labels[:, 0] = 1.0
    logits = model.forward(x)
    assert scratch.check_loss(scratch.SkipGramLoss(), logits, labels) < TOLERANCE


def test_skipgram_loss_is_the_negative_sampling_objective(rng) -> None:
    logits = rng.standard_normal((5, 4))
    labels = np.zeros((5, 4))
    labels[:, 0] = 1.0
    sigma = 1 / (1 + np.exp(-logits))
    expected = -np.mean(np.log(sigma[:, 0]) + np.log(1 - sigma[:, 1:]).sum(axis=1))
    assert scratch.SkipGramLoss().forward(logits, labels) == pytest.approx(expected, rel=1e-12)


def test_skipgram_learns_the_planted_classes() -> None:
    sentences = data.make_class_grammar(8000, seed=0)
    vocabulary = data.Vocabulary(sentences)
    ids = [vocabulary.encode(s) for s in sentences]
    noise = data.noise_distribution(vocabulary.counts)
    model = scratch.SkipGram(vocabulary.size, 16, rng=np.random.default_rng(0))
    for epoch in range(2):
        x, labels = data.skipgram_examples(ids, 2, 5, noise, seed=epoch)
        scratch.fit(
            model, scratch.SkipGramLoss(), scratch.SGD(1.0), x, labels, epochs=1, batch_size=256
        )
    classes = data.word_classes()
    rows = [vocabulary.id(w) for w in classes]
    rate, chance = metrics.neighbour_class_rate(model.vectors[rows], list(classes.values()), k=3)
    assert chance < 0.1
    assert rate > 0.8  # measured 0.95 (chance 0.09); 1.00 on the notebook's 20,000


# --- counts: PPMI and SVD -------------------------------------------------------------------


def test_cooccurrence_counts_the_skipgram_pairs() -> None:
    sentences = [np.array([0, 1, 2, 1]), np.array([2, 0])]
    counts = scratch.cooccurrence_matrix(sentences, 3, window=2)
    noise = np.full(3, 1 / 3)
    x, _ = data.skipgram_examples(sentences, 2, 1, noise)
    expected = np.zeros((3, 3))
    np.add.at(expected, (x[:, 0], x[:, 1]), 1)
    np.testing.assert_array_equal(counts, expected)
    np.testing.assert_array_equal(counts, counts.T)


def test_ppmi_by_hand() -> None:
    counts = np.array([[0.0, 4.0], [4.0, 2.0]])  # total 10; row and column sums 4 and 6
    result = scratch.ppmi(counts)
    # P(w, c) / (P(w) P(c)) = (4/10) / ((4/10)(6/10)); an unseen pair gets 0
    assert result[0, 1] == pytest.approx(np.log(4 * 10 / (4 * 6))) and result[0, 0] == 0.0
    assert result[1, 1] == 0.0  # log(20/36) < 0 is clipped
    with pytest.raises(ValueError, match="square matrix of non-negative counts"):
        scratch.ppmi(-counts)


def test_svd_vectors_factorise_a_positive_semidefinite_matrix(rng) -> None:
    b = rng.standard_normal((5, 5))
    matrix = b @ b.T
    vectors = scratch.svd_vectors(matrix, 5)
    np.testing.assert_allclose(vectors @ vectors.T, matrix, atol=1e-10)
    low = scratch.svd_vectors(matrix, 2)
    assert low.shape == (5, 2) and (low[np.abs(low).argmax(axis=0), [0, 1]] > 0).all()
    with pytest.raises(ValueError, match="dim must be at most 5"):
        scratch.svd_vectors(matrix, 6)


def test_neighbour_class_rate() -> None:
    vectors = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9], [0.05, 1]])
    rate, chance = metrics.neighbour_class_rate(vectors, ["a", "a", "b", "b", "b"], k=1)
    assert rate == 1.0
    assert chance == pytest.approx((2 * 1 / 4 + 3 * 2 / 4) / 5)
    with pytest.raises(ValueError, match="N > k"):
        metrics.nearest_neighbours(vectors, k=5)


# --- the layers of the text classifiers ----------------------------------------------------


@pytest.mark.parametrize(
    "make, x",
    [
        (lambda rng: scratch.Conv1D(3, 4, 2, rng=rng), lambda rng: rng.standard_normal((2, 5, 3))),
        (lambda rng: scratch.GlobalMaxPool1D(), lambda rng: rng.standard_normal((2, 5, 3))),
        (
            lambda rng: scratch.EmbeddingBag(6, 3, rng=rng),
            lambda rng: np.array([[0, 0, 2, 2, 5], [1, 3, 4, 1, 1]]),
        ),
    ],
    ids=["Conv1D", "GlobalMaxPool1D", "EmbeddingBag"],
)
def test_text_layer_gradients(make, x, rng) -> None:
    layer = make(rng)
    for name, parameter in layer.parameters():
        if name.endswith("b"):
            parameter.value[...] = rng.standard_normal(parameter.shape)
    errors = scratch.check_layer(layer, x(rng), rng)
    assert max(errors.values()) < TOLERANCE, errors


def test_embedding_bag_leaves_padding_out(rng) -> None:
    bag = scratch.EmbeddingBag(5, 2, rng=rng)
    table = bag.embedding.params["W"]
    out = bag.forward(np.array([[0, 0, 3, 4], [0, 2, 2, 2]]))
    np.testing.assert_allclose(out[0], (table[3] + table[4]) / 2)
    np.testing.assert_allclose(out[1], table[2])
    bag.backward(np.ones((2, 2)))
    assert not bag.embedding.grads["W"][0].any()  # padding gets no gradient


@pytest.mark.torch
@pytest.mark.keras
def test_an_empty_sentence_gives_the_bias_in_every_framework(rng) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("tensorflow")
    import dltutor.keras as dkeras
    import dltutor.torch as dtorch

    reference = scratch.BagOfEmbeddings(5, 3, 2, rng=rng)
    reference.layers[1].params["b"][...] = [0.5, -0.25]
    x = np.array([[0, 0, 0], [1, 2, 0]])  # the first sentence is all padding
    expected = reference.forward(x)
    np.testing.assert_allclose(expected[0], [0.5, -0.25])
    for module, model in [
        (dtorch, dtorch.BagOfEmbeddings(5, 3, 2).double()),
        (dkeras, dkeras.BagOfEmbeddings(5, 3, 2)),
    ]:
        module.set_weights(model, reference.get_weights())
        got = module.predict(model, x) if module is dtorch else model.predict(x, verbose=0)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.torch
def test_conv1d_and_embeddings_match_torch(rng) -> None:
    torch = pytest.importorskip("torch")
    functional = torch.nn.functional

    conv = scratch.Conv1D(3, 4, 3, rng=rng)
    conv.params["b"][...] = rng.standard_normal(4)
    x = rng.standard_normal((2, 6, 3))
    upstream = rng.standard_normal((2, 4, 4))
    x_t = torch.tensor(x.transpose(0, 2, 1), requires_grad=True)  # conv1d wants (N, C, T)
    w_t = torch.tensor(conv.params["W"], requires_grad=True)
    b_t = torch.tensor(conv.params["b"], requires_grad=True)
    y_t = functional.conv1d(x_t, w_t, b_t)
    (y_t * torch.tensor(upstream.transpose(0, 2, 1))).sum().backward()
    np.testing.assert_allclose(conv.forward(x), y_t.detach().numpy().transpose(0, 2, 1), **TORCH)
    grad_x = conv.backward(upstream)
    np.testing.assert_allclose(grad_x, x_t.grad.numpy().transpose(0, 2, 1), **TORCH)
    np.testing.assert_allclose(conv.grads["W"], w_t.grad.numpy(), **TORCH)
    np.testing.assert_allclose(conv.grads["b"], b_t.grad.numpy(), **TORCH)

    ids = np.array([[1, 4, 1], [4, 4, 0]])  # repeated ids: gradients add up
    upstream = rng.standard_normal((2, 3, 2))
    ours = scratch.Embedding(5, 2, rng=rng)
    theirs = torch.nn.Embedding(5, 2).double()
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(ours.params["W"]))
    out = theirs(torch.tensor(ids))
    (out * torch.tensor(upstream)).sum().backward()
    np.testing.assert_allclose(ours.forward(ids), out.detach().numpy(), **TORCH)
    ours.backward(upstream)
    np.testing.assert_allclose(ours.grads["W"], theirs.weight.grad.numpy(), **TORCH)
    assert ours.grads["W"][4] == pytest.approx(upstream[0, 1] + upstream[1, 0] + upstream[1, 1])


@pytest.mark.keras
def test_conv1d_and_embeddings_match_keras(rng) -> None:
    pytest.importorskip("tensorflow")
    import keras
    import tensorflow as tf

    conv = scratch.Conv1D(3, 4, 3, rng=rng, dtype=np.float32)
    conv.params["b"][...] = rng.standard_normal(4)
    x = rng.standard_normal((2, 6, 3)).astype(np.float32)
    upstream = rng.standard_normal((2, 4, 4)).astype(np.float32)
    layer = keras.layers.Conv1D(4, 3)
    layer.build((None, 6, 3))
    layer.set_weights([conv.params["W"].transpose(2, 1, 0), conv.params["b"]])
    x_tf = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x_tf)
        y = layer(x_tf)
        total = tf.reduce_sum(y * upstream)
    grad_x, grad_w, grad_b = tape.gradient(total, [x_tf, *layer.trainable_weights])
    np.testing.assert_allclose(conv.forward(x), y.numpy(), **KERAS)
    np.testing.assert_allclose(conv.backward(upstream), grad_x.numpy(), **KERAS)
    np.testing.assert_allclose(conv.grads["W"], grad_w.numpy().transpose(2, 1, 0), **KERAS)
    np.testing.assert_allclose(conv.grads["b"], grad_b.numpy(), **KERAS)

    ids = np.array([[1, 4, 1], [4, 4, 0]])
    upstream = rng.standard_normal((2, 3, 2)).astype(np.float32)
    ours = scratch.Embedding(5, 2, rng=rng, dtype=np.float32)
    theirs = keras.layers.Embedding(5, 2)
    theirs.build((None, 3))
    theirs.set_weights([ours.params["W"]])
    with tf.GradientTape() as tape:
        out = theirs(tf.constant(ids))
        total = tf.reduce_sum(out * upstream)
    (grad,) = tape.gradient(total, theirs.trainable_weights)
    np.testing.assert_allclose(ours.forward(ids), out.numpy(), **KERAS)
    ours.backward(upstream)
    np.testing.assert_allclose(ours.grads["W"], tf.convert_to_tensor(grad).numpy(), **KERAS)


def test_text_models_bad_input(rng) -> None:
    with pytest.raises(ValueError, match=r"Conv1D expects x of shape \(N, T >= 3, 4\)"):
        scratch.Conv1D(4, 2, 3, rng=rng).forward(np.ones((2, 2, 4)))
    with pytest.raises(ValueError, match="embed_dim"):
        scratch.TextCNN(10, 0, 2)
    with pytest.raises(ValueError, match=re.escape("(N, 2 + K)")):
        scratch.SkipGram(5, 2).forward(np.array([[1], [2]]))
    with pytest.raises(ValueError, match="ids must lie in"):
        scratch.BagOfEmbeddings(5, 2, 2).forward(np.array([[1, 7]]))


def test_split_text_builds_the_vocabulary_from_training_text_only() -> None:
    sentences = [["common", f"rare{i}"] for i in range(20)]
    labels = np.array([0, 1] * 10)
    task = data.split_text(sentences, labels, length=3, test_size=0.25, seed=0)
    assert task.x_train.shape == (15, 3) and task.x_test.shape == (5, 3)
    assert sorted(np.bincount(task.y_test).tolist()) == [2, 3]  # stratified: 2 and 3 of 5
    test_words = {sentences[i][1] for i in task.test_index}
    assert not test_words & set(task.vocabulary.words)  # test-only words stay unknown
    assert (task.x_test[:, -1] == 1).all() and (task.x_test[:, 0] == 0).all()
    np.testing.assert_array_equal(labels[task.test_index], task.y_test)
    with pytest.raises(ValueError, match="20 sentences and 3 labels"):
        data.split_text(sentences, labels[:3], length=3)


def test_accuracy_by_group() -> None:
    scores = metrics.accuracy_by_group([1, 0, 1, 1], [1, 1, 1, 0], ["a", "a", "b", "b"])
    assert scores == {"a": 0.5, "b": 0.5}
    assert metrics.accuracy_by_group([1, 0], [1, 0], ["x", "y"]) == {"x": 1.0, "y": 1.0}
    ordered = metrics.accuracy_by_group([1, 0], [1, 1], ["x", "y"], order=["y", "x"])
    assert list(ordered) == ["y", "x"] and ordered == {"y": 0.0, "x": 1.0}
    with pytest.raises(ValueError):
        metrics.accuracy_by_group([1, 0], [1, 0], ["x"])
    with pytest.raises(ValueError, match="no examples in groups"):
        metrics.accuracy_by_group([1, 0], [1, 0], ["x", "y"], order=["x", "z"])


def test_plot_grouped_bars() -> None:
    import matplotlib

    matplotlib.use("Agg")
    from dltutor import plot

    ax = plot.plot_grouped_bars({"m1": {"a": 0.5, "b": 1.0}, "m2": {"a": 0.2, "b": 0.4}})
    heights = sorted(round(patch.get_height(), 2) for patch in ax.patches)
    assert heights == [0.2, 0.4, 0.5, 1.0]
    with pytest.raises(ValueError, match="at least one series"):
        plot.plot_grouped_bars({})


# --- the full softmax, subsampling, analogies, relations (issue 22) -------------------------

from dltutor.data.text import keep_probability, skipgram_pairs, subsample  # noqa: E402
from dltutor.scratch.text import SkipGramSoftmax, analogy_accuracy, tfidf_classifier  # noqa: E402


def test_skipgram_pairs_are_the_rows_of_skipgram_examples() -> None:
    sentences = [np.array([2, 3, 4, 5]), np.array([3, 2]), np.array([4])]
    pairs = skipgram_pairs(sentences, window=2)
    # by hand: every ordered pair of different positions at most 2 apart, per sentence
    expected = Counter(
        (int(s[i]), int(s[j]))
        for s in sentences
        for i in range(len(s))
        for j in range(len(s))
        if i != j and abs(i - j) <= 2
    )
    assert Counter(map(tuple, pairs.tolist())) == expected
    x, _ = data.skipgram_examples(sentences, 2, 3, np.full(6, 1 / 6), seed=0)
    np.testing.assert_array_equal(x[:, :2], pairs)
    with pytest.raises(ValueError, match="1-D array of word ids"):
        skipgram_pairs([np.array([[1, 2]])], 2)
    with pytest.raises(ValueError, match="single word"):
        skipgram_pairs([np.array([1])], 2)


def test_keep_probability_and_subsample() -> None:
    counts = np.array([0, 0, 900, 90, 10])  # shares 0.9, 0.09, 0.01
    keep = keep_probability(counts, threshold=0.01)
    np.testing.assert_allclose(keep, [1.0, 1.0, np.sqrt(0.01 / 0.9), np.sqrt(0.01 / 0.09), 1.0])
    sentences = [np.array([2] * 1000 + [4] * 1000)] * 20
    kept = subsample(sentences, counts, threshold=0.01, seed=0)
    assert all(np.all(s[s != 2] == 4) for s in kept)
    assert all((s == 4).sum() == 1000 for s in kept)  # probability 1: always kept
    share = np.mean([(s == 2).sum() / 1000 for s in kept])
    assert share == pytest.approx(keep[2], abs=0.02)  # 20,000 draws: sd 0.0022
    again = subsample(sentences, counts, threshold=0.01, seed=0)
    assert all(np.array_equal(a, b) for a, b in zip(kept, again, strict=True))
    with pytest.raises(ValueError, match="threshold"):
        keep_probability(counts, threshold=0.0)
    with pytest.raises(ValueError, match="not all zero"):
        keep_probability(np.zeros(3))
    with pytest.raises(ValueError):
        subsample([np.array([7])], counts)  # an id the counts do not cover
    with pytest.raises(TypeError, match="list of arrays"):
        subsample("the cat", counts)


def test_skipgram_softmax_gradients(rng) -> None:
    model = SkipGramSoftmax(7, 4, rng=rng)
    model.context.weight.value[...] = rng.standard_normal((7, 4))  # context starts at zero
    x = np.array([[2], [2], [5], [0]])  # a centre twice
    errors = scratch.check_layer(model, x, rng)
    assert max(errors.values()) < TOLERANCE, errors
    logits = model.forward(x)
    assert logits.shape == (4, 7)
    with pytest.raises(ValueError, match=r"centre ids of shape \(N, 1\)"):
        model.forward(np.array([1, 2]))
    with pytest.raises(ValueError, match="grad_output"):
        model.backward(np.zeros((4, 6)))


def test_skipgram_softmax_matches_torch_cross_entropy(rng) -> None:
    torch = pytest.importorskip("torch")
    model = SkipGramSoftmax(9, 3, rng=rng)
    model.context.weight.value[...] = rng.standard_normal((9, 3))
    centres, contexts = rng.integers(0, 9, size=(12, 1)), rng.integers(0, 9, size=12)
    loss = scratch.CrossEntropyLoss()
    value = loss.forward(model.forward(centres), contexts)
    model.backward(loss.backward())
    u = torch.tensor(model.centre.weight.value, requires_grad=True)
    v = torch.tensor(model.context.weight.value, requires_grad=True)
    reference = torch.nn.functional.cross_entropy(
        u[torch.from_numpy(centres[:, 0])] @ v.T, torch.from_numpy(contexts)
    )
    reference.backward()
    assert value == pytest.approx(reference.item(), rel=1e-12)
    np.testing.assert_allclose(model.centre.weight.grad, u.grad.numpy(), **TORCH)
    np.testing.assert_allclose(model.context.weight.grad, v.grad.numpy(), **TORCH)


def test_analogy_accuracy_by_hand() -> None:
    # rows: a1, b1, a2, b2, decoy; b = a + offset exactly, so every analogy is solved
    offset = np.array([0.0, 0.0, 1.0])
    a1, a2 = np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0])
    vectors = np.stack([a1, a1 + offset, a2, a2 + offset, a2 + 0.3 * offset])
    assert analogy_accuracy(vectors, [(0, 1), (2, 3)]) == 1.0
    # neither b may answer: the decoy (row 4) answers both questions
    assert analogy_accuracy(vectors, [(0, 1), (2, 3)], candidates=[0, 2, 4]) == 0.0
    # the query words never answer, even when they are nearest (b1 = a1)
    same = np.stack([a1, a1, a2, a2 + offset, a2])
    assert analogy_accuracy(same, [(0, 1), (2, 3)]) == 0.5
    with pytest.raises(ValueError, match="at least two"):
        analogy_accuracy(vectors, [(0, 1)])
    with pytest.raises(ValueError):
        analogy_accuracy(vectors, [(0, 1), (2, 9)])


def test_relation_grammar_plants_its_relations() -> None:
    sentences = corpora.make_relation_grammar(3000, seed=1)
    assert sentences == corpora.make_relation_grammar(3000, seed=1)
    forms = {}
    for triples in corpora.RELATION_PAIRS.values():
        for first, second, shared in triples:
            forms[first] = forms[second] = shared
    counts: Counter[str] = Counter()
    for words in sentences:
        present = [w for w in words if w in forms]
        assert len(present) == 1, words  # one form per sentence
        form = present[0]
        counts[form] += 1
        # its pair's own word is within three places: visible with window 3
        assert abs(words.index(forms[form]) - words.index(form)) <= 3, words
        if words[0] == "two":
            assert form in {second for second, _, _ in _number_seconds()}
    first, *_, last = corpora.RELATION_PAIRS["gender"]
    assert counts["king"] + counts["queen"] > 4 * (counts[last[0]] + counts[last[1]])  # Zipf: 8x
    with pytest.raises(ValueError):
        corpora.make_relation_grammar(0)


def _number_seconds() -> list[tuple[str, str, str]]:
    return [(second, first, shared) for first, second, shared in corpora.RELATION_PAIRS["number"]]


def test_split_by_groups_keeps_each_group_on_one_side() -> None:
    reviews = data.make_sentiment(900, seed=0)
    predicates = reviews.predicates
    assert predicates[0] == " ".join(reviews.sentences[0][3:])
    task = data.split_text(reviews.sentences, reviews.labels, 10, groups=predicates)
    train = {predicates[i] for i in task.train_index}
    assert not train & {predicates[i] for i in task.test_index}
    assert len(task.train_index) + len(task.test_index) == 900
    np.testing.assert_array_equal(task.y_train, reviews.labels[task.train_index])
    np.testing.assert_array_equal(
        task.x_train,
        task.vocabulary.encode_batch([reviews.sentences[i] for i in task.train_index], 10),
    )
    with pytest.raises(ValueError, match="one group per sentence"):
        data.split_text(reviews.sentences, reviews.labels, 10, groups=predicates[:5])
    with pytest.raises(ValueError, match="two different groups"):
        data.split_text(reviews.sentences, reviews.labels, 10, groups=["a"] * 900)


def test_tfidf_classifier_reads_words() -> None:
    texts = ["The cat sat.", "A cat ran!", "Stocks fell.", "Bonds fell, stocks rose."] * 5
    labels = np.array([0, 0, 1, 1] * 5)
    model = tfidf_classifier().fit(texts, labels)
    assert model.predict(["the cat", "stocks and bonds"]).tolist() == [0, 1]
    assert "cat" in model[0].vocabulary_ and "," in model[0].vocabulary_  # tokenize_words' words
    with pytest.raises(ValueError, match="max_c"):
        tfidf_classifier(max_c=0.0)


def test_skipgram_softmax_twins(rng) -> None:
    """Same weights, same loss and gradients: PyTorch in float64, Keras in float32."""
    dtorch = pytest.importorskip("dltutor.torch.text")
    from dltutor.torch import loss_and_gradients, set_weights

    torch = pytest.importorskip("torch")
    reference = SkipGramSoftmax(9, 4, rng=rng)
    weights = [
        rng.standard_normal(w.shape).astype(np.float32).astype(float)
        for w in reference.get_weights()
    ]
    reference.set_weights(weights)
    centres, contexts = rng.integers(0, 9, size=(10, 1)), rng.integers(0, 9, size=10)
    loss = scratch.CrossEntropyLoss()
    value = loss.forward(reference.forward(centres), contexts)
    reference.backward(loss.backward())

    twin = dtorch.SkipGramSoftmax(9, 4).double()
    set_weights(twin, weights)
    torch_value, torch_gradients = loss_and_gradients(
        twin, torch.nn.CrossEntropyLoss(), centres, contexts
    )
    assert torch_value == pytest.approx(value, rel=1e-12)
    for ours, theirs in zip(reference.gradients(), torch_gradients, strict=True):
        np.testing.assert_allclose(theirs, ours, **TORCH)
    with pytest.raises(ValueError, match=r"shape \(N, 1\)"):
        twin(torch.tensor([[1, 2]]))

    keras = pytest.importorskip("keras")
    from dltutor.keras import loss_and_gradients as keras_loss_and_gradients
    from dltutor.keras import set_weights as keras_set_weights
    from dltutor.keras.text import SkipGramSoftmax as KerasSkipGramSoftmax

    keras_twin = KerasSkipGramSoftmax(9, 4)
    keras_set_weights(keras_twin, weights)
    keras_value, keras_gradients = keras_loss_and_gradients(
        keras_twin,
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        centres,
        contexts,
    )
    assert keras_value == pytest.approx(value, rel=1e-5)
    for ours, theirs in zip(reference.gradients(), keras_gradients, strict=True):
        np.testing.assert_allclose(theirs, ours, **KERAS)
    with pytest.raises(ValueError, match=r"shape \(N, 1\)"):
        keras_twin(np.array([[1, 2]]))
