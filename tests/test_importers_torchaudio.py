"""Importing a torchaudio WaveRNN (engine/importers/torchaudio_wavernn.py): teacher-forced outputs and mel equal to what
torchaudio 2.11.1 and its examples/pipeline_wavernn transform computed (tests/fixtures/importers/README.md)."""

from pathlib import Path

import numpy as np
import torch

from engine.features import mel_spectrogram
from engine.importers.common import Settings
from engine.importers.sources import import_checkpoint
from engine.importers.torchaudio_wavernn import DEFAULTS, torchaudio_mel

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "importers"


def test_a_torchaudio_wavernn_computes_what_torchaudio_computed(warm_librosa):
    source, imported = import_checkpoint(FIXTURES / "torchaudio.pth", None, [FIXTURES / "torchaudio_hparams.json"])
    reference = np.load(FIXTURES / "torchaudio.npz")
    start, frames = int(reference["start"]), int(reference["frames"])
    mel = torch.from_numpy(reference["mel"][:, start : start + frames])[None]
    with torch.no_grad():
        output = imported.model(mel, torch.from_numpy(reference["audio"])[None])[0].T.numpy()
    assert source == "torchaudio" and imported.model.config.bits == 7
    np.testing.assert_allclose(output, reference["output"], atol=1e-5, rtol=0)
    np.testing.assert_allclose(
        mel_spectrogram(reference["signal"], imported.model.mel_config), reference["mel"], atol=1e-4, rtol=0
    )
    assert imported.meta["imported"]["from_hparams"]["n_bits"] == 7


def test_torchaudios_published_mel_settings_make_its_examples_mel():
    reference = np.load(FIXTURES / "torchaudio_published_mel.npz")
    config = torchaudio_mel(Settings("torchaudio WaveRNN", {}, DEFAULTS, []), 80, 275)
    np.testing.assert_allclose(mel_spectrogram(reference["signal"], config), reference["mel"], atol=1e-4, rtol=0)
