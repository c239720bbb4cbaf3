"""torchaudio's WaveRNN (`torchaudio.models.WaveRNN`) → a Vocoscope WaveRNN.

torchaudio's model is fatchord's (its docstring says so) under other names: the MelResNet is one `nn.Sequential`
(`melresnet_model.0` the input convolution, `.1` its batch norm, `.3 …` the res blocks, each a `resblock_model`
Sequential, the last the output convolution), `upsample_layers` holds the stretch-and-smooth stages, `fc` is fatchord's
`I`. The names are mapped to fatchord's and the import goes on as fatchord.py's does. Its `infer` pads the mel with
zero frames and feeds back the mu-law code as a value in [-1, 1], as fatchord's RAW mode does.

Accepted files: a plain state dict (the pretrained bundle's file), or the training example's checkpoint
{"state_dict" (keys under "module." from DataParallel), "optimizer", "epoch", ...}.

Mel conventions (examples/pipeline_wavernn: `MelSpectrogram(mel_scale="slaney", norm="slaney", power=1)`, centred
reflect-padded frames, then `NormalizeDB`: 20·log10(max(m, 1e-5)), (min_level_db − dB) / min_level_db clipped to
[0, 1]): the published defaults are 22050 Hz, n_fft 2048, hop 275, window 1100, f_min 40, f_max sr / 2, 80 bands.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from engine.features import MelConfig
from engine.importers.common import (
    Imported,
    Settings,
    read_hparams,
    read_torch_file,
    tensor_dict,
)
from engine.importers.fatchord import import_wavernn

SOURCE = "torchaudio WaveRNN"
LICENCE = "the checkpoint's own; torchaudio's code is BSD-2-Clause-licensed"

# examples/pipeline_wavernn/main.py's argument defaults (and the pretrained bundle's _get_wrnn_params).
DEFAULTS: dict[str, Any] = {
    "sample_rate": 22050,
    "n_fft": 2048,
    "hop_length": 275,
    "win_length": 1100,
    "f_min": 40.0,
    "min_level_db": -100.0,
    "mulaw": True,
    "normalization": True,
}
_RESBLOCK_PARTS = {"0": "conv1", "1": "batch_norm1", "3": "conv2", "4": "batch_norm2"}


def import_torchaudio(path: Path, hparams_files: list[Path]) -> Imported:
    """A torchaudio WaveRNN state dict (plain, or the training example's checkpoint) → an `Imported` WaveRNN."""
    state = tensor_dict(path, read_torch_file(path), ("state_dict",))
    state = {key.removeprefix("module."): value for key, value in state.items()}
    settings = Settings(SOURCE, read_hparams(hparams_files), DEFAULTS, hparams_files)
    return import_wavernn(
        path, fatchord_names(state), settings, torchaudio_mel, SOURCE, LICENCE, DEFAULTS["hop_length"]
    )


def fatchord_names(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """torchaudio's parameter names → fatchord's (the network is the same)."""
    indices = {
        int(match.group(1)) for key in state if (match := re.match(r"upsample\.resnet\.melresnet_model\.(\d+)\.", key))
    }
    last = max(indices, default=-1)
    renamed = {}
    for key, value in state.items():
        if match := re.fullmatch(r"upsample\.resnet\.melresnet_model\.(\d+)\.(.+)", key):
            index, rest = int(match.group(1)), match.group(2)
            if index == 0:
                key = f"upsample.resnet.conv_in.{rest}"
            elif index == 1:
                key = f"upsample.resnet.batch_norm.{rest}"
            elif index == last:
                key = f"upsample.resnet.conv_out.{rest}"
            elif block := re.fullmatch(r"resblock_model\.(\d+)\.(.+)", rest):
                key = f"upsample.resnet.layers.{index - 3}.{_RESBLOCK_PARTS.get(block.group(1), block.group(1))}.{block.group(2)}"
        elif key.startswith("upsample.upsample_layers."):
            key = "upsample.up_layers." + key.removeprefix("upsample.upsample_layers.")
        elif key.startswith("fc."):
            key = "I." + key.removeprefix("fc.")
        renamed[key] = value
    return renamed


def torchaudio_mel(settings: Settings, n_mels: int, hop_length: int) -> MelConfig:
    """The example's MelSpectrogram + NormalizeDB as a MelConfig."""
    sample_rate = int(settings.get("sample_rate"))
    return MelConfig(
        sample_rate=sample_rate,
        n_fft=int(settings.get("n_fft")),
        hop_length=hop_length,
        win_length=int(settings.get("win_length")),
        window="hann",
        n_mels=n_mels,
        fmin=float(settings.get("f_min")),
        fmax=sample_rate / 2,
        normalisation="db_minmax",
        min_db=float(settings.get("min_level_db")),
        ref_db=0.0,
    )
