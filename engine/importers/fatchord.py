"""fatchord/WaveRNN → a Vocoscope WaveRNN (engine/models/wavernn), weight for weight.

fatchord's `WaveRNN` (models/fatchord_version.py) is the network our WaveRNN family follows: the same upsampling
network (a MelResNet and stretch-and-smooth stages), input layer `I`, two residual GRUs and three output layers. The
names differ in three places (`I` → `input_layer`, `resnet.layers` → `resnet.blocks`, the smoothing convolutions
`up_layers.{1,3,5}` → `stages.{0,1,2}.smooth`); its `step` buffer becomes the checkpoint's step count.

Read from the shapes: rnn_dims, fc_dims, the classes (2^bits in "RAW" mode, 30 = 10 logistics in "MOL"), n_mels,
the resnet's width, blocks and pad, the aux width, the upsampling factors and so the hop. The rest (sample rate,
n_fft, window length, fmin, the dB floor) comes from hparams.py or fatchord's published defaults.

Conventions carried over: generation pads the mel with `pad` zero frames at each end (`pad_tensor`), so the imported
model pads with zeros too; "RAW" mode feeds back the mu-law code of the previous sample (our "mulaw" mode); "MOL"
feeds back the sample and draws with scales floored at 1e-14 (`log_scale_min = log(1e-14)`). fatchord's mel is
librosa's magnitude mel (Slaney filters, fmax = sr / 2, reflect-padded centred frames as in librosa 0.6.3, which it
pins) in dB, 20·log10(max(m, 1e-5)), with no reference level subtracted, scaled from [min_level_db, 0] to [0, 1].
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import torch

from engine.errors import CheckpointError, ConfigError
from engine.features import MelConfig
from engine.importers.common import (
    Imported,
    Settings,
    load_into,
    read_hparams,
    read_torch_file,
    renamed,
    tensor_dict,
)
from engine.models.upsample import UpsampleConfig

SOURCE = "fatchord/WaveRNN"
LICENCE = "the checkpoint's own; fatchord/WaveRNN's code is MIT-licensed"
MOL_CLASSES = 30  # fatchord's "MOL" mode: 10 logistics × (weight, mean, log scale), fixed in its model
MOL_LOG_SCALE_MIN = math.log(1e-14)  # sample_from_discretized_mix_logistic's floor when none is given

# fatchord's hparams.py as published (DSP and vocoder settings).
DEFAULTS: dict[str, Any] = {
    "sample_rate": 22050,
    "n_fft": 2048,
    "num_mels": 80,
    "hop_length": 275,
    "win_length": 1100,
    "fmin": 40,
    "min_level_db": -100,
    "ref_level_db": 20,
    "bits": 9,
    "mu_law": True,
    "peak_norm": False,
    "voc_mode": "MOL",
    "voc_upsample_factors": (5, 5, 11),
    "voc_pad": 2,
}
RENAMES = [("I.", "input_layer."), ("upsample.resnet.layers.", "upsample.resnet.blocks.")]


def import_fatchord(path: Path, hparams_files: list[Path]) -> Imported:
    """A checkpoint written by fatchord's `WaveRNN.save` (a plain state dict) → an `Imported` WaveRNN."""
    state = tensor_dict(path, read_torch_file(path))
    settings = Settings(SOURCE, read_hparams(hparams_files), DEFAULTS, hparams_files)
    return import_wavernn(path, state, settings, fatchord_mel, SOURCE, LICENCE, DEFAULTS["hop_length"])


def fatchord_mel(settings: Settings, n_mels: int, hop_length: int) -> MelConfig:
    """fatchord's utils/dsp.py `melspectrogram` as a MelConfig."""
    sample_rate = int(settings.get("sample_rate"))
    return MelConfig(
        sample_rate=sample_rate,
        n_fft=int(settings.get("n_fft")),
        hop_length=hop_length,
        win_length=int(settings.get("win_length")),
        window="hann",
        n_mels=n_mels,
        fmin=float(settings.get("fmin")),
        fmax=sample_rate / 2,
        normalisation="db_minmax",
        min_db=float(settings.get("min_level_db")),
        ref_db=0.0,
        peak=1.0 if settings.get("peak_norm") else 0.0,
    )


