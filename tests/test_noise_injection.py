"""Noise injection: the fed past is the one a sampling loop builds, the noise moves it, and the target still leads
back to the clean audio."""

import numpy as np
import pytest
import torch

from engine.datasets import aligned_audio_and_mel
from engine.features import MelConfig, load_audio
from engine.models.coding import mulaw_classes
from engine.models.linear_prediction import LinearPredictor, excited_sample, next_prediction, pushed
from engine.models.noise_injection import noise_classes, noisy_past
from engine.catalog import RESOURCES

CONFIG = MelConfig()
BITS = 8
FRAMES = 12


@pytest.fixture(scope="module")
def speech(warm_librosa):
    """12 frames of the bundled example from its loudest part: audio (1, 12 · hop), mel (1, 80, 12)."""
    example = RESOURCES.parent / "examples" / "allison-auth-incorrect.flac"
    audio, mel = aligned_audio_and_mel(load_audio(example, CONFIG.sample_rate)[0], CONFIG)
    loudest = int(np.argmax(mel.mean(0)[: mel.shape[1] - FRAMES]))
    hop = CONFIG.hop_length
    return (
        torch.from_numpy(audio[loudest * hop : (loudest + FRAMES) * hop]).unsqueeze(0),
        torch.from_numpy(mel[:, loudest : loudest + FRAMES]).unsqueeze(0),
    )


def snr_db(reference: torch.Tensor, other: torch.Tensor) -> float:
    return 10 * np.log10(
        float(reference.double().square().sum() / (other.double() - reference.double()).square().sum())
    )


@pytest.mark.slow
def test_without_noise_the_fed_past_is_a_sampling_loop_drawing_each_true_excitations_class(speech):
    audio, mel = speech
    predictor = LinearPredictor(CONFIG, 16)
    fed = noisy_past(audio, predictor(mel), np.zeros(audio.shape, np.int64), CONFIG.hop_length, BITS)
    assert fed.shape == audio.shape and fed.dtype == torch.float32

    weights, history, looped = predictor.step_weights(mel), torch.zeros(1, 16, dtype=torch.float64), []
    for t in range(audio.shape[1]):
        prediction = next_prediction(history, weights[t])
        sample = excited_sample(prediction, mulaw_classes(audio[:, t : t + 1] - prediction, BITS), BITS)
        history = pushed(history, sample)
        looped.append(sample)
    np.testing.assert_allclose(fed.numpy(), torch.cat(looped, 1).numpy(), atol=1e-5)
    # only the 8-bit quantisation of the excitation separates it from the audio: about 38 dB below the
    # excitation, itself well below the speech
    assert 40 < snr_db(audio, fed) < 80


def test_noise_moves_the_past_and_the_target_is_the_clean_sample_from_the_noisy_prediction(speech):
    audio, mel = speech
    predictor = LinearPredictor(CONFIG, 16)
    noise = np.random.default_rng(5).laplace(0.0, 3.0 / np.sqrt(2), audio.shape).round().astype(np.int64)
    fed = noisy_past(audio, predictor(mel), noise, CONFIG.hop_length, BITS)
    quiet = noisy_past(audio, predictor(mel), np.zeros_like(noise), CONFIG.hop_length, BITS)
    assert snr_db(audio, fed) < snr_db(audio, quiet) - 6

    prediction, excitation = predictor.split(mel, audio, fed)
    torch.testing.assert_close(prediction, predictor.predict(fed, predictor(mel)))
    torch.testing.assert_close(prediction + excitation, audio.double())
    # each fed sample is its prediction plus the class of the clean excitation, moved by that sample's noise
    fed_classes = mulaw_classes(fed.double() - prediction, BITS)
    moved = (mulaw_classes(excitation, BITS) + torch.from_numpy(noise)).clamp(0, 2**BITS - 1)
    inside = fed.abs() < 1.0
    agree = (fed_classes == moved)[inside].double().mean()
    assert agree > 0.99, f"{agree:.3f} of the fed samples carry their class plus noise"


def test_noise_classes_are_whole_laplacian_draws_with_each_segments_own_spread():
    noise = noise_classes(np.random.default_rng(0), 400, 4000, 4.0)
    assert noise.shape == (400, 4000) and noise.dtype == np.int64
    spreads = noise.std(axis=1)
    assert spreads.max() < 4.0 * 1.1 and spreads.min() < 0.5
    assert 4.0 / 3.0 < spreads.mean() < 1.2 * 4.0 / 3.0  # 4 · u² averages 4 / 3; rounding to classes adds a little
    assert abs(noise.mean()) < 0.02
    wide = noise[spreads > 2]
    kurtosis = (wide**4).mean(axis=1) / (wide**2).mean(axis=1) ** 2
    assert np.median(kurtosis) == pytest.approx(6.0, rel=0.15)  # a Laplacian's, against a Gaussian's 3
    np.testing.assert_array_equal(noise, noise_classes(np.random.default_rng(0), 400, 4000, 4.0))
