"""A voice set cut to a size: its validation voices whole, its training voices in turn, the held-out ones never,
the samples unchanged, and nothing past the size."""

import json

import numpy as np
import pytest
import soundfile

from engine.cli import main
from engine.voice_set import build_voice_set
from engine.voice_subset import copy_subset
from tests.test_voice_set import voice


@pytest.fixture(scope="module")
def voice_set(tmp_path_factory):
    source = tmp_path_factory.mktemp("voices-source")
    out = tmp_path_factory.mktemp("voices")
    build_voice_set(
        out,
        (
            voice(source, "low", "train", 110.0, count=4),
            voice(source, "high", "train", 240.0, count=4),
            voice(source, "valid-one", "valid", 150.0),
            voice(source, "held-one", "heldout", 190.0, count=10),
        ),
    )
    return out


def flac_bytes(folder):
    return sum(path.stat().st_size for path in folder.rglob("*.flac"))


def test_the_whole_set_is_copied_sample_for_sample_without_the_held_out_voices(voice_set, tmp_path):
    manifest = copy_subset(voice_set, tmp_path / "all", mib=1000.0)
    source = json.loads((voice_set / "manifest.json").read_text())
    assert sorted(manifest["voices"]) == ["high", "low", "valid-one"]
    assert not (tmp_path / "all" / "heldout").exists()
    for role in ("train", "valid"):
        assert sorted(manifest["files"][role]) == sorted(name[:-4] + ".flac" for name in source["files"][role])
    for name in manifest["files"]["train"]:
        copied, rate = soundfile.read(str(tmp_path / "all" / "train" / name), dtype="int16")
        original, _ = soundfile.read(str(voice_set / "train" / name.replace(".flac", ".wav")), dtype="int16")
        assert rate == 16000
        np.testing.assert_array_equal(copied, original)
    assert manifest["voices"]["low"]["files"] == 12 and manifest["subset_of"] == str(voice_set)
    assert manifest["mib"] == pytest.approx(flac_bytes(tmp_path / "all") / 2**20, abs=0.01)


def test_a_budget_keeps_every_validation_file_and_takes_the_training_voices_in_turn(voice_set, tmp_path):
    copy_subset(voice_set, tmp_path / "all", mib=1000.0)
    budget = flac_bytes(tmp_path / "all") / 2 / 2**20
    manifest = copy_subset(voice_set, tmp_path / "half", mib=budget)
    assert flac_bytes(tmp_path / "half") <= budget * 2**20
    assert len(manifest["files"]["valid"]) == 3
    taken = {name: manifest["voices"][name]["files"] for name in ("low", "high")}
    assert 2 <= taken["low"] < 12 and abs(taken["low"] - taken["high"]) <= 1
    on_disk = sorted(str(path.relative_to(tmp_path / "half")) for path in (tmp_path / "half").rglob("*.flac"))
    assert on_disk == sorted(f"{role}/{name}" for role in ("train", "valid") for name in manifest["files"][role])
    seconds = sum(soundfile.info(str(tmp_path / "half" / "train" / n)).duration for n in manifest["files"]["train"])
    assert manifest["voices"]["low"]["seconds"] + manifest["voices"]["high"]["seconds"] == pytest.approx(
        seconds, abs=0.1
    )


def test_the_command_names_a_folder_that_is_no_voice_set(tmp_path, capsys):
    assert main(["trainset", "--subset", str(tmp_path), "--mib", "5", "--out", str(tmp_path / "out")]) == 2
    assert "a voice set made by `vocoscope trainset --source voices --out DIR`" in capsys.readouterr().err
