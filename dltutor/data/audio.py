r"""Speech-like audio from a seeded source–filter synthesiser: nothing to download.

A voiced sound is a pulse train at the pitch :math:`f_0` (the vocal folds) shaped by the
resonances of the vocal tract, the *formants*; a consonant adds a burst or a stretch of
noise. The vowel formants are the men's averages of Peterson and Barney (1952); each
resonator is Klatt's (1980) two-pole filter

.. math::

    y_n = A x_n + B y_{n-1} + C y_{n-2}, \quad C = -e^{-2\pi b/s}, \quad
    B = 2 e^{-\pi b/s}\cos(2\pi F/s), \quad A = 1 - B - C

for a formant at :math:`F` Hz of bandwidth :math:`b` at sample rate :math:`s` (unit gain at
0 Hz). A *speaker* is a pitch, a speed and a formant scale (a shorter vocal tract raises
every formant); noise is added at a chosen signal-to-noise ratio. Formants move linearly
between the targets of neighbouring sounds (coarticulation), so a spectrogram shows what
real speech shows: harmonics of :math:`f_0`, formant bands, their transitions, noise and
silence. Words feed the keyword-spotting task; strings of syllables, with the true
boundaries of each, feed CTC transcription.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

from dltutor.checks import as_float_array, check_number, check_positive_int, check_seed, describe

SAMPLE_RATE = 8000  # Hz: telephone quality, enough for three formants and [s]
BLOCK = 40  # samples (5 ms at 8 kHz) over which the formants are held constant

PETERSON_BARNEY: dict[str, tuple[float, float, float, float]] = {
    # vowel: (F0, F1, F2, F3) in Hz, men, Peterson and Barney (1952), Table II
    "i": (136, 270, 2290, 3010),  # heed
    "ɪ": (135, 390, 1990, 2550),  # hid
    "ɛ": (130, 530, 1840, 2480),  # head
    "æ": (127, 660, 1720, 2410),  # had
    "ɑ": (124, 730, 1090, 2440),  # hod
    "ɔ": (129, 570, 840, 2410),  # hawed
    "ʊ": (137, 440, 1020, 2240),  # hood
    "u": (141, 300, 870, 2240),  # who'd
    "ʌ": (130, 640, 1190, 2390),  # hud
    "ɝ": (133, 490, 1350, 1690),  # heard
}
BANDWIDTHS = (50.0, 70.0, 110.0, 250.0)  # Klatt's B1..B4, Hz
F4 = 3300.0  # Klatt's default fourth formant, Hz


@dataclass(frozen=True)
class Consonant:
    """A consonant: ``kind`` "fricative" (noise), "stop" (silence, then a burst) or "nasal".

    Noise is shaped by one broad resonance at ``frequency`` of ``bandwidth`` Hz; a nasal is
    a quiet voiced murmur whose formants are ``formants``.
    """

    kind: str
    duration: float  # seconds at speed 1
    frequency: float = 0.0
    bandwidth: float = 0.0
    formants: tuple[float, float, float] = (250.0, 1100.0, 2300.0)


CONSONANTS: dict[str, Consonant] = {
    "s": Consonant("fricative", 0.11, 3400.0, 600.0),  # 4.9 kHz in adults: above 4 kHz
    "ʃ": Consonant("fricative", 0.11, 2300.0, 500.0),
    "t": Consonant("stop", 0.06, 3000.0, 1000.0),
    "k": Consonant("stop", 0.06, 1800.0, 600.0),
    "m": Consonant("nasal", 0.08, formants=(250.0, 1100.0, 2300.0)),
    "n": Consonant("nasal", 0.08, formants=(250.0, 1700.0, 2600.0)),
}
VOWEL_DURATION = 0.16  # seconds at speed 1

WORDS: dict[str, tuple[str, ...]] = {
    "see": ("s", "i"),
    "saw": ("s", "ɔ"),
    "she": ("ʃ", "i"),
    "shoe": ("ʃ", "u"),
    "tea": ("t", "i"),
    "key": ("k", "i"),
    "mika": ("m", "i", "k", "ɑ"),
    "kami": ("k", "ɑ", "m", "i"),  # the sounds of "mika" in another order
    "tusi": ("t", "u", "s", "i"),
    "situ": ("s", "i", "t", "u"),  # the sounds of "tusi" in another order
}
"""Ten keywords as phones: six of one syllable, and two pairs of the same two syllables in
either order, which only a model that hears the order can tell apart."""

SYLLABLES: tuple[str, ...] = ("si", "sɑ", "su", "ti", "tɑ", "tu", "mi", "mɑ", "mu")
"""The units of the transcription task; label ``k`` (1-based, 0 is CTC's blank) is
``SYLLABLES[k - 1]``."""


@dataclass(frozen=True)
class Speaker:
    """A voice: pitch ``f0`` in Hz, a tempo ``speed`` (2 speaks twice as fast), and
    ``formant_shift``, the factor on every formant (a shorter vocal tract: higher)."""

    f0: float = 124.0  # Hz, an average man's
    speed: float = 1.0
    formant_shift: float = 1.0


def random_speakers(num_speakers: int, seed: int = 0) -> list[Speaker]:
    """``num_speakers`` voices: f0 log-uniform in 85–230 Hz, speed 0.85–1.2, formants ×0.9–1.2."""
    num_speakers = check_positive_int(num_speakers, "num_speakers")
    rng = np.random.default_rng(check_seed(seed))
    f0 = np.exp(rng.uniform(np.log(85.0), np.log(230.0), num_speakers))
    speed = rng.uniform(0.85, 1.2, num_speakers)
    shift = rng.uniform(0.9, 1.2, num_speakers)
    return [Speaker(float(a), float(b), float(c)) for a, b, c in zip(f0, speed, shift)]


def resonator_coefficients(
    frequency: float | np.ndarray, bandwidth: float, sample_rate: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Klatt's :math:`(A, B, C)` for a resonance at ``frequency`` Hz (a number or an array,
    element by element) of ``bandwidth`` Hz."""
    c = -np.exp(-2 * np.pi * bandwidth / sample_rate) * np.ones_like(frequency, dtype=float)
    b = (
        2
        * np.exp(-np.pi * bandwidth / sample_rate)
        * np.cos(2 * np.pi * np.asarray(frequency, dtype=float) / sample_rate)
    )
    return 1 - b - c, b, c


def resonator(
    x: np.ndarray, frequency: float, bandwidth: float, sample_rate: int = SAMPLE_RATE
) -> np.ndarray:
    r"""Filter ``x`` (L,) by one resonator: :math:`y_n = A x_n + B y_{n-1} + C y_{n-2}`."""
    frequency = check_number(frequency, "frequency")
    bandwidth = check_number(bandwidth, "bandwidth", positive=True)
    if not 0 <= frequency < sample_rate / 2:
        raise ValueError(
            f"frequency must lie in [0, {sample_rate / 2}) Hz (below Nyquist), got {frequency}"
        )
    a, b, c = (float(v) for v in resonator_coefficients(frequency, bandwidth, sample_rate))
    return lfilter([a], [1.0, -b, -c], np.asarray(x, dtype=np.float64))


def _formant_cascade(source: np.ndarray, formants: np.ndarray, sample_rate: int) -> np.ndarray:
    """Run ``source`` (N, L) through the four resonators whose frequencies follow
    ``formants`` (4, N, L), sample by sample (the coefficients change every sample), all N
    utterances at once.

    Pipelined: at step n resonator k works on sample n - k, whose input — resonator k - 1's
    output at n - k — the step before produced; so one vector operation advances all four.
    """
    stages, (n, length) = len(BANDWIDTHS), source.shape
    a, b = np.zeros((2, length + stages - 1, n, stages))
    c = np.array([-np.exp(-2 * np.pi * bandwidth / sample_rate) for bandwidth in BANDWIDTHS])
    for k, (frequency, bandwidth) in enumerate(zip(formants, BANDWIDTHS)):
        b[k : k + length, :, k] = (  # resonator k runs k steps late
            2
            * np.exp(-np.pi * bandwidth / sample_rate)
            * np.cos(2 * np.pi * frequency.T / sample_rate)
        )
        a[k : k + length, :, k] = 1 - b[k : k + length, :, k] - c[k]
    inputs = np.zeros((length + stages - 1, n))
    inputs[:length] = source.T
    output = np.empty((length, n))
    last = np.zeros((n, stages))  # each resonator's previous output
    before = np.zeros((n, stages))  # and the one before that
    for step in range(length + stages - 1):
        fed = np.concatenate([inputs[step][:, None], last[:, :-1]], axis=1)  # (N, 4)
        current = a[step] * fed + b[step] * last + c * before
        before, last = last, current
        if step >= stages - 1:
            output[step - stages + 1] = current[:, -1]
    return output.T


def add_noise(
    signal: np.ndarray, snr_db: float | np.ndarray, rng: np.random.Generator | int = 0
) -> np.ndarray:
    r"""``signal`` (..., L) plus white Gaussian noise at ``snr_db``: :math:`10\log_{10}(P_s/P_n)`.

    :math:`P` is the mean square over the last axis, so every row of a batch gets its own
    noise level; ``snr_db`` is one number or one per row (``signal.shape[:-1]``).
    """
    snr = as_float_array(snr_db, "snr_db")
    signal = as_float_array(signal, "signal")
    if snr.ndim > 0 and snr.shape != signal.shape[:-1]:
        raise ValueError(
            f"snr_db must be a number or one per row {signal.shape[:-1]}, got {describe(snr)}"
        )
    rng = np.random.default_rng(rng) if isinstance(rng, int) else rng
    power = np.mean(signal**2, axis=-1, keepdims=True)
    noise = rng.standard_normal(signal.shape) * np.sqrt(power / 10 ** (snr[..., None] / 10))
    return signal + noise


def _phone_plan(phones: Sequence[str], speaker: Speaker) -> list[tuple[str, float]]:
    """Each phone with its duration in seconds for this speaker."""
    plan = []
    for phone in phones:
        if phone in PETERSON_BARNEY:
            plan.append((phone, VOWEL_DURATION / speaker.speed))
        elif phone in CONSONANTS:
            plan.append((phone, CONSONANTS[phone].duration / speaker.speed))
        else:
            known = sorted([*PETERSON_BARNEY, *CONSONANTS])
            raise ValueError(f"phones must be among {known}, got {phone!r}")
    return plan


@dataclass
class _Tracks:
    """What the synthesiser plays for one utterance, sample by sample."""

    formants: np.ndarray  # (4, L) F1..F4 in Hz
    source: np.ndarray  # (L,) glottal pulses, low-passed, times the voicing level
    noise: np.ndarray  # (L,) shaped noise of the consonants
    edges: np.ndarray  # (P, 2) each phone's first and last-plus-one sample


def _tracks(
    phones: Sequence[str], speaker: Speaker, sample_rate: int, rng: np.random.Generator
) -> _Tracks:
    if isinstance(phones, str) or len(phones) == 0:
        raise ValueError(f"phones must be a non-empty sequence of phones, got {describe(phones)}")
    if not isinstance(speaker, Speaker):
        raise TypeError(f"speaker must be a Speaker, got {describe(speaker)}")
    plan = _phone_plan(phones, speaker)
    counts = [max(1, int(round(seconds * sample_rate))) for _, seconds in plan]
    edges = np.concatenate([[0], np.cumsum(counts)])
    length = int(edges[-1])
    formants = np.zeros((4, length))  # F1..F4 targets, per sample
    voicing = np.zeros(length)
    noise = np.zeros(length)
    nyquist_guard = 0.47 * sample_rate
    for (phone, _), start, stop in zip(plan, edges[:-1], edges[1:]):
        if phone in PETERSON_BARNEY:
            target = [*PETERSON_BARNEY[phone][1:], F4]
            voicing[start:stop] = 1.0
        else:
            consonant = CONSONANTS[phone]
            target = [*consonant.formants, F4]
            if consonant.kind == "nasal":
                voicing[start:stop] = 0.35
            else:
                burst = int(0.02 * sample_rate / speaker.speed)
                heard = (
                    slice(stop - burst, stop) if consonant.kind == "stop" else slice(start, stop)
                )
                shaped = resonator(
                    rng.standard_normal(stop - start),
                    consonant.frequency,
                    consonant.bandwidth,
                    sample_rate,
                )
                level = 0.3 if consonant.kind == "stop" else 0.12
                noise[heard] = (level * shaped / shaped.std())[heard.start - start :]
        formants[:, start:stop] = np.minimum(
            np.array(target)[:, None] * speaker.formant_shift, nyquist_guard
        )
    glide = int(0.03 * sample_rate)
    for start in edges[1:-1]:  # coarticulation: glide from the last target
        stop = min(start + glide, length)
        ramp = np.linspace(0, 1, stop - start)
        formants[:, start:stop] = (
            formants[:, start - 1 : start] * (1 - ramp) + formants[:, start:stop] * ramp
        )
    width = int(0.01 * sample_rate)
    voicing = np.convolve(voicing, np.ones(width) / width, mode="same")  # 10 ms on/offsets
    # one pulse per pitch period, f0 falling 15% over the utterance, ±2% from take to take
    f0 = speaker.f0 * np.linspace(1.05, 0.9, length) * (1 + 0.02 * rng.standard_normal())
    pulses = np.diff(np.floor(np.cumsum(f0 / sample_rate)), prepend=0.0)
    source = resonator(pulses, 0.0, 100.0, sample_rate) * voicing  # glottal low-pass
    return _Tracks(formants, source, noise, np.stack([edges[:-1], edges[1:]], axis=1))


def synthesize_many(
    utterances: Sequence[tuple[Sequence[str], Speaker]],
    sample_rate: int = SAMPLE_RATE,
    rng: np.random.Generator | int = 0,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Say each ``(phones, speaker)`` of ``utterances``, all through one batched filter.

    Returns the waveforms (each (L_i,), peak 0.5) and each phone's ``(start, stop)``
    samples ((P_i, 2) each). See :func:`synthesize`.
    """
    if len(utterances) == 0:
        raise ValueError(f"utterances must be a non-empty list, got {describe(utterances)}")
    rng = np.random.default_rng(rng) if isinstance(rng, int) else rng
    tracks = [_tracks(phones, speaker, sample_rate, rng) for phones, speaker in utterances]
    lengths = [len(t.source) for t in tracks]
    longest = max(lengths)
    source = np.zeros((len(tracks), longest))
    formants = np.empty((4, len(tracks), longest))
    for row, track in enumerate(tracks):
        source[row, : lengths[row]] = track.source
        formants[:, row, : lengths[row]] = track.formants
        formants[:, row, lengths[row] :] = track.formants[:, -1:]  # held: no jump, no click
    voiced = _formant_cascade(source, formants, sample_rate)
    voiced = np.diff(voiced, axis=1, prepend=0.0)  # radiation at the lips: a first difference
    waveforms = []
    for row, track in enumerate(tracks):
        wave = voiced[row, : lengths[row]]
        wave = wave / (np.abs(wave).max() + 1e-12) + track.noise
        waveforms.append(0.5 * wave / np.abs(wave).max())
    return waveforms, [t.edges for t in tracks]


def synthesize(
    phones: Sequence[str],
    speaker: Speaker = Speaker(),
    sample_rate: int = SAMPLE_RATE,
    rng: np.random.Generator | int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Say ``phones`` (vowels of :data:`PETERSON_BARNEY`, consonants of :data:`CONSONANTS`).

    Glottal pulses at the speaker's f0 → low-pass → F1–F4 resonators → first difference
    (radiation), plus the consonants' shaped noise. Returns the waveform (L,) with a peak
    of 0.5, and each phone's ``(start, stop)`` sample (P, 2). The formants glide linearly
    over 30 ms into each sound from the one before.
    """
    waveforms, edges = synthesize_many([(phones, speaker)], sample_rate, rng)
    return waveforms[0], edges[0]


@dataclass
class KeywordSet:
    """Clips of words: ``x`` (N, L) float32 waveforms, ``y`` (N,) word indices into
    ``words``, ``speaker`` (N,) the index of the voice that said it."""

    x: np.ndarray
    y: np.ndarray
    speaker: np.ndarray
    words: tuple[str, ...]
    sample_rate: int


def make_keywords(
    speakers: Sequence[Speaker],
    repeats: int = 1,
    duration: float = 0.62,
    snr_db: float | None = None,
    sample_rate: int = SAMPLE_RATE,
    seed: int = 0,
) -> KeywordSet:
    """Every speaker says every word of :data:`WORDS` ``repeats`` times, each in a clip of
    ``duration`` seconds at a random offset; with ``snr_db``, white noise at that SNR."""
    if len(speakers) == 0 or not all(isinstance(s, Speaker) for s in speakers):
        raise ValueError(f"speakers must be a non-empty list of Speaker, got {describe(speakers)}")
    repeats = check_positive_int(repeats, "repeats")
    duration = check_number(duration, "duration", positive=True)
    rng = np.random.default_rng(check_seed(seed))
    length = int(round(duration * sample_rate))
    words = tuple(WORDS)
    plan = [
        (speaker_index, label)
        for speaker_index in range(len(speakers))
        for label in range(len(words))
        for _ in range(repeats)
    ]
    waves, _ = synthesize_many(
        [(WORDS[words[label]], speakers[who]) for who, label in plan], sample_rate, rng
    )
    clips = []
    for wave in waves:
        wave = wave[:length]
        offset = int(rng.integers(0, length - len(wave) + 1))
        clip = np.zeros(length)
        clip[offset : offset + len(wave)] = wave
        clips.append(clip)
    labels = [label for _, label in plan]
    who = [speaker_index for speaker_index, _ in plan]
    x = np.stack(clips)
    if snr_db is not None:
        x = add_noise(x, snr_db, rng)
    return KeywordSet(x.astype(np.float32), np.array(labels), np.array(who), words, sample_rate)


@dataclass
class SyllableSet:
    """Strings of syllables with their alignment.

    ``x`` (N, L) float32 waveforms (zero after each utterance), ``labels`` a list of N int
    arrays (1-based indices into :data:`SYLLABLES`; 0 is left for CTC's blank),
    ``boundaries`` a list of N arrays (U, 2): each syllable's first and last-plus-one sample.
    """

    x: np.ndarray
    labels: list[np.ndarray]
    boundaries: list[np.ndarray]
    sample_rate: int


def make_syllable_strings(
    num_strings: int,
    min_syllables: int = 2,
    max_syllables: int = 4,
    duration: float = 1.2,
    speakers: Sequence[Speaker] | None = None,
    sample_rate: int = SAMPLE_RATE,
    seed: int = 0,
) -> SyllableSet:
    """``num_strings`` utterances of random syllables (repeats allowed), each by a speaker
    drawn from ``speakers`` (default: a new random voice each), short pauses between
    syllables, cut to ``duration`` seconds (a syllable that would not fit is not said)."""
    num_strings = check_positive_int(num_strings, "num_strings")
    min_syllables = check_positive_int(min_syllables, "min_syllables")
    max_syllables = check_positive_int(max_syllables, "max_syllables")
    if min_syllables > max_syllables:
        raise ValueError(
            f"min_syllables must be at most max_syllables ({max_syllables}), got {min_syllables}"
        )
    rng = np.random.default_rng(check_seed(seed))
    length = int(round(duration * sample_rate))
    voices = [
        speakers[int(rng.integers(len(speakers)))]
        if speakers
        else random_speakers(1, int(rng.integers(2**31)))[0]
        for _ in range(num_strings)
    ]
    counts = rng.integers(min_syllables, max_syllables + 1, size=num_strings)
    said = [rng.integers(1, len(SYLLABLES) + 1, size=count) for count in counts]
    waves, _ = synthesize_many(
        [
            ((SYLLABLES[label - 1][0], SYLLABLES[label - 1][1:]), voice)
            for voice, string in zip(voices, said)
            for label in string
        ],
        sample_rate,
        rng,
    )
    x = np.zeros((num_strings, length))
    labels, boundaries = [], []
    next_wave = iter(waves)
    for row, string in enumerate(said):
        position = int(rng.integers(0, int(0.1 * sample_rate)))
        kept, spans = [], []
        for label in string:
            wave = next(next_wave)
            if position + len(wave) > length:
                continue
            x[row, position : position + len(wave)] = wave
            kept.append(int(label))
            spans.append((position, position + len(wave)))
            position += len(wave) + int(rng.integers(0, int(0.06 * sample_rate)))
        labels.append(np.array(kept, dtype=np.int64))
        boundaries.append(np.array(spans, dtype=np.int64).reshape(-1, 2))
    return SyllableSet(x.astype(np.float32), labels, boundaries, sample_rate)
