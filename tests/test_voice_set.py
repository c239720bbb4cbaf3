"""The many-voice set: whole voices per role, pitch-shifted training copies, licences kept, and training on it."""

import json

import numpy as np
import pytest
import soundfile
import torch

from engine import checkpoints
from engine.pitch_source import SOURCE_CHANNELS
from engine.train import Trainer, run_training
from engine.voice_set import GAIN_DB, PITCH_SHIFTS, Voice, build_voice_set, file_gain, selection
from tests.test_train import sections

RATE = 16000


def speaker(folder, f0, count, seconds, suffix="wav"):
    """`count` recordings of a steady harmonic 'voice' at f0 Hz, written at 22.05 kHz as the game data is."""
    folder.mkdir(parents=True)
    rate = 22050
    t = np.arange(int(seconds * rate)) / rate
    tone = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 8))
    for index in range(count):
        soundfile.write(str(folder / f"take{index:02d}.{suffix}"), 0.2 * tone * (1 + 0.1 * index) / 3, rate)


def voice(root, name, role, f0, count=3, seconds=3.0):
    speaker(root / name, f0, count, seconds)
    return Voice(name, role, "xx", "test", f"a {f0:g} Hz tone", "none", root / name, "*.wav", "CC0", f"{name} (test)")


def dominant_hz(samples):
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return np.argmax(spectrum) * RATE / len(samples)


@pytest.fixture(scope="module")
def voice_set(tmp_path_factory, warm_librosa):
    source = tmp_path_factory.mktemp("voices-source")
    out = tmp_path_factory.mktemp("voices")
    voices = (
        voice(source, "low", "train", 110.0),
        voice(source, "high", "train", 240.0),
        voice(source, "valid-one", "valid", 150.0),
        voice(source, "held-one", "heldout", 190.0, count=10),
    )
    return out, build_voice_set(out, voices)


def test_each_voice_lies_whole_in_its_role_and_the_manifest_says_so(voice_set):
    out, manifest = voice_set
    assert {part: sorted(p.name for p in (out / part).iterdir()) for part in ("train", "valid", "heldout")} == {
        "train": ["high", "low"],
        "valid": ["valid-one"],
        "heldout": ["held-one"],
    }
    assert manifest["voices"]["held-one"]["role"] == "heldout" and manifest["licences"] == ["CC0"]
    assert len(manifest["files"]["heldout"]) == 8  # the selection's count of the 10 recordings
    assert len(manifest["files"]["train"]) == 2 * 3 * (1 + len(PITCH_SHIFTS))
    on_disk = json.loads((out / "manifest.json").read_text())
    assert on_disk["files"] == manifest["files"]


def test_training_copies_are_shifted_in_pitch_and_length_at_a_fixed_gain(voice_set):
    out, _ = voice_set
    original, rate = soundfile.read(str(out / "train" / "low" / "take00.wav"))
    assert rate == RATE
    for factor in PITCH_SHIFTS:
        name = f"low/take00.x{factor:g}.wav"
        copy, _ = soundfile.read(str(out / "train" / name))
        assert abs(len(copy) - len(original) / factor) <= 2
        assert abs(dominant_hz(copy) - 110.0 * factor) < 2.0
        gain = file_gain(name)
        assert 10 ** (GAIN_DB[0] / 20) <= gain <= 1.0 and gain == file_gain(name)
        level = np.sqrt(np.mean(copy**2)) / np.sqrt(np.mean(original**2))
        assert abs(level - gain / file_gain("low/take00.wav")) < 0.05 * level


def test_selection_spreads_over_the_recordings_of_the_right_length():
    durations = [1.0, 3.0, 3.0, 9.0, 4.0, 5.0, 2.6, 7.9, 3.3, 2.0, 6.0, 4.4]
    picked = selection(durations, count=4)
    assert len(picked) == 4 and picked == sorted(picked)
    assert all(2.5 <= durations[i] <= 8.0 for i in picked)
    assert selection([3.0, 1.0], count=4) == [0]


@pytest.mark.slow
def test_training_on_the_voice_set_names_every_training_voice_and_licence(voice_set, tmp_path):
    out, _ = voice_set
    trainer = Trainer.new(
        "wavenet", out / "train", sections=sections("wavenet"), device="cpu", valid_root=out / "valid"
    )
    result = run_training(trainer, tmp_path / "voices.safetensors", 3, log_path=None)
    assert result.steps == 3 and np.isfinite(result.losses[-1][1])
    data = checkpoints.load(tmp_path / "voices.safetensors").meta["training"]["data"]
    assert data["source"] == "voices" and data["licence"] == "CC0"
    assert "a 110 Hz tone" in data["speaker"] and "a 240 Hz tone" in data["speaker"]
    assert "150 Hz" not in data["speaker"]  # the validation voice is not training data


@pytest.mark.slow
def test_a_pitch_conditioned_wavenet_trains_on_the_voice_set(voice_set, tmp_path):
    out, _ = voice_set
    values = sections("wavenet")
    values["model"] = {**values["model"], "pitch_conditioning": True}
    trainer = Trainer.new("wavenet", out / "train", sections=values, device="cpu", valid_root=out / "valid")
    source_columns = trainer.model.condition.weight[:, -SOURCE_CHANNELS:].detach().clone()
    result = run_training(trainer, tmp_path / "pitch.safetensors", 3, log_path=None)
    assert result.steps == 3 and np.isfinite(result.losses[-1][1])
    loaded = checkpoints.load(tmp_path / "pitch.safetensors").model
    assert loaded.config.pitch_conditioning
    assert not torch.equal(loaded.condition.weight[:, -SOURCE_CHANNELS:], source_columns)  # trained through the source
