"""Training on the recording's own pitch (engine/audio_pitch.py): YIN's F0 of the segment replaces the mel's reading
where it lies near it in a voiced frame, nowhere else; the phase row puts the source's tone on the recording's
fundamental; a waveform WaveNet and a pitch-conditioned WaveRNN train on it, and a model that cannot take the pitch
in training, or a phase without the recording's pitch, is refused before any step."""

import numpy as np
import pytest
import torch

from engine.audio_pitch import audio_phase_rows, audio_pitch_rows
from engine.errors import ConfigError
from engine.features import MelConfig, mel_spectrogram
from engine.pitch_source import PHASE_ROW, PITCH_ROWS, SOURCE_CHANNELS, pitch_of_mels, source_features
from engine.train import Trainer
from tests.test_pitch import harmonic_signal
from tests.test_train import TINY_MODELS, TINY_TRAINING, tone_set  # noqa: F401 (fixture)
from tests.test_wavenet_waveform import WAVEFORM

CONFIG = MelConfig()


def test_the_recordings_f0_replaces_a_reading_near_it_in_voiced_frames_only(warm_librosa):
    voice = harmonic_signal(np.full(CONFIG.sample_rate, 150.0))
    frames = len(voice) // CONFIG.hop_length
    audio = torch.from_numpy(voice[: frames * CONFIG.hop_length])[None]
    rows = pitch_of_mels(torch.from_numpy(mel_spectrogram(voice, CONFIG)[:, :frames])[None], CONFIG)
    inner = slice(5, frames - 5)
    assert bool(rows[0, 1, inner].all())  # read voiced
    off = rows.clone()
    off[0, 0, :] = 150.0 * 2 ** (60 / 1200)  # a reading 60 cents sharp
    off[0, 0, 20:30] = 150.0 * 2 ** (300 / 1200)  # and 300 cents sharp here: too far to be the same voice's
    off[0, 1, 40:50] = 0.0  # read unvoiced here
    taken = audio_pitch_rows(off, audio, CONFIG, cents=100.0)
    error = 1200 * np.log2(taken[0, 0].numpy() / 150.0)
    near = np.r_[5:20, 30:40, 50 : frames - 5]
    assert np.abs(error[near]).max() < 10.0, np.abs(error[near]).max()
    torch.testing.assert_close(taken[0, 0, 20:30], off[0, 0, 20:30])
    torch.testing.assert_close(taken[0, 0, 40:50], off[0, 0, 40:50])
    torch.testing.assert_close(taken[:, 1:], off[:, 1:])  # voicing and score stay the mel's


def test_the_phase_row_puts_the_sources_tone_on_the_recordings_fundamental():
    frames = 40
    samples = np.arange(frames * CONFIG.hop_length)
    f0 = 120.0 * 2 ** (0.3 * np.sin(2 * np.pi * 1.5 * samples / CONFIG.sample_rate))  # gliding 103–148 Hz
    fundamental = 2 * np.pi * np.cumsum(f0) / CONFIG.sample_rate + 1.234
    rng = np.random.default_rng(0)
    voice = sum(np.cos(k * fundamental + rng.uniform(0, 2 * np.pi)) / k**0.7 for k in range(2, 30))
    voice = 0.3 * (voice + np.cos(fundamental)) / np.abs(voice).max()
    rows = torch.zeros(1, PITCH_ROWS, frames)
    rows[0, 0] = torch.from_numpy(f0[:: CONFIG.hop_length] * 2 ** (20 / 1200))  # read 20 cents sharp
    rows[0, 1] = 1.0
    aligned = audio_phase_rows(rows, torch.from_numpy(voice).float()[None], CONFIG)
    assert aligned.shape == (1, PITCH_ROWS + 1, frames)
    torch.testing.assert_close(aligned[:, :PHASE_ROW], rows)
    inner = slice(2 * CONFIG.hop_length, -2 * CONFIG.hop_length)

    def radians_off(given: torch.Tensor) -> np.ndarray:
        source = source_features(given, CONFIG.hop_length, CONFIG.sample_rate)[0][0].double().numpy()
        phase = np.arctan2(source[:, 1], source[:, 2])  # the sin and cos channels
        return np.abs(np.angle(np.exp(1j * (phase - fundamental))))[inner]

    assert radians_off(aligned).max() < 0.05, radians_off(aligned).max()
    free = radians_off(rows)  # the free-running phase lands anywhere: 0.5 rad off or more over most of the take
    assert np.mean(free > 0.5) > 0.5, np.mean(free > 0.5)


def test_a_waveform_wavenet_trains_on_it_and_a_plain_wavernn_is_refused(tone_set):  # noqa: F811
    model = {**WAVEFORM, "mel_synthesis": True}
    train = {**TINY_TRAINING, "segment_frames": 8, "context_frames": 1, "audio_pitch_cents": 100.0}
    sections = {"model": model, "mel": {}, "train": train}
    trainer = Trainer.new("wavenet", tone_set, sections=sections, device="cpu")
    losses = [trainer.step() for _ in range(6)]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0], losses
    refused = {"model": TINY_MODELS["wavernn"], "mel": {}, "train": train}
    with pytest.raises(ConfigError, match="audio_pitch_cents=100.0 needs a pitch-conditioned model"):
        Trainer.new("wavernn", tone_set, sections=refused, device="cpu")
    for phase, cents in ((1, 0.0), (2, 100.0)):
        unheard = {**sections, "train": {**train, "audio_pitch_cents": cents, "audio_phase": phase}}
        with pytest.raises(ConfigError, match=f"audio_phase={phase} with audio_pitch_cents={cents}; .* needs"):
            Trainer.new("wavenet", tone_set, sections=unheard, device="cpu")


@pytest.mark.parametrize("phase", [0, 1])
def test_a_pitch_conditioned_wavernn_trains_on_it_and_its_rows_reach_the_output(tone_set, phase):  # noqa: F811
    model = {**TINY_MODELS["wavernn"], "pitch_conditioning": True}
    train = {**TINY_TRAINING, "segment_frames": 8, "context_frames": 1, "audio_pitch_cents": 100.0}
    train["audio_phase"] = phase
    trainer = Trainer.new("wavernn", tone_set, sections={"model": model, "mel": {}, "train": train}, device="cpu")
    before = trainer.model.input_layer.weight[:, -SOURCE_CHANNELS:].detach().clone()
    losses = [trainer.step() for _ in range(6)]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0], losses
    moved = trainer.model.input_layer.weight.detach()[:, -SOURCE_CHANNELS:] - before
    assert float(moved.abs().max()) > 0  # the source columns trained
    mel, audio = trainer.dataset.sample(np.random.default_rng(0), 2)
    rows = pitch_of_mels(mel, trainer.model.mel_config)
    rows[:, 0], rows[:, 1] = 150.0, 1.0  # voiced at 150 Hz throughout
    octave = rows.clone()
    octave[:, 0] = 300.0
    with torch.no_grad():
        low, high, read = (trainer.model(mel, audio, pitch=p) for p in (rows, octave, None))
    assert low.shape == high.shape == read.shape == (2, 2**6, audio.shape[-1])
    assert float((low - high).abs().max()) > 1e-4  # the pitch given is the one the network is fed
    assert float((low - read).abs().max()) > 1e-4
