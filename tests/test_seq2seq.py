"""Sequence to sequence: gradient checks, parity with PyTorch and Keras, decoding, BLEU, data.

References: finite differences (:mod:`dltutor.scratch.gradcheck`), PyTorch autograd in
float64, Keras in float32, sacrebleu's corpus BLEU (a test-only oracle), hand-worked cases.
"""

from __future__ import annotations

import numpy as np
import pytest

from dltutor.data import translation
from dltutor.scratch import seq2seq as s2s
from dltutor.scratch.gradcheck import numerical_gradient, relative_error

TOLERANCE = 1e-6
# Padded sources (id 0 at the end of the second row): padding masks are exercised everywhere.
SOURCE = np.array([[5, 6, 7, 2], [4, 3, 2, 0]])
TARGET_IN = np.array([[1, 5, 6], [1, 4, 0]])


def gradient_errors(model: s2s.Layer, rng: np.random.Generator) -> dict[str, float]:
    """Relative error of every parameter's gradient against central differences; for a
    gradient that is zero by construction (key biases, the score's bias) the absolute one."""
    logits = model.forward(SOURCE, TARGET_IN)
    upstream = rng.standard_normal(logits.shape)
    model.backward(upstream)
    analytic = model.named_gradients()
    errors = {}
    for name, array in model.named_parameters().items():
        numeric = numerical_gradient(
            lambda: float(np.sum(model.forward(SOURCE, TARGET_IN) * upstream)), array
        )
        if np.abs(numeric).max() < 1e-8:
            errors[name] = float(np.abs(analytic[name]).max())
        else:
            errors[name] = relative_error(analytic[name], numeric)
    return errors


@pytest.mark.parametrize("attention", [True, False])
def test_gru_seq2seq_gradcheck(rng, attention) -> None:
    model = s2s.GRUSeq2Seq(8, 9, 4, 5, attention=attention, rng=rng)
    errors = gradient_errors(model, rng)
    assert max(errors.values()) < TOLERANCE, errors


@pytest.mark.parametrize("positions", ["sinusoidal", "learned"])
def test_transformer_gradcheck(rng, positions) -> None:
    model = s2s.Seq2SeqTransformer(8, 9, 6, 8, 2, 1, 12, positions=positions, rng=rng)
    errors = gradient_errors(model, rng)
    assert max(errors.values()) < TOLERANCE, errors


def test_additive_attention_gradcheck(rng) -> None:
    layer = s2s.AdditiveAttention(3, 4, 5, rng=rng)
    query, keys = rng.standard_normal((2, 3)), rng.standard_normal((2, 6, 4))
    mask = np.ones((2, 6), dtype=bool)
    mask[1, 4:] = False
    upstream = rng.standard_normal((2, 4))

    def loss() -> float:
        return float(np.sum(layer.forward(query, keys, mask) * upstream))

    layer.forward(query, keys, mask)
    grad_query, grad_keys = layer.backward(upstream)
    assert relative_error(grad_query, numerical_gradient(loss, query)) < TOLERANCE
    assert relative_error(grad_keys, numerical_gradient(loss, keys)) < TOLERANCE
    assert np.all(grad_keys[1, 4:] == 0)  # padding gets no gradient
    for name, value in layer.named_parameters().items():
        numeric = numerical_gradient(loss, value)
        grad = layer.named_gradients()[name]
        if name == "score.b":  # adds the same number to every score: the softmax ignores it
            assert np.abs(grad).max() < 1e-12 and np.abs(numeric).max() < 1e-8
        else:
            assert relative_error(grad, numeric) < TOLERANCE, name
    weights = layer.weights
    assert weights is not None and np.allclose(weights.sum(1), 1) and np.all(weights[1, 4:] == 0)


