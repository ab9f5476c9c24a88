"""Users' mistakes get a ValueError, TypeError or FileNotFoundError that says what was
expected and what came."""

import re

import numpy as np
import pytest

from dltutor import metrics, plot, scratch


def test_linear_wrong_width(rng) -> None:
    with pytest.raises(
        ValueError, match=r"inputs of shape \(N, 3\), got array of dtype float64 and shape \(2, 4\)"
    ):
        scratch.Linear(3, 2, rng=rng).forward(np.ones((2, 4)))


def test_linear_wrong_rank(rng) -> None:
    with pytest.raises(ValueError, match=r"inputs of shape \(N, 3\), got .*shape \(3,\)"):
        scratch.Linear(3, 2, rng=rng).forward(np.ones(3))


def test_strings_are_a_type_error(rng) -> None:
    with pytest.raises(TypeError, match="real numbers, got array of dtype <U1"):
        scratch.Linear(1, 1, rng=rng).forward(np.array([["a"]]))


def test_not_an_array(rng) -> None:
    with pytest.raises(TypeError, match="NumPy array of numbers, got dict"):
        scratch.Linear(1, 1, rng=rng).forward({"x": 1})


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_and_inf_are_rejected(bad, rng) -> None:
    x = np.ones((2, 3))
    x[1, 2] = bad
    with pytest.raises(ValueError, match="x must be finite"):
        scratch.MLP([3, 2], rng=rng).forward(x)


def test_backward_before_forward(rng) -> None:
    with pytest.raises(RuntimeError, match="before forward"):
        scratch.Linear(2, 2, rng=rng).backward(np.ones((1, 2)))


def test_backward_wrong_shape(rng) -> None:
    layer = scratch.Linear(2, 3, rng=rng)
    layer.forward(np.ones((4, 2)))
    with pytest.raises(ValueError, match=r"grad_output must have shape \(4, 3\)"):
        layer.backward(np.ones((4, 2)))


def test_mse_shape_mismatch() -> None:
    with pytest.raises(ValueError, match=r"same shape, got \(3, 1\) and \(3,\)"):
        scratch.MSELoss().forward(np.ones((3, 1)), np.ones(3))


@pytest.mark.parametrize(
    "labels, error, match",
    [
        (np.array([0, 1, 5]), ValueError, "below the number of classes 3, got maximum 5"),
        (np.array([0, -1, 2]), ValueError, "non-negative"),
        (np.array([0.5, 1.0, 2.0]), TypeError, "integer class labels"),
        (
            np.array([[0], [1], [2]]),
            ValueError,
            r"labels must have shape \(3,\) for logits of shape \(3, 3\)",
        ),
        (np.array([0, 1]), ValueError, "same number of examples, got 3 and 2"),
    ],
)
def test_cross_entropy_bad_labels(labels, error, match) -> None:
    with pytest.raises(error, match=match):
        scratch.CrossEntropyLoss().forward(np.zeros((3, 3)), labels)


@pytest.mark.parametrize(
    "sizes, error, match",
    [
        ([4], ValueError, "at least the input and output sizes"),
        ([4, 0, 2], ValueError, "positive integer, got 0"),
        ([4, 2.5, 2], TypeError, "positive integer, got float"),
        ("42", TypeError, "sequence of integers"),
    ],
)
def test_mlp_bad_layer_sizes(sizes, error, match) -> None:
    with pytest.raises(error, match=match):
        scratch.MLP(sizes)


def test_unknown_activation() -> None:
    with pytest.raises(
        ValueError, match=r"one of \('identity', 'relu', 'sigmoid', 'tanh'\), got 'softplus'"
    ):
        scratch.MLP([2, 2], activation="softplus")


def test_set_weights_wrong_count_and_shape(rng) -> None:
    model = scratch.MLP([3, 4, 2], rng=rng)
    with pytest.raises(ValueError, match="expected 4 weight arrays, got 2"):
        model.set_weights(model.get_weights()[:2])
    weights = model.get_weights()
    weights[0] = np.ones((4, 3))
    with pytest.raises(ValueError, match=r"'0.W' must have shape \(3, 4\), got \(4, 3\)"):
        model.set_weights(weights)


