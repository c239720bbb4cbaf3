"""The source built from a pitch track: its length, its alignment with the mel's frames, its pitch and level."""

import numpy as np

from engine.excitation import LEVEL, excitation
from engine.features import MelConfig, mel_spectrogram
from engine.pitch import PitchTrack, estimate_pitch

CONFIG = MelConfig()
HOP, RATE = CONFIG.hop_length, CONFIG.sample_rate


def track(f0: np.ndarray, voiced: np.ndarray) -> PitchTrack:
    return PitchTrack(f0.astype(np.float32), voiced, np.ones(len(f0), np.float32))


def test_excitation_has_one_sample_per_output_sample_and_the_tracks_period():
    frames = 80
    source = excitation(track(np.full(frames, 125.0), np.ones(frames, bool)), HOP, RATE, frames * HOP)
    assert source.shape == (frames * HOP,) and source.dtype == np.float32
    spectrum = np.abs(np.fft.rfft(source[: 8 * RATE // 10] * np.hanning(8 * RATE // 10)))
    lowest_peak_hz = np.argmax(spectrum[: 200 * len(spectrum) // (RATE // 2)]) * RATE / (8 * RATE // 10)
    assert abs(lowest_peak_hz - 125.0) <= 1.25
    assert abs(np.sqrt(np.mean(source**2)) - LEVEL) < 0.15 * LEVEL


def test_voiced_frames_become_a_tone_at_their_pitch_and_the_rest_noise(warm_librosa):
    frames = 100
    voiced = np.zeros(frames, bool)
    voiced[30:70] = True
    f0 = np.linspace(120.0, 180.0, frames)
    source = excitation(track(f0, voiced), HOP, RATE, frames * HOP, seed=4)
    read_back = estimate_pitch(mel_spectrogram(source, CONFIG)[:, :frames], CONFIG)
    inside = np.arange(34, 66)
    assert read_back.voiced[inside].all()
    assert np.abs(1200 * np.log2(read_back.f0[inside] / f0[inside])).max() < 20.0
    assert read_back.voiced[:26].mean() < 0.3 and read_back.voiced[74:].mean() < 0.3
    for part in (source[: 25 * HOP], source[75 * HOP :]):  # noise keeps the level too
        assert abs(np.sqrt(np.mean(part**2)) - LEVEL) < 0.15 * LEVEL