def test_cross_attention_gradcheck_and_mask(rng) -> None:
    layer = s2s.CrossAttention(6, 2, rng=rng)
    x, memory = rng.standard_normal((2, 3, 6)), rng.standard_normal((2, 5, 6))
    mask = np.ones((2, 5), dtype=bool)
    mask[0, 3:] = False
    upstream = rng.standard_normal((2, 3, 6))

    def loss() -> float:
        return float(np.sum(layer.attend_memory(x, memory, mask) * upstream))

    layer.attend_memory(x, memory, mask)
    grad_x = layer.backward(upstream)
    assert layer.grad_memory is not None
    assert relative_error(grad_x, numerical_gradient(loss, x)) < TOLERANCE
    assert relative_error(layer.grad_memory, numerical_gradient(loss, memory)) < TOLERANCE
    assert np.all(layer.grad_memory[0, 3:] == 0)
    before = layer.attend_memory(x, memory, mask)
    changed = memory.copy()
    changed[0, 3:] = 99.0  # padded memory positions must not matter
    np.testing.assert_array_equal(layer.attend_memory(x, changed, mask)[0], before[0])


# --- the key/value cache and decoding -----------------------------------------------------


def test_kv_cache_equals_full_recomputation(rng) -> None:
    model = s2s.Seq2SeqTransformer(8, 9, 10, 16, 2, 2, 32, rng=rng)
    memory, mask = model.encode(SOURCE)
    prefix = rng.integers(3, 9, size=(2, 8))
    prefix[:, 0] = s2s.BOS
    full = model.decode(prefix, memory, mask)  # (N, T, V), every position recomputed
    cache = model.start_cache(SOURCE)
    for t in range(prefix.shape[1]):
        step = model.decode_step(prefix[:, t], cache)
        np.testing.assert_allclose(step, full[:, t], rtol=0, atol=1e-12)
    assert cache["blocks"][0]["k"].shape == (2, 2, 8, 8)  # (N, H, t, d): one key per step
    np.testing.assert_array_equal(
        model.generate(SOURCE, 8, cache=True), model.generate(SOURCE, 8, cache=False)
    )


def table_model(table: dict[tuple[int, ...], list[float]], vocab: int = 5):
    """A 'model' whose next-token probabilities are looked up by prefix (BOS stripped)."""

    def next_log_probs(source: np.ndarray, prefixes: np.ndarray) -> np.ndarray:
        rows = []
        for prefix in prefixes:
            key = tuple(int(t) for t in prefix[1:] if t != s2s.PAD)
            probabilities = np.array(table.get(key, [0, 0, 1.0, 0, 0][:vocab]), dtype=float)
            with np.errstate(divide="ignore"):
                rows.append(np.log(probabilities))
        return np.array(rows)

    return next_log_probs


def test_beam_two_beats_greedy_on_a_hand_made_table() -> None:
    # ids: 0 pad, 1 bos, 2 eos, 3 "a", 4 "b". Greedy takes "a" (0.6) and then has at best
    # 0.4 to end: 0.24. "b" (0.4) then ends with 0.9: 0.36, which beam 2 keeps and finds.
    table = {
        (): [0, 0, 0, 0.6, 0.4],
        (3,): [0, 0, 0.4, 0.3, 0.3],
        (4,): [0, 0, 0.9, 0.05, 0.05],
    }
    model, source = table_model(table), np.array([[3]])
    greedy = s2s.greedy_decode(model, source, 4)
    beam, score = s2s.beam_search(model, source, 2, 4)
    np.testing.assert_array_equal(greedy[0, :2], [3, 2])
    np.testing.assert_array_equal(beam[0, :2], [4, 2])
    assert score[0] == pytest.approx(np.log(0.36))


def test_beam_one_is_greedy(rng) -> None:
    model = s2s.Seq2SeqTransformer(8, 9, 10, 16, 2, 1, 32, rng=rng)
    source = rng.integers(3, 8, size=(6, 5))
    greedy = s2s.greedy_decode(model.next_log_probs, source, 8)
    beam, _ = s2s.beam_search(model.next_log_probs, source, 1, 8)
    np.testing.assert_array_equal(beam, greedy)
    # A wider beam is not guaranteed a better score (greedy's path can fall out of the
    # beam); that it can find one is the hand-made table's test above.


