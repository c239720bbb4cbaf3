"""The pitch read from a mel: F0 of known harmonic tones within 20 cents, glides followed, noise and silence
unvoiced."""

import numpy as np
import pytest

from engine.features import MelConfig, mel_spectrogram
from engine.pitch import estimate_pitch

CONFIG = MelConfig()
RATE = CONFIG.sample_rate


def harmonic_signal(f0_per_sample: np.ndarray, seed: int = 0, tilt: float = 0.7) -> np.ndarray:
    """A voice-like tone (N,): harmonics up to 7 kHz falling as 1 / k^tilt, random phases, a little noise."""
    rng = np.random.default_rng(seed)
    phase = 2 * np.pi * np.cumsum(f0_per_sample) / RATE
    count = int(7000 // f0_per_sample.max())
    harmonics = np.arange(1, count + 1)[:, None]
    tone = (np.cos(harmonics * phase[None, :] + rng.uniform(0, 2 * np.pi, (count, 1))) / harmonics**tilt).sum(0)
    return (0.3 * tone / np.abs(tone).max() + 1e-3 * rng.standard_normal(len(tone))).astype(np.float32)


def cents(estimate: np.ndarray, truth: np.ndarray) -> np.ndarray:
    return 1200.0 * np.log2(estimate / truth)


@pytest.mark.parametrize("f0", [70.0, 88.0, 110.0, 137.0, 172.0, 215.0, 268.0, 335.0, 400.0])
def test_pitch_of_a_harmonic_tone_is_read_from_its_mel_within_20_cents(f0, warm_librosa):
    track = estimate_pitch(mel_spectrogram(harmonic_signal(np.full(RATE, f0), seed=int(f0)), CONFIG), CONFIG)
    inner = slice(4, -4)  # the first and last frames see the padding
    assert track.voiced[inner].all()
    assert np.abs(cents(track.f0[inner], f0)).max() < 20.0


def test_pitch_follows_a_glide_across_an_octave(warm_librosa):
    seconds = 1.5
    f0 = 100.0 * 2.0 ** (np.arange(int(seconds * RATE)) / (seconds * RATE))  # 100 → 200 Hz
    track = estimate_pitch(mel_spectrogram(harmonic_signal(f0, tilt=1.0), CONFIG), CONFIG)
    frames = np.arange(len(track.f0))[4:-4]
    truth = f0[frames * CONFIG.hop_length]
    assert track.voiced[frames].all()
    assert np.abs(cents(track.f0[frames], truth)).max() < 20.0


def test_silence_is_unvoiced_and_noise_mostly_unvoiced(warm_librosa):
    silence = estimate_pitch(mel_spectrogram(np.zeros(RATE, np.float32), CONFIG), CONFIG)
    noise = np.random.default_rng(3).standard_normal(2 * RATE).astype(np.float32) * 0.1
    noisy = estimate_pitch(mel_spectrogram(noise, CONFIG), CONFIG)
    assert not silence.voiced.any()
    assert noisy.voiced.mean() < 0.3


def test_a_voiced_stretch_between_silences_is_found_where_it_is(warm_librosa):
    audio = np.zeros(2 * RATE, np.float32)
    audio[RATE // 2 : 3 * RATE // 2] = harmonic_signal(np.full(RATE, 150.0))
    track = estimate_pitch(mel_spectrogram(audio, CONFIG), CONFIG)
    hop = CONFIG.hop_length
    voiced_frames = np.flatnonzero(track.voiced)
    assert abs(voiced_frames[0] * hop - RATE // 2) <= 3 * hop
    assert abs(voiced_frames[-1] * hop - 3 * RATE // 2) <= 3 * hop
    assert np.abs(cents(track.f0[voiced_frames[3:-3]], 150.0)).max() < 20.0


def test_a_hiss_after_a_low_voice_is_unvoiced_and_the_voice_voiced(warm_librosa):
    """A fricative's hiss (noise above 2.5 kHz, as loud as the voice) can have ripple that scores like a low voice's
    weak harmonics; its lack of low-band power tells them apart."""
    from scipy.signal import butter, lfilter

    rng = np.random.default_rng(3)
    b, a = butter(6, 2500 / (RATE / 2), "high")
    hiss = lfilter(b, a, rng.standard_normal(RATE)).astype(np.float32)
    voice = harmonic_signal(np.full(RATE, 90.0))
    hiss *= np.sqrt(np.mean(voice**2) / np.mean(hiss**2))
    track = estimate_pitch(mel_spectrogram(np.concatenate([voice, hiss]), CONFIG), CONFIG)
    half = RATE // CONFIG.hop_length
    assert track.voiced[4 : half - 4].all()
    assert not track.voiced[half + 4 : -4].any()
