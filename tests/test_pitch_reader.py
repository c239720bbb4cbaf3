"""The learned pitch reader (engine/pitch_reader.py) and its training (engine/pitch_reader_training.py): synthetic
clips are labelled where their tone is, `vocoscope train-pitch` lowers the loss and writes a reader that loads with
its MelConfig and training record (drawing nothing from torch's random state), the shipped reader serves the default MelConfig only, and without a reader the
templates read as before."""

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from engine.cli import main as cli_main
from engine.features import MelConfig, mel_spectrogram
from engine.pitch import candidates, estimate_pitch
from engine.pitch_reader import bundled_reader, load_reader
from engine.pitch_reader_training import example, synthetic_clip, targets, train_reader
from tests.test_pitch import harmonic_signal

CONFIG = MelConfig()


def test_a_synthetic_clip_is_voiced_where_its_tone_is_and_at_its_f0(warm_librosa):
    audio, f0, voiced = synthetic_clip(np.random.default_rng(5), CONFIG)
    frames = len(audio) // CONFIG.hop_length + 1
    assert audio.dtype == np.float32 and f0.shape == voiced.shape == (frames,)
    assert 0.1 < voiced.mean() < 0.95
    assert ((f0[voiced] >= 62.0) & (f0[voiced] <= 520.0)).all()
    # a voiced frame's audio repeats at its F0's period: the autocorrelation there beats the half period's
    frame = int(np.flatnonzero(voiced)[len(np.flatnonzero(voiced)) // 2])
    centre, period = frame * CONFIG.hop_length, CONFIG.sample_rate / f0[frame]
    piece = audio[centre - 400 : centre + 400].astype(np.float64)
    lag = int(round(period))
    correlation = np.dot(piece[:-lag], piece[lag:]) / np.dot(piece, piece)
    assert correlation > 0.5, correlation


def test_targets_put_a_voiced_frame_on_its_candidate_and_an_unvoiced_one_on_the_last_class():
    count = len(candidates())
    f0 = np.array([candidates()[40], 0.0, candidates()[100]], np.float32)
    item = example(np.zeros((80, 3), np.float32), f0, np.array([True, False, True]), CONFIG)
    wanted = targets(item, count)
    assert wanted.shape == (count + 1, 3)
    np.testing.assert_allclose(wanted.sum(0), 1.0, rtol=1e-5)
    assert int(np.argmax(wanted[:, 0])) == 40 and int(np.argmax(wanted[:, 2])) == 100
    assert wanted[count, 1] == 1.0 and wanted[count, 0] == 0.0


def test_training_on_synthetic_clips_lowers_the_loss(warm_librosa):
    rng = np.random.default_rng(0)
    examples = []
    for _ in range(6):
        audio, f0, voiced = synthetic_clip(rng, CONFIG)
        examples.append(example(mel_spectrogram(audio, CONFIG), f0, voiced, CONFIG))
    _, losses = train_reader(examples, 120, CONFIG)
    first, last = np.mean(losses[:10]), np.mean(losses[-10:])
    assert last < 0.7 * first, (first, last)


@pytest.mark.slow
def test_train_pitch_writes_a_reader_that_loads_with_its_record(tmp_path, warm_librosa):
    for voice, f0 in (("low", 110.0), ("high", 240.0)):
        (tmp_path / "voices" / voice).mkdir(parents=True)
        for index in range(2):
            tone = harmonic_signal(np.full(24000, f0 * (1 + 0.05 * index)), seed=index)
            sf.write(tmp_path / "voices" / voice / f"{index}.wav", tone, CONFIG.sample_rate)
    (tmp_path / "manifest.json").write_text(json.dumps({"voices": {"low": {"licence": "CC0"}}}))
    out = tmp_path / "reader.safetensors"
    argv = ["train-pitch", "--data", str(tmp_path / "voices"), "--out", str(out), "--steps", "20"]
    assert cli_main(argv + ["--per-voice", "1", "--synthetic", "2"]) == 0
    reader, config, metadata = load_reader(out)
    assert config == CONFIG and reader.candidates == len(candidates())
    record = metadata["training"]
    assert record["recordings"] == 2 and record["synthetic_clips"] == 2 and record["steps"] == 20
    assert record["licences"] == {"low": "CC0"}
    labels = list((tmp_path / "voices" / ".vocoscope-cache").rglob("*.npz"))
    assert len(labels) == 2  # pyin's labels, cached for the next run
    state = torch.get_rng_state()
    again, _, _ = load_reader(out)  # loading draws nothing: a training run is the same whether it loads first or not
    assert torch.equal(torch.get_rng_state(), state)
    assert all(torch.equal(value, again.state_dict()[name]) for name, value in reader.state_dict().items())
    log_prior, voiced = reader.read(np.zeros((80, 7)), np.zeros((7, reader.candidates)))
    assert log_prior.shape == (7, reader.candidates) and voiced.shape == (7,)
    np.testing.assert_allclose(np.exp(log_prior).sum(1), 1.0, rtol=1e-6)
    assert cli_main(argv + ["--per-voice", "0", "--synthetic", "0"]) == 2


def test_the_shipped_reader_serves_the_default_mel_only_and_the_templates_read_without_it(warm_librosa):
    count = len(candidates())
    assert bundled_reader(CONFIG, count) is not None  # so tests/test_pitch.py tests what ships
    other = MelConfig(n_mels=64)
    assert bundled_reader(other, count) is None
    tone = harmonic_signal(np.full(CONFIG.sample_rate, 150.0))
    for config in (CONFIG, other):
        mel = mel_spectrogram(tone, config)
        for learned in (True, False):
            track = estimate_pitch(mel, config, learned=learned)
            assert track.voiced[4:-4].all(), (config.n_mels, learned)
            assert np.abs(1200 * np.log2(track.f0[4:-4] / 150.0)).max() < 20.0