def test_length_penalty_prefers_longer_outputs() -> None:
    # "b" ends at once with 0.5; "a a" ends with 0.5·0.8·0.9 = 0.36, smaller but longer.
    table = {
        (): [0, 0, 0.0, 0.5, 0.5],
        (4,): [0, 0, 1.0, 0, 0],
        (3,): [0, 0, 0.1, 0.8, 0.1],
        (3, 3): [0, 0, 0.9, 0.05, 0.05],
    }
    model, source = table_model(table), np.array([[3]])
    short, _ = s2s.beam_search(model, source, 2, 5, alpha=0.0)
    long, _ = s2s.beam_search(model, source, 2, 5, alpha=3.0)
    np.testing.assert_array_equal(short[0, :2], [4, 2])
    np.testing.assert_array_equal(long[0, :3], [3, 3, 2])


# --- BLEU -------------------------------------------------------------------------------------


def test_bleu_hand_worked() -> None:
    # hypothesis "the cat sat on the mat" (6), reference "the cat is on the mat" (6):
    # p1 = 5/6, p2 = 3/5 (the cat, on the, the mat), p3 = 1/4 (on the mat), p4 = 0/3 -> 0.
    hyp, ref = "the cat sat on the mat".split(), "the cat is on the mat".split()
    assert s2s.corpus_bleu([hyp], [ref]) == 0.0
    # up to trigrams: BP = 1 and BLEU = (5/6 · 3/5 · 1/4)^(1/3)
    assert s2s.corpus_bleu([hyp], [ref], max_order=3) == pytest.approx(
        100 * (5 / 6 * 3 / 5 * 1 / 4) ** (1 / 3)
    )
    # clipping: "the the the" against "the cat": p1 = 1/3; a short output pays the brevity penalty
    assert s2s.corpus_bleu([["the"] * 3], [["the", "cat"]], max_order=1) == pytest.approx(100 / 3)
    assert s2s.corpus_bleu([["the"]], [["the", "cat"]], max_order=1) == pytest.approx(
        100 * np.exp(1 - 2)
    )


def test_bleu_equals_sacrebleu(rng) -> None:
    sacrebleu = pytest.importorskip("sacrebleu")
    words = [f"w{i}" for i in range(6)]
    for _ in range(60):
        size, refs = int(rng.integers(1, 6)), int(rng.integers(1, 4))
        hyps = [list(rng.choice(words, rng.integers(1, 9))) for _ in range(size)]
        references = [
            [list(rng.choice(words, rng.integers(1, 9))) for _ in range(refs)] for _ in range(size)
        ]
        for i in range(size):  # make matches likely: copy a piece of a reference
            hyps[i] = references[i][0][: int(rng.integers(1, 9))] + hyps[i][:2]
        oracle = sacrebleu.corpus_bleu(
            [" ".join(h) for h in hyps],
            [[" ".join(r[j]) for r in references] for j in range(refs)],
            tokenize="none",
            smooth_method="none",
        ).score
        assert s2s.corpus_bleu(hyps, references) == pytest.approx(oracle, abs=1e-9)


def test_exact_match_and_token_accuracy() -> None:
    assert s2s.exact_match([["a", "b"], ["a"]], [["a", "b"], ["b"]]) == 0.5
    predicted = np.array([[3, 4, 2], [3, 3, 0]])
    target = np.array([[3, 4, 2], [4, 2, 0]])
    assert s2s.token_accuracy(predicted, target) == pytest.approx(3 / 5)  # row 2: both wrong


# --- twins: PyTorch (float64) and Keras (float32) ------------------------------------------


def torch_parity(make_scratch, make_torch, rng) -> tuple[float, float]:
    torch = pytest.importorskip("torch")
    import dltutor.torch as dtorch

    torch.backends.mha.set_fastpath_enabled(False)
    try:
        reference, twin = make_scratch(), make_torch().double()
        dtorch.set_weights(twin, reference.get_weights())
        logits = reference.forward(SOURCE, TARGET_IN)
        upstream = rng.standard_normal(logits.shape)
        reference.backward(upstream)
        theirs = twin(torch.as_tensor(SOURCE), torch.as_tensor(TARGET_IN))
        (theirs * torch.as_tensor(upstream)).sum().backward()
        output = float(np.abs(logits - theirs.detach().numpy()).max())
        pairs = zip(reference.gradients(), dtorch.gradients(twin), strict=True)
        return output, max(float(np.abs(a - b).max()) for a, b in pairs)
    finally:
        torch.backends.mha.set_fastpath_enabled(True)


