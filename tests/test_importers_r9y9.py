"""Importing r9y9/wavenet_vocoder checkpoints (engine/importers/r9y9.py): the imported WaveNet computes what r9y9's own
code computed, teacher-forced, and makes the mel r9y9's preprocessing makes from a recording.

The reference figures in tests/fixtures/r9y9/ come from running r9y9's published code outside the project
(tests/fixtures/r9y9/README.md says how): a small random model of its structure saved as its train.py saves
checkpoints, its hparams.json, its mel statistics as a .npz, and its outputs on a test signal.
"""

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from engine import checkpoints
from engine.errors import CheckpointError
from engine.features import mel_spectrogram
from engine.importers.sources import detect_source, import_checkpoint

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "r9y9"
ROOT = Path(__file__).resolve().parents[1]


def imported(kind: str):
    files = [FIXTURES / f"r9y9_{kind}_hparams.json", FIXTURES / f"r9y9_{kind}_meanvar.npz"]
    return import_checkpoint(FIXTURES / f"r9y9_{kind}.pth", None, files)


def expected_output(reference) -> np.ndarray:
    """r9y9's output columns (C, n), its mixture moved to the recording's scale as the import folds the gain g in:
    means ÷ g, log scales − log g (mixture logits and mu-law logits unchanged)."""
    output, gain = reference["output"].T.copy(), float(reference["gain"])
    if output.shape[0] == 30:
        output[10:20] /= gain
        output[20:] -= math.log(gain)
    return output


@pytest.mark.parametrize("kind", ["raw", "mulaw"])
def test_an_r9y9_wavenet_computes_what_r9y9s_code_computed(kind, warm_librosa):
    source, result = imported(kind)
    reference = np.load(FIXTURES / f"r9y9_{kind}.npz")
    model = result.model
    assert source == "r9y9"
    assert (model.config.input, model.config.output) == {"raw": ("scalar", "mol"), "mulaw": ("mulaw", "mulaw")}[kind]
    assert model.receptive_field == int(reference["receptive_field"])
    with torch.no_grad():
        output = model(torch.from_numpy(reference["mel"])[None], torch.from_numpy(reference["audio"])[None])[0]
    np.testing.assert_allclose(output.numpy()[:, reference["columns"]], expected_output(reference), atol=1e-5, rtol=0)
    np.testing.assert_allclose(
        mel_spectrogram(reference["signal"], model.mel_config), reference["mel"], atol=1e-4, rtol=0
    )


def test_the_mixture_recipes_conventions_are_carried_into_the_model():
    _, result = imported("raw")
    mel, config = result.model.mel_config, result.model.config
    assert (mel.normalisation, mel.highpass_hz, mel.output_preemphasis, mel.preemphasis) == (
        "log10_meanvar",
        70.0,
        0.85,
        0.0,
    )
    assert len(mel.mel_mean) == len(mel.mel_scale) == 20
    assert config.log_scale_min == pytest.approx(-16.0 - math.log(0.55))
    assert (config.blocks, config.layers, config.kernel_size, config.upsample.pad_mode) == (2, 3, 3, "edge")
    assert result.meta["steps"] == 1234
    assert any("mel statistics" in note and "variance of 20 bands" in note for note in result.notes)


@pytest.mark.parametrize("kind", ["raw", "mulaw"])
def test_an_imported_r9y9_model_streams_what_its_forward_computes(kind):
    model = imported(kind)[1].model
    reference = np.load(FIXTURES / f"r9y9_{kind}.npz")
    mel = torch.from_numpy(reference["mel"][:, 10:14])[None]
    audio = torch.from_numpy(reference["audio"][1000:1400])[None]
    blocks = list(model.stream(mel, block_frames=1, teacher=audio, return_logits=True))
    streamed = torch.cat([block.logits for block in blocks], dim=-1)
    with torch.no_grad():
        np.testing.assert_allclose(streamed.numpy(), model(mel, audio).numpy(), atol=1e-4, rtol=0)
    samples = torch.cat([block.samples for block in model.stream(mel, generator=torch.Generator().manual_seed(0))], 1)
    assert samples.shape == (1, 400) and samples.abs().max() <= 1.0 and samples.std() > 0


@pytest.mark.slow
def test_the_import_command_writes_an_r9y9_checkpoint_that_loads_and_computes_the_same(tmp_path):
    output = tmp_path / "r9y9.safetensors"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "engine.cli",
            "import",
            str(FIXTURES / "r9y9_raw.pth"),
            "--hparams",
            str(FIXTURES / "r9y9_raw_hparams.json"),
            "--hparams",
            str(FIXTURES / "r9y9_raw_meanvar.npz"),
            "-o",
            str(output),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "r9y9 checkpoint → wavenet" in result.stdout and "low-cut 70 Hz" in result.stdout
    loaded = checkpoints.load(output)
    reference = np.load(FIXTURES / "r9y9_raw.npz")
    assert loaded.model.mel_config == imported("raw")[1].model.mel_config
    assert loaded.meta["imported"]["from_hparams"]["global_gain_scale"] == 0.55
    with torch.no_grad():
        output_columns = loaded.model(
            torch.from_numpy(reference["mel"])[None], torch.from_numpy(reference["audio"])[None]
        )[0].numpy()[:, reference["columns"]]
    np.testing.assert_allclose(output_columns, expected_output(reference), atol=1e-5, rtol=0)


def test_an_r9y9_checkpoint_without_its_mel_statistics_is_refused_saying_how_to_make_them():
    assert detect_source(FIXTURES / "r9y9_raw.pth") == "r9y9"
    with pytest.raises(CheckpointError, match=r"no mean-variance statistics.*numpy.savez\('meanvar.npz'"):
        import_checkpoint(FIXTURES / "r9y9_raw.pth", "r9y9", [FIXTURES / "r9y9_raw_hparams.json"])


def test_a_speaker_conditioned_r9y9_checkpoint_is_refused_with_the_reason(tmp_path):
    checkpoint = torch.load(FIXTURES / "r9y9_raw.pth", weights_only=True)
    checkpoint["state_dict"]["embed_speakers.weight"] = torch.zeros(7, 16)
    path = tmp_path / "checkpoint_step000100000.pth"
    torch.save(checkpoint, path)
    with pytest.raises(CheckpointError, match="global \\(speaker\\) conditioning.*gin_channels -1"):
        import_checkpoint(path, None, [FIXTURES / "r9y9_raw_hparams.json", FIXTURES / "r9y9_raw_meanvar.npz"])