@pytest.mark.parametrize("rate, error", [(0.0, ValueError), (-1.0, ValueError), ("0.1", TypeError)])
def test_sgd_bad_learning_rate(rate, error) -> None:
    with pytest.raises(error, match="learning_rate"):
        scratch.SGD(rate)


def test_fit_mismatched_lengths(rng) -> None:
    with pytest.raises(
        ValueError, match="x and y must have the same number of examples, got 5 and 4"
    ):
        scratch.fit(
            scratch.MLP([2, 1], rng=rng),
            scratch.MSELoss(),
            scratch.SGD(),
            np.ones((5, 2)),
            np.ones((4, 1)),
            epochs=1,
            batch_size=2,
        )


def test_fit_bad_epochs(rng) -> None:
    with pytest.raises(ValueError, match="epochs must be a positive integer, got 0"):
        scratch.fit(
            scratch.MLP([2, 1], rng=rng),
            scratch.MSELoss(),
            scratch.SGD(),
            np.ones((5, 2)),
            np.ones((5, 1)),
            epochs=0,
            batch_size=2,
        )


def test_accuracy_bad_input() -> None:
    with pytest.raises(ValueError, match="same number of examples, got 3 and 2"):
        metrics.accuracy([0, 1, 2], [0, 1])
    with pytest.raises(TypeError, match="class scores must be numeric"):
        metrics.accuracy([0, 1], np.array([["a", "b"], ["c", "d"]]))


def test_plot_decision_boundary_needs_2d_points() -> None:
    with pytest.raises(ValueError, match=r"2 columns .* got shape \(4, 3\)"):
        plot.plot_decision_boundary(lambda p: p[:, 0] > 0, np.zeros((4, 3)), np.zeros(4, dtype=int))


def test_plot_history_unknown_key() -> None:
    with pytest.raises(
        ValueError, match=r"history has keys \['loss'\], got a request for \['val_loss'\]"
    ):
        plot.plot_history({"loss": [1.0]}, keys=["val_loss"])


@pytest.mark.torch
def test_torch_bad_input(rng, monkeypatch) -> None:
    pytest.importorskip("torch")
    import dltutor.torch as dtorch

    with pytest.raises(ValueError, match="device such as 'cpu'.*got 'gpu-please'"):
        dtorch.get_device("gpu-please")
    import torch

    missing = f"cuda:{torch.cuda.device_count()}"  # one past the last GPU: never available
    monkeypatch.setenv("DLTUTOR_DEVICE", missing)
    with pytest.raises(ValueError, match=f"DLTUTOR_DEVICE asks for device '{missing}'"):
        dtorch.get_device()
    with pytest.raises(
        ValueError,
        match=r"weights\[0:2\] do not fit Linear.*needs shape \(4, 3\) in PyTorch's layout, got array of dtype float64 and shape \(3, 4\)",
    ):
        dtorch.set_weights(
            dtorch.MLP([3, 4, 2]), [np.ones((4, 3)), np.ones(4), np.ones((4, 2)), np.ones(2)]
        )
    with pytest.raises(ValueError, match="activation must be one of"):
        dtorch.MLP([3, 2], activation="gelu")


@pytest.mark.keras
def test_keras_bad_input() -> None:
    pytest.importorskip("tensorflow")
    import dltutor.keras as dkeras

    with pytest.raises(ValueError, match="activation must be one of"):
        dkeras.MLP([3, 2], activation="gelu")
    with pytest.raises(ValueError, match="at least the input and output sizes"):
        dkeras.MLP([3])


# --- Data: seeds, files, text -------------------------------------------------------------


@pytest.mark.parametrize(
    "seed, error, match",
    [
        ("x", TypeError, "seed must be a non-negative integer, got str 'x'"),
        (1.5, TypeError, "seed must be a non-negative integer, got float 1.5"),
        (True, TypeError, "seed must be a non-negative integer, got bool"),
        (-1, ValueError, "seed must be a non-negative integer and at most 4294967295, got -1"),
        (2**32, ValueError, "at most 4294967295, got 4294967296"),
    ],
)
def test_load_digits_bad_seed(seed, error, match) -> None:
    from dltutor import data

    with pytest.raises(error, match=match):
        data.load_digits(seed=seed)


