"""The envelope post-filter's passes in torch (engine/models/envelope_passes.py): the same samples as the numpy
post-filter over the whole signal, the end included, gradients that reach the audio, and a waveform WaveNet whose
loss scores its output after them (`loss_envelope_passes`)."""

import numpy as np
import pytest
import torch

from engine.envelope import envelope_postfilter
from engine.errors import ConfigError
from engine.features import MelConfig, mel_spectrogram
from engine.models.envelope_passes import EnvelopePasses
from engine.models.registry import build
from engine.train import Trainer
from tests.test_train import tone_set  # noqa: F401 (fixture)
from tests.test_wavenet_waveform import sections

CONFIG = MelConfig()


def buzz_and_noise_mel(samples: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A 130 Hz buzz with a little noise (samples,) float32, and the mel of other noise to bring it to."""
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / CONFIG.sample_rate
    buzz = 0.2 * np.sign(np.sin(2 * np.pi * 130 * t)) * np.hanning(samples) + 0.02 * rng.standard_normal(samples)
    return buzz.astype(np.float32), mel_spectrogram((0.1 * rng.standard_normal(samples)).astype(np.float32), CONFIG)


@pytest.mark.parametrize("samples", [16000, 15937])  # whole hops, and not
def test_the_passes_give_the_post_filters_samples_to_the_last_one(samples, warm_librosa):
    audio, mel = buzz_and_noise_mel(samples)
    expected = audio
    for _ in range(3):
        expected = envelope_postfilter(expected, mel, CONFIG, 1.0)
    made = EnvelopePasses(CONFIG, 3)(torch.from_numpy(audio)[None].double(), torch.from_numpy(mel)[None])[0]
    np.testing.assert_allclose(made.numpy(), expected, atol=1e-6)
    assert np.abs(expected - audio).max() > 0.05


def test_gradients_reach_the_audio(warm_librosa):
    audio, mel = buzz_and_noise_mel(4000, seed=1)
    audio = torch.from_numpy(audio)[None].requires_grad_(True)
    EnvelopePasses(CONFIG, 2)(audio, torch.from_numpy(mel)[None]).square().sum().backward()
    assert torch.isfinite(audio.grad).all() and float(audio.grad.abs().mean()) > 1e-4


def test_a_waveform_wavenet_is_scored_after_the_passes(tone_set, warm_librosa):  # noqa: F811
    trainer = Trainer.new("wavenet", tone_set, sections=sections(), device="cpu")
    model = build("wavenet", {**sections()["model"], "loss_envelope_passes": 2}, trainer.model.mel_config)
    model.load_state_dict(trainer.model.state_dict())
    trainer.model = model
    mel, audio = trainer.dataset.sample(np.random.default_rng(0), 2, slice(0, 2))
    torch.manual_seed(3)
    scored = trainer.teacher_forced_loss(mel, audio).detach()
    torch.manual_seed(3)
    with torch.no_grad():
        output = model(mel, audio)
    context = trainer.config.context_frames * model.hop_length
    heard = model.heard(output[:, 0], mel)[:, None]
    assert float(scored) == pytest.approx(float(model.loss(heard[..., context:-context], audio[:, context:-context])))
    assert float(scored) != pytest.approx(float(model.loss(output[..., context:-context], audio[:, context:-context])))


def test_passes_need_the_waveform_output():
    with pytest.raises(ConfigError, match=r"loss_envelope_passes is 2 with output .mulaw.; it takes 0 to 16 passes"):
        build("wavenet", {"loss_envelope_passes": 2})
    with pytest.raises(ConfigError, match="loss_envelope_passes is 17"):
        build("wavenet", {**sections()["model"], "loss_envelope_passes": 17})
