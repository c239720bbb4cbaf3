"""The synthesis filter of a waveform WaveNet with linear prediction (engine/models/synthesis_filter.py): each frame's
impulse response is the all-pole filter of the mel's envelope at the frame's level, or the mel's own envelope made
minimum phase, white noise through either comes out with the mel it was made from, and a stream of blocks gives what
the whole take gives."""

import numpy as np
import pytest
import torch
from scipy.signal import lfilter

from engine.features import MelConfig, denormalise, mel_spectrogram
from engine.models.synthesis_filter import MEL_TAPS, TAPS, Synthesis, SynthesisFilter, minimum_phase

CONFIG = MelConfig()


def resonant_noise(seconds: float = 1.0, seed: int = 0) -> np.ndarray:
    """White noise through two resonances (700 and 1,800 Hz, about 100 Hz wide), RMS 0.1: (seconds · 16 kHz,)."""
    noise = np.random.default_rng(seed).standard_normal(int(seconds * CONFIG.sample_rate))
    for centre in (700.0, 1800.0):
        radius, angle = np.exp(-np.pi * 100.0 / CONFIG.sample_rate), 2 * np.pi * centre / CONFIG.sample_rate
        noise = lfilter([1.0], [1.0, -2 * radius * np.cos(angle), radius**2], noise)
    return (0.1 * noise / noise.std()).astype(np.float32)


def test_each_frames_response_is_the_all_pole_filter_of_its_envelope_at_its_level(warm_librosa):
    synthesis = SynthesisFilter(CONFIG, 16)
    mel = torch.from_numpy(mel_spectrogram(resonant_noise(), CONFIG))[None]
    responses = synthesis(mel)
    assert responses.shape == (1, mel.shape[-1], TAPS) and responses.dtype == torch.float32
    coefficients, power = synthesis.predictor.envelope(mel)
    for frame in (10, 40):
        impulse = np.zeros(TAPS)
        impulse[0] = 1.0
        recursion = lfilter([1.0], np.r_[1.0, coefficients[0, frame].numpy()], impulse)  # 1 / A(z), term by term
        gain = np.sqrt(float(power[0, frame]) / np.square(recursion).sum())
        np.testing.assert_allclose(responses[0, frame].numpy(), gain * recursion, rtol=1e-4, atol=1e-6)


def test_the_minimum_phase_response_of_an_all_pole_filters_magnitudes_is_that_filter():
    # 1 / A(z) with its poles inside the unit circle is minimum phase: from its magnitudes alone the cepstrum gives
    # back its impulse response
    a = np.array([1.0, -1.3, 0.8, -0.2])
    impulse = np.zeros(1024)
    impulse[0] = 1.0
    response = lfilter([1.0], a, impulse)
    magnitude = torch.from_numpy(np.abs(np.fft.rfft(response)))
    np.testing.assert_allclose(minimum_phase(magnitude)[:64].numpy(), response[:64], atol=1e-6)


def test_the_mels_own_envelope_is_a_causal_filter_with_the_mels_magnitudes_at_the_frames_level(warm_librosa):
    synthesis = SynthesisFilter(CONFIG, 0)
    mel = torch.from_numpy(mel_spectrogram(resonant_noise(), CONFIG))[None]
    responses = synthesis(mel)
    assert responses.shape == (1, mel.shape[-1], MEL_TAPS) and synthesis.taps == MEL_TAPS
    _, power = synthesis.predictor.envelope(mel)
    torch.testing.assert_close(responses.double().square().sum(-1), power, rtol=1e-4, atol=0)
    magnitude = synthesis.predictor.magnitude(mel)[0].T  # (F, bins)
    made = torch.fft.rfft(responses[0].double(), n=CONFIG.n_fft).abs()
    for frame in (10, 40):  # the shape of the spectrum, within 1.5 dB where it holds the sound
        ratio_db = 20 * torch.log10(made[frame] / magnitude[frame])
        held = magnitude[frame] > magnitude[frame].max() * 10 ** (-30 / 20)
        assert float((ratio_db[held] - ratio_db[held].mean()).abs().mean()) < 1.5


@pytest.mark.parametrize("order", [16, 0])
def test_white_noise_through_it_comes_out_with_the_mel_it_was_made_from(order, warm_librosa):
    sound = resonant_noise(seed=1)
    mel = mel_spectrogram(sound, CONFIG)
    frames = mel.shape[1]
    excitation = torch.randn(1, frames * CONFIG.hop_length, generator=torch.Generator().manual_seed(2))
    made = SynthesisFilter(CONFIG, order).synthesised(excitation, torch.from_numpy(mel)[None])[0].numpy()
    made_mel = mel_spectrogram(made, CONFIG)[:, :frames]
    inner = slice(10, frames - 10)  # past the first response's build-up and the edges' padding
    wanted, got = (denormalise(m[:, inner], CONFIG) ** 2 for m in (mel, made_mel))
    level_db = 10 * np.log10(got.sum() / wanted.sum())
    assert abs(level_db) < 1.5, level_db
    # the envelope band by band, over the bands that hold the sound (within 30 dB of its loudest band)
    wanted_db, got_db = (10 * np.log10(p.mean(axis=1)) for p in (wanted, got))
    held = wanted_db > wanted_db.max() - 30
    assert np.abs(got_db - wanted_db)[held].mean() < 2.0, np.abs(got_db - wanted_db)[held].mean()
    peak = int(np.argmax(wanted_db))
    assert abs(int(np.argmax(got_db)) - peak) <= 1  # the 700 Hz resonance stays where it is


@pytest.mark.parametrize("order", [16, 0])
@pytest.mark.parametrize("blocks", [[1, 1, 3, 7, 2, 11, 6], [31]])
def test_a_stream_of_blocks_gives_what_the_whole_take_gives(blocks, order, warm_librosa):
    synthesis = SynthesisFilter(CONFIG, order)
    mel = torch.from_numpy(mel_spectrogram(resonant_noise(0.4, seed=3), CONFIG)[:, :31])[None]
    excitation = torch.randn(1, 31 * CONFIG.hop_length, generator=torch.Generator().manual_seed(4))
    whole = synthesis.synthesised(excitation, mel)
    stream, start, pieces = Synthesis(synthesis, 1, torch.device("cpu")), 0, []
    for frames in blocks:
        span = slice(start * CONFIG.hop_length, (start + frames) * CONFIG.hop_length)
        pieces.append(stream.block(excitation[:, span], mel[..., start : start + frames]))
        start += frames
    torch.testing.assert_close(torch.cat(pieces, 1), whole, atol=1e-6, rtol=0)
    assert float(whole.std()) > 1e-3
