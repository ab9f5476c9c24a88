"""Decoding throughput of the seq2seq chapter's Transformer, with and without a key/value cache.

Usage:
    .venv/bin/python benchmarks/seq2seq_benchmark.py [--repeats 3] [--lengths 16 64 128]
    .venv/bin/python benchmarks/seq2seq_benchmark.py --positions [--seeds 5] [--epochs 3]
    .venv/bin/python benchmarks/seq2seq_benchmark.py --compare [--seeds 5] [--epochs 3]
    .venv/bin/python benchmarks/seq2seq_benchmark.py --bottleneck [--seeds 5] [--epochs 6]

``--bottleneck`` repeats the NumPy notebook's bottleneck experiment over seeds: GRU
encoder–decoders with a fixed context and with attention, 2,500 training pairs, exact
match on the 500 held-out pairs overall, on one and two clauses, and on the held-out
sentences that do not occur in training; mean ± sd (ddof=1).

``--compare`` runs the PyTorch notebook's comparison over seeds: the Transformer and the GRU
with attention, same data and epochs, exact match on the 500 held-out pairs, mean ± sd
(ddof=1) over ``--seeds``, and the rule system of ``dltutor.data.translation`` (no seed).

``--positions`` measures length generalisation instead: the PyTorch notebook's Transformer,
with sinusoidal or learned positions, trained on sentences of one or two clauses (at most 15
English words) and judged by exact match on held-out sentences of the same kind and on
sentences of three clauses (16 to 23 words, about 1.5 times the longest seen). The learned
table has rows for every position up to the longest test sentence, but those beyond the
training length never get a gradient.

For each output length, greedy decoding of a batch of sources by an untrained
``Seq2SeqTransformer`` (2 layers, width 64, 4 heads) that never emits ``<eos>`` (its end
logit is pushed down, so every run writes the full length): NumPy
(:meth:`dltutor.scratch.seq2seq.Seq2SeqTransformer.generate`) and PyTorch
(:func:`dltutor.torch.seq2seq.generate`), each rerunning the decoder over the prefix and with
the cache. Prints tokens per second and the cache's speed-up. The two frameworks load the same
weights, and the outputs of every run are checked to be the same ids. One CPU thread; best of
``--repeats``, after a warm-up call. Not a test.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import dltutor.torch as dtorch
from dltutor.scratch import seq2seq as s2s
from dltutor.torch import seq2seq as tseq

BATCH, SOURCE_LENGTH, VOCAB = 16, 12, 32


def best_time(run, repeats: int) -> tuple[float, np.ndarray]:
    times, output = [], run()  # a warm-up call first
    for _ in range(repeats):
        start = time.perf_counter()
        output = run()
        times.append(time.perf_counter() - start)
    return min(times), output


def length_generalisation(seeds: int, epochs: int) -> None:
    from dltutor.data import translation

    train, short, long = translation.length_split(5000, 500, seed=0)
    tests = {"≤ 15 words": short, "16-23 words": long}
    print(
        f"exact match (%) and BLEU, mean ± sd (ddof=1) over {seeds} seeds, {epochs} epochs, 5,000 pairs"
    )
    for positions in ("sinusoidal", "learned"):
        scores: dict[str, list[float]] = {
            f"{kind} {name}": [] for kind in ("exact", "BLEU") for name in tests
        }
        for seed in range(seeds):
            result = tseq.length_generalisation(train, tests, positions, epochs=epochs, seed=seed)
            for name, (exact, bleu) in result.items():
                scores[f"exact {name}"].append(100 * exact)
                scores[f"BLEU {name}"].append(bleu)
        print(
            f"{positions:10}",
            ", ".join(
                f"{k}: {np.mean(v):.1f} ± {np.std(v, ddof=1):.1f}" for k, v in scores.items()
            ),
        )


def compare(seeds: int, epochs: int) -> None:
    from dltutor.data import translation

    pairs = translation.make_translation(5000, seed=0)
    held = translation.make_translation(500, seed=1)
    encoded = translation.encode_pairs(pairs.source, pairs.target)
    source_vocab, target_vocab = encoded.source_vocab, encoded.target_vocab
    source, target_in, target_out = encoded.source, encoded.target_in, encoded.target_out
    held_source = source_vocab.encode(held.source, eos=False)
    length = target_in.shape[1]
    scores: dict[str, list[float]] = {"Transformer": [], "GRU + attention": []}
    for seed in range(seeds):
        models: dict[str, torch.nn.Module] = {}
        dtorch.set_seed(seed)
        models["Transformer"] = tseq.Seq2SeqTransformer(
            source_vocab.size, target_vocab.size, 16, 32, 2, 2, 64
        )
        dtorch.set_seed(seed)
        models["GRU + attention"] = tseq.GRUSeq2Seq(source_vocab.size, target_vocab.size, 32, 64)
        for name, model in models.items():
            tseq.fit(
                model, source, target_in, target_out, epochs=epochs, learning_rate=5e-3, seed=seed
            )
            written = s2s.greedy_decode(tseq.next_log_probs(model), held_source, length)
            decoded = [target_vocab.decode(row) for row in written]
            scores[name].append(100 * s2s.exact_match(decoded, held.target))
        print(f"seed {seed}: " + ", ".join(f"{k} {v[-1]:.1f}%" for k, v in scores.items()))
    rules = translation.translate_by_rules(translation.rule_dictionary(pairs), held.source)
    print(f"exact match (%), {seeds} seeds, {epochs} epochs, 5,000 pairs, 1 thread")
    for name, values in scores.items():
        weights = sum(w.numel() for w in models[name].parameters())
        print(
            f"{name:16} {np.mean(values):.1f} ± {np.std(values, ddof=1):.1f} ({weights:,} weights)"
        )
    print(f"{'rule system':16} {100 * s2s.exact_match(rules, held.target):.1f}")
    ahead = sum(g > t for g, t in zip(scores["GRU + attention"], scores["Transformer"]))
    print(f"GRU ahead in {ahead} of {seeds} seeds")


def bottleneck(seeds: int, epochs: int) -> None:
    from threadpoolctl import threadpool_limits

    from dltutor.data import translation
    from dltutor.scratch.optim import Adam

    threadpool_limits(1)
    pairs = translation.make_translation(2500, seed=0)
    held = translation.make_translation(500, seed=1)
    encoded = translation.encode_pairs(pairs.source, pairs.target)
    source_vocab, target_vocab = encoded.source_vocab, encoded.target_vocab
    source, target_in, target_out = encoded.source, encoded.target_in, encoded.target_out
    held_source = source_vocab.encode(held.source, eos=False)
    lengths = np.array([len(words) for words in held.source])
    seen = {tuple(words) for words in pairs.source}
    unseen = np.array([tuple(words) not in seen for words in held.source])
    groups = {
        "all": lengths > 0,
        "one clause": lengths <= 7,
        "two": lengths >= 11,
        "unseen": unseen,
    }
    print(f"exact match (%), mean ± sd (ddof=1) over {seeds} seeds, {epochs} epochs, 2,500 pairs")
    for attention in (False, True):
        scores: dict[str, list[float]] = {name: [] for name in groups}
        for seed in range(seeds):
            model = s2s.GRUSeq2Seq(
                source_vocab.size,
                target_vocab.size,
                16,
                32,
                attention=attention,
                rng=np.random.default_rng(seed),
            )
            s2s.fit(model, source, target_in, target_out, Adam(1e-2), epochs=epochs, seed=seed)
            written = model.generate(held_source, target_in.shape[1])
            right = np.array(
                [target_vocab.decode(row) == ref for row, ref in zip(written, held.target)]
            )
            for name, rows in groups.items():
                scores[name].append(100 * right[rows].mean())
        print(
            f"{'attention' if attention else 'fixed context':13}",
            ", ".join(f"{k} {np.mean(v):.1f} ± {np.std(v, ddof=1):.1f}" for k, v in scores.items()),
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--lengths", type=int, nargs="+", default=[16, 64, 128])
    parser.add_argument("--positions", action="store_true")
    parser.add_argument("--compare", action="store_true")
    parser.add_argument("--bottleneck", action="store_true")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=None, help="3; 6 with --bottleneck")
    arguments = parser.parse_args()
    torch.set_num_threads(1)
    if arguments.bottleneck:
        bottleneck(arguments.seeds, arguments.epochs or 6)
        return
    if arguments.compare:
        compare(arguments.seeds, arguments.epochs or 3)
        return
    if arguments.positions:
        length_generalisation(arguments.seeds, arguments.epochs or 3)
        return
    rng = np.random.default_rng(0)
    context = max(arguments.lengths)
    reference = s2s.Seq2SeqTransformer(VOCAB, VOCAB, context, 64, 4, 2, 128, rng=rng)
    reference.head.bias.value[s2s.EOS] = -1e9  # never stop early: every run writes the full length
    twin = tseq.Seq2SeqTransformer(VOCAB, VOCAB, context, 64, 4, 2, 128).double()
    dtorch.set_weights(twin, reference.get_weights())
    source = rng.integers(3, VOCAB, size=(BATCH, SOURCE_LENGTH))
    print(f"batch {BATCH}, float64, 1 CPU thread; tokens per second (best of {arguments.repeats})")
    print(
        f"{'length':>6} {'NumPy full':>11} {'NumPy cache':>12} {'x':>5} {'torch full':>11} {'torch cache':>12} {'x':>5}"
    )
    for length in arguments.lengths:
        runs = {
            "numpy full": lambda: reference.generate(source, length, cache=False),
            "numpy cache": lambda: reference.generate(source, length, cache=True),
            "torch full": lambda: tseq.generate(twin, source, length, cache=False),
            "torch cache": lambda: tseq.generate(twin, source, length, cache=True),
        }
        results = {name: best_time(run, arguments.repeats) for name, run in runs.items()}
        outputs = [output for _, output in results.values()]
        assert all(np.array_equal(outputs[0], other) for other in outputs[1:])
        speed = {name: BATCH * length / seconds for name, (seconds, _) in results.items()}
        print(
            f"{length:6d} {speed['numpy full']:11.0f} {speed['numpy cache']:12.0f} "
            f"{speed['numpy cache'] / speed['numpy full']:5.1f} {speed['torch full']:11.0f} "
            f"{speed['torch cache']:12.0f} {speed['torch cache'] / speed['torch full']:5.1f}"
        )


if __name__ == "__main__":
    main()
