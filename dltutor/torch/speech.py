"""Speech in PyTorch: log-mel features on ``torch.stft``, the CTC loss batch first, and the
convolutional + bidirectional-GRU acoustic model of the speech chapter.

The conventions are :mod:`dltutor.scratch.speech`'s: spectrograms (N, frames, bins),
logits (N, T, C), the blank at class 0. ``torch.stft`` returns (N, bins, frames) and
``nn.CTCLoss`` wants log-probabilities time first, (T, N, C); the functions here
transpose.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from dltutor.checks import check_positive_int, describe
from dltutor.scratch.speech import mel_filterbank


def stft(x: torch.Tensor, n_fft: int = 256, hop: int | None = None) -> torch.Tensor:
    """The centred STFT of waveforms (N, L) with a periodic Hann window: (N, frames, bins),
    complex — :func:`dltutor.scratch.speech.stft` on ``torch.stft``."""
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError(f"x must be a floating-point tensor, got {describe(x)}")
    hop = n_fft // 4 if hop is None else hop
    window = torch.hann_window(n_fft, dtype=x.dtype, device=x.device)  # x's dtype: see tests
    spectrum = torch.stft(
        x, n_fft, hop, window=window, center=True, pad_mode="reflect", return_complex=True
    )  # (N, bins, frames)
    return spectrum.transpose(-1, -2)  # (N, frames, bins)


def log_mel(
    x: torch.Tensor,
    sample_rate: int,
    n_fft: int = 256,
    hop: int | None = None,
    num_mels: int = 32,
    lower_hz: float = 60.0,
    epsilon: float = 1e-6,
) -> torch.Tensor:
    r""":math:`\log(|X|^2 F + \epsilon)`, (N, frames, num_mels): as
    :func:`dltutor.scratch.speech.log_mel`, on the tensor's device."""
    power = stft(x, n_fft, hop).abs() ** 2  # (N, frames, bins)
    filters = mel_filterbank(num_mels, n_fft // 2 + 1, sample_rate, lower_hz)
    return torch.log(power @ torch.as_tensor(filters, dtype=x.dtype, device=x.device) + epsilon)


def _padded(
    targets: Sequence[Sequence[int]], device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = torch.tensor([len(target) for target in targets], dtype=torch.long)
    padded = torch.zeros((len(targets), max(1, int(lengths.max()))), dtype=torch.long)
    for row, target in enumerate(targets):
        padded[row, : len(target)] = torch.as_tensor(np.asarray(target, dtype=np.int64))
    return padded.to(device), lengths.to(device)


def ctc_loss(
    logits: torch.Tensor,
    targets: Sequence[Sequence[int]],
    input_lengths: Sequence[int] | None = None,
    blank: int = 0,
) -> torch.Tensor:
    """The CTC loss of each example, (N,), of ``logits`` (N, T, C) — ``nn.CTCLoss`` with
    ``reduction="none"`` on log-softmaxed, time-first logits."""
    if logits.ndim != 3:
        raise ValueError(f"logits must be (N, T, C), got shape {tuple(logits.shape)}")
    n, frames, _ = logits.shape
    if len(targets) != n:
        raise ValueError(f"targets must hold one sequence per example ({n}), got {len(targets)}")
    padded, target_lengths = _padded(targets, logits.device)
    lengths = (
        torch.full((n,), frames, dtype=torch.long)
        if input_lengths is None
        else torch.as_tensor(np.asarray(input_lengths), dtype=torch.long)
    )
    log_probs = torch.log_softmax(logits, dim=-1).transpose(0, 1)  # (T, N, C)
    return nn.functional.ctc_loss(
        log_probs, padded, lengths, target_lengths, blank=blank, reduction="none"
    )


class CTCLoss(nn.Module):
    """The CTC loss for :func:`dltutor.torch.fit`: logits (N, T, C) against label sequences
    padded with 0 (the blank, so never a label), (N, U); the mean over the batch of each
    loss divided by its label count, as ``nn.CTCLoss(reduction="mean")``."""

    def forward(self, logits: torch.Tensor, padded_targets: torch.Tensor) -> torch.Tensor:
        padded_targets = padded_targets.long()
        target_lengths = (padded_targets > 0).sum(dim=1)
        frames = torch.full((len(logits),), logits.shape[1], dtype=torch.long)
        log_probs = torch.log_softmax(logits, dim=-1).transpose(0, 1)  # (T, N, C)
        return nn.functional.ctc_loss(log_probs, padded_targets, frames, target_lengths)


class SpeechRecognizer(nn.Module):
    """Log-mel frames (N, T, num_mels) → per-frame logits (N, T', num_classes).

    Conv1d(num_mels → ``channels``, kernel 5, stride 2) → ReLU halves the frame rate and
    sees 5 frames at once; a bidirectional GRU of ``hidden_size`` per direction reads the
    whole utterance both ways; a linear layer gives the logits of the blank and the labels.
    """

    def __init__(
        self, num_mels: int, num_classes: int, channels: int = 32, hidden_size: int = 48
    ) -> None:
        super().__init__()
        self.conv = nn.Conv1d(
            check_positive_int(num_mels, "num_mels"),
            check_positive_int(channels, "channels"),
            kernel_size=5,
            stride=2,
            padding=2,
        )
        self.gru = nn.GRU(
            channels,
            check_positive_int(hidden_size, "hidden_size"),
            batch_first=True,
            bidirectional=True,
        )
        self.output = nn.Linear(2 * hidden_size, check_positive_int(num_classes, "num_classes"))

    @staticmethod
    def output_length(frames: int) -> int:
        """T' for T input frames: the strided convolution's (T + 4 - 5) // 2 + 1."""
        return (frames - 1) // 2 + 1

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if features.ndim != 3 or features.shape[-1] != self.conv.in_channels:
            raise ValueError(
                f"features must be (N, T, {self.conv.in_channels}), got {tuple(features.shape)}"
            )
        hidden = torch.relu(self.conv(features.transpose(1, 2)))  # (N, channels, T')
        states, _ = self.gru(hidden.transpose(1, 2))  # (N, T', 2 * hidden_size)
        return self.output(states)  # (N, T', num_classes)