@pytest.mark.parametrize("positions", ["sinusoidal", "learned"])
def test_torch_transformer_parity(rng, positions) -> None:
    from dltutor.torch import seq2seq as tseq

    args = (8, 9, 6, 8, 2, 2, 16)
    output, gradient = torch_parity(
        lambda: s2s.Seq2SeqTransformer(*args, positions=positions, rng=rng),
        lambda: tseq.Seq2SeqTransformer(*args, positions=positions),
        rng,
    )
    assert output < 1e-10 and gradient < 1e-10


@pytest.mark.parametrize("attention", [True, False])
def test_torch_gru_parity(rng, attention) -> None:
    from dltutor.torch import seq2seq as tseq

    output, gradient = torch_parity(
        lambda: s2s.GRUSeq2Seq(8, 9, 4, 5, attention=attention, rng=rng),
        lambda: tseq.GRUSeq2Seq(8, 9, 4, 5, attention=attention),
        rng,
    )
    assert output < 1e-10 and gradient < 1e-10


def test_torch_cache_and_maps(rng) -> None:
    torch = pytest.importorskip("torch")
    import dltutor.torch as dtorch
    from dltutor.torch import seq2seq as tseq

    reference = s2s.Seq2SeqTransformer(8, 9, 8, 8, 2, 2, 16, rng=rng)
    twin = tseq.Seq2SeqTransformer(8, 9, 8, 8, 2, 2, 16).double()
    dtorch.set_weights(twin, reference.get_weights())
    expected = reference.generate(SOURCE, 7)
    np.testing.assert_array_equal(tseq.generate(twin, SOURCE, 7, cache=True), expected)
    np.testing.assert_array_equal(tseq.generate(twin, SOURCE, 7, cache=False), expected)
    reference.forward(SOURCE, TARGET_IN)
    for ours, theirs in zip(
        reference.cross_attention_maps(),
        tseq.cross_attention_maps(twin, SOURCE, TARGET_IN),
        strict=True,
    ):
        np.testing.assert_allclose(ours, theirs, atol=1e-12)
    assert isinstance(tseq.next_log_probs(twin)(SOURCE, TARGET_IN), np.ndarray)
    with torch.no_grad():  # never <eos>: every step goes through the cache
        twin.head.bias[s2s.EOS] = -1e9
    cached = tseq.generate(twin, SOURCE, 7, cache=True)
    assert np.all(cached != s2s.PAD) and len(np.unique(cached)) > 1
    np.testing.assert_array_equal(cached, tseq.generate(twin, SOURCE, 7, cache=False))


def keras_parity(reference: s2s.Layer, twin, rng) -> None:
    """Logits and every gradient of a Keras twin against the scratch model, float32."""
    tf = pytest.importorskip("tensorflow")
    from dltutor.keras import layout

    layout.set_weights(twin, reference.get_weights())
    logits = reference.forward(SOURCE, TARGET_IN)
    upstream = rng.standard_normal(logits.shape)
    reference.backward(upstream)
    inputs = (SOURCE.astype(np.int32), TARGET_IN.astype(np.int32))
    mapped = layout._mapped_layers(twin)
    variables = [v for layer, _ in mapped for v in layer.trainable_weights]
    with tf.GradientTape() as tape:
        theirs = twin(inputs)
        value = tf.reduce_sum(theirs * tf.constant(upstream, tf.float32))
    flat = tape.gradient(value, variables)
    grads, start = [], 0
    for layer in mapped:
        count = len(layer[0].trainable_weights)
        arrays = [np.asarray(tf.convert_to_tensor(g)) for g in flat[start : start + count]]
        grads += layout._to_scratch(layer, arrays, gradients=True)
        start += count
    np.testing.assert_allclose(np.asarray(theirs), logits, rtol=1e-5, atol=1e-5)
    for ours, keras_grad in zip(reference.gradients(), grads, strict=True):
        scale = max(1.0, float(np.abs(ours).max()))
        np.testing.assert_allclose(keras_grad, ours, rtol=1e-5, atol=1e-5 * scale)


