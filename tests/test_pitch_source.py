"""The pitch as a network input: per-sample values on the frame centres, the tone's period, blocks that join."""

import numpy as np
import torch

from engine.features import MelConfig
from engine.pitch_source import PITCH_ROWS, SOURCE_CHANNELS, per_sample, source_features

HOP, RATE = MelConfig().hop_length, MelConfig().sample_rate


def test_frame_values_land_on_their_frame_centres_and_hold_after_the_last():
    samples = per_sample(torch.tensor([[100.0, 200.0, 150.0]]), HOP)[0]
    assert samples.shape == (3 * HOP,)
    assert samples[0] == 100.0 and samples[HOP] == 200.0 and samples[2 * HOP] == 150.0
    assert samples[HOP // 2] == 150.0  # halfway between the first two centres
    assert (samples[2 * HOP :] == 150.0).all()


def test_source_has_the_tone_of_the_pitch_where_voiced_and_nothing_where_not():
    frames = 60
    pitch = torch.zeros(2, PITCH_ROWS, frames)
    pitch[:, 0] = torch.tensor([110.0, 230.0])[:, None]
    pitch[:, 1, :30] = 1.0
    source, _ = source_features(pitch, HOP, RATE)
    assert source.shape == (2, frames * HOP, SOURCE_CHANNELS) and source.dtype == torch.float32
    for row, f0 in enumerate((110.0, 230.0)):
        voiced = source[row, : 29 * HOP, 0].numpy()
        spectrum = np.abs(np.fft.rfft(voiced * np.hanning(len(voiced))))
        below_second_harmonic = int(1.5 * f0 * len(voiced) / RATE)
        assert abs(np.argmax(spectrum[:below_second_harmonic]) * RATE / len(voiced) - f0) < 2.0
        assert abs(np.sqrt(np.mean(voiced**2)) - 1.0) < 0.05
        assert torch.equal(source[row, 30 * HOP :], torch.zeros(30 * HOP, SOURCE_CHANNELS))
    assert torch.allclose(source[0, : 29 * HOP, 1] ** 2 + source[0, : 29 * HOP, 2] ** 2, torch.ones(29 * HOP))


def test_two_blocks_with_the_phase_carried_equal_the_whole():
    frames = 40
    pitch = torch.stack([torch.full((frames,), 137.0), torch.ones(frames), torch.ones(frames)])[None]
    whole, end = source_features(pitch, HOP, RATE)
    first, phase = source_features(pitch[..., :15], HOP, RATE)
    second, second_end = source_features(pitch[..., 15:], HOP, RATE, start_phase=phase)
    assert torch.allclose(torch.cat([first, second], dim=1), whole, atol=1e-4)
    assert torch.allclose(second_end, end, atol=1e-6)