def test_every_seeded_loader_names_a_bad_seed(tmp_path) -> None:
    from dltutor import data

    loaders = [
        lambda seed: data.split(np.ones((20, 2)), np.arange(20) % 2, seed=seed),
        lambda seed: data.make_linear(seed=seed),
        lambda seed: data.make_moons(seed=seed),
        lambda seed: data.add_gaussian_noise(np.zeros(3), seed=seed),
        lambda seed: data.make_shapes(8, seed=seed),
        lambda seed: data.random_shifts(np.zeros((2, 4, 4)), seed=seed),
        lambda seed: data.make_adding_problem(seed=seed),
        lambda seed: data.make_lorenz(10, seed=seed),
        lambda seed: data.make_reversal(seed=seed),
        lambda seed: data.make_associative_recall(seed=seed),
        lambda seed: data.make_class_grammar(10, seed=seed),
        lambda seed: data.make_sentiment(10, seed=seed),
        lambda seed: data.split_text([["a"]] * 10, np.arange(10) % 2, 3, seed=seed),
        lambda seed: data.write_shards(tmp_path, 10, 2, seed=seed),
        lambda seed: data.assign_files(["a", "b"], 0, seed=seed),
        lambda seed: list(data.shuffle_rows([(np.arange(3),)], 2, seed=seed)),
        lambda seed: data.skipgram_examples([np.array([0, 1])], 1, 1, [0.5, 0.5], seed=seed),
    ]
    for loader in loaders:
        with pytest.raises(TypeError, match="seed must be a non-negative integer.*got str 'x'"):
            loader("x")


def test_seeds_that_stay_valid() -> None:
    from dltutor import data

    rng = np.random.default_rng(0)
    assert len(list(data.shuffle_rows([(np.arange(3),)], 2, seed=rng))) == 3
    assert data.make_reversal(5, seed=np.int64(3))[0].shape == (5, 16)
    x, _ = data.skipgram_examples([np.array([0, 1])], 1, 1, [0.5, 0.5], seed=None)
    assert x.shape == (2, 3)


def test_make_lorenz_bad_step() -> None:
    from dltutor import data

    with pytest.raises(ValueError, match="dt must be a finite number, got inf"):
        data.make_lorenz(10, dt=float("inf"))  # would integrate forever
    with pytest.raises(TypeError, match="dt must be a real number, got str"):
        data.make_lorenz(10, dt="0.1")


@pytest.fixture
def shards(tmp_path):
    from dltutor import data

    return data.write_shards(tmp_path / "shards", 40, 2)


def test_shards_not_parquet_name_the_file(shards, tmp_path) -> None:
    pytest.importorskip("pyarrow")
    from dltutor import data

    bad = tmp_path / "notes.parquet"
    bad.write_text("not a Parquet file")
    match = re.escape(f"{bad} is not a Parquet file: Parquet magic bytes not found")
    with pytest.raises(ValueError, match=match) as caught:
        data.read_all([*shards, bad])
    assert caught.value.__cause__ is not None  # chained from Arrow's own error
    with pytest.raises(ValueError, match=match):
        list(data.stream_batches([*shards, bad]))


def test_shards_missing_file(shards, tmp_path) -> None:
    from dltutor import data

    missing = tmp_path / "part-99999.parquet"
    with pytest.raises(FileNotFoundError, match=re.escape(f"no Parquet shard at {missing}")):
        data.read_all([*shards, missing])
    with pytest.raises(FileNotFoundError, match=re.escape(f"no Parquet shard at {missing}")):
        list(data.stream_batches([missing]))