@pytest.mark.parametrize("positions", ["sinusoidal", "learned"])
def test_keras_transformer_parity(rng, positions) -> None:
    pytest.importorskip("tensorflow")
    from dltutor.keras import seq2seq as kseq

    args = (8, 9, 6, 8, 2, 2, 16)
    reference = s2s.Seq2SeqTransformer(*args, positions=positions, rng=rng)
    twin = kseq.Seq2SeqTransformer(*args, positions=positions)
    keras_parity(reference, twin, rng)
    maps = kseq.cross_attention_maps(twin, SOURCE, TARGET_IN)
    reference.forward(SOURCE, TARGET_IN)
    np.testing.assert_allclose(maps[0], reference.cross_attention_maps()[0], atol=1e-6)


@pytest.mark.parametrize("attention", [True, False])
def test_keras_gru_parity(rng, attention) -> None:
    pytest.importorskip("tensorflow")
    from dltutor.keras import seq2seq as kseq

    reference = s2s.GRUSeq2Seq(8, 9, 4, 5, attention=attention, rng=rng)
    keras_parity(reference, kseq.GRUSeq2Seq(8, 9, 4, 5, attention=attention), rng)


# --- data and bad input -----------------------------------------------------------------------


def test_translation_alignment_is_a_translation() -> None:
    pairs = translation.make_translation(300, seed=1)
    lexicon = translation.LEXICON
    for source, target, alignment in zip(pairs.source, pairs.target, pairs.alignment, strict=True):
        assert len(target) == len(alignment) and 4 <= len(source) <= 15
        for word, position in zip(target, alignment, strict=True):
            english = source[position]
            stems = {
                english,
                english + "s",
                english[:-1],
                {plural: noun for noun, plural in translation._IRREGULAR_PLURALS.items()}.get(
                    english, ""
                ),
            }
            assert any(lexicon.get(stem) and word.startswith(lexicon[stem]) for stem in stems)
    assert translation.make_translation(5, seed=3) == translation.make_translation(5, seed=3)


def test_dates_are_right_and_aligned() -> None:
    import datetime

    dates = translation.make_dates(300, seed=2)
    for text, iso, gold in zip(dates.source, dates.target, dates.alignment, strict=True):
        datetime.date.fromisoformat(iso)
        assert len(gold) == 10 and gold[4] == gold[7] == []
        for field in (slice(0, 4), slice(5, 7), slice(8, 10)):
            positions = sorted({p for where in gold[field] for p in where})
            piece = "".join(text[p] for p in positions)
            if piece.isdigit():  # a number: the same one (a two-digit year: its last digits)
                assert int(piece) == int(iso[field]) % (100 if len(piece) == 2 else 10**4)
            else:  # a month name, written out or shortened
                assert any(m.startswith(piece) for m in translation.MONTHS)


def test_vocabulary_and_teacher_forcing() -> None:
    vocabulary = translation.TokenVocabulary([["a", "b"], ["c"]])
    ids = vocabulary.encode([["a", "b"], ["c", "zzz"]])
    np.testing.assert_array_equal(ids, [[4, 5, 2], [6, 3, 2]])
    assert vocabulary.decode(ids[0]) == ["a", "b"]
    inputs, outputs = translation.teacher_forcing(ids)
    np.testing.assert_array_equal(inputs, [[1, 4, 5], [1, 6, 3]])
    with pytest.raises(ValueError, match="length"):
        vocabulary.encode([["a", "b"]], length=2)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: s2s.source_mask(np.array([[0, 0], [3, 0]])), "at least one token"),
        (lambda: s2s.source_mask(np.zeros((2, 3))), "integer ids"),
        (lambda: s2s.corpus_bleu([["a"]], [["a"], ["b"]]), "one per hypothesis"),
        (lambda: s2s.token_accuracy(np.zeros((2, 3)), np.zeros((2, 2))), "one shape"),
        (lambda: s2s.beam_search(None, SOURCE, 0, 3), "beam_width"),
        (lambda: s2s.Seq2SeqTransformer(5, 5, 4, positions="rotary"), "positions"),
        (lambda: s2s.Seq2SeqTransformer(9, 9, 3).forward(SOURCE, TARGET_IN), "context"),
        (lambda: translation.make_translation(5, min_clauses=3, max_clauses=2), "min_clauses"),
        (
            lambda: s2s.AdditiveAttention(3, 4, 5).forward(np.zeros((2, 4)), np.zeros((2, 3, 4))),
            "queries",
        ),
    ],
)
def test_bad_input(call, match) -> None:
    with pytest.raises(ValueError, match=match):
        call()


