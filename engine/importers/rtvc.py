"""Real-Time-Voice-Cloning's vocoder → a Vocoscope WaveRNN.

Its vocoder is fatchord's WaveRNN (vocoder/models/fatchord_version.py, the same names and shapes: see fatchord.py),
saved as {"model_state": ..., "optimizer_state": ...}. What differs is the audio around it, taken from
synthesizer/hparams.py (the vocoder's hparams.py copies its values) or its published defaults:
- the mel is the synthesizer's (synthesizer/audio.py `melspectrogram`): the audio scaled to a peak of 0.9
  (`rescale`, as `Synthesizer.make_spectrogram` does for a recording), pre-emphasised by 0.97, a magnitude mel in
  dB less `ref_level_db`, scaled to [-max_abs_value, max_abs_value]; the vocoder divides it by max_abs_value, so it
  sees [-1, 1] (our "db_symmetric");
- the vocoder models pre-emphasised audio (`apply_preemphasis`), which its generation de-emphasises: the imported
  model's `output_preemphasis`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.errors import CheckpointError
from engine.features import MelConfig
from engine.importers.common import (
    Imported,
    Settings,
    read_hparams,
    read_torch_file,
    tensor_dict,
)
from engine.importers.fatchord import import_wavernn

SOURCE = "Real-Time-Voice-Cloning"
LICENCE = "the checkpoint's own; Real-Time-Voice-Cloning's code is MIT-licensed"

# synthesizer/hparams.py and vocoder/hparams.py as published.
DEFAULTS: dict[str, Any] = {
    "sample_rate": 16000,
    "n_fft": 800,
    "num_mels": 80,
    "hop_size": 200,
    "win_size": 800,
    "fmin": 55,
    "fmax": 7600,
    "min_level_db": -100,
    "ref_level_db": 20,
    "max_abs_value": 4.0,
    "preemphasis": 0.97,
    "preemphasize": True,
    "rescale": True,
    "rescaling_max": 0.9,
    "signal_normalization": True,
    "symmetric_mels": True,
    "bits": 9,
    "mu_law": True,
    "voc_mode": "RAW",
}


def import_rtvc(path: Path, hparams_files: list[Path]) -> Imported:
    """A checkpoint written by Real-Time-Voice-Cloning's `WaveRNN.save` → an `Imported` WaveRNN."""
    state = tensor_dict(path, read_torch_file(path), ("model_state",))
    settings = Settings(SOURCE, read_hparams(hparams_files), DEFAULTS, hparams_files)
    return import_wavernn(
        path,
        state,
        settings,
        lambda s, n_mels, hop: rtvc_mel(path, s, n_mels, hop),
        SOURCE,
        LICENCE,
        DEFAULTS["hop_size"],
    )


def rtvc_mel(path: Path, settings: Settings, n_mels: int, hop_length: int) -> MelConfig:
    """The synthesizer's mel, as the vocoder sees it (divided by max_abs_value), as a MelConfig."""
    if not settings.get("signal_normalization"):
        raise CheckpointError(
            path,
            "signal_normalization = False in the hparams",
            "signal_normalization = True",
            "A vocoder trained on unnormalised dB mels cannot be imported.",
        )
    emphasis = float(settings.get("preemphasis")) if settings.get("preemphasize") else 0.0
    return MelConfig(
        sample_rate=int(settings.get("sample_rate")),
        n_fft=int(settings.get("n_fft")),
        hop_length=hop_length,
        win_length=int(settings.get("win_size", "win_length")),
        window="hann",
        n_mels=n_mels,
        fmin=float(settings.get("fmin")),
        fmax=float(settings.get("fmax")),
        normalisation="db_symmetric" if settings.get("symmetric_mels") else "db_minmax",
        min_db=float(settings.get("min_level_db")),
        ref_db=float(settings.get("ref_level_db")),
        peak=float(settings.get("rescaling_max")) if settings.get("rescale") else 0.0,
        preemphasis=emphasis,
        output_preemphasis=emphasis,
    )