def test_shards_other_parquet_and_one_path(shards, tmp_path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from dltutor import data

    other = tmp_path / "other.parquet"
    pq.write_table(pa.table({"a": [1, 2]}), other)
    with pytest.raises(ValueError, match=r"other\.parquet is not a shard of write_shards.*'x0'"):
        data.read_all([other])
    with pytest.raises(ValueError, match=r"other\.parquet is not a shard of write_shards"):
        list(data.stream_batches([other]))
    with pytest.raises(TypeError, match="files must be a list of paths, got one path"):
        data.read_all(shards[0])
    with pytest.raises(TypeError, match="files must be a list of paths, got one path"):
        list(data.stream_batches(str(shards[0])))
    with pytest.raises(ValueError, match="files must name at least one Parquet shard, got none"):
        data.read_all([])
    with pytest.raises(ValueError, match="rows_per_group must be a positive integer, got 0"):
        data.write_shards(tmp_path / "more", 10, 2, rows_per_group=0)
    with pytest.raises(TypeError, match=r"batches must yield tuples of columns, got array"):
        list(data.shuffle_rows([np.arange(3)], 2))


def test_byte_pair_decode_out_of_range() -> None:
    from dltutor import data

    bpe = data.BytePairEncoding.train("low lower lowest " * 5, 3)
    with pytest.raises(ValueError, match=r"ids must lie in \[0, 259\), got 100000"):
        bpe.decode([100000])
    with pytest.raises(ValueError, match=r"ids must lie in \[0, 259\), got -1"):
        bpe.decode([-1])  # would wrap around to the last token
    with pytest.raises(TypeError, match="ids must hold integer ids, got array of dtype float64"):
        bpe.decode([1.5])
    with pytest.raises(ValueError, match=r"token must lie in \[0, 259\)"):
        bpe.token_text(1000)
    with pytest.raises(ValueError, match=r"each merge must be a pair of token ids, got \(1,\)"):
        data.BytePairEncoding([(1,)])
    assert bpe.decode([]) == ""


@pytest.mark.parametrize(
    "words, match",
    [
        (
            [[1, 2], [3]],
            "words must be a list of words \\(strings\\), got list whose first entry is list",
        ),
        ([4, 5], "got list whose first entry is int 4"),
        (
            np.array([4, 5]),
            "got array of dtype int64 and shape \\(2,\\) whose first entry is int64",
        ),
        (7, "words must be a list of words \\(strings\\), got int 7"),
        ("a b", "got a string 'a b': tokenize it first"),
    ],
)
def test_vocabulary_encode_wants_words(words, match) -> None:
    from dltutor import data

    with pytest.raises(TypeError, match=match):
        data.Vocabulary([["a", "b"]]).encode(words)


def test_vocabulary_bad_sentences_ids_and_words() -> None:
    from dltutor import data

    vocabulary = data.Vocabulary([["a", "b"]])
    with pytest.raises(
        TypeError, match="each sentence must be a list of words.*first entry is int 1"
    ):
        data.Vocabulary([[1, 2]])
    with pytest.raises(TypeError, match="sentences must be a list of sentences.*got int 5"):
        data.Vocabulary(5)
    with pytest.raises(TypeError, match=r"each sentence must be a list of words.*got int 5"):
        data.Vocabulary([5])
    with pytest.raises(TypeError, match=r"each sentence must be a list of words.*got list"):
        vocabulary.encode_batch([[[1, 2]]], 3)
    with pytest.raises(TypeError, match="sentences must be a list of sentences.*got str 'a b'"):
        vocabulary.encode_batch("a b", 3)
    with pytest.raises(ValueError, match=r"ids must lie in \[0, 4\), got 100"):
        vocabulary.decode([100])
    with pytest.raises(TypeError, match=r"word must be a string, got list \['a'\]"):
        vocabulary.id(["a"])
    assert vocabulary.encode(np.array(["a", "zz"])).tolist() == [vocabulary.id("a"), 1]


def test_char_vocabulary_bad_input() -> None:
    from dltutor import data

    vocabulary = data.CharVocabulary("hello")
    with pytest.raises(TypeError, match=r"text must be a string, got list \[1, 2\]"):
        vocabulary.encode([1, 2])
    with pytest.raises(ValueError, match=r"ids must lie in \[0, 4\), got values from -1 to 100"):
        vocabulary.decode([-1, 100])


def test_text_helpers_bad_input() -> None:
    from dltutor import data

    with pytest.raises(
        TypeError, match="ids must be a 1-D array of integers, got array of dtype <U5"
    ):
        data.next_token_pairs("hello", 2)
    with pytest.raises(ValueError, match="counts must be finite"):
        data.noise_distribution([1.0, np.nan])
    with pytest.raises(TypeError, match="counts must hold real numbers"):
        data.noise_distribution(["a"])
    with pytest.raises(TypeError, match="power must be a real number, got str"):
        data.noise_distribution([1, 2], power="x")
    noise = data.noise_distribution([0, 0, 1, 1])
    with pytest.raises(ValueError, match="word ids must be non-negative, got -1"):
        data.skipgram_examples([np.array([-1, 2])], 1, 2, noise)
    with pytest.raises(ValueError, match="sentences must hold at least one sentence, got none"):
        data.skipgram_examples([], 1, 2, noise)
    with pytest.raises(ValueError, match="noise must be finite"):
        data.skipgram_examples([np.array([0, 1])], 1, 2, [np.nan, 1.0])


def test_corpora_bad_input(tmp_path) -> None:
    from dltutor import data

    with pytest.raises(TypeError, match="path must be a path.*got NoneType"):
        data.read_imdb(None)
    with pytest.raises(TypeError, match="path must be a path.*got int"):
        data.read_ag_news(5)
    (tmp_path / "train.csv").write_bytes(b"\xff\xfe\x00 not text")
    with pytest.raises(ValueError, match=r"train\.csv is not UTF-8 text"):
        data.read_ag_news(tmp_path)
    with pytest.raises(TypeError, match="packages must be names \\(strings\\), got 5"):
        data.load_python_docstrings((5,))
    with pytest.raises(
        ValueError, match="test_size must be a fraction strictly between 0 and 1, got 2.0"
    ):
        data.split_text([["a"]] * 10, np.arange(10) % 2, 3, test_size=2.0)


def test_nearest_neighbours_bad_input() -> None:
    with pytest.raises(ValueError, match="vectors must be finite"):
        metrics.nearest_neighbours(np.array([[1, np.nan], [1, 2], [3, 4]]), 1)
    with pytest.raises(TypeError, match="vectors must hold real numbers"):
        metrics.nearest_neighbours(np.array([["a", "b"], ["c", "d"]]), 1)
    with pytest.raises(TypeError, match="k must be a positive integer, got float 1.5"):
        metrics.nearest_neighbours(np.ones((4, 2)), 1.5)


def test_sample_sequence_bad_input() -> None:
    from dltutor import data, generate

    vocabulary = data.CharVocabulary("hello")

    def uniform(window: np.ndarray) -> np.ndarray:
        return np.zeros(vocabulary.size)

    with pytest.raises(TypeError, match="temperature must be a real number, got str"):
        generate.sample_sequence(uniform, vocabulary, "he", 5, temperature="hot")
    with pytest.raises(ValueError, match="temperature must be positive, got 0"):
        generate.sample_sequence(uniform, vocabulary, "he", 5, temperature=0)
    with pytest.raises(ValueError, match="context must be a positive integer, got 0"):
        generate.sample_sequence(uniform, vocabulary, "he", 5, context=0)
    with pytest.raises(ValueError, match="prompt must be a non-empty string"):
        generate.sample_sequence(uniform, vocabulary, "", 5)
    with pytest.raises(TypeError, match=r"prompt must be a string, got list \[1, 2\]"):
        generate.sample_sequence(uniform, vocabulary, [1, 2], 5)
    with pytest.raises(
        ValueError, match=r"one logit per token of the vocabulary, shape \(4,\), got shape \(20,\)"
    ):
        generate.sample_sequence(lambda window: np.zeros(20), vocabulary, "he", 5)
    with pytest.raises(ValueError, match="NaN or infinite logits"):
        generate.sample_sequence(lambda window: np.full(4, np.nan), vocabulary, "he", 5)
    assert len(generate.sample_sequence(uniform, vocabulary, "he", 5)) == 7


# --- Models: token ids, context length, input width -----------------------------------------


@pytest.mark.torch
def test_torch_transformer_bad_ids_and_length() -> None:
    torch = pytest.importorskip("torch")
    import dltutor.torch as dtorch

    model = dtorch.Transformer(10, 8)
    with pytest.raises(
        ValueError, match=r"ids must lie in \[0, 10\) \(vocab_size = 10\), got values from 1 to 10"
    ):
        model(torch.tensor([[1, 10]]))
    with pytest.raises(ValueError, match=r"got values from -1 to 1"):
        model(torch.tensor([[1, -1]]))
    with pytest.raises(
        ValueError,
        match=r"ids must have shape \(N, T\) with T at most the context length 8, "
        r"got shape \(1, 9\)",
    ):
        model(torch.zeros((1, 9), dtype=torch.long))
    with pytest.raises(
        ValueError, match=r"ids must have shape \(N, T\): token ids, got shape \(3,\)"
    ):
        model(torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"context length 8, got shape \(1, 9\)"):
        dtorch.attention_maps(model, np.zeros((1, 9), dtype=np.int64))
    # the check leaves training alone: gradients flow as before
    model(torch.zeros((2, 8), dtype=torch.long)).sum().backward()
    assert model.embedding.weight.grad is not None


@pytest.mark.torch
def test_torch_text_models_bad_ids() -> None:
    torch = pytest.importorskip("torch")
    import dltutor.torch as dtorch

    ids = torch.tensor([[1, 2, 3, 7]])
    match = r"x must lie in \[0, 5\) \(vocab_size = 5\), got values from 1 to 7"
    for model in [
        dtorch.BagOfEmbeddings(5, 3, 2),
        dtorch.TextCNN(5, 3, 2),
        dtorch.SkipGram(5, 3),
        dtorch.RecurrentNet("lstm", 3, 4, 2, vocab_size=5),
    ]:
        with pytest.raises(ValueError, match=match):
            model(ids)
    with pytest.raises(ValueError, match=r"T at least kernel_size = 3 ids, got shape \(1, 2\)"):
        dtorch.TextCNN(5, 3, 2)(torch.tensor([[1, 2]]))
    with pytest.raises(ValueError, match=r"x must have shape \(N, 2 \+ K\).*got shape \(2, 1\)"):
        dtorch.SkipGram(5, 3)(torch.tensor([[1], [2]]))


@pytest.mark.torch
def test_torch_predict_wrong_input_width() -> None:
    torch = pytest.importorskip("torch")
    import dltutor.torch as dtorch

    cpu = torch.device("cpu")
    with pytest.raises(
        ValueError,
        match=r"x of shape \(2, 5\) does not fit MLP, which takes inputs of shape \(N, 4\) "
        r"\(PyTorch: mat1 and mat2 shapes cannot be multiplied",
    ) as caught:
        dtorch.predict(dtorch.MLP([4, 3]), np.ones((2, 5)), device=cpu)
    assert isinstance(caught.value.__cause__, RuntimeError)
    with pytest.raises(
        ValueError, match=r"x of shape \(2, 5, 4\) does not fit RecurrentNet.*\(N, T, 3\)"
    ):
        dtorch.predict(dtorch.RecurrentNet("lstm", 3, 4, 2), np.ones((2, 5, 4)), device=cpu)
    with pytest.raises(ValueError, match=r"does not fit CNN.*\(N, 1, 8, 8\), channels first"):
        dtorch.predict(dtorch.CNN(1, 8, 3, channels=[4]), np.ones((2, 3, 8, 8)), device=cpu)
    with pytest.raises(ValueError, match=r"ids must lie in \[0, 10\)"):
        dtorch.predict(dtorch.Transformer(10, 8), np.array([[1, 10]]), device=cpu)
    assert dtorch.predict(dtorch.MLP([4, 3]), np.ones((2, 4)), device=cpu).shape == (2, 3)


@pytest.mark.torch
def test_torch_fit_and_evaluate_name_bad_inputs_and_labels() -> None:
    torch = pytest.importorskip("torch")
    import dltutor.torch as dtorch

    cpu, model = torch.device("cpu"), dtorch.MLP([4, 3])
    loss_fn = torch.nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    labels = np.array([0, 1])
    for run in (
        lambda x, y: dtorch.fit(
            model, loss_fn, optimizer, x, y, epochs=1, batch_size=2, device=cpu
        ),
        lambda x, y: dtorch.evaluate(model, loss_fn, x, y, device=cpu),
    ):
        with pytest.raises(ValueError, match=r"x of shape \(2, 5\) does not fit MLP.*\(N, 4\)"):
            run(np.ones((2, 5)), labels)
        with pytest.raises(
            ValueError,
            match="y must hold class labels below 3, the number of outputs of MLP, got labels up to 5",
        ) as caught:
            run(np.ones((2, 4)), np.array([0, 5]))
        assert isinstance(caught.value.__cause__, IndexError)


@pytest.mark.torch
def test_torch_sample_text_context_and_vocabulary() -> None:
    pytest.importorskip("torch")
    import dltutor.torch as dtorch
    from dltutor import data

    vocabulary = data.CharVocabulary("hello world")
    with pytest.raises(
        ValueError, match="context must be at most the model's context length 4, got 64"
    ):
        dtorch.sample_text(dtorch.Transformer(vocabulary.size, 4), vocabulary, "hello", 5)
    too_wide = dtorch.RecurrentNet(
        "lstm", 3, 4, 20, vocab_size=vocabulary.size, return_sequences=True
    )
    with pytest.raises(ValueError, match=r"shape \(8,\), got shape \(20,\)"):
        dtorch.sample_text(too_wide, vocabulary, "he", 5)


@pytest.mark.keras
def test_keras_transformer_bad_ids_and_length() -> None:
    tf = pytest.importorskip("tensorflow")
    import dltutor.keras as dkeras

    model = dkeras.Transformer(10, 8)
    vocabulary = r"ids must lie in \[0, 10\) \(vocab_size = 10\)"
    with pytest.raises(ValueError, match=vocabulary + ", got values from 1 to 10"):
        model(np.array([[1, 10]]))
    with pytest.raises(ValueError, match=vocabulary + ", got values from -1 to 1"):
        model(np.array([[1, -1]]))  # TensorFlow itself reads zeros for it
    with pytest.raises(ValueError, match=r"T at most the context length 8, got shape \(1, 9\)"):
        model(np.zeros((1, 9), dtype=np.int32))
    with pytest.raises(ValueError, match=r"context length 8, got shape \(1, 9\)"):
        dkeras.attention_maps(model, np.zeros((1, 9), dtype=np.int32))
    # in a graph the same messages come from tf.debugging asserts, when the graph runs
    traced = tf.function(model, input_signature=[tf.TensorSpec((1, None), tf.int32)])
    with pytest.raises(tf.errors.InvalidArgumentError, match=vocabulary):
        traced(tf.constant([[1, 10]]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="at most the context length 8"):
        traced(tf.zeros((1, 9), tf.int32))
    assert traced(tf.zeros((1, 5), tf.int32)).shape == (1, 5, 10)
    assert model.predict(np.zeros((3, 8), np.int32), verbose=0).shape == (3, 8, 10)
    with pytest.raises(ValueError, match="context must be at most the model's context length 8"):
        dkeras.sample_text(model, _char_vocabulary(10), "ab", 5)


def _char_vocabulary(size: int):
    from dltutor import data

    return data.CharVocabulary("abcdefghijklmnopqrstuvwxyz"[:size])


@pytest.mark.keras
def test_keras_skipgram_bad_ids() -> None:
    pytest.importorskip("tensorflow")
    import dltutor.keras as dkeras

    with pytest.raises(
        ValueError, match=r"x must lie in \[0, 5\) \(vocab_size = 5\), got values from 1 to 7"
    ):
        dkeras.SkipGram(5, 3)(np.array([[1, 2, 7]]))