def test_bleu_rejects_a_flat_string_corpus() -> None:
    with pytest.raises(TypeError, match="token lists"):
        s2s.corpus_bleu(["a b"], [["a", "b"]])  # type: ignore[list-item]


def test_padded_cross_entropy_matches_torch_and_finite_differences(rng) -> None:
    torch = pytest.importorskip("torch")
    logits = rng.standard_normal((2, 3, 5))
    targets = np.array([[3, 4, 2], [4, 2, 0]])  # the last position is padding
    loss, grad = s2s.padded_cross_entropy(logits, targets)
    reference = torch.nn.CrossEntropyLoss(ignore_index=0)(
        torch.as_tensor(logits).reshape(-1, 5), torch.as_tensor(targets).reshape(-1)
    )
    assert loss == pytest.approx(float(reference), abs=1e-12)
    numeric = numerical_gradient(lambda: s2s.padded_cross_entropy(logits, targets)[0], logits)
    assert relative_error(grad, numeric) < TOLERANCE and not grad[1, 2].any()


def test_gru_generate_is_greedy_decoding(rng) -> None:
    model = s2s.GRUSeq2Seq(8, 9, 4, 6, rng=rng)
    source = np.array([[5, 6, 7, 3], [4, 3, 0, 0], [7, 7, 7, 7]])
    np.testing.assert_array_equal(
        model.generate(source, 6), s2s.greedy_decode(model.next_log_probs, source, 6)
    )
    assert model.weights is not None and np.all(model.weights[1, :, 2:] == 0)


def test_fit_lowers_the_loss(rng) -> None:
    from dltutor.scratch.optim import Adam

    pairs = translation.make_translation(64, seed=0)
    source_vocab = translation.TokenVocabulary(pairs.source)
    target_vocab = translation.TokenVocabulary(pairs.target)
    source = source_vocab.encode(pairs.source, eos=False)
    target_in, target_out = translation.teacher_forcing(target_vocab.encode(pairs.target))
    model = s2s.GRUSeq2Seq(source_vocab.size, target_vocab.size, 8, 16, rng=rng)
    history = s2s.fit(model, source, target_in, target_out, Adam(1e-2), epochs=3, batch_size=32)
    assert history[-1] < history[0]


# --- The rule system ---------------------------------------------------------------------


def test_rule_system_reorders_as_the_generator_aligns() -> None:
    pairs = translation.make_translation(300, seed=3)
    for source, alignment in zip(pairs.source, pairs.alignment, strict=True):
        roles = translation._clause_roles(source)
        assert [position for position, _ in roles] == alignment  # the generator's gold
    dictionary = translation.rule_dictionary(translation.make_translation(3000, seed=3))
    # hand-worked: "the red cats eat the cheese" → cat-ri red cheese eats-n
    lexicon = translation.LEXICON
    sentence = ["the", "red", "cats", "eat", "the", "cheese"]
    expected = [lexicon["cat"] + "ri", lexicon["red"], lexicon["cheese"], lexicon["eats"] + "n"]
    assert translation.translate_by_rules(dictionary, [sentence]) == [expected]
    held_out = translation.make_translation(200, seed=4)
    written = translation.translate_by_rules(dictionary, held_out.source)
    assert s2s.exact_match(written, held_out.target) > 0.9


