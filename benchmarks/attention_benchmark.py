"""The attention chapter's measurements that are too slow for a notebook, and a timing table.

Usage:
    .venv/bin/python benchmarks/attention_benchmark.py [--repeats 20]   # NumPy vs PyTorch
    .venv/bin/python benchmarks/attention_benchmark.py --recall         # the LSTM's fair chance
    .venv/bin/python benchmarks/attention_benchmark.py --lm [--epochs 30]  # what beats the n-gram

The default times one causal self-attention layer's forward and backward pass at the shapes
of the attention chapter — the reversal task, associative recall, and the small GPT — and
prints NumPy's time, PyTorch's (``nn.MultiheadAttention``, which calls
``scaled_dot_product_attention`` when no weights are requested) and the ratio.

``--recall`` trains the Transformer of the PyTorch notebook's associative-recall section as the
notebook does, until it has jumped, on five seeds; and gives the notebook's LSTM four times
its budget (30 epochs; the notebook trains both models at most 10, and about 7 on its seed)
and, separately, four times its width (256 units, for 8 epochs), over five seeds each,
beside the key-blind baseline (the most frequent stored value) on the same held-out
sequences.

``--lm`` trains the notebook's GPT and LSTM on the notebook's text far longer than the
notebook can, prints the held-out loss after every epoch and the seconds per step, and says
after which epoch, if any, each first beats the Witten–Bell n-gram (order chosen on the
training text's last 20,000 characters).

Everything runs on the CPU with one thread (timings are process CPU time); the losses and
accuracies are seeded and repeat. Not a test: a run takes minutes.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator

import numpy as np
import torch
from timing import Case, compare
from torch import nn

import dltutor.torch as dtorch
from dltutor import data, scratch
from dltutor.scratch.attention import key_blind_answers
from dltutor.scratch.ngram import NGramLanguageModel, held_out_losses
from dltutor.torch.attention import LastPosition

# (name, batch, length, width, heads)
SHAPES = [
    ("reversal", 128, 16, 32, 1),
    ("recall", 64, 18, 32, 4),
    ("small GPT", 32, 64, 64, 4),
]
CPU = torch.device("cpu")


def cases(rng: np.random.Generator) -> Iterator[Case]:
    for name, batch, length, width, heads in SHAPES:
        x = rng.standard_normal((batch, length, width)).astype(np.float32)
        upstream = rng.standard_normal(x.shape).astype(np.float32)
        layer = scratch.MultiHeadAttention(width, heads, causal=True, rng=rng, dtype=np.float32)

        def numpy_step() -> None:
            layer.forward(x)
            layer.backward(upstream)

        attention = torch.nn.MultiheadAttention(width, heads, batch_first=True)
        mask = torch.triu(torch.ones(length, length, dtype=torch.bool), 1)  # True = blocked
        x_t, upstream_t = torch.tensor(x, requires_grad=True), torch.tensor(upstream)

        def torch_step() -> None:
            attention.zero_grad()
            x_t.grad = None
            attention(x_t, x_t, x_t, attn_mask=mask, need_weights=False)[0].backward(upstream_t)

        yield name, f"{(batch, length, width)}, H {heads}", numpy_step, torch_step


# --- associative recall: the LSTM's fair chance ----------------------------------------------


def recall_accuracy(hidden: int | None, epochs: int, seed: int) -> tuple[float, int, float]:
    """(held-out accuracy, parameters, CPU seconds) of the notebook's recall setup: an LSTM
    of ``hidden`` units, or (``None``) the notebook's 2-layer Transformer."""
    x, y = data.make_associative_recall(10240, pairs=8, seed=0)
    x_val, y_val = data.make_associative_recall(1000, pairs=8, seed=1)
    vocab = 16 + 10 + 1
    dtorch.set_seed(seed)
    model: nn.Module
    if hidden is None:
        model = LastPosition(dtorch.Transformer(vocab, 18, embed_dim=32, num_heads=1, num_layers=2))
    else:
        model = dtorch.RecurrentNet("lstm", 32, hidden, vocab, vocab_size=vocab)
    start = time.process_time()
    history = dtorch.fit(
        model,
        nn.CrossEntropyLoss(),
        torch.optim.Adam(model.parameters(), lr=3e-3),
        x,
        y,
        epochs=epochs,
        batch_size=64,
        seed=seed,
        validation_data=(x_val, y_val),
        device=CPU,
    )
    size = sum(p.numel() for p in model.parameters())
    return history["val_accuracy"][-1], size, time.process_time() - start


