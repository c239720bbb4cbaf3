"""Mel-guided sampling: the scorer measures a candidate's mel as the mel itself is computed, picks the audio the
conditioning came from, and a WaveRNN choosing among draws comes closer to its mel, reproducibly."""

import numpy as np
import pytest
import torch

from engine.errors import ConfigError
from engine.features import Conditioning, MelConfig, mel_distance_db, mel_spectrogram
from engine.generate import generate
from engine.models.wavernn.mel_guide import MelScorer
from engine.models.upsample import UpsampleConfig
from engine.models.wavernn.model import WaveRNN, WaveRNNConfig

CONFIG = MelConfig()  # 22.05 kHz, n_fft 1024, hop 256, 80 bands
SMALL_MEL = MelConfig(sample_rate=8000, n_fft=128, hop_length=32, win_length=128, n_mels=20, fmax=4000)
UPSAMPLE = UpsampleConfig(factors=(4, 8), resnet_blocks=1, resnet_channels=16, aux_channels=16)


def vowel(seconds: float, pitch: float, formant: float) -> np.ndarray:
    """A pulse train at `pitch` Hz through one resonance at `formant` Hz: (T,) float32."""
    rate = CONFIG.sample_rate
    pulses = np.zeros(int(seconds * rate))
    pulses[:: int(rate / pitch)] = 1.0
    n = np.arange(300)
    signal = np.convolve(pulses, np.exp(-n / 40.0) * np.cos(2 * np.pi * formant * n / rate))[: len(pulses)]
    return (0.2 * signal / np.abs(signal).max()).astype(np.float32)


def test_the_scorer_measures_a_candidates_mel_as_the_mel_is_computed_and_picks_the_source():
    source = vowel(1.0, 110, 700)
    target = mel_spectrogram(source, CONFIG)
    others = [
        vowel(1.0, 125, 700),
        vowel(1.0, 110, 1500),
        0.05 * np.random.default_rng(0).standard_normal(len(source)).astype(np.float32),
    ]
    candidates = np.stack([others[0], source, *others[1:]])  # (K = 4, T)
    hop, half = CONFIG.hop_length, CONFIG.n_fft // 2
    frames, first = [20, 21, 22], 20 * hop - half
    distances = MelScorer(target[None], CONFIG, 4).distances(candidates[:, first:], first, frames)
    assert distances.shape == (1, 4)
    assert distances[0].argmin() == 1 and distances[0, 1] < 1e-5
    for k, candidate in enumerate(candidates):
        expected = np.abs(mel_spectrogram(candidate, CONFIG)[:, frames] - target[:, frames]).mean()
        assert distances[0, k] == pytest.approx(expected, abs=1e-5)


def small_wavernn(candidates: int) -> WaveRNN:
    torch.manual_seed(0)
    config = WaveRNNConfig(rnn_dims=32, fc_dims=24, bits=8, lpc_order=4, candidates=candidates, upsample=UPSAMPLE)
    return WaveRNN(config, SMALL_MEL).eval()


def sampled(model: WaveRNN, mel: torch.Tensor, seed: int) -> torch.Tensor:
    blocks = model.stream(mel, block_frames=3, generator=torch.Generator().manual_seed(seed))
    return torch.cat([block.samples for block in blocks], dim=1)


def conditioning_mels() -> torch.Tensor:
    """Two rows (2, 20, 41): the mels of two tones at SMALL_MEL's rate."""
    t = np.arange(41 * SMALL_MEL.hop_length) / SMALL_MEL.sample_rate
    tones = [0.3 * np.sin(2 * np.pi * f * t) * (1 + np.sin(2 * np.pi * 3 * t)) / 2 for f in (300, 1200)]
    return torch.from_numpy(np.stack([mel_spectrogram(tone, SMALL_MEL)[:, :41] for tone in tones]))


@pytest.mark.slow
def test_choosing_among_draws_brings_the_output_closer_to_its_mel_reproducibly():
    mel = conditioning_mels()
    guided, plain = small_wavernn(8), small_wavernn(1)
    distances = {"guided": [], "plain": []}
    for seed in range(3):
        for name, model in (("guided", guided), ("plain", plain)):
            audio = sampled(model, mel, seed)
            assert audio.shape == (2, 41 * SMALL_MEL.hop_length) and audio.dtype == torch.float32
            assert audio.abs().max() <= 1.0 and audio.std() > 0
            distances[name] += [
                mel_distance_db(mel[row].numpy(), mel_spectrogram(audio[row].numpy(), SMALL_MEL), SMALL_MEL)
                for row in range(2)
            ]
    assert torch.equal(sampled(guided, mel, 5), sampled(guided, mel, 5))
    assert not torch.equal(sampled(guided, mel, 5), sampled(guided, mel, 6))
    # this untrained model's output is far from any mel (20–40 dB), yet choosing brings every row and seed closer
    gains = np.subtract(distances["plain"], distances["guided"])
    assert (gains > 0.5).all() and gains.mean() > 1.0


def test_generation_with_candidates_makes_every_sample_in_order_and_in_fold_mode():
    model = small_wavernn(4)
    mel = conditioning_mels()[0].numpy()
    conditioning = Conditioning(mel=mel, mel_config=SMALL_MEL)
    for fold in (False, True):
        audio = np.concatenate([chunk.samples for chunk in generate(model, conditioning, seed=1, fold=fold)])
        assert audio.shape == (41 * SMALL_MEL.hop_length,) and np.isfinite(audio).all() and audio.std() > 0
    assert "best of 4 by the mel" in model.draws


@pytest.mark.parametrize(
    "settings, words",
    [
        ({"candidates": 0}, "number of candidates is 0"),
        ({"candidates": 2.5}, "number of candidates is 2.5; it must be a whole number"),
        ({"candidates": 2, "mode": "mol"}, '1 in "mol" mode'),
        ({"pitch_postfilter": 5.0}, "pitch post-filter strength is 5.0"),
    ],
)
def test_impossible_guidance_settings_are_config_errors(settings, words):
    with pytest.raises(ConfigError, match=words):
        WaveRNN(WaveRNNConfig(upsample=UPSAMPLE, **settings), SMALL_MEL)
