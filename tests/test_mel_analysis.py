"""The one STFT/mel helper (engine.features.MelAnalysis): its mel of centred frames is librosa's mel that
`mel_spectrogram` normalises, in float64 and in float32, and its frames are the samples centred on f · hop."""

import numpy as np
import pytest

from engine.features import MelConfig, mel_analysis, mel_magnitude

CONFIGS = [
    MelConfig(),
    MelConfig(
        sample_rate=22050,
        n_fft=2048,
        hop_length=256,
        win_length=1100,
        window="hamming",
        n_mels=64,
        fmin=0.0,
        fmax=11025.0,
    ),
]


def sweep(config: MelConfig, seconds: float = 1.2) -> np.ndarray:
    """A sine sweep from 60 Hz to 0.45 · the sample rate, amplitude 0.5: (T,) float32."""
    t = np.arange(int(seconds * config.sample_rate)) / config.sample_rate
    top = 0.45 * config.sample_rate
    return (0.5 * np.sin(2 * np.pi * (60.0 * t + (top - 60.0) * t**2 / (2 * seconds)))).astype(np.float32)


@pytest.mark.parametrize("config", CONFIGS, ids=["default", "n_fft 2048 hamming 1100"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_helpers_mel_of_centred_frames_is_mel_spectrograms_before_normalisation(config, dtype, warm_librosa):
    audio = sweep(config)
    half = config.n_fft // 2
    padded = np.pad(audio, half, mode="reflect").astype(dtype)  # centred frames, padded as mel_spectrogram pads
    analysis = mel_analysis(config, dtype)
    frames = analysis.frames(padded, -half, 0, config.frames_for(len(audio)))
    mel = analysis.mel_of(analysis.magnitudes(frames))
    reference = mel_magnitude(audio, config)
    assert mel.dtype == dtype and mel.shape == reference.shape == (config.n_mels, 1 + len(audio) // config.hop_length)
    np.testing.assert_allclose(mel, reference, rtol=1e-5, atol=1e-6 * reference.max())


def test_frames_are_the_samples_centred_on_each_frames_hop_and_none_past_the_signal():
    analysis = mel_analysis(MelConfig(sample_rate=8000, n_fft=64, hop_length=16, win_length=48, n_mels=8, fmax=4000.0))
    signal = np.arange(3 * 400, dtype=np.float64).reshape(3, 400)
    origin = 100  # signal[:, 0] is absolute sample 100
    frames = analysis.frames(signal, origin, 10, 14)
    assert frames.shape == (3, 4, 64)
    for i, f in enumerate(range(10, 14)):
        np.testing.assert_array_equal(frames[:, i], signal[:, f * 16 - 32 - origin : f * 16 + 32 - origin])
    with pytest.raises(ValueError, match="reach past"):
        analysis.frames(signal, origin, 8, 10)  # frame 8 starts at sample 96, before the signal
    with pytest.raises(ValueError, match="reach past"):
        analysis.frames(signal, origin, 10, 33)  # frame 32 ends at sample 544, past its last sample 499
