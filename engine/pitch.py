"""The pitch of speech read from its mel spectrogram alone: F0 and voicing per frame.

Below about 1.5 kHz the mel bands are narrow enough (about 37 Hz apart with the default MelConfig) to show the
harmonics of a voice as a ripple across bands. Each candidate F0 on a grid of GRID_CENTS has a template: the
normalised mel frame of a harmonic tone at that F0, made by the very analysis that made the mel
(`features.mel_analysis`: the same window, FFT and filters). Frame and templates go through the same linear
operator (the low bands' log-mel minus its smoothed envelope, scaled to unit norm); their correlation scores each
candidate. A subharmonic (F0 / 2) puts peaks where the frame has troughs and an octave up misses every other peak,
so the right F0 scores highest. A Viterbi path (at most MAX_STEP_CENTS from one frame to the next) picks the track,
a parabola through the path's score and its neighbours' refines it.

A frame is voiced where it is not near silence and a logistic model of four of its features says so with at least
VOICED_PROBABILITY: the track's score, the share of the frame's power below LOW_BAND_TOP (dB), its level below the
loudest frame (dB) and log2 of the track's F0. The score alone cannot tell a low voice's weak ripple (voiced frames
of men near 100 Hz score 0.35–0.44) from the hiss and background of other voices (their unvoiced frames 0.43–0.47).
VOICING_WEIGHTS were fitted (scikit-learn's LogisticRegression) on pyin's voicing of the audible frames of 750
recordings of the training voices (data/voices/train, each voice's pitch-shifted copies included), and the threshold
chosen on the validation voices (benchmarks/pitch_reading.py). There, of pyin's voiced frames 0.734 are read voiced
(the lowest voice 0.625), and of its unvoiced frames 0.215; the score above 0.45 alone gave 0.715, 0.421 and 0.354.
A threshold of 0.8 read 0.815 (0.756) but took white noise as loud as speech for voice in a third of its frames.

Where a learned reader ships for the MelConfig (engine/pitch_reader.py: the default one), it decides instead: the
Viterbi path runs over the scores plus READER_WEIGHT times the reader's log p(candidate | voiced), and a frame is
voiced where the reader's p(voiced) is at least READER_VOICED (and it is not near silence). On the validation voices
that reads more of pyin's voiced frames and reads them closer (docs/benchmarks.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from engine.features import MelConfig, denormalise, mel_analysis, normalise

# Hz: the candidates, just past both ends of the 60-500 Hz of speech. No lower: a low man's subharmonic (~53 Hz for
# 106 Hz) outscored his F0 in 16% of the frames of a validation voice (benchmarks/pitch_reading.py: 277 → 141 cents)
F0_RANGE = (62.0, 520.0)
GRID_CENTS = 20.0
HARMONIC_BAND_TOP = 1600.0  # Hz: bands above it hold unresolved harmonics and only blur the score
ENVELOPE_BANDS = 3.0  # Gaussian σ, in bands, of the envelope taken away from every frame and template
MAX_STEP_CENTS = 150.0  # the track moves at most this much between neighbouring frames (10-12.5 ms)
STEP_PENALTY = 0.15  # score lost per 100 cents moved between frames
SILENCE_DB = 55.0  # frames whose low bands lie this far below the loudest frame are unvoiced
LOW_BAND_TOP = 1000.0  # Hz: the voicing model's "low" power lies below it
# the voicing model's weights for [score, low share (dB), level below the loudest frame (dB), log2 F0] and its bias
VOICING_WEIGHTS = (3.5134, 0.25695, 0.067449, -0.67619)
VOICING_BIAS = 6.3356
VOICED_PROBABILITY = 0.85
READER_WEIGHT = 1.0  # of the learned reader's log p(candidate | voiced) beside the template scores
READER_VOICED = 0.8  # the learned reader's p(voiced) from which a frame is voiced (chosen on the validation voices)


@dataclass(frozen=True)
class PitchTrack:
    """f0: (T,) float32 Hz, the track in every frame (also where unvoiced: the path's value there, for a smooth
    excitation); voiced: (T,) bool; score: (T,) float32, the template correlation of the track, in [-1, 1]."""

    f0: np.ndarray
    voiced: np.ndarray
    score: np.ndarray


def candidates() -> np.ndarray:
    """The candidate F0s (K,) in Hz, GRID_CENTS apart across F0_RANGE."""
    steps = int(np.floor(1200.0 * np.log2(F0_RANGE[1] / F0_RANGE[0]) / GRID_CENTS)) + 1
    return F0_RANGE[0] * 2.0 ** (np.arange(steps) * GRID_CENTS / 1200.0)


def _bands_below(config: MelConfig, top_hz: float) -> int:
    """How many of the lowest mel bands have their centre below top_hz."""
    import librosa

    centres = librosa.mel_frequencies(n_mels=config.n_mels + 2, fmin=config.fmin, fmax=config.fmax)[1:-1]
    return int(np.searchsorted(centres, top_hz))


def voicing_probability(score: np.ndarray, mel: np.ndarray, f0: np.ndarray, config: MelConfig) -> np.ndarray:
    """The voicing model (see the module's docstring): the track's score (T,), the normalised mel (n_mels, T) and
    the track's F0 (T,) Hz → the probability that each frame is voiced (T,)."""
    power = denormalise(mel, config) ** 2
    low = _bands_below(config, LOW_BAND_TOP)
    low_share = 10.0 * np.log10((power[:low].sum(axis=0) + 1e-10) / (power.sum(axis=0) + 1e-10))
    level = 10.0 * np.log10(np.maximum(power.max(axis=0), 1e-20))  # the loudest band, dB (any normalisation)
    features = np.stack([score, low_share, level - level.max(initial=-np.inf), np.log2(f0)])
    logit = np.asarray(VOICING_WEIGHTS) @ features + VOICING_BIAS
    return 1.0 / (1.0 + np.exp(-logit))


def _flatten(log_mel: np.ndarray) -> np.ndarray:
    """(B, ·) low bands' log-mel → the same minus its envelope (a Gaussian smoothing across bands), each column
    scaled to unit norm (zero columns stay zero)."""
    from scipy.ndimage import gaussian_filter1d

    ripple = log_mel - gaussian_filter1d(log_mel, ENVELOPE_BANDS, axis=0, mode="nearest")
    ripple = ripple - ripple.mean(axis=0, keepdims=True)
    norm = np.linalg.norm(ripple, axis=0, keepdims=True)
    return ripple / np.maximum(norm, 1e-9)


def harmonic_frame(f0: float, config: MelConfig, phase_seed: int = 0) -> np.ndarray:
    """One analysis frame (n_fft,) of a harmonic tone at `f0` Hz with equal harmonics up to fmax, peak about 0.5."""
    rng = np.random.default_rng(phase_seed)
    harmonics = np.arange(1, int(config.fmax // f0) + 1)
    t = (np.arange(config.n_fft) - config.n_fft // 2) / config.sample_rate
    phases = rng.uniform(0.0, 2.0 * np.pi, size=len(harmonics))
    tone = np.cos(2.0 * np.pi * f0 * harmonics[:, None] * t[None, :] + phases[:, None]).sum(axis=0)
    return 0.5 * tone / np.abs(tone).max()


@lru_cache(maxsize=4)
def templates(config: MelConfig) -> np.ndarray:
    """(K, B) flattened templates of `candidates()` over the B low bands, as `_flatten` makes frames."""
    analysis = mel_analysis(config)
    frames = np.stack([harmonic_frame(f0, config) for f0 in candidates()])
    mel = analysis.mel_of(analysis.magnitudes(frames))  # (n_mels, K)
    log_mel = normalise(mel, config)[: _bands_below(config, HARMONIC_BAND_TOP)].astype(np.float64)
    return _flatten(log_mel).T


def _viterbi(scores: np.ndarray) -> np.ndarray:
    """scores (T, K) → the candidate index per frame (T,) of the path with the highest total score, where moving
    d grid steps between frames costs STEP_PENALTY · d · GRID_CENTS / 100 and more than MAX_STEP_CENTS is barred."""
    from numpy.lib.stride_tricks import sliding_window_view

    frames, count = scores.shape
    reach = int(MAX_STEP_CENTS // GRID_CENTS)
    penalty = STEP_PENALTY * GRID_CENTS / 100.0 * np.abs(np.arange(-reach, reach + 1))  # (2 · reach + 1,)
    total = scores[0].copy()
    came_from = np.zeros((frames, count), dtype=np.int32)
    padded = np.full(count + 2 * reach, -np.inf)
    for t in range(1, frames):
        padded[reach:-reach] = total
        # row k holds the totals of candidates k − reach … k + reach, each less what moving from it costs
        reached = sliding_window_view(padded, 2 * reach + 1) - penalty
        best = np.argmax(reached, axis=1)
        came_from[t] = np.arange(count) + best - reach
        total = reached[np.arange(count), best] + scores[t]
    path = np.empty(frames, dtype=np.int32)
    path[-1] = int(np.argmax(total))
    for t in range(frames - 1, 0, -1):
        path[t - 1] = came_from[t, path[t]]
    return path


def template_scores(mel: np.ndarray, config: MelConfig) -> np.ndarray:
    """Normalised mel (n_mels, T) → every candidate's template correlation in every frame (T, K), float64."""
    low = np.asarray(mel, dtype=np.float64)[: templates(config).shape[1]]
    return (templates(config) @ _flatten(low)).T


def estimate_pitch(mel: np.ndarray, config: MelConfig, learned: bool = True) -> PitchTrack:
    """Normalised mel (n_mels, T) → its PitchTrack (T frames); with the learned reader where one ships for `config`
    unless not `learned`."""
    from engine.pitch_reader import bundled_reader

    mel = np.asarray(mel, dtype=np.float64)
    bands = templates(config).shape[1]
    low = mel[:bands]
    scores = template_scores(mel, config)  # (T, K)
    reader = bundled_reader(config, scores.shape[1]) if learned and len(scores) else None
    if reader is not None:
        log_prior, reader_voiced = reader.read(mel, scores)
        path = _viterbi(scores + READER_WEIGHT * log_prior)
    else:
        path = _viterbi(scores)
    frames = np.arange(len(path))
    inner = np.clip(path, 1, scores.shape[1] - 2)
    left, centre, right = scores[frames, inner - 1], scores[frames, inner], scores[frames, inner + 1]
    curvature = left - 2.0 * centre + right
    offset = np.where(curvature < 0, 0.5 * (left - right) / np.where(curvature < 0, curvature, -1.0), 0.0)
    offset = np.where(path == inner, np.clip(offset, -0.5, 0.5), 0.0)
    cents = (path + offset) * GRID_CENTS
    f0 = F0_RANGE[0] * 2.0 ** (cents / 1200.0)
    score = scores[frames, path]
    loudness = low.max(axis=0) * -config.min_db  # dB above the mel's floor
    audible = loudness > loudness.max() - SILENCE_DB if len(loudness) else loudness > 0
    if reader is not None:
        voiced = (reader_voiced >= READER_VOICED) & audible
    else:
        voiced = (voicing_probability(score, mel, f0, config) >= VOICED_PROBABILITY) & audible
    return PitchTrack(f0.astype(np.float32), voiced, score.astype(np.float32))
