"""Sound and speech: the STFT, mel features and CTC against PyTorch, TensorFlow and Keras;
the CTC gradient against finite differences; decoding against exhaustive search; the
synthesiser's formants against Peterson and Barney's table.

Conventions checked (see :mod:`dltutor.scratch.speech`): ``stft`` = ``torch.stft(center=True,
pad_mode="reflect")`` with a periodic Hann window, transposed to (frames, bins);
``stft(center=False)`` = ``tf.signal.stft(fft_length=n_fft)``; ``mel_filterbank`` =
``tf.signal.linear_to_mel_weight_matrix`` (HTK, triangles in mel, 0 Hz row zero); CTC blank
at 0 unless given, ``nn.CTCLoss`` on log-softmaxed time-first inputs, ``keras.ops.ctc_loss``
on logits batch first with ``mask_index`` the blank.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.signal import find_peaks, welch

from dltutor.data import audio
from dltutor.scratch import speech
from dltutor.scratch.gradcheck import numerical_gradient, relative_error

TORCH = {"rtol": 1e-10, "atol": 1e-12}
FLOAT32 = {"rtol": 1e-5, "atol": 1e-5}
SIZES = [(256, 64), (512, 128), (400, 160)]  # (n_fft, hop)
# T = 12, C = 5: repeated labels, a run of three, a single label; shorter inputs
CTC_TARGETS = [[1, 1, 2], [3, 3, 3, 4], [2]]
CTC_LENGTHS = [12, 10, 7]


@pytest.fixture
def waves(rng) -> np.ndarray:
    return rng.standard_normal((2, 1001))


# --- STFT, ISTFT, Griffin–Lim -------------------------------------------------------------


@pytest.mark.parametrize("n_fft, hop", SIZES)
def test_stft_equals_torch(waves, n_fft, hop) -> None:
    torch = pytest.importorskip("torch")
    window = torch.hann_window(n_fft, dtype=torch.float64)  # a float32 window costs 4e-6
    theirs = torch.stft(
        torch.tensor(waves), n_fft, hop, window=window, center=True, return_complex=True
    ).numpy()  # (N, bins, frames)
    ours = speech.stft(waves, n_fft, hop)
    assert ours.shape == (2, 1 + 1001 // hop, n_fft // 2 + 1)
    np.testing.assert_allclose(ours, theirs.transpose(0, 2, 1), **TORCH)


@pytest.mark.parametrize("n_fft, hop", SIZES)
def test_uncentred_stft_equals_tf_signal(waves, n_fft, hop) -> None:
    tf = pytest.importorskip("tensorflow")
    theirs = tf.signal.stft(waves, n_fft, hop, fft_length=n_fft).numpy()  # (N, frames, bins)
    np.testing.assert_allclose(speech.stft(waves, n_fft, hop, center=False), theirs, **TORCH)


def test_stft_and_log_mel_equal_the_framework_twins(waves) -> None:
    torch = pytest.importorskip("torch")
    pytest.importorskip("keras")
    from dltutor.keras import speech as keras_speech
    from dltutor.torch import speech as torch_speech

    theirs = torch_speech.stft(torch.tensor(waves), 256, 64).numpy()
    np.testing.assert_allclose(speech.stft(waves, 256, 64), theirs, **TORCH)
    ours = speech.log_mel(waves, 8000, 256, 64, num_mels=32)
    in_torch = torch_speech.log_mel(torch.tensor(waves), 8000, 256, 64, 32).numpy()
    np.testing.assert_allclose(ours, in_torch, **TORCH)
    real, imag = keras_speech.stft(waves.astype(np.float32), 256, 64)
    scale = np.abs(theirs).max()
    np.testing.assert_allclose(np.asarray(real), theirs.real, atol=1e-5 * scale)
    np.testing.assert_allclose(np.asarray(imag), theirs.imag, atol=1e-5 * scale)
    in_keras = np.asarray(keras_speech.log_mel(waves.astype(np.float32), 8000, 256, 64, 32))
    np.testing.assert_allclose(in_keras, ours, atol=1e-3)  # log of float32 powers
    real, imag = keras_speech.stft(waves, 256, 64)  # float64 in, float64 out
    np.testing.assert_allclose(np.asarray(real), theirs.real, **TORCH)
    np.testing.assert_allclose(np.asarray(imag), theirs.imag, **TORCH)


@pytest.mark.parametrize("n_fft, hop", SIZES)
def test_istft_inverts_and_equals_torch(waves, n_fft, hop) -> None:
    torch = pytest.importorskip("torch")
    spectrum = speech.stft(waves, n_fft, hop)
    np.testing.assert_allclose(speech.istft(spectrum, n_fft, hop, length=1001), waves, atol=1e-12)
    window = torch.hann_window(n_fft, dtype=torch.float64)
    theirs = torch.istft(
        torch.tensor(spectrum.transpose(0, 2, 1)), n_fft, hop, window=window, length=1001
    ).numpy()
    np.testing.assert_allclose(speech.istft(spectrum, n_fft, hop, length=1001), theirs, **TORCH)


def test_griffin_lim_equals_a_torch_loop_and_converges(rng) -> None:
    torch = pytest.importorskip("torch")
    x = rng.standard_normal(2000)
    magnitude = np.abs(speech.stft(x, 256, 64))
    window = torch.hann_window(256, dtype=torch.float64)
    target = torch.tensor(magnitude.T)  # (bins, frames)
    theirs = torch.istft(target.to(torch.complex128), 256, 64, window=window, length=2000)
    for _ in range(5):
        phase = torch.stft(theirs, 256, 64, window=window, return_complex=True).angle()
        theirs = torch.istft(target * torch.exp(1j * phase), 256, 64, window=window, length=2000)
    ours = speech.griffin_lim(magnitude, 256, 64, iterations=5, length=2000)
    np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-9, atol=1e-9)
    errors = [
        speech.spectral_convergence(
            magnitude,
            speech.stft(speech.griffin_lim(magnitude, 256, 64, iterations=k, length=2000), 256, 64),
        )
        for k in (1, 5, 20)
    ]
    assert errors[0] > errors[1] > errors[2]  # monotone, as Griffin and Lim prove


# --- mel, MFCC ------------------------------------------------------------------------


def test_mel_scale_forms_agree() -> None:
    f = np.linspace(0, 8000, 101)
    np.testing.assert_allclose(speech.hz_to_mel(f), 2595 * np.log10(1 + f / 700), rtol=1e-4)
    np.testing.assert_allclose(speech.mel_to_hz(speech.hz_to_mel(f)), f, atol=1e-9)
    np.testing.assert_allclose(speech.hz_to_mel(1000.0), 1000.0, atol=0.1)  # 1 kHz ≈ 1000 mel


@pytest.mark.parametrize(
    "mels, bins, rate, low, high",
    [(20, 129, 8000, 125.0, 3800.0), (32, 129, 8000, 60.0, 4000.0), (40, 257, 16000, 0.0, 8000.0)],
)
def test_mel_filterbank_equals_tf(mels, bins, rate, low, high) -> None:
    tf = pytest.importorskip("tensorflow")
    theirs = tf.signal.linear_to_mel_weight_matrix(
        mels, bins, rate, low, high, dtype=tf.float64
    ).numpy()
    ours = speech.mel_filterbank(mels, bins, rate, low, high)
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)
    assert (ours[0] == 0).all()  # the 0 Hz bin is dropped


def test_mfcc_is_tf_mfcc_up_to_the_first_coefficient(rng) -> None:
    tf = pytest.importorskip("tensorflow")
    log_mel = rng.standard_normal((3, 7, 32))
    theirs = tf.signal.mfccs_from_log_mel_spectrograms(log_mel).numpy()[..., :13]
    ours = speech.mfcc(log_mel, 13)
    # TF scales the unnormalised DCT-II by 1/sqrt(2M) for every coefficient; the orthonormal
    # DCT scales c_0 by 1/sqrt(4M): a factor sqrt(2) on c_0 only
    theirs[..., 0] /= np.sqrt(2)
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)


# --- CTC ------------------------------------------------------------------------------


def brute_force_probabilities(log_probs: np.ndarray, blank: int = 0) -> dict[tuple, float]:
    """p(l | x) for every label sequence l, by summing over all C^T paths."""
    frames, classes = log_probs.shape
    totals: dict[tuple, float] = {}
    for path in itertools.product(range(classes), repeat=frames):
        label = tuple(speech.collapse(path, blank))
        p = np.exp(sum(log_probs[t, c] for t, c in enumerate(path)))
        totals[label] = totals.get(label, 0.0) + p
    return totals


@pytest.mark.parametrize("blank", [0, 2])
def test_ctc_loss_equals_brute_force(rng, blank) -> None:
    from dltutor.scratch.losses import log_softmax

    logits = rng.standard_normal((1, 5, 3))
    log_probs = log_softmax(logits[0])
    totals = brute_force_probabilities(log_probs, blank)
    labels = [c for c in range(3) if c != blank]
    for target in [(labels[0],), (labels[0], labels[0]), (labels[1], labels[0], labels[1])]:
        loss = speech.ctc_loss(logits, [list(target)], blank=blank)[0]
        np.testing.assert_allclose(loss, -np.log(totals[target]), rtol=1e-12)
    np.testing.assert_allclose(sum(totals.values()), 1.0, rtol=1e-12)


@pytest.mark.parametrize("blank", [0, 4])
def test_ctc_loss_and_gradient_equal_torch_float64(rng, blank) -> None:
    torch = pytest.importorskip("torch")
    logits = rng.standard_normal((3, 12, 5))
    targets = CTC_TARGETS if blank == 0 else [[t - 1 for t in seq] for seq in CTC_TARGETS]
    losses, gradient = speech.ctc_loss_and_gradient(logits, targets, CTC_LENGTHS, blank)
    z = torch.tensor(logits, requires_grad=True)
    theirs = torch.nn.CTCLoss(blank=blank, reduction="none")(
        torch.log_softmax(z, -1).transpose(0, 1),  # (T, N, C) log-probabilities
        torch.tensor([t for seq in targets for t in seq]),  # concatenated targets
        torch.tensor(CTC_LENGTHS),
        torch.tensor([len(seq) for seq in targets]),
    )
    theirs.sum().backward()
    np.testing.assert_allclose(losses, theirs.detach().numpy(), **TORCH)
    np.testing.assert_allclose(gradient, z.grad.numpy(), **TORCH)
    assert (gradient[1, 10:] == 0).all()  # frames past the input length


def test_ctc_wrappers_equal_scratch(rng) -> None:
    torch = pytest.importorskip("torch")
    pytest.importorskip("keras")
    from dltutor.keras import speech as keras_speech
    from dltutor.torch import speech as torch_speech

    logits = rng.standard_normal((3, 12, 5))
    ours = speech.ctc_loss(logits, CTC_TARGETS, CTC_LENGTHS)
    in_torch = torch_speech.ctc_loss(torch.tensor(logits), CTC_TARGETS, CTC_LENGTHS)
    np.testing.assert_allclose(in_torch.numpy(), ours, **TORCH)
    in_keras = keras_speech.ctc_loss(logits.astype(np.float32), CTC_TARGETS, CTC_LENGTHS)
    np.testing.assert_allclose(np.asarray(in_keras), ours, **FLOAT32)
    # the training loss: padded with the blank, the mean of loss / label count
    padded = np.zeros((3, 4))
    for row, seq in enumerate(CTC_TARGETS):
        padded[row, : len(seq)] = seq
    full = speech.ctc_loss(logits, CTC_TARGETS)
    mean = torch_speech.CTCLoss()(torch.tensor(logits), torch.tensor(padded))
    np.testing.assert_allclose(float(mean), np.mean(full / [3, 4, 1]), **TORCH)


def test_ctc_gradient_against_keras_float32(rng) -> None:
    tf = pytest.importorskip("tensorflow")
    from dltutor.keras import speech as keras_speech

    logits = rng.standard_normal((3, 12, 5)).astype(np.float32)
    _, ours = speech.ctc_loss_and_gradient(logits.astype(np.float64), CTC_TARGETS, CTC_LENGTHS)
    z = tf.Variable(logits)
    with tf.GradientTape() as tape:
        total = tf.reduce_sum(keras_speech.ctc_loss(z, CTC_TARGETS, CTC_LENGTHS))
    np.testing.assert_allclose(tape.gradient(total, z).numpy(), ours, **FLOAT32)


def test_ctc_gradient_against_finite_differences(rng) -> None:
    logits = rng.standard_normal((2, 6, 4))
    targets = [[1, 1], [2, 3, 2]]
    _, analytic = speech.ctc_loss_and_gradient(logits, targets)
    numeric = numerical_gradient(lambda: float(speech.ctc_loss(logits, targets).sum()), logits)
    assert relative_error(analytic, numeric) < 1e-7


def test_ctc_infeasible_label_is_infinite(rng) -> None:
    # [1, 1, 1] needs 5 frames (1 _ 1 _ 1); 4 are too few
    loss, gradient = speech.ctc_loss_and_gradient(rng.standard_normal((1, 4, 3)), [[1, 1, 1]])
    assert np.isinf(loss[0]) and (gradient == 0).all()
    assert np.isfinite(speech.ctc_loss(rng.standard_normal((1, 5, 3)), [[1, 1, 1]])[0])


# --- decoding and error rates -----------------------------------------------------------


def test_collapse_merges_then_drops_blanks() -> None:
    assert speech.collapse([0, 1, 1, 0, 1, 2, 2, 0]) == [1, 1, 2]
    assert speech.collapse([3, 3, 1, 3], blank=3) == [1]


def test_greedy_decode_equals_keras(rng) -> None:
    pytest.importorskip("keras")
    import keras

    logits = rng.standard_normal((4, 9, 4))
    logits[..., 0] += 0.8  # blanks common enough to split repeats
    ours = speech.greedy_decode(logits, [9, 9, 6, 4])
    decoded, _ = keras.ops.ctc_decode(
        logits.astype(np.float32), np.array([9, 9, 6, 4]), strategy="greedy"
    )
    theirs = [[int(c) for c in row if c >= 0] for row in np.asarray(decoded[0])]
    assert ours == theirs


def test_prefix_beam_search_worked_example() -> None:
    # two frames, p(blank) = 0.6 and p(a) = 0.4 each: the best path is "" (0.36),
    # but "a" collects three paths: a_, _a, aa = 0.24 + 0.24 + 0.16 = 0.64
    log_probs = np.log([[0.6, 0.4], [0.6, 0.4]])
    assert speech.greedy_decode(log_probs[None]) == [[]]
    (best, score), *_ = speech.prefix_beam_search(log_probs, beam_width=4)
    assert best == (1,)
    np.testing.assert_allclose(np.exp(score), 0.64)


@pytest.mark.parametrize("seed", range(20))
def test_prefix_beam_search_equals_exhaustive_search(seed) -> None:
    from dltutor.scratch.losses import log_softmax

    rng = np.random.default_rng(seed)
    log_probs = log_softmax(rng.standard_normal((5, 3)) * 2)
    totals = brute_force_probabilities(log_probs)
    ranked = sorted(totals.items(), key=lambda item: -item[1])
    beams = speech.prefix_beam_search(log_probs, beam_width=64)  # no pruning at this size
    assert beams[0][0] == ranked[0][0]
    for prefix, score in beams:
        np.testing.assert_allclose(np.exp(score), totals[prefix], rtol=1e-10)


def test_spikes_and_emission_frames_by_hand() -> None:
    blank, a, b = [5.0, 0.0, 0.0], [0.0, 5.0, 0.0], [0.0, 0.0, 5.0]
    soft_a = [1.0, 1.2, 0.0]  # a is likeliest but the blank still has 0.38
    logits = np.array([blank, a, a, blank, soft_a, blank, b, blank])
    assert speech.spike_frames(logits) == [(1, 1), (4, 1), (6, 2)]
    np.testing.assert_array_equal(speech.emission_frames(logits, 2), [1, 6])
    np.testing.assert_array_equal(speech.emission_frames(logits, 3), [1, 4, 6])


def test_edit_distance_by_hand() -> None:
    assert speech.edit_distance("kitten", "sitting") == 3  # 2 substitutions, 1 insertion
    assert speech.edit_distance([1, 2, 3], []) == 3
    assert speech.edit_distance([], [4, 4]) == 2
    assert speech.edit_distance([1, 2, 3], [1, 2, 3]) == 0
    assert speech.edit_distance([1, 2, 3, 4], [2, 3, 4, 1]) == 2  # delete 1, insert 1
    assert speech.error_rate([[1, 2], [3, 4, 5]], [[1], [3, 4, 5, 6]]) == pytest.approx(2 / 5)


# --- the synthesiser ------------------------------------------------------------------


@pytest.mark.parametrize("vowel", ["i", "ɑ", "u", "æ", "ɝ"])
def test_vowel_formant_peaks_where_peterson_and_barney_put_them(vowel) -> None:
    wave, edges = audio.synthesize((vowel,), audio.Speaker(f0=50, speed=0.25))
    frequencies, power = welch(wave, fs=audio.SAMPLE_RATE, nperseg=2048)  # 3.9 Hz bins
    smooth = np.convolve(10 * np.log10(power), np.ones(9) / 9, mode="same")
    peaks = frequencies[find_peaks(smooth, prominence=3)[0]]
    for formant in audio.PETERSON_BARNEY[vowel][1:]:  # F1, F2, F3
        assert np.abs(peaks - formant).min() < 40, (formant, peaks)  # harmonics 50 Hz apart
    assert edges.tolist() == [[0, len(wave)]]


def test_formant_shift_moves_the_peaks() -> None:
    wave, _ = audio.synthesize(("ɑ",), audio.Speaker(f0=50, speed=0.25, formant_shift=1.2))
    frequencies, power = welch(wave, fs=audio.SAMPLE_RATE, nperseg=2048)
    smooth = np.convolve(10 * np.log10(power), np.ones(9) / 9, mode="same")
    peaks = frequencies[find_peaks(smooth, prominence=3)[0]]
    assert np.abs(peaks - 1.2 * 1090).min() < 40  # F2 of /ɑ/, 20% up


def test_resonator_matches_its_recursion(rng) -> None:
    x = rng.standard_normal(300)
    a, b, c = audio.resonator_coefficients(500.0, 60.0, 8000)
    y = np.zeros(302)
    for n in range(300):
        y[n + 2] = a * x[n] + b * y[n + 1] + c * y[n]
    np.testing.assert_allclose(audio.resonator(x, 500.0, 60.0, 8000), y[2:], rtol=1e-12)
    np.testing.assert_allclose(a + b + c, 1.0)  # unit gain at 0 Hz


def test_synthesis_is_seeded_and_speakers_differ() -> None:
    speakers = audio.random_speakers(3, seed=1)
    first = audio.make_keywords(speakers, seed=5)
    again = audio.make_keywords(speakers, seed=5)
    other = audio.make_keywords(speakers, seed=6)
    np.testing.assert_array_equal(first.x, again.x)
    assert not np.allclose(first.x, other.x)
    assert first.x.shape == (30, int(0.62 * audio.SAMPLE_RATE)) and first.x.dtype == np.float32
    assert sorted(set(first.y)) == list(range(10)) and sorted(set(first.speaker)) == [0, 1, 2]
    assert len({s.f0 for s in speakers}) == 3


def test_add_noise_reaches_the_asked_snr(rng) -> None:
    signal = np.sin(np.arange(8000) / 5.0)[None].repeat(3, axis=0)
    noisy = audio.add_noise(signal, 10.0, rng)
    noise = noisy - signal
    snr = 10 * np.log10((signal**2).mean(axis=1) / (noise**2).mean(axis=1))
    np.testing.assert_allclose(snr, 10.0, atol=0.2)


def test_syllable_strings_and_their_boundaries() -> None:
    strings = audio.make_syllable_strings(12, seed=3)
    assert strings.x.shape == (12, int(1.2 * audio.SAMPLE_RATE))
    for wave, labels, spans in zip(strings.x, strings.labels, strings.boundaries):
        assert 1 <= len(labels) <= 4 and len(spans) == len(labels)
        assert ((labels >= 1) & (labels <= len(audio.SYLLABLES))).all()
        assert (spans[1:, 0] >= spans[:-1, 1]).all()  # in order, not overlapping
        assert np.abs(wave[spans[-1, 1] :]).max() == 0  # silence after the last
        assert all(np.abs(wave[a:b]).max() > 0.1 for a, b in spans)


def test_energy_span_and_onset_alignment_by_hand() -> None:
    # energies per frame 0, 0, 5, 9, 1, 0 (min 0, max 9): above 4.5 are frames 2 and 3,
    # above 0.9 (fraction 0.1) frames 2 to 4
    energy = np.array([0.0, 0.0, 5.0, 9.0, 1.0, 0.0])
    clips = np.stack([np.repeat(energy[:, None], 3, 1), np.repeat(energy[::-1, None], 3, 1)])
    np.testing.assert_array_equal(speech.energy_span(clips), [[2, 3], [2, 3]])
    np.testing.assert_array_equal(speech.energy_span(clips, 0.1), [[2, 4], [1, 3]])
    frames = np.arange(12.0).reshape(2, 6, 1)  # (N, T, F): frame t holds 6n + t
    cut = speech.align_by_onset(frames, np.array([3, 0]), length=4, lead=1)
    np.testing.assert_array_equal(cut[..., 0], [[2, 3, 4, 5], [6, 7, 8, 9]])
    end = speech.align_by_onset(frames, np.array([5, 1]), length=3, lead=0)
    np.testing.assert_array_equal(end[..., 0], [[5, 5, 5], [7, 8, 9]])  # last frame repeated
    with pytest.raises(ValueError, match="fraction"):
        speech.energy_span(clips, 1.5)
    with pytest.raises(ValueError, match="onsets"):
        speech.align_by_onset(frames, np.array([0.5, 1.0]), 3)
    with pytest.raises(ValueError, match="onsets"):
        speech.align_by_onset(frames, np.array([0, 6]), 3)


def test_energy_span_covers_the_synthesised_syllables() -> None:
    strings = audio.make_syllable_strings(20, seed=1)
    hop = 128
    features = speech.log_mel(strings.x, audio.SAMPLE_RATE, 256, hop, 32)
    span = speech.energy_span(features, 0.3) * hop  # in samples
    starts = np.array([b[0, 0] for b in strings.boundaries])
    stops = np.array([b[-1, 1] for b in strings.boundaries])
    assert (np.abs(span[:, 0] - starts) < 0.05 * audio.SAMPLE_RATE).all()
    assert (np.abs(span[:, 1] - stops) < 0.1 * audio.SAMPLE_RATE).all()


# --- models -----------------------------------------------------------------------------


def test_speech_recognizer_shapes() -> None:
    torch = pytest.importorskip("torch")
    from dltutor.torch.speech import SpeechRecognizer

    model = SpeechRecognizer(num_mels=16, num_classes=10, channels=8, hidden_size=6)
    for frames in (9, 10, 76):
        out = model(torch.zeros(2, frames, 16))
        assert out.shape == (2, SpeechRecognizer.output_length(frames), 10)
    with pytest.raises(ValueError, match=r"\(N, T, 16\)"):
        model(torch.zeros(2, 10, 15))


# --- bad input ----------------------------------------------------------------------------


def test_bad_input_is_named(rng) -> None:
    with pytest.raises(ValueError, match="longer than n_fft // 2"):
        speech.stft(np.zeros(10), n_fft=64)
    with pytest.raises(TypeError, match="x must"):
        speech.stft("a waveform")
    with pytest.raises(ValueError, match="spectrum must be"):
        speech.istft(np.zeros((3, 10)), n_fft=64)
    with pytest.raises(ValueError, match="upper_hz"):
        speech.mel_filterbank(10, 129, 8000, 0.0, 5000.0)
    with pytest.raises(ValueError, match="num_coefficients"):
        speech.mfcc(np.zeros((4, 8)), 13)
    with pytest.raises(ValueError, match="other than the blank"):
        speech.ctc_loss(np.zeros((1, 4, 3)), [[0, 1]])
    with pytest.raises(ValueError, match="one label sequence per example"):
        speech.ctc_loss(np.zeros((2, 4, 3)), [[1]])
    with pytest.raises(ValueError, match="input_lengths"):
        speech.ctc_loss(np.zeros((1, 4, 3)), [[1]], input_lengths=[5])
    with pytest.raises(ValueError, match="logits must be 3-D"):
        speech.ctc_loss(np.zeros((4, 3)), [[1]])
    with pytest.raises(ValueError, match="hypotheses must match"):
        speech.error_rate([[1]], [])
    with pytest.raises(ValueError, match="phones must be among"):
        audio.synthesize(("x",))
    with pytest.raises(ValueError, match="phones must be a non-empty"):
        audio.synthesize("see")
    with pytest.raises(TypeError, match="speaker must be a Speaker"):
        audio.synthesize(("i",), speaker=120.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="below Nyquist"):
        audio.resonator(np.zeros(5), 5000.0, 100.0, 8000)
    with pytest.raises(ValueError, match="speakers must be"):
        audio.make_keywords([])
    with pytest.raises(ValueError, match="min_syllables"):
        audio.make_syllable_strings(3, min_syllables=5, max_syllables=2)


def test_batched_synthesis_equals_one_at_a_time() -> None:
    speakers = audio.random_speakers(3, seed=2)  # different lengths: padding must not leak
    utterances = [(("s", "i"), speakers[0]), (("k", "ɑ"), speakers[1]), (("m", "u"), speakers[2])]
    batched, edges = audio.synthesize_many(utterances, rng=np.random.default_rng(7))
    one_rng = np.random.default_rng(7)
    for (phones, speaker), wave, edge in zip(utterances, batched, edges):
        alone, alone_edges = audio.synthesize(phones, speaker, rng=one_rng)
        np.testing.assert_allclose(wave, alone, atol=1e-12)
        np.testing.assert_array_equal(edge, alone_edges)


# --- augmentation -------------------------------------------------------------------------


def test_hann_window_is_scipys_periodic_hann() -> None:
    from scipy.signal import get_window

    for length in (64, 255, 256):
        np.testing.assert_allclose(speech.hann_window(length), get_window("hann", length))


def test_time_shift_rolls_each_example_and_fills_with_its_minimum(rng) -> None:
    features = rng.standard_normal((6, 10, 3))
    np.testing.assert_array_equal(speech.time_shift(features, 0, rng), features)
    shifted = speech.time_shift(features, 3, np.random.default_rng(5))
    shifts = np.random.default_rng(5).integers(-3, 4, 6)  # the same draws
    for row, shift in enumerate(shifts):
        expected = np.roll(features[row], shift, axis=0)
        fill = features[row].min()
        if shift > 0:
            expected[:shift] = fill
        elif shift < 0:
            expected[shift:] = fill
        np.testing.assert_array_equal(shifted[row], expected)


def test_spec_augment_masks_one_band_of_each_kind(rng) -> None:
    features = rng.standard_normal((20, 12, 8)) + 5.0  # no entry equals a row's mean
    masked = speech.spec_augment(features, rng, time_width=3, frequency_width=2)
    for row in range(20):
        changed = masked[row] != features[row]
        np.testing.assert_allclose(masked[row][changed], features[row].mean())
        times = np.flatnonzero(changed.all(axis=1))  # whole frames masked
        channels = np.flatnonzero(changed.all(axis=0))  # whole bands masked
        assert len(times) <= 3 and len(channels) <= 2
        assert (
            changed
            == (np.isin(np.arange(12), times)[:, None] | np.isin(np.arange(8), channels)[None, :])
        ).all()
    unchanged = speech.spec_augment(features, rng, time_width=0, frequency_width=0)
    np.testing.assert_array_equal(unchanged, features)


def test_framework_wrappers_name_bad_input() -> None:
    torch = pytest.importorskip("torch")
    pytest.importorskip("keras")
    from dltutor.keras import speech as keras_speech
    from dltutor.torch import speech as torch_speech

    with pytest.raises(TypeError, match="floating-point tensor"):
        torch_speech.stft(np.zeros(300))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"\(N, T, C\)"):
        torch_speech.ctc_loss(torch.zeros(4, 3), [[1]])
    with pytest.raises(ValueError, match="one sequence per example"):
        torch_speech.ctc_loss(torch.zeros(2, 4, 3), [[1]])
    with pytest.raises(ValueError, match=r"\(N, T, C\)"):
        keras_speech.ctc_loss(np.zeros((4, 3), np.float32), [[1]])
    with pytest.raises(ValueError, match="one sequence per example"):
        keras_speech.ctc_loss(np.zeros((2, 4, 3), np.float32), [[1]])


def test_keras_speech_recognizer_equals_torch_from_the_same_weights() -> None:
    torch = pytest.importorskip("torch")
    pytest.importorskip("keras")
    from dltutor.keras.layout import speech_recognizer_from_torch
    from dltutor.keras.speech import speech_recognizer
    from dltutor.torch.speech import SpeechRecognizer

    torch.manual_seed(0)
    theirs = SpeechRecognizer(num_mels=16, num_classes=7, channels=8, hidden_size=6)
    for parameter in theirs.parameters():  # biases too, so a swapped gate shows
        torch.nn.init.uniform_(parameter, -0.5, 0.5)
    ours = speech_recognizer(16, 7, channels=8, hidden_size=6)
    state = {name: value.numpy() for name, value in theirs.state_dict().items()}
    speech_recognizer_from_torch(ours, state)
    rng = np.random.default_rng(0)
    for frames in (9, 10, 31):  # odd and even: the padding must match both
        x = rng.standard_normal((3, frames, 16)).astype(np.float32)
        with torch.no_grad():
            expected = theirs(torch.from_numpy(x)).numpy()
        got = np.asarray(ours(x))
        assert got.shape == (3, SpeechRecognizer.output_length(frames), 7)
        np.testing.assert_allclose(got, expected, **FLOAT32)
    with pytest.raises(ValueError, match="SpeechRecognizer's weights"):
        speech_recognizer_from_torch(ours, {"conv.weight": state["conv.weight"]})
    with pytest.raises(TypeError, match="hidden_size"):
        speech_recognizer(16, 7, hidden_size=2.5)  # type: ignore[arg-type]
