"""Sampling text from a PyTorch language model, through :func:`dltutor.generate.sample_sequence`."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from dltutor.checks import check_context
from dltutor.data.text import CharVocabulary
from dltutor.generate import sample_sequence


def sample_text(
    model: nn.Module,
    vocabulary: CharVocabulary,
    prompt: str,
    length: int = 200,
    temperature: float = 0.8,
    seed: int = 0,
    context: int = 64,
) -> str:
    """Continue ``prompt`` by ``length`` characters sampled from ``model``.

    ``model`` maps token ids (1, T) to per-step logits (1, T, V), like
    ``RecurrentNet(..., vocab_size=V, return_sequences=True)``; it reads the last
    ``context`` characters at each step.
    """
    context = check_context(context, model)  # a Transformer reads at most its own context
    device = next(model.parameters()).device
    model.eval()

    @torch.no_grad()
    def next_logits(window: np.ndarray) -> np.ndarray:
        return model(torch.as_tensor(window, device=device))[0, -1].cpu().numpy()  # (V,)

    return sample_sequence(next_logits, vocabulary, prompt, length, temperature, seed, context)
