r"""Sound as features, and transcription without alignments, in NumPy.

Signals: the short-time Fourier transform (STFT) and its inverse, the mel filterbank, the
log-mel spectrogram, MFCCs, Griffin–Lim phase recovery (Griffin and Lim, 1984); where the
speech in a clip is, from its energy, and clips cut at that onset. Batch
first: a batch of waveforms is (N, L), a spectrogram (N, frames, bins).

Conventions (the tests check each against the framework named):

* ``stft(center=True)`` is ``torch.stft(center=True, pad_mode="reflect")`` transposed to
  (frames, bins): the signal is reflect-padded by ``n_fft // 2`` on both sides, so frame
  :math:`t` is centred on sample :math:`t \cdot hop`; a periodic Hann window; no
  normalisation. ``center=False`` is ``tf.signal.stft`` with ``fft_length = n_fft``.
* ``mel_filterbank`` is ``tf.signal.linear_to_mel_weight_matrix``: the HTK mel scale
  :math:`m = 1127 \ln(1 + f/700)`, triangles linear in mel, the 0 Hz bin zeroed, no area
  normalisation; shape (bins, mels), applied on the right.

CTC (Graves et al., 2006): the loss of a label sequence summed over every frame-level path
that collapses to it, by the forward (α) recursion in log space, with its gradient by the
backward (β) recursion; greedy (best-path) decoding and prefix beam search (Hannun et al.,
2014; Hannun, 2017);
the edit-distance error rate. Every CTC function takes logits (N, T, C) — or
log-probabilities, which a log-softmax leaves unchanged — with the blank at class
``blank``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.fft import dct

from dltutor.checks import as_float_array, check_positive_int, describe
from dltutor.scratch.losses import log_softmax, softmax

# --- the short-time Fourier transform ------------------------------------------------------


def hann_window(length: int) -> np.ndarray:
    r"""The periodic Hann window :math:`w_n = \tfrac12 - \tfrac12\cos(2\pi n/N)`, (N,)."""
    length = check_positive_int(length, "length")
    return 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(length) / length)


def _check_stft_sizes(n_fft: int, hop: int | None) -> tuple[int, int]:
    n_fft = check_positive_int(n_fft, "n_fft")
    hop = n_fft // 4 if hop is None else check_positive_int(hop, "hop")
    return n_fft, hop


def stft(
    x: np.ndarray, n_fft: int = 256, hop: int | None = None, center: bool = True
) -> np.ndarray:
    r"""The STFT of waveforms ``x`` (..., L): (..., frames, n_fft // 2 + 1), complex.

    :math:`X_{t,k} = \sum_{n=0}^{N-1} w_n\, x_{t \cdot hop + n}\, e^{-2\pi i k n / N}` with
    :math:`N` = ``n_fft``, :math:`w` the periodic Hann window, ``hop`` default ``n_fft // 4``;
    ``center`` reflect-pads ``n_fft // 2`` samples on both sides first (frames
    ``1 + L // hop``), otherwise frames = ``1 + (L - n_fft) // hop``.
    """
    x = as_float_array(x, "x")
    n_fft, hop = _check_stft_sizes(n_fft, hop)
    if center:
        if x.shape[-1] <= n_fft // 2:
            raise ValueError(
                f"x must be longer than n_fft // 2 = {n_fft // 2} samples to reflect-pad, "
                f"got {x.shape[-1]}"
            )
        padding = [(0, 0)] * (x.ndim - 1) + [(n_fft // 2, n_fft // 2)]
        x = np.pad(x, padding, mode="reflect")
    if x.shape[-1] < n_fft:
        raise ValueError(f"x must have at least n_fft = {n_fft} samples, got {x.shape[-1]}")
    frames = sliding_window_view(x, n_fft, axis=-1)[..., ::hop, :]  # (..., frames, n_fft)
    return np.fft.rfft(frames * hann_window(n_fft), axis=-1)


def istft(
    spectrum: np.ndarray, n_fft: int = 256, hop: int | None = None, length: int | None = None
) -> np.ndarray:
    r"""Invert a centred :func:`stft` (..., frames, bins) by weighted overlap-add.

    :math:`x_n = \sum_t w_{n - t\,hop}\, \hat x_{t, n - t\,hop} / \sum_t w^2_{n - t\,hop}`,
    where :math:`\hat x_t` is the inverse FFT of frame :math:`t`: the least-squares signal
    whose STFT is closest to ``spectrum`` (exact when ``spectrum`` is an STFT). As
    ``torch.istft(center=True)``; ``length`` trims or zero-pads the result.
    """
    spectrum = np.asarray(spectrum)
    n_fft, hop = _check_stft_sizes(n_fft, hop)
    if spectrum.ndim < 2 or spectrum.shape[-1] != n_fft // 2 + 1:
        raise ValueError(
            f"spectrum must be (..., frames, {n_fft // 2 + 1}) for n_fft = {n_fft}, "
            f"got {describe(spectrum)}"
        )
    window = hann_window(n_fft)
    pieces = np.fft.irfft(spectrum, n=n_fft, axis=-1) * window  # (..., frames, n_fft)
    count = spectrum.shape[-2]
    total = n_fft + hop * (count - 1)
    signal: np.ndarray = np.zeros((*spectrum.shape[:-2], total))
    weight = np.zeros(total)
    for t in range(count):
        signal[..., t * hop : t * hop + n_fft] += pieces[..., t, :]
        weight[t * hop : t * hop + n_fft] += window**2
    start = n_fft // 2
    stop = total - n_fft // 2 if length is None else start + length
    signal, weight = signal[..., start:stop], weight[start:stop]
    covered = weight > 1e-11
    signal[..., covered] /= weight[covered]
    if signal.shape[-1] < stop - start:
        padding = [(0, 0)] * (signal.ndim - 1) + [(0, stop - start - signal.shape[-1])]
        signal = np.pad(signal, padding)
    return signal


def spectral_convergence(target: np.ndarray, estimate: np.ndarray) -> float:
    r""":math:`\| |S| - |\hat S| \|_F / \| |S| \|_F` of two magnitude spectrograms."""
    target, estimate = np.abs(target), np.abs(estimate)
    if target.shape != estimate.shape:
        raise ValueError(
            f"estimate must have the target's shape {target.shape}, got {estimate.shape}"
        )
    return float(np.linalg.norm(target - estimate) / np.linalg.norm(target))


def griffin_lim(
    magnitude: np.ndarray,
    n_fft: int = 256,
    hop: int | None = None,
    iterations: int = 32,
    length: int | None = None,
) -> np.ndarray:
    r"""A waveform whose STFT magnitude approaches ``magnitude`` (frames, bins) (Griffin and
    Lim, 1984).

    Start from zero phase; repeat: :math:`x = \mathrm{ISTFT}(|S|\, e^{i\phi})`,
    :math:`\phi = \angle\, \mathrm{STFT}(x)`. Each step cannot increase the distance between
    the target magnitude and a consistent STFT.
    """
    magnitude = as_float_array(magnitude, "magnitude")
    iterations = check_positive_int(iterations, "iterations")
    n_fft, hop = _check_stft_sizes(n_fft, hop)
    phase = np.ones_like(magnitude, dtype=complex)
    signal = istft(magnitude * phase, n_fft, hop, length)
    for _ in range(iterations):
        spectrum = stft(signal, n_fft, hop)
        phase = np.exp(1j * np.angle(spectrum))
        signal = istft(magnitude * phase, n_fft, hop, length)
    return signal


# --- mel features --------------------------------------------------------------------------


def hz_to_mel(frequency: np.ndarray | float) -> np.ndarray:
    r"""The HTK mel scale :math:`m = 1127 \ln(1 + f / 700)` (= :math:`2595 \log_{10}(\dots)`)."""
    return 1127.0 * np.log1p(np.asarray(frequency, dtype=float) / 700.0)


def mel_to_hz(mel: np.ndarray | float) -> np.ndarray:
    r"""The inverse of :func:`hz_to_mel`: :math:`f = 700 (e^{m / 1127} - 1)`."""
    return 700.0 * np.expm1(np.asarray(mel, dtype=float) / 1127.0)


def mel_filterbank(
    num_mels: int,
    num_bins: int,
    sample_rate: int,
    lower_hz: float = 0.0,
    upper_hz: float | None = None,
) -> np.ndarray:
    r"""Triangular mel filters, (num_bins, num_mels): ``power @ filters`` pools the bins.

    ``num_mels + 2`` edges :math:`m_0 < \dots < m_{M+1}` evenly spaced in mel from
    ``lower_hz`` to ``upper_hz`` (default Nyquist); filter :math:`j` rises linearly *in mel*
    from :math:`m_j` to 1 at :math:`m_{j+1}` and falls to 0 at :math:`m_{j+2}`. Bin
    :math:`k` sits at :math:`k \cdot \tfrac{sr/2}{K-1}` Hz and the 0 Hz bin is dropped, as in
    ``tf.signal.linear_to_mel_weight_matrix``.
    """
    num_mels = check_positive_int(num_mels, "num_mels")
    num_bins = check_positive_int(num_bins, "num_bins")
    upper_hz = sample_rate / 2 if upper_hz is None else upper_hz
    if not 0 <= lower_hz < upper_hz <= sample_rate / 2:
        raise ValueError(
            f"need 0 <= lower_hz < upper_hz <= {sample_rate / 2} (Nyquist), "
            f"got {lower_hz} and {upper_hz}"
        )
    bin_mels = hz_to_mel(np.linspace(0.0, sample_rate / 2, num_bins))[1:, None]  # (K-1, 1)
    edges = np.linspace(hz_to_mel(lower_hz), hz_to_mel(upper_hz), num_mels + 2)
    left, centre, right = edges[:-2], edges[1:-1], edges[2:]  # (M,) each
    rising = (bin_mels - left) / (centre - left)
    falling = (right - bin_mels) / (right - centre)
    filters = np.maximum(0.0, np.minimum(rising, falling))  # (K-1, M)
    return np.concatenate([np.zeros((1, num_mels)), filters])  # (K, M)


def log_mel(
    x: np.ndarray,
    sample_rate: int,
    n_fft: int = 256,
    hop: int | None = None,
    num_mels: int = 32,
    lower_hz: float = 60.0,
    epsilon: float = 1e-6,
) -> np.ndarray:
    r"""Log-mel features of waveforms (..., L): (..., frames, num_mels).

    :math:`\log(|X|^2 F + \epsilon)`: the power spectrogram of a centred :func:`stft`, pooled
    by :func:`mel_filterbank` ``F``; :math:`\epsilon` keeps silence finite.
    """
    power = np.abs(stft(x, n_fft, hop)) ** 2  # (..., frames, bins)
    filters = mel_filterbank(num_mels, n_fft // 2 + 1, sample_rate, lower_hz)
    return np.log(power @ filters + epsilon)


def mfcc(log_mel_spectrogram: np.ndarray, num_coefficients: int = 13) -> np.ndarray:
    r"""Mel-frequency cepstral coefficients: the orthonormal DCT-II of each log-mel frame,
    first ``num_coefficients`` kept, (..., frames, num_coefficients).

    :math:`c_q = s_q \sum_{j=0}^{M-1} \ell_j \cos\big(\pi q (2j+1) / 2M\big)`, with
    :math:`s_0 = \sqrt{1/M}`, :math:`s_q = \sqrt{2/M}`: the smooth shape of the spectrum
    (the vocal tract) in a few numbers, the fine harmonics (the pitch) left out.
    """
    log_mel_spectrogram = as_float_array(log_mel_spectrogram, "log_mel_spectrogram")
    num_coefficients = check_positive_int(num_coefficients, "num_coefficients")
    if num_coefficients > log_mel_spectrogram.shape[-1]:
        raise ValueError(
            f"num_coefficients must be at most the {log_mel_spectrogram.shape[-1]} mel bands, "
            f"got {num_coefficients}"
        )
    return dct(log_mel_spectrogram, type=2, norm="ortho", axis=-1)[..., :num_coefficients]


# --- finding the speech in a clip -----------------------------------------------------


def energy_span(log_mel_spectrogram: np.ndarray, fraction: float = 0.5) -> np.ndarray:
    r"""The first and last frame of speech in each clip of ``log_mel_spectrogram`` (N, T, M),
    from that clip alone: (N, 2) integer frames.

    A frame is speech when its mean log-mel energy :math:`e_t = \frac1M \sum_m \ell_{t,m}`
    exceeds :math:`\min_t e_t + \text{fraction}\,(\max_t e_t - \min_t e_t)`; the span runs
    from the first such frame to the last. No model, no labels: each clip sets its own
    threshold.
    """
    log_mel_spectrogram = as_float_array(log_mel_spectrogram, "log_mel_spectrogram", ndim=3)
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be in (0, 1), got {fraction!r}")
    energy = log_mel_spectrogram.mean(axis=-1)  # (N, T)
    low, high = energy.min(axis=1, keepdims=True), energy.max(axis=1, keepdims=True)
    loud = energy > low + fraction * (high - low)  # (N, T); the loudest frame is always in
    first = loud.argmax(axis=1)
    last = loud.shape[1] - 1 - loud[:, ::-1].argmax(axis=1)
    return np.stack([first, last], axis=1)


def align_by_onset(
    features: np.ndarray, onsets: np.ndarray, length: int, lead: int = 2
) -> np.ndarray:
    """Cut ``length`` frames from each clip of ``features`` (N, T, F), starting ``lead``
    frames before its onset (e.g. ``energy_span(...)[:, 0]``): (N, length, F).

    Clips too short for the cut are padded by repeating their last frame, so every word
    starts at the same place of the output.
    """
    features = as_float_array(features, "features", ndim=3)
    length = check_positive_int(length, "length")
    onsets = np.asarray(onsets)
    if onsets.shape != (len(features),) or not np.issubdtype(onsets.dtype, np.integer):
        raise ValueError(
            f"onsets must be {len(features)} integer frames, one per clip, got {describe(onsets)}"
        )
    if onsets.min(initial=0) < 0 or onsets.max(initial=0) >= features.shape[1]:
        raise ValueError(f"onsets must lie in [0, {features.shape[1]}), got {onsets}")
    padded = np.concatenate(
        [features, np.repeat(features[:, -1:], length, axis=1)], axis=1
    )  # (N, T + length, F)
    starts = np.maximum(onsets - lead, 0)
    return np.stack([padded[row, start : start + length] for row, start in enumerate(starts)])


# --- augmentation ----------------------------------------------------------------------


def time_shift(features: np.ndarray, max_shift: int, rng: np.random.Generator) -> np.ndarray:
    """Shift each example of ``features`` (N, T, F) by up to ``max_shift`` frames either way,
    filling with its own minimum (silence)."""
    features = as_float_array(features, "features", ndim=3)
    shifted = np.empty_like(features)
    for row, shift in enumerate(rng.integers(-max_shift, max_shift + 1, len(features))):
        shifted[row] = np.roll(features[row], shift, axis=0)
        fill = features[row].min()
        if shift > 0:
            shifted[row, :shift] = fill
        elif shift < 0:
            shifted[row, shift:] = fill
    return shifted


def spec_augment(
    features: np.ndarray,
    rng: np.random.Generator,
    time_width: int = 6,
    frequency_width: int = 6,
) -> np.ndarray:
    """SpecAugment's masks (Park et al., 2019) on ``features`` (N, T, F): per example, one
    band of up to ``time_width`` frames and one of up to ``frequency_width`` channels set to
    the example's mean."""
    features = as_float_array(features, "features", ndim=3)
    masked = features.copy()
    n, frames, channels = features.shape
    for row in range(n):
        fill = features[row].mean()
        width = int(rng.integers(0, time_width + 1))
        start = int(rng.integers(0, frames - width + 1))
        masked[row, start : start + width] = fill
        width = int(rng.integers(0, frequency_width + 1))
        start = int(rng.integers(0, channels - width + 1))
        masked[row, :, start : start + width] = fill
    return masked


# --- CTC -------------------------------------------------------------------------------


def _check_ctc(
    logits: np.ndarray,
    targets: Sequence[Sequence[int]],
    input_lengths: Sequence[int] | None,
    blank: int,
) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    logits = as_float_array(logits, "logits", ndim=3)
    n, frames, classes = logits.shape
    if not 0 <= blank < classes:
        raise ValueError(f"blank must be a class index below {classes}, got {blank}")
    if len(targets) != n:
        raise ValueError(
            f"targets must hold one label sequence per example ({n}), got {len(targets)}"
        )
    labels = [np.asarray(target, dtype=np.int64).reshape(-1) for target in targets]
    for target in labels:
        if np.any((target < 0) | (target >= classes) | (target == blank)):
            raise ValueError(
                f"targets must hold labels in [0, {classes}) other than the blank {blank}, "
                f"got {target.tolist()}"
            )
    lengths = np.full(n, frames) if input_lengths is None else np.asarray(input_lengths)
    if lengths.shape != (n,) or np.any((lengths < 1) | (lengths > frames)):
        raise ValueError(
            f"input_lengths must be {n} lengths in [1, {frames}], got {describe(lengths)}"
        )
    return logits, labels, lengths.astype(np.int64)


def ctc_extend(target: Sequence[int] | np.ndarray, blank: int = 0) -> np.ndarray:
    """The label sequence with a blank before, between and after its labels: (2U + 1,)."""
    extended = np.full(2 * len(target) + 1, blank, dtype=np.int64)
    extended[1::2] = target
    return extended


def _can_skip(extended: np.ndarray, blank: int) -> np.ndarray:
    """Where a path may jump s-2 -> s: onto a label that differs from the one two back."""
    skip = np.zeros(len(extended), dtype=bool)
    skip[2:] = (extended[2:] != blank) & (extended[2:] != extended[:-2])
    return skip


def ctc_alpha(
    log_probs: np.ndarray, target: Sequence[int] | np.ndarray, blank: int = 0
) -> np.ndarray:
    r"""The forward variables :math:`\log\alpha_t(s)`, (T, 2U + 1), of one sequence.

    :math:`\alpha_t(s)` sums the probabilities of the paths through frames :math:`0..t`
    that end in symbol :math:`s` of the blank-extended label :math:`l'`:
    :math:`\alpha_t(s) = y_{t, l'_s}\,[\alpha_{t-1}(s) + \alpha_{t-1}(s-1)
    + \alpha_{t-1}(s-2)]`, the last term only when :math:`l'_s` is a label that differs from
    :math:`l'_{s-2}` (a repeated label needs a blank between).
    """
    extended = ctc_extend(target, blank)
    skip = _can_skip(extended, blank)
    frames, size = len(log_probs), len(extended)
    alpha = np.full((frames, size), -np.inf)
    alpha[0, 0] = log_probs[0, extended[0]]
    if size > 1:
        alpha[0, 1] = log_probs[0, extended[1]]
    for t in range(1, frames):
        previous = alpha[t - 1]
        one_back = np.concatenate([[-np.inf], previous[:-1]])
        two_back = np.where(skip, np.concatenate([[-np.inf, -np.inf], previous[:-2]]), -np.inf)
        alpha[t] = np.logaddexp.reduce([previous, one_back, two_back], axis=0)
        alpha[t] += log_probs[t, extended]
    return alpha


def ctc_beta(
    log_probs: np.ndarray, target: Sequence[int] | np.ndarray, blank: int = 0
) -> np.ndarray:
    r"""The backward variables :math:`\log\beta_t(s)`, (T, 2U + 1): the probability of the
    frames *after* :math:`t` given symbol :math:`s` at :math:`t`, so that
    :math:`\sum_s \alpha_t(s)\beta_t(s) = p(l \mid x)` at every :math:`t`."""
    extended = ctc_extend(target, blank)
    skip = _can_skip(extended, blank)
    frames, size = len(log_probs), len(extended)
    beta = np.full((frames, size), -np.inf)
    beta[-1, -1] = 0.0
    if size > 1:
        beta[-1, -2] = 0.0
    for t in range(frames - 2, -1, -1):
        emitted = beta[t + 1] + log_probs[t + 1, extended]  # (2U + 1,)
        one_ahead = np.concatenate([emitted[1:], [-np.inf]])
        two_ahead = np.concatenate([np.where(skip[2:], emitted[2:], -np.inf), [-np.inf] * 2])
        beta[t] = np.logaddexp.reduce([emitted, one_ahead, two_ahead], axis=0)
    return beta


def ctc_loss(
    logits: np.ndarray,
    targets: Sequence[Sequence[int]],
    input_lengths: Sequence[int] | None = None,
    blank: int = 0,
) -> np.ndarray:
    r"""The CTC loss of each example, (N,): :math:`-\log p(l \mid x)`, where
    :math:`p(l \mid x) = \alpha_{T-1}(2U) + \alpha_{T-1}(2U - 1)` (ending in the last label
    or the blank after it).

    ``logits`` (N, T, C); ``targets`` N label sequences (no blanks); ``input_lengths`` the
    frames of each example that count (default all T). A label that cannot fit (a sequence
    that needs more frames than it has) gives ``inf``.
    """
    return ctc_loss_and_gradient(logits, targets, input_lengths, blank)[0]


def ctc_loss_and_gradient(
    logits: np.ndarray,
    targets: Sequence[Sequence[int]],
    input_lengths: Sequence[int] | None = None,
    blank: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    r""":func:`ctc_loss` (N,) and its gradient with respect to ``logits``, (N, T, C).

    :math:`\partial L / \partial z_{t,k} = y_{t,k} - \frac{1}{p(l \mid x)}
    \sum_{s:\, l'_s = k} \alpha_t(s)\, \beta_t(s)`: the softmax minus the posterior
    occupancy of class :math:`k` at frame :math:`t`. Frames past an example's input length
    get zero gradient.
    """
    logits, labels, lengths = _check_ctc(logits, targets, input_lengths, blank)
    log_probs = log_softmax(logits)
    losses = np.empty(len(logits))
    gradient = np.zeros_like(logits)
    for row, (target, frames) in enumerate(zip(labels, lengths)):
        scores = log_probs[row, :frames]  # (T_i, C)
        alpha = ctc_alpha(scores, target, blank)
        log_likelihood = np.logaddexp.reduce(alpha[-1, -2:])
        losses[row] = -log_likelihood
        if not np.isfinite(log_likelihood):
            continue
        beta = ctc_beta(scores, target, blank)
        occupancy = np.exp(alpha + beta - log_likelihood)  # (T_i, 2U + 1)
        by_class = np.zeros_like(scores)
        np.add.at(by_class.T, ctc_extend(target, blank), occupancy.T)  # sum over s
        gradient[row, :frames] = np.exp(scores) - by_class
    return losses, gradient


# --- decoding --------------------------------------------------------------------------


def collapse(path: Sequence[int], blank: int = 0) -> list[int]:
    """CTC's many-to-one map B: merge repeated symbols, then drop blanks."""
    out: list[int] = []
    previous = None
    for symbol in path:
        symbol = int(symbol)
        if symbol != previous and symbol != blank:
            out.append(symbol)
        previous = symbol
    return out


def greedy_decode(
    logits: np.ndarray, input_lengths: Sequence[int] | None = None, blank: int = 0
) -> list[list[int]]:
    """Best-path decoding: the most likely class at each frame, collapsed (N lists)."""
    logits, _, lengths = _check_ctc(logits, [[]] * len(np.asarray(logits)), input_lengths, blank)
    best = logits.argmax(axis=-1)  # (N, T)
    return [collapse(path[:frames], blank) for path, frames in zip(best, lengths)]


def _add(
    beams: dict[tuple[int, ...], list[float]], prefix: tuple[int, ...], which: int, value: float
) -> None:
    """Add probability ``exp(value)`` to ``beams[prefix][which]`` (0: p_b, 1: p_nb), in logs."""
    scores = beams.setdefault(prefix, [-np.inf, -np.inf])
    scores[which] = np.logaddexp(scores[which], value)


def prefix_beam_search(
    logits: np.ndarray, beam_width: int = 8, blank: int = 0
) -> list[tuple[tuple[int, ...], float]]:
    r"""CTC prefix beam search over one sequence, ``logits`` (T, C) (Hannun, 2017).

    Each prefix :math:`\ell` keeps :math:`p_b` (its paths end in a blank) and :math:`p_{nb}`
    (they end in its last label). Per frame, a blank extends nothing:
    :math:`p_b(\ell) \mathrel{+}= (p_b + p_{nb})\, y_\varnothing`; a new label :math:`c`:
    :math:`p_{nb}(\ell c) \mathrel{+}= (p_b + p_{nb})\, y_c`, but when :math:`c` repeats the
    last label only paths through a blank extend, :math:`p_{nb}(\ell c) \mathrel{+}= p_b\,
    y_c`, and the rest stay, :math:`p_{nb}(\ell) \mathrel{+}= p_{nb}\, y_c`. The
    ``beam_width`` most likely prefixes survive each frame. Returns (prefix, log p) pairs,
    best first.
    """
    logits = as_float_array(logits, "logits", ndim=2)
    beam_width = check_positive_int(beam_width, "beam_width")
    if not 0 <= blank < logits.shape[1]:
        raise ValueError(f"blank must be a class index below {logits.shape[1]}, got {blank}")
    log_probs = log_softmax(logits)
    beams: dict[tuple[int, ...], tuple[float, float]] = {(): (0.0, -np.inf)}  # (log p_b, p_nb)
    for frame in log_probs:
        grown: dict[tuple[int, ...], list[float]] = {}  # prefix -> [log p_b, log p_nb]

        for prefix, (p_blank, p_label) in beams.items():
            total = np.logaddexp(p_blank, p_label)
            _add(grown, prefix, 0, total + frame[blank])
            for c in range(len(frame)):
                if c == blank:
                    continue
                if prefix and prefix[-1] == c:
                    _add(grown, prefix + (c,), 1, p_blank + frame[c])
                    _add(grown, prefix, 1, p_label + frame[c])
                else:
                    _add(grown, prefix + (c,), 1, total + frame[c])
        totals = {prefix: float(np.logaddexp(b, nb)) for prefix, (b, nb) in grown.items()}
        ranked = sorted((p for p in totals if np.isfinite(totals[p])), key=lambda p: -totals[p])
        beams = {prefix: (grown[prefix][0], grown[prefix][1]) for prefix in ranked[:beam_width]}
    return [(prefix, float(np.logaddexp(b, nb))) for prefix, (b, nb) in beams.items()]


def spike_frames(logits: np.ndarray, blank: int = 0) -> list[tuple[int, int]]:
    """Where a trained CTC model *fires*: ``(frame, label)`` for the first frame of every run
    of the same non-blank best class in ``logits`` (T, C) — one per decoded label."""
    best = as_float_array(logits, "logits", ndim=2).argmax(axis=-1)
    return [(t, int(c)) for t, c in enumerate(best) if c != blank and (t == 0 or best[t - 1] != c)]


def emission_frames(logits: np.ndarray, count: int, blank: int = 0) -> np.ndarray:
    """Where a CTC model emits its ``count`` labels: the frames of the ``count`` deepest
    local minima of the blank's probability in ``logits`` (T, C), in time order.

    Unlike :func:`spike_frames` this needs no label to win a frame outright, so it reads
    the alignment of a model whose posteriors are still soft.
    """
    logits = as_float_array(logits, "logits", ndim=2)
    count = check_positive_int(count, "count")
    blank_probability = softmax(logits)[:, blank]
    padded = np.concatenate([[np.inf], blank_probability, [np.inf]])
    minima = np.flatnonzero(
        (padded[1:-1] < padded[:-2]) & (padded[1:-1] <= padded[2:])
    )  # local minima
    deepest = minima[np.argsort(blank_probability[minima], kind="stable")[:count]]
    return np.sort(deepest)


def edit_distance(reference: Sequence[int], hypothesis: Sequence[int]) -> int:
    r"""The Levenshtein distance: the fewest substitutions, insertions and deletions that turn
    ``hypothesis`` into ``reference``, by :math:`D_{i,j} = \min(D_{i-1,j} + 1, D_{i,j-1} + 1,
    D_{i-1,j-1} + [r_i \ne h_j])`."""
    previous = np.arange(len(hypothesis) + 1)
    for i, r in enumerate(reference, start=1):
        current = np.empty_like(previous)
        current[0] = i
        for j, h in enumerate(hypothesis, start=1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r != h))
        previous = current
    return int(previous[-1])


def error_rate(references: Sequence[Sequence[int]], hypotheses: Sequence[Sequence[int]]) -> float:
    """Total edit distance over total reference length: the word (or character, or
    syllable) error rate of a corpus."""
    if len(references) != len(hypotheses):
        raise ValueError(
            f"hypotheses must match the {len(references)} references, got {len(hypotheses)}"
        )
    total = sum(len(reference) for reference in references)
    if total == 0:
        raise ValueError("references must hold at least one label in all")
    distance = sum(edit_distance(r, h) for r, h in zip(references, hypotheses))
    return distance / total


__all__ = [
    "collapse",
    "ctc_alpha",
    "ctc_beta",
    "ctc_extend",
    "ctc_loss",
    "ctc_loss_and_gradient",
    "edit_distance",
    "emission_frames",
    "error_rate",
    "greedy_decode",
    "griffin_lim",
    "hann_window",
    "hz_to_mel",
    "istft",
    "log_mel",
    "mel_filterbank",
    "mel_to_hz",
    "mfcc",
    "prefix_beam_search",
    "spec_augment",
    "spectral_convergence",
    "spike_frames",
    "stft",
    "time_shift",
]
