"""benchmarks/quality.py's ceiling row: the recording coded the way each model codes it, every class right."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import torch

from engine.datasets import aligned_audio_and_mel
from engine.features import MelConfig, load_audio
from engine.models.coding import mulaw_classes, mulaw_expand
from engine.catalog import RESOURCES
from engine.models.upsample import UpsampleConfig
from engine.models.wavenet.model import WaveNet, WaveNetConfig
from engine.models.wavernn.model import WaveRNN, WaveRNNConfig

CONFIG = MelConfig()
EXAMPLE = RESOURCES.parent / "examples" / "allison-auth-incorrect.flac"
UPSAMPLE = UpsampleConfig(factors=(5, 5, 8), resnet_blocks=1, resnet_channels=16, aux_channels=16)


def quality_module():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "quality.py"
    spec = importlib.util.spec_from_file_location("quality_benchmark", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def example_seconds(seconds: float) -> tuple[np.ndarray, np.ndarray]:
    """The first `seconds` of the bundled example as audio (F · hop,) and its mel (80, F)."""
    audio, mel = aligned_audio_and_mel(load_audio(EXAMPLE, CONFIG.sample_rate)[0], CONFIG)
    frames = int(seconds * CONFIG.sample_rate / CONFIG.hop_length)
    return audio[: frames * CONFIG.hop_length], np.ascontiguousarray(mel[:, :frames])


def test_with_linear_prediction_each_excitation_is_its_own_mu_law_class_around_the_prediction_from_the_past():
    quality = quality_module()
    model = WaveNet(
        WaveNetConfig(blocks=1, layers=4, residual_channels=8, skip_channels=8, lpc_order=16, upsample=UPSAMPLE), CONFIG
    ).eval()
    audio, mel = example_seconds(1.0)
    coded = quality.true_classes(model, audio, mel)
    assert coded.shape == audio.shape and coded.dtype == np.float32
    mel_batch, audio_batch = torch.from_numpy(mel)[None], torch.from_numpy(audio)[None]
    prediction, excitation = model.predictor.split(mel_batch, audio_batch)
    coded_excitation = torch.from_numpy(coded)[None].double() - prediction
    # the coded excitation is the level of the recording's own class (to float32 rounding of the sample)
    levels = mulaw_expand(mulaw_classes(excitation, 8), 8).double()
    np.testing.assert_allclose(coded_excitation.numpy(), levels.numpy(), atol=1e-6)
    # an 8-bit class of a signal 12 dB or more below the speech: the coded speech is close to the recording
    error = coded.astype(np.float64) - audio
    assert 10 * np.log10(np.mean(audio.astype(np.float64) ** 2) / np.mean(error**2)) > 30


def test_without_linear_prediction_it_is_each_samples_own_class_and_mixtures_have_none():
    quality = quality_module()
    audio, mel = example_seconds(0.5)
    mulaw = WaveRNN(WaveRNNConfig(rnn_dims=16, fc_dims=16, bits=9, upsample=UPSAMPLE), CONFIG).eval()
    expected = mulaw_expand(mulaw_classes(torch.from_numpy(audio), 9), 9).numpy()
    np.testing.assert_allclose(quality.true_classes(mulaw, audio, mel), expected, atol=1e-7)
    mixture = WaveRNN(WaveRNNConfig(rnn_dims=16, fc_dims=16, mode="mol", upsample=UPSAMPLE), CONFIG).eval()
    assert quality.true_classes(mixture, audio, mel) is None