def recall_jump(seed: int, most_rounds: int = 40) -> tuple[int, float]:
    """The notebook's Transformer trained in rounds of 40 steps (a quarter epoch) until it
    scores at least 97% on the held-out sequences in two rounds running: (rounds, last
    accuracy)."""
    x, y = data.make_associative_recall(10240, pairs=8, seed=0)
    x_val, y_val = data.make_associative_recall(1000, pairs=8, seed=1)
    dtorch.set_seed(seed)
    model = LastPosition(dtorch.Transformer(27, 18, embed_dim=32, num_heads=1, num_layers=2))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    curve: list[float] = []
    while len(curve) < most_rounds and not (len(curve) >= 2 and min(curve[-2:]) >= 0.97):
        step = len(curve)
        part = slice(step % 4 * 2560, (step % 4 + 1) * 2560)
        history = dtorch.fit(
            model,
            nn.CrossEntropyLoss(),
            optimizer,
            x[part],
            y[part],
            epochs=1,
            batch_size=64,
            seed=seed + step,
            validation_data=(x_val, y_val),
            device=CPU,
        )
        curve.append(history["val_accuracy"][-1])
    return len(curve), curve[-1]


LSTMS = [
    ("LSTM 64 units, 30 epochs (4x the budget)", 64, 30),
    ("LSTM 256 units, 8 epochs (4x the width)", 256, 8),
]


def recall(seeds: int, lstms: bool = True, jumps: bool = True, only: str = "") -> None:
    x_val, y_val = data.make_associative_recall(1000, pairs=8, seed=1)
    blind = (key_blind_answers(x_val) == y_val).mean()
    print(f"associative recall, 8 pairs, held-out accuracy over seeds 0..{seeds - 1}")
    print(f"key-blind baseline (most frequent stored value): {blind:.1%}")
    if jumps:
        rises = [recall_jump(seed) for seed in range(seeds)]
        print(
            "Transformer in rounds of 40 steps, until 97% twice: rounds "
            + ", ".join(f"{rounds} ({accuracy:.1%})" for rounds, accuracy in rises),
            flush=True,
        )
    for name, hidden, epochs in LSTMS if lstms else []:
        if only and f"{hidden}:{epochs}" != only:
            continue
        runs = [recall_accuracy(hidden, epochs, seed) for seed in range(seeds)]
        accuracy = np.array([run[0] for run in runs])
        print(
            f"{name:42} {runs[0][1]:8,} parameters: {accuracy.mean():.1%} ± "
            f"{accuracy.std(ddof=1):.1%} (min {accuracy.min():.1%}, max {accuracy.max():.1%}); "
            f"{np.mean([run[2] for run in runs]):.1f} s CPU a run",
            flush=True,
        )


# --- the character language model against the n-gram ---------------------------------------


