"""A source signal built from a pitch track, as neural source-filter models and LPCNet's pitch features make one:
a band-limited harmonic tone at the track's F0 where the frame is voiced, white noise where it is not.

Frame f's F0 belongs to the analysis window centred on sample f · hop (the mel's frames are centred); between two
frame centres F0 and voicing are interpolated linearly, and the phase is the running sum of the F0, so the tone
glides without a click. Harmonics fade out over the top HARMONIC_FADE of the band below Nyquist, so one that
crosses it as F0 rises does not switch on or off at once.
"""

from __future__ import annotations

import numpy as np

from engine.pitch import PitchTrack

LEVEL = 0.1  # RMS of the source, voiced and unvoiced alike (about speech's level: -20 dB full scale)
VOICED_NOISE = 0.03  # noise beside the tone in voiced frames, relative to LEVEL (breath, as in speech)
HARMONIC_FADE = 0.1
BLOCK = 8192  # samples computed at a time: (BLOCK, harmonics) stays a few MB


def frames_to_samples(values: np.ndarray, hop_length: int, num_samples: int) -> np.ndarray:
    """Per-frame values (T,) → per-sample values (num_samples,), linear between frame centres f · hop and held
    before the first and after the last."""
    centres = np.arange(len(values)) * hop_length
    return np.interp(np.arange(num_samples), centres, np.asarray(values, dtype=np.float64))


def harmonic_tone(f0: np.ndarray, sample_rate: int) -> np.ndarray:
    """Per-sample F0 in Hz (N,) → a band-limited pulse train (N,), every harmonic below Nyquist at equal level,
    scaled to RMS 1 for a steady F0."""
    phase = 2.0 * np.pi * np.cumsum(f0 / sample_rate)
    nyquist = sample_rate / 2.0
    count = int(nyquist // max(float(f0.min()), 1.0)) if len(f0) else 0
    tone = np.zeros(len(f0))
    for start in range(0, len(f0), BLOCK):
        part_f0, part_phase = f0[start : start + BLOCK, None], phase[start : start + BLOCK, None]
        harmonics = np.arange(1, count + 1)[None, :]
        weight = np.clip((nyquist - harmonics * part_f0) / (HARMONIC_FADE * nyquist), 0.0, 1.0)
        tone[start : start + BLOCK] = (weight * np.cos(harmonics * part_phase)).sum(axis=1) / np.sqrt(
            np.maximum((weight**2).sum(axis=1) / 2.0, 1e-9))
    return tone


def excitation(track: PitchTrack, hop_length: int, sample_rate: int, num_samples: int, seed: int = 0) -> np.ndarray:
    """A pitch track of T frames → the source signal (num_samples,) float32, RMS about LEVEL: the harmonic tone
    where voiced, noise where not, crossfaded where the voicing changes between frames."""
    f0 = frames_to_samples(track.f0, hop_length, num_samples)
    voicing = frames_to_samples(track.voiced.astype(np.float64), hop_length, num_samples)
    noise = np.random.default_rng(seed).standard_normal(num_samples)
    voiced = harmonic_tone(f0, sample_rate) + VOICED_NOISE * noise
    source = LEVEL * (voicing * voiced / np.sqrt(1.0 + VOICED_NOISE**2) + (1.0 - voicing) * noise)
    return source.astype(np.float32)
