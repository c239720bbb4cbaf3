"""A WaveNet conditioned on the pitch read from its mel: streamed equals the full forward pass, the source reaches
the output, and a model without it grows into one with it computing the same."""

import numpy as np
import pytest
import torch

from engine import checkpoints
from engine.features import mel_spectrogram
from engine.pitch_source import SOURCE_CHANNELS
from engine.train import initialise_from
from tests.test_wavenet import LOOPS, MEL, small_wavenet


def tone_mel_and_audio(frames: int = 40, f0: float = 150.0) -> tuple[torch.Tensor, torch.Tensor]:
    """The mel of a harmonic tone (1, n_mels, frames) and random audio (1, frames · hop) to teacher-force."""
    t = np.arange(frames * MEL.hop_length) / MEL.sample_rate
    tone = sum(np.cos(2 * np.pi * k * f0 * t) / k for k in range(1, 20)).astype(np.float32)
    mel = torch.from_numpy(mel_spectrogram(0.2 * tone, MEL)[:, :frames])[None]
    audio = torch.rand(1, frames * MEL.hop_length, generator=torch.Generator().manual_seed(2)) * 1.8 - 0.9
    return mel, audio


def with_strong_source(model):
    """Source columns of the conditioning drawn large, so the source visibly moves every layer."""
    with torch.no_grad():
        torch.nn.init.normal_(model.condition.weight[:, -SOURCE_CHANNELS:], std=0.5)
    return model


@pytest.mark.parametrize("compiled", LOOPS)
def test_pitch_conditioned_wavenet_streams_what_its_forward_pass_computes(compiled, warm_librosa):
    model = with_strong_source(small_wavenet(pitch_conditioning=True, compiled_cpu_loop=compiled))
    mel, audio = tone_mel_and_audio()
    with torch.no_grad():
        full = model(mel, audio)
    blocks = list(model.stream(mel, block_frames=3, teacher=audio, return_logits=True))
    incremental = torch.cat([block.logits for block in blocks], dim=-1)
    assert incremental.shape == full.shape
    assert (incremental - full).abs().max().item() < 1e-4


def test_the_source_reaches_the_output(warm_librosa):
    model = with_strong_source(small_wavenet(pitch_conditioning=True))
    mel, audio = tone_mel_and_audio()
    assert model.source(mel).shape == (1, mel.shape[-1] * MEL.hop_length, SOURCE_CHANNELS)
    assert model.source(mel)[0, :, -1].mean() > 0.5  # the tone's frames are voiced
    with torch.no_grad():
        conditioned = model(mel, audio)
        model.condition.weight[:, -SOURCE_CHANNELS:] = 0.0
        without = model(mel, audio)
    assert (conditioned - without).abs().mean() > 1e-2


def test_a_wavenet_without_pitch_grows_into_one_that_computes_the_same(tmp_path, warm_librosa):
    plain = small_wavenet(seed=3)
    checkpoints.save(plain, tmp_path / "plain.safetensors")
    conditioned = small_wavenet(seed=4, pitch_conditioning=True)
    started = initialise_from(conditioned, tmp_path / "plain.safetensors")
    assert "condition.weight" in started["grown"] and not started["fresh"]
    mel, audio = tone_mel_and_audio()
    with torch.no_grad():
        assert torch.allclose(conditioned.eval()(mel, audio), plain(mel, audio), atol=1e-5)
