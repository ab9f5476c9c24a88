"""Speech in Keras: the STFT and log-mel features on ``keras.ops.stft``, and the CTC loss
on ``keras.ops.ctc_loss``, and the CTC recogniser's twin, in the conventions of
:mod:`dltutor.scratch.speech`:
spectrograms (N, frames, bins), logits (N, T, C), the blank at class 0.

``keras.ops.stft`` centres and windows as ``torch.stft`` does and returns the real and
imaginary parts apart; ``keras.ops.ctc_loss`` takes logits batch first and computes in
float32.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np

from dltutor.checks import as_float_array, check_positive_int
from dltutor.scratch.speech import mel_filterbank


def stft(x: np.ndarray, n_fft: int = 256, hop: int | None = None) -> tuple:
    """The centred STFT of waveforms (N, L), periodic Hann window: ``(real, imag)`` tensors,
    each (N, frames, bins) — :func:`dltutor.scratch.speech.stft` on ``keras.ops.stft``."""
    x = as_float_array(x, "x")
    hop = n_fft // 4 if hop is None else hop
    return keras.ops.stft(x, n_fft, hop, n_fft, window="hann", center=True)


def log_mel(
    x: np.ndarray,
    sample_rate: int,
    n_fft: int = 256,
    hop: int | None = None,
    num_mels: int = 32,
    lower_hz: float = 60.0,
    epsilon: float = 1e-6,
):
    r""":math:`\log(|X|^2 F + \epsilon)`, (N, frames, num_mels), as
    :func:`dltutor.scratch.speech.log_mel`."""
    real, imag = stft(x, n_fft, hop)
    filters = mel_filterbank(num_mels, n_fft // 2 + 1, sample_rate, lower_hz)
    power = real**2 + imag**2  # (N, frames, bins)
    filters = keras.ops.convert_to_tensor(
        filters, dtype=keras.backend.standardize_dtype(power.dtype)
    )
    return keras.ops.log(keras.ops.matmul(power, filters) + epsilon)


def ctc_loss(
    logits: np.ndarray,
    targets: Sequence[Sequence[int]],
    input_lengths: Sequence[int] | None = None,
    blank: int = 0,
):
    """The CTC loss of each example, (N,), of ``logits`` (N, T, C) (an array or a tensor,
    float32): ``keras.ops.ctc_loss``
    with the label sequences padded by the blank (``mask_index``)."""
    logits = keras.ops.convert_to_tensor(logits)
    if len(logits.shape) != 3:
        raise ValueError(f"logits must be (N, T, C), got shape {tuple(logits.shape)}")
    n, frames, _ = logits.shape
    if len(targets) != n:
        raise ValueError(f"targets must hold one sequence per example ({n}), got {len(targets)}")
    longest = max(1, max(len(target) for target in targets))
    padded = np.full((n, longest), blank, dtype=np.int32)
    for row, target in enumerate(targets):
        padded[row, : len(target)] = target
    lengths = np.full(n, frames) if input_lengths is None else np.asarray(input_lengths)
    target_lengths = np.array([len(target) for target in targets], dtype=np.int32)
    return keras.ops.ctc_loss(
        padded, logits, target_lengths, lengths.astype(np.int32), mask_index=blank
    )


def speech_recognizer(
    num_mels: int, num_classes: int, channels: int = 32, hidden_size: int = 48
) -> keras.Sequential:
    """The twin of :class:`dltutor.torch.speech.SpeechRecognizer`: log-mel frames
    (N, T, num_mels) → per-frame logits (N, T', num_classes), T' = (T - 1) // 2 + 1.

    Two zero frames on each side and a ``Conv1D`` (kernel 5, stride 2, ``"valid"``) → ReLU,
    as PyTorch's ``padding=2`` (Keras' ``"same"`` would pad 1 before and 2 after when T is
    even); a ``Bidirectional(GRU)`` (``reset_after=True``, PyTorch's GRU) whose outputs are
    concatenated forward then backward; a ``Dense`` layer of logits. Weights from a PyTorch
    model: :func:`dltutor.keras.layout.speech_recognizer_from_torch`.
    """
    for value, name in [
        (num_mels, "num_mels"),
        (num_classes, "num_classes"),
        (channels, "channels"),
        (hidden_size, "hidden_size"),
    ]:
        check_positive_int(value, name)
    return keras.Sequential(
        [
            keras.Input((None, num_mels)),
            keras.layers.ZeroPadding1D(2),
            keras.layers.Conv1D(channels, 5, strides=2, activation="relu"),
            keras.layers.Bidirectional(
                keras.layers.GRU(hidden_size, return_sequences=True, reset_after=True)
            ),
            keras.layers.Dense(num_classes),
        ]
    )
