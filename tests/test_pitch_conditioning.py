"""A WaveNet and a WaveRNN conditioned on the pitch read from their mel: streamed equals the full forward pass, the
source reaches the output, a model without it grows into one with it computing the same, and the shape inspector
lists the source features."""

import numpy as np
import pytest
import torch

from engine import checkpoints
from engine.features import mel_spectrogram
from engine.models.wavernn.model import WaveRNN, WaveRNNConfig
from engine.models.upsample import UpsampleConfig
from engine.pitch_source import SOURCE_CHANNELS
from engine.shape_trace import trace
from engine.train import initialise_from
from tests.test_wavenet import LOOPS, MEL, small_wavenet

# The WaveRNN at test_wavenet's mel (hop 16): "mulaw" and "lpc" (order 4) modes, the compiled loop and the torch one.
WAVERNN_VARIANTS = [("mulaw", True), ("mulaw", False), ("lpc", True), ("lpc", False)]


def small_wavernn(seed: int = 0, mode: str = "mulaw", compiled: bool = True, **config) -> WaveRNN:
    torch.manual_seed(seed)
    upsample = UpsampleConfig(factors=(4, 4), resnet_blocks=1, resnet_channels=16, aux_channels=16)
    model = WaveRNN(
        WaveRNNConfig(rnn_dims=32, fc_dims=24, lpc_order=4 if mode == "lpc" else 0, upsample=upsample, **config), MEL
    )
    model.compiled_cpu_loop = compiled
    return model.eval()


def tone_mel_and_audio(frames: int = 40, f0: float = 150.0) -> tuple[torch.Tensor, torch.Tensor]:
    """The mel of a harmonic tone (1, n_mels, frames) and random audio (1, frames · hop) to teacher-force."""
    t = np.arange(frames * MEL.hop_length) / MEL.sample_rate
    tone = sum(np.cos(2 * np.pi * k * f0 * t) / k for k in range(1, 20)).astype(np.float32)
    mel = torch.from_numpy(mel_spectrogram(0.2 * tone, MEL)[:, :frames])[None]
    audio = torch.rand(1, frames * MEL.hop_length, generator=torch.Generator().manual_seed(2)) * 1.8 - 0.9
    return mel, audio


def source_columns(model) -> torch.Tensor:
    """The weight columns that take the source features: the WaveNet's conditioning, the WaveRNN's I."""
    layer = model.condition if hasattr(model, "condition") else model.input_layer
    return layer.weight[:, -SOURCE_CHANNELS:]


def with_strong_source(model):
    """Source columns drawn large, so the source visibly moves the output."""
    with torch.no_grad():
        torch.nn.init.normal_(source_columns(model), std=0.5)
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


@pytest.mark.parametrize("mode, compiled", WAVERNN_VARIANTS)
def test_pitch_conditioned_wavernn_streams_what_its_forward_pass_computes(mode, compiled, warm_librosa):
    model = with_strong_source(small_wavernn(mode=mode, compiled=compiled, pitch_conditioning=True))
    mel, audio = tone_mel_and_audio()
    with torch.no_grad():
        full = model(mel, audio)
    blocks = list(model.stream(mel, block_frames=3, teacher=audio, return_logits=True))
    incremental = torch.cat([block.logits for block in blocks], dim=-1)
    assert incremental.shape == full.shape
    assert (incremental - full).abs().max().item() < 1e-4


def test_a_pitch_conditioned_wavernn_draws_the_same_in_the_compiled_and_the_torch_loop(warm_librosa):
    mel, _ = tone_mel_and_audio(frames=12)
    runs = []
    for compiled in (True, False):
        model = with_strong_source(small_wavernn(compiled=compiled, pitch_conditioning=True))
        blocks = model.stream(mel, block_frames=4, generator=torch.Generator().manual_seed(5))
        runs.append(torch.cat([block.samples for block in blocks], dim=1))
    assert runs[0].shape == (1, 12 * MEL.hop_length) and runs[0].std() > 0
    torch.testing.assert_close(runs[0], runs[1], atol=1e-6, rtol=0)


@pytest.mark.parametrize("build", [small_wavenet, small_wavernn], ids=["wavenet", "wavernn"])
def test_the_source_reaches_the_output(build, warm_librosa):
    model = with_strong_source(build(pitch_conditioning=True))
    mel, audio = tone_mel_and_audio()
    assert model.source(mel).shape == (1, mel.shape[-1] * MEL.hop_length, SOURCE_CHANNELS)
    assert model.source(mel)[0, :, -1].mean() > 0.5  # the tone's frames are voiced
    with torch.no_grad():
        conditioned = model(mel, audio)
        source_columns(model)[:] = 0.0
        without = model(mel, audio)
    assert (conditioned - without).abs().mean() > 1e-2


@pytest.mark.parametrize(
    "build, grown",
    [(small_wavenet, "condition.weight"), (small_wavernn, "input_layer.weight")],
    ids=["wavenet", "wavernn"],
)
def test_a_model_without_pitch_grows_into_one_that_computes_the_same(build, grown, tmp_path, warm_librosa):
    plain = build(seed=3)
    checkpoints.save(plain, tmp_path / "plain.safetensors")
    conditioned = build(seed=4, pitch_conditioning=True)
    started = initialise_from(conditioned, tmp_path / "plain.safetensors")
    assert grown in started["grown"] and not started["fresh"]
    mel, audio = tone_mel_and_audio()
    with torch.no_grad():
        assert torch.allclose(conditioned.eval()(mel, audio), plain(mel, audio), atol=1e-5)


@pytest.mark.parametrize("build", [small_wavenet, small_wavernn], ids=["wavenet", "wavernn"])
def test_the_inspector_lists_the_source_features_like_every_other_tensor(build, warm_librosa):
    model = build(pitch_conditioning=True)
    mel, _ = tone_mel_and_audio()
    result = trace(model, mel[0].numpy(), frames=6)
    record = result.module("pitch_source")
    assert record.kind == "PitchSource" and record.parameters == 0
    assert record.inputs == [(1, MEL.n_mels, 6)] and record.outputs == [(1, 6 * MEL.hop_length, SOURCE_CHANNELS)]
    assert record.dtype == "float32"
    if build is small_wavernn:
        assert result.step("s_t").shape == (1, SOURCE_CHANNELS)