def test_rule_system_rejects_sentences_outside_the_grammar() -> None:
    with pytest.raises(ValueError, match="expected 'the'"):
        translation.translate_by_rules({}, [["cat", "eats", "the", "fish"]])
    with pytest.raises(ValueError, match="expected a sentence of the grammar"):
        translation.translate_by_rules({}, [["the", "cat", "eats"]])
    assert translation.translate_by_rules({}, [["the", "cat", "eats", "the", "fish"]]) == [
        ["<unk>"] * 3
    ]


def test_alignment_accuracy_hand_worked() -> None:
    weights = np.zeros((2, 2, 2, 3))  # (N, H, T, S)
    weights[0, 0, 0, 1] = weights[0, 0, 1, 2] = 1.0  # head 1: both words of sentence 1
    weights[1, 0, 0, 0] = 1.0  # head 1: sentence 2's one word
    weights[:, 1, :, 0] = 1.0  # head 2: always the first word
    alignments = [[1, 2], [0]]
    np.testing.assert_allclose(s2s.alignment_accuracy(weights, alignments), [1.0, 1 / 3])
    with pytest.raises(ValueError, match=r"expected weights \(N, H, T, S\)"):
        s2s.alignment_accuracy(weights[0], alignments)


def test_positional_alignment_hand_worked() -> None:
    train = translation.TranslationPairs(
        [["a", "b"], ["c", "d"], ["e", "f"]], [["x", "y"]] * 3, [[1, 0], [1, 0], [0, 1]]
    )
    held = translation.TranslationPairs(
        [["g", "h"], ["i", "j", "k"]], [["x", "y"]] * 2, [[1, 1], [0, 0]]
    )
    # table: (0, 2) → 1, (1, 2) → 0; length 3 unseen. Hits: 1 of 4 held-out words.
    assert translation.positional_alignment(train, held) == 0.25


def test_length_split_lengths_and_seeds() -> None:
    train, short, long = translation.length_split(200, 50, seed=3)
    assert (len(train), len(short), len(long)) == (200, 50, 50)
    assert max(len(s) for s in train.source + short.source) <= 15
    assert all(16 <= len(s) <= 23 for s in long.source)
    assert train.source == translation.make_translation(200, seed=3).source
    assert short.source == translation.make_translation(50, seed=4).source
    for bad in (0, -1, 2.5):
        with pytest.raises((ValueError, TypeError), match="num_held_out"):
            translation.length_split(10, bad)


def test_length_generalisation_scores_and_bad_input() -> None:
    from dltutor.torch import seq2seq as tseq

    train, short, long = translation.length_split(64, 16, seed=0)
    tests = {"short": short, "long": long}
    scores = tseq.length_generalisation(train, tests, "learned", epochs=1)
    assert set(scores) == {"short", "long"}
    for exact, bleu in scores.values():
        assert 0.0 <= exact <= 1.0 and 0.0 <= bleu <= 100.0
    # the same seed trains the same model: the scores repeat
    assert tseq.length_generalisation(train, tests, "learned", epochs=1) == scores
    with pytest.raises(ValueError, match="positions"):
        tseq.length_generalisation(train, tests, "rotary")
    with pytest.raises(ValueError, match="tests"):
        tseq.length_generalisation(train, {}, "learned")


def test_encode_pairs_reads_the_vocabularies_off_the_training_pairs() -> None:
    from dltutor.data.translation import TokenVocabulary, encode_pairs, teacher_forcing

    source, target = [["the", "cat"], ["a", "dog", "ran"]], [["kat"], ["hund", "lief"]]
    encoded = encode_pairs(source, target)
    assert encoded.source_vocab.size == TokenVocabulary(source).size
    np.testing.assert_array_equal(encoded.source, TokenVocabulary(source).encode(source, eos=False))
    expected_in, expected_out = teacher_forcing(TokenVocabulary(target).encode(target))
    np.testing.assert_array_equal(encoded.target_in, expected_in)
    np.testing.assert_array_equal(encoded.target_out, expected_out)
