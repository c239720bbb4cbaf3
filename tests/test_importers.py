"""Importing fatchord/WaveRNN and Real-Time-Voice-Cloning checkpoints (engine/importers/): the imported model computes
what the source's own code computed, teacher-forced, and makes the mel the source makes from a recording.

The reference figures in tests/fixtures/importers/ come from running the sources' published code outside the
project (tests/fixtures/importers/README.md says how): a small random model of the source's structure, saved as the
source saves it, its teacher-forced output on a test signal, and the source's mel of that signal.
"""

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.signal import lfilter

from engine import checkpoints
from engine.emphasis import DeEmphasis
from engine.errors import CheckpointError
from engine.features import Conditioning, mel_spectrogram
from engine.generate import generate
from engine.importers.common import Settings
from engine.importers.fatchord import DEFAULTS, fatchord_mel
from engine.importers.sources import detect_source, import_checkpoint

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "importers"
ROOT = Path(__file__).resolve().parents[1]


def teacher_forced(model, reference) -> np.ndarray:
    """Our model's output (T, C) on the reference's mel frames and fed samples, as the source's was computed."""
    start, frames = int(reference["start"]), int(reference["frames"])
    mel = torch.from_numpy(reference["mel"][:, start : start + frames])[None]
    with torch.no_grad():
        return model(mel, torch.from_numpy(reference["audio"])[None])[0].T.numpy()


@pytest.mark.parametrize("kind", ["raw", "mol"])
def test_a_fatchord_wavernn_computes_what_fatchords_code_computed(kind):
    source, imported = import_checkpoint(
        FIXTURES / f"fatchord_{kind}.pyt", None, [FIXTURES / f"fatchord_{kind}_hparams.py"]
    )
    reference = np.load(FIXTURES / f"fatchord_{kind}.npz")
    model = imported.model
    assert source == "fatchord"
    assert model.config.mode == {"raw": "mulaw", "mol": "mol"}[kind]
    np.testing.assert_allclose(teacher_forced(model, reference), reference["output"], atol=1e-5, rtol=0)
    np.testing.assert_allclose(
        mel_spectrogram(reference["signal"], model.mel_config), reference["mel"], atol=1e-4, rtol=0
    )


def test_fatchords_published_mel_settings_make_its_mel(warm_librosa):
    reference = np.load(FIXTURES / "fatchord_published_mel.npz")
    settings = Settings("fatchord/WaveRNN", {}, DEFAULTS, [])
    config = fatchord_mel(settings, 80, DEFAULTS["hop_length"])
    assert (config.sample_rate, config.n_fft, config.win_length, config.fmax, config.ref_db) == (
        22050,
        2048,
        1100,
        11025,
        0,
    )
    np.testing.assert_allclose(mel_spectrogram(reference["signal"], config), reference["mel"], atol=1e-4, rtol=0)
    assert "sample_rate" in settings.guessed and "guessed from fatchord/WaveRNN" in settings.notes()[-1]


def test_an_rtvc_vocoder_imports_with_its_synthesizers_mel_and_de_emphasis(warm_librosa):
    source, imported = import_checkpoint(FIXTURES / "rtvc.pt", None)
    reference = np.load(FIXTURES / "rtvc.npz")
    mel = imported.model.mel_config
    assert source == "rtvc"
    assert (mel.sample_rate, mel.normalisation, mel.peak, mel.preemphasis, mel.output_preemphasis) == (
        16000,
        "db_symmetric",
        0.9,
        0.97,
        0.97,
    )
    np.testing.assert_allclose(teacher_forced(imported.model, reference), reference["output"], atol=1e-5, rtol=0)
    np.testing.assert_allclose(mel_spectrogram(reference["signal"], mel), reference["mel"], atol=1e-4, rtol=0)
    assert any(
        "guessed from Real-Time-Voice-Cloning's published defaults" in note and "preemphasis 0.97" in note
        for note in imported.notes
    )