def language_model(epochs: int) -> None:
    text = data.load_python_docs_text()
    vocabulary = data.CharVocabulary(text[:200_000])
    held_out_text = "".join(c for c in text[200_000:220_000] if c in vocabulary.characters)
    ids = vocabulary.encode(text[:200_000])
    inputs, next_chars = data.next_token_pairs(ids, length=64)
    held_out = data.next_token_pairs(vocabulary.encode(held_out_text), length=64)
    choice = held_out_losses(
        ids[:180_000],
        *data.next_token_pairs(ids[180_000:], length=64),
        vocabulary.size,
        range(1, 9),
    )
    order = min(choice, key=choice.__getitem__)
    ngram = NGramLanguageModel(order, vocabulary.size).fit(ids)
    ngram_loss = ngram.cross_entropy(*held_out)
    print(f"{order}-gram (order chosen on the training text): held-out {ngram_loss:.3f} nats/char")
    models = {
        "GPT (2 layers, 4 heads, E 64)": lambda: dtorch.Transformer(
            vocabulary.size, 64, embed_dim=64, num_heads=4, num_layers=2, ff_units=128
        ),
        "LSTM (128 units)": lambda: dtorch.RecurrentNet(
            "lstm", 32, 128, vocabulary.size, vocab_size=vocabulary.size, return_sequences=True
        ),
        "LSTM (256 units)": lambda: dtorch.RecurrentNet(
            "lstm", 32, 256, vocabulary.size, vocab_size=vocabulary.size, return_sequences=True
        ),
    }
    steps_per_epoch = -(-len(inputs) // 32)
    seconds = {}
    for name, make in models.items():
        dtorch.set_seed(0)
        model = make()
        start = time.process_time()
        history = dtorch.fit(  # as in the notebook: its epochs are this run's first ones
            model,
            dtorch.SequenceCrossEntropyLoss(),
            torch.optim.Adam(model.parameters(), lr=4e-3),
            inputs,
            next_chars,
            epochs=epochs,
            batch_size=32,
            seed=0,
            validation_data=held_out,
            device=CPU,
        )
        curve, train_curve = history["val_loss"], history["loss"]
        seconds[name] = (time.process_time() - start) / (epochs * steps_per_epoch)
        beats = [epoch + 1 for epoch, loss in enumerate(curve) if loss < ngram_loss]
        size = sum(p.numel() for p in model.parameters())
        print(f"{name}, {size:,} parameters, {seconds[name] * 1e3:.1f} ms CPU a step:")
        print("  held-out by epoch: " + " ".join(f"{loss:.3f}" for loss in curve))
        print("  training by epoch: " + " ".join(f"{loss:.3f}" for loss in train_curve))
        best = int(np.argmin(curve))
        print(
            f"  best {curve[best]:.3f} after epoch {best + 1} ({(best + 1) * steps_per_epoch:,} "
            f"steps); "
            + (
                f"first below the n-gram after epoch {beats[0]} "
                f"({beats[0] * steps_per_epoch:,} steps)"
                if beats
                else f"never below the n-gram's {ngram_loss:.3f} in {epochs} epochs"
            )
        )
    gpt, lstm = seconds["GPT (2 layers, 4 heads, E 64)"], seconds["LSTM (128 units)"]
    print(f"seconds per step, GPT / LSTM (128 units): {gpt / lstm:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], add_help=False)
    parser.add_argument("--recall", action="store_true")
    parser.add_argument("--lm", action="store_true")
    parser.add_argument("--jumps", action="store_true", help="--recall's Transformer part only")
    parser.add_argument("--lstm", default="", help="HIDDEN:EPOCHS, one of --recall's LSTMs only")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seeds", type=int, default=5)
    chosen, rest = parser.parse_known_args()
    if chosen.recall or chosen.jumps or chosen.lstm or chosen.lm:
        torch.set_num_threads(1)
        if chosen.recall or chosen.jumps or chosen.lstm:
            lstms = chosen.recall or bool(chosen.lstm)
            jumps = chosen.jumps or (chosen.recall and not chosen.lstm)
            recall(chosen.seeds, lstms=lstms, jumps=jumps, only=chosen.lstm)
        if chosen.lm:
            language_model(chosen.epochs)
    else:
        sys.argv = [sys.argv[0], *rest]
        compare(cases(np.random.default_rng(0)), __doc__.splitlines()[0])