def import_wavernn(
    path: Path,
    state: dict[str, torch.Tensor],
    settings: Settings,
    make_mel,
    source: str,
    licence: str,
    published_hop: int,
) -> Imported:
    """fatchord's WaveRNN state dict (also Real-Time-Voice-Cloning's) → an `Imported` WaveRNN; `make_mel(settings,
    n_mels, hop_length)` gives the source's MelConfig, `published_hop` the hop of its published defaults."""
    from engine.models.registry import build

    config, n_mels = read_structure(path, state, settings, source)
    hop = math.prod(config["upsample"].factors)
    if settings.has("hop_length", "hop_size") and int(settings.get("hop_length", "hop_size")) != hop:
        raise CheckpointError(
            path,
            f"upsampling factors {config['upsample'].factors} (hop {hop}) in the weights, but "
            f"hop {settings.get('hop_length', 'hop_size')} in the hparams",
            "the hparams the model was trained with",
            "Pass the hparams file of this checkpoint.",
        )
    settings.guessed.pop("hop_length", None)
    mel = make_mel(settings, n_mels, hop)
    try:
        model = build("wavernn", config, mel)
    except ConfigError as error:
        raise CheckpointError(
            path,
            f"a {source} model Vocoscope cannot build ({error})",
            "a model of its structure",
            "Report it with the checkpoint's hparams.",
        ) from None
    weights = renamed(state, RENAMES, dropped=("step",))
    for index, factor_key in enumerate(_factor_keys(state)):
        weights[f"upsample.stages.{index}.smooth.weight"] = weights.pop(factor_key)
    load_into(path, model, weights, source)
    steps = int(state["step"].reshape(-1)[0]) if "step" in state else 0
    meta = {
        "training_note": f"imported from {path.name} ({source})",
        "licence": licence,
        "steps": steps,
        "imported": {"source": source, "file": path.name, **settings.record()},
    }
    notes = settings.notes()
    if settings.guessed and hop != published_hop:
        notes.append(
            f"the weights' hop ({hop}) is not {source}'s published one: the guessed settings above are "
            "likely wrong; pass the checkpoint's hparams with --hparams"
        )
    return Imported(model=model, meta=meta, notes=notes)


def read_structure(path: Path, state: dict[str, torch.Tensor], settings: Settings, source: str) -> tuple[dict, int]:
    """The WaveRNN config the tensors describe ({"rnn_dims", ..., "upsample": UpsampleConfig}) and the mel bands."""

    def shape(key: str) -> tuple[int, ...]:
        if key not in state:
            raise CheckpointError(
                path,
                f"a state dict without {key!r} (first keys: {', '.join(list(state)[:4])})",
                f"the weights of a {source} WaveRNN",
                "Check --from: `vocoscope import` names the source it detects when --from is left out.",
            )
        return tuple(state[key].shape)

    rnn_dims = settings.weights("rnn_dims", shape("rnn1.weight_hh_l0")[1])
    fc_dims = settings.weights("fc_dims", shape("fc1.weight")[0])
    classes = shape("fc3.weight")[0]
    aux = settings.weights("aux_channels", shape("upsample.resnet.conv_out.weight")[0])
    compute, n_mels, kernel = shape("upsample.resnet.conv_in.weight")
    settings.weights("n_mels", n_mels)
    settings.weights("resnet_channels", compute)
    blocks = settings.weights(
        "resnet_blocks", len({key.split(".")[3] for key in state if key.startswith("upsample.resnet.layers.")})
    )
    pad = settings.weights("pad", (kernel - 1) // 2)
    factors = settings.weights(
        "upsample_factors", tuple((state[key].shape[-1] - 1) // 2 for key in _factor_keys(state))
    )
    if not factors:
        shape("upsample.up_layers.1.weight")  # refuses, naming the key
    mode = (
        str(settings.get("voc_mode", "mode")).upper()
        if settings.has("voc_mode", "mode")
        else ("MOL" if classes == MOL_CLASSES else "RAW")
    )
    config: dict[str, Any] = {"rnn_dims": rnn_dims, "fc_dims": fc_dims}
    if mode == "MOL":
        if classes != MOL_CLASSES:
            raise CheckpointError(
                path,
                f"{classes} outputs with voc_mode 'MOL'",
                f"{MOL_CLASSES} outputs (10 logistics)",
                "Check voc_mode in the hparams.",
            )
        config.update(mode="mol", n_mixtures=MOL_CLASSES // 3, log_scale_min=MOL_LOG_SCALE_MIN)
        settings.weights("output", "mixture of 10 logistics (30 outputs)")
    else:
        bits = int(math.log2(classes)) if classes > 1 else 0
        if 2**bits != classes:
            raise CheckpointError(
                path,
                f"{classes} output classes",
                "2^bits classes (RAW mode) or 30 (MOL mode)",
                "Check --from and the hparams' voc_mode.",
            )
        if settings.has("bits", "n_bits") and int(settings.get("bits", "n_bits")) != bits:
            raise CheckpointError(
                path,
                f"{classes} output classes, but {settings.get('bits', 'n_bits')} bits in the hparams",
                f"2^bits = {classes} classes",
                "Pass the hparams of this checkpoint.",
            )
        settings.weights("output", f"{bits}-bit classes")
        if not settings.get("mu_law", "mulaw"):
            raise CheckpointError(
                path,
                "RAW mode without mu-law (mu_law = False)",
                "RAW mode with mu_law = True, or MOL mode",
                "Vocoscope's WaveRNN feeds back mu-law codes; a linear RAW model cannot be imported.",
            )
        config.update(mode="mulaw", bits=bits)
    config["upsample"] = UpsampleConfig(
        factors=factors, pad=pad, resnet_blocks=blocks, resnet_channels=compute, aux_channels=aux, pad_mode="zeros"
    )
    return config, n_mels


def _factor_keys(state: dict[str, torch.Tensor]) -> list[str]:
    """The smoothing convolutions' keys, `upsample.up_layers.<odd>.weight`, in order."""
    found = [
        (int(match.group(1)), key)
        for key in state
        if (match := re.fullmatch(r"upsample\.up_layers\.(\d+)\.weight", key))
    ]
    return [key for _, key in sorted(found)]