def test_an_imported_model_streams_what_its_forward_computes():
    _, imported = import_checkpoint(FIXTURES / "fatchord_raw.pyt", "fatchord", [FIXTURES / "fatchord_raw_hparams.py"])
    reference = np.load(FIXTURES / "fatchord_raw.npz")
    model = imported.model
    mel = torch.from_numpy(reference["mel"][:, 10:13])[None]
    audio = torch.from_numpy(reference["audio"])[None]
    blocks = list(model.stream(mel, block_frames=1, teacher=audio, return_logits=True))
    streamed = torch.cat([block.logits for block in blocks], dim=-1)
    with torch.no_grad():
        np.testing.assert_allclose(streamed.numpy(), model(mel, audio).numpy(), atol=1e-4, rtol=0)


def test_generation_de_emphasises_what_a_pre_emphasis_model_makes():
    _, imported = import_checkpoint(FIXTURES / "rtvc.pt", "rtvc")
    model = imported.model
    plain = dataclasses.replace(model.mel_config, output_preemphasis=0.0)
    mel = np.load(FIXTURES / "rtvc.npz")["mel"][:, :6]

    def take(config):
        model.mel_config = config
        chunks = generate(model, Conditioning(mel=mel, mel_config=config), device="cpu", seed=3)
        return np.concatenate([chunk.samples for chunk in chunks])

    emphasised, made = take(plain), take(dataclasses.replace(plain, output_preemphasis=0.97))
    expected = np.clip(lfilter([1.0], [1.0, -0.97], emphasised.astype(np.float64)), -1, 1)
    np.testing.assert_allclose(made, expected, atol=1e-6)
    assert np.abs(made - emphasised).max() > 1e-3


def test_de_emphasis_in_pieces_equals_one_pass():
    x = np.random.default_rng(1).uniform(-0.3, 0.3, 1000).astype(np.float32)
    filter_ = DeEmphasis(0.85)
    pieces = np.concatenate([filter_.push(x[:7]), filter_.push(x[7:500]), filter_.push(x[500:]), filter_.finish()])
    np.testing.assert_allclose(pieces, np.clip(lfilter([1], [1, -0.85], x.astype(np.float64)), -1, 1), atol=1e-7)


@pytest.mark.slow
def test_the_import_command_writes_a_checkpoint_that_loads_with_the_sources_settings(tmp_path):
    output = tmp_path / "voc.safetensors"
    result = subprocess.run(
        [sys.executable, "-m", "engine.cli", "import", str(FIXTURES / "rtvc.pt"), "--from", "rtvc", "-o", str(output)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "guessed from Real-Time-Voice-Cloning's published defaults" in result.stdout
    loaded = checkpoints.load(output)
    assert loaded.model.mel_config.output_preemphasis == 0.97
    assert loaded.meta["imported"]["source"] == "Real-Time-Voice-Cloning"
    assert loaded.meta["imported"]["guessed"]["sample_rate"] == 16000
    assert loaded.meta["imported"]["from_weights"]["upsample_factors"] == [5, 5, 8]


class _Payload:
    """Unpickling this would run os.system: the importer must refuse the file without unpickling it."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.mark.slow
def test_a_checkpoint_that_needs_code_to_load_is_refused_without_running_it(tmp_path):
    marker, path = tmp_path / "ran", tmp_path / "model.pth"
    torch.save({"model": _Payload(marker)}, path)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "engine.cli",
            "import",
            str(path),
            "--from",
            "fatchord",
            "-o",
            str(tmp_path / "out.safetensors"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 2
    assert str(path) in result.stderr and "never unpickles code" in result.stderr
    assert "Traceback" not in result.stderr
    assert not marker.exists() and not (tmp_path / "out.safetensors").exists()


def test_a_checkpoint_of_another_source_is_refused_naming_the_detected_one():
    assert detect_source(FIXTURES / "rtvc.pt") == "rtvc"
    with pytest.raises(CheckpointError, match="imported as r9y9.*--from rtvc"):
        import_checkpoint(FIXTURES / "rtvc.pt", "r9y9")


def test_hparams_that_contradict_the_weights_are_refused(tmp_path):
    hparams = tmp_path / "hparams.py"
    hparams.write_text("hop_length = 275\nsample_rate = 22050\n")
    with pytest.raises(CheckpointError, match=r"hop 100\) in the weights, but hop 275 in the hparams"):
        import_checkpoint(FIXTURES / "fatchord_raw.pyt", "fatchord", [hparams])
