"""r9y9/wavenet_vocoder (v0.2, its egs/ recipes) → a Vocoscope WaveNet (engine/models/wavenet), layer for layer.

r9y9's `WaveNet` (wavenet_vocoder/wavenet.py, modules.py) is ours with its parts kept apart, all weight-normed (folded
here: w = g · v / ‖v‖):
- `first_conv`, a 1×1 convolution of the input: of the sample itself (input_type "raw": our input "scalar"), or of
  the one-hot mu-law class ("mulaw-quantize": a convolution of a one-hot is a table, so our embedding, bias added);
- per layer `conv` (the dilated filter-and-gate, same tap order), `conv1x1c` (its conditioning, no bias: stacked into
  our one `condition` convolution with zero bias), `conv1x1_out` (our `residual`), and `conv1x1_skip` with a bias,
  the skip sum scaled by √(1/layers): stacked into our one `skip` convolution, the scale folded into its weights;
- `last_conv_layers` ReLU → 1×1 → ReLU → 1×1: our `post` and `out`;
- `upsample_net`, `ConvInUpsampleNetwork` (engine/models/conv_in_upsample.py), the mel edge-padded by cin_pad frames
  as its synthesis pads it.

Column t is fed sample t − 1 and conditioned on c_t, as r9y9's `incremental_forward` generates (its training scores
output t against sample t + 1, one conditioning sample earlier; its synthesis and this import use the former).
Outputs: a mixture of logistics (input "raw", output_distribution "Logistic") or 2^bits mu-law classes
("mulaw-quantize"). The Gaussian output, input_type "mulaw", speaker embeddings and the other upsampling networks are
refused with the reason.

Waveform conventions: r9y9 models the low-cut recording times `global_gain_scale`, pre-emphasised by 0.85 when
preprocess is "preemphasis"; its synthesis de-emphasises and divides by the gain. For the scalar input the gain is
folded into the weights (first_conv × g; the mixture's means ÷ g, log scales − log g, the floor log_scale_min too), so
the imported model works on the recording's own scale; the de-emphasis is our `output_preemphasis`. A mu-law class
input cannot fold it: such a model generates the recording times the gain, which the notes say.

The mel (audio.py `logmelspectrogram`, datasets/wavallin.py, preprocess_normalize.py): a 255-tap FIR low-cut at
highpass_cutoff, librosa's magnitude mel (Slaney filters, reflect-padded centred frames), log10(max(m, 1e-10)),
standardised per band by the training set's mean and standard deviation (`meanvar.joblib`, a pickle that Vocoscope
does not open: pass it as `--hparams meanvar.npz`, see docs/importing.md).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.errors import CheckpointError, ConfigError
from engine.features import MelConfig
from engine.importers.common import (
    Imported,
    Settings,
    fold_weight_norm,
    load_into,
    read_hparams,
    read_torch_file,
    tensor_dict,
)
from engine.models.upsample import UpsampleConfig

SOURCE = "r9y9/wavenet_vocoder"
LICENCE = "the checkpoint's own; r9y9/wavenet_vocoder's code is MIT-licensed"
PREEMPHASIS = 0.85  # audio.py's `preemphasis(x, coef=0.85)`: fixed, not an hparam
STACKS_OF_PRESETS = {24: 4, 30: 3}  # layers → stacks in hparams.py and egs/*/conf (mol, gaussian: 24/4; mulaw256: 30/3)

# hparams.py as published (the audio and the settings the weights do not show).
DEFAULTS: dict[str, Any] = {
    "input_type": "raw",
    "quantize_channels": 65536,
    "preprocess": "",
    "postprocess": "",
    "global_gain_scale": 1.0,
    "sample_rate": 22050,
    "fmin": 125,
    "fmax": 7600,
    "fft_size": 1024,
    "hop_size": 256,
    "frame_shift_ms": None,
    "win_length": 1024,
    "win_length_ms": -1.0,
    "window": "hann",
    "highpass_cutoff": 70.0,
    "output_distribution": "Logistic",
    "log_scale_min": -16.0,
}
_STATS_HELP = (
    "r9y9's recipes standardise the log-mel by the training set's statistics (meanvar.joblib, a pickle "
    "Vocoscope will not open). In r9y9's environment run: python -c \"import joblib, numpy; s = "
    "joblib.load('meanvar.joblib'); numpy.savez('meanvar.npz', mean=s.mean_, var=s.var_)\" and pass "
    "--hparams meanvar.npz"
)


def import_r9y9(path: Path, hparams_files: list[Path]) -> Imported:
    """A checkpoint written by r9y9's `save_checkpoint` ({"state_dict", "optimizer", "global_step", ...}) or its
    state dict alone → an `Imported` WaveNet."""
    from engine.models.registry import build

    value = read_torch_file(path)
    state = tensor_dict(path, value, ("state_dict",))
    state = fold_weight_norm({key.removeprefix("module."): tensor.double() for key, tensor in state.items()})
    settings = Settings(SOURCE, read_hparams(hparams_files), DEFAULTS, hparams_files)
    config, n_mels, gain = read_structure(path, state, settings)
    mel, stats_note = r9y9_mel(path, settings, n_mels, math.prod(config["upsample"].factors))
    try:
        model = build("wavenet", config, mel)
    except ConfigError as error:
        raise CheckpointError(
            path,
            f"an r9y9 model Vocoscope cannot build ({error})",
            "a model of its structure",
            "Report it with the checkpoint's hparams.json.",
        ) from None
    load_into(path, model, {key: tensor.float() for key, tensor in ours(state, config, gain).items()}, SOURCE)
    steps = int(value.get("global_step", 0)) if isinstance(value, dict) else 0
    meta = {
        "training_note": f"imported from {path.name} ({SOURCE})",
        "licence": LICENCE,
        "steps": steps,
        "imported": {"source": SOURCE, "file": path.name, **settings.record(), "mel_statistics": stats_note},
    }
    notes = settings.notes() + [stats_note]
    if gain != 1.0 and config["input"] == "mulaw":
        notes.append(
            f"global_gain_scale {gain:g}: a mu-law class input cannot fold it, so the model generates the "
            f"recording times {gain:g} ({20 * math.log10(gain):.1f} dB), which r9y9's synthesis divides out"
        )
    return Imported(model=model, meta=meta, notes=notes)


def read_structure(path: Path, state: dict[str, torch.Tensor], settings: Settings) -> tuple[dict, int, float]:
    """The WaveNet config the tensors describe (with the hparams they cannot show), the mel bands, and the gain
    folded into the weights (1 when none is)."""

    def shape(key: str) -> tuple[int, ...]:
        if key not in state:
            raise CheckpointError(
                path,
                f"a state dict without {key!r} (first keys: {', '.join(list(state)[:4])})",
                "the weights of r9y9's WaveNet",
                "Check --from.",
            )
        return tuple(state[key].shape)

    refuse = _refusals(state, settings)
    if refuse:
        raise CheckpointError(path, refuse[0], refuse[1], refuse[2])
    residual, first_in, _ = shape("first_conv.weight")
    gate, _, kernel_size = shape("conv_layers.0.conv.weight")
    layers = settings.weights("layers", len({key.split(".")[1] for key in state if key.startswith("conv_layers.")}))
    skip = settings.weights("skip_out_channels", shape("conv_layers.0.conv1x1_skip.weight")[0])
    out_channels = shape("last_conv_layers.3.weight")[0]
    n_mels, _, conv_in_taps = shape("upsample_net.conv_in.weight")
    settings.weights("residual_channels", residual)
    settings.weights("kernel_size", kernel_size)
    settings.weights("cin_channels", n_mels)
    if gate != 2 * residual:
        raise CheckpointError(
            path,
            f"gate_channels {gate} with residual_channels {residual}",
            "gate_channels twice residual_channels (as in every egs/ recipe but the demo)",
            "Vocoscope's gated layer splits 2R channels into filter and gate.",
        )
    stacks = _stacks(path, settings, layers)
    factors = settings.weights(
        "upsample_scales", tuple((state[key].shape[-1] - 1) // 2 for key in _smoothing_keys(state))
    )
    gain = float(settings.get("global_gain_scale"))
    gain = gain if gain > 0 else 1.0
    config: dict[str, Any] = {
        "blocks": stacks,
        "layers": layers // stacks,
        "dilation_base": 2,
        "kernel_size": kernel_size,
        "residual_channels": residual,
        "skip_channels": skip,
    }
    if first_in == 1:
        if (
            str(settings.get("input_type")) != "raw"
            or str(settings.get("output_distribution")) != "Logistic"
            or out_channels % 3
        ):
            raise CheckpointError(
                path,
                f"a scalar input ({settings.get('input_type')}) with "
                f"{settings.get('output_distribution')} output of {out_channels} channels",
                'input_type "raw" with output_distribution "Logistic" (3 × mixtures channels), or "mulaw-quantize"',
                "Vocoscope's WaveNet has no Gaussian nor mu-law-scalar output.",
            )
        bits = int(math.log2(int(settings.get("quantize_channels"))))
        config.update(
            input="scalar",
            output="mol",
            mixtures=out_channels // 3,
            mol_bits=bits,
            log_scale_min=float(settings.get("log_scale_min")) - math.log(gain),
        )
        settings.weights("output", f"mixture of {out_channels // 3} logistics")
    else:
        bits = int(math.log2(first_in))
        if 2**bits != first_in or out_channels != first_in:
            raise CheckpointError(
                path,
                f"a one-hot input of {first_in} classes and {out_channels} outputs",
                '2^bits classes in and out (input_type "mulaw-quantize")',
                "Check --from.",
            )
        config.update(input="mulaw", output="mulaw", bits=bits)
        settings.weights("output", f"{bits}-bit mu-law classes")
        gain = 1.0  # kept in the model's scale: see the note in `import_r9y9`
    config["upsample"] = UpsampleConfig(
        factors=factors,
        pad=settings.weights("cin_pad", (conv_in_taps - 1) // 2),
        aux_channels=0,
        pad_mode="edge",
        network="conv_in",
    )
    return config, n_mels, gain


def _refusals(state: dict[str, torch.Tensor], settings: Settings) -> tuple[str, str, str] | None:
    """(found, expected, fix) for a structure the import cannot carry, or None."""
    keys = list(state)
    if any(key.startswith("embed_speakers.") or ".conv1x1g." in key for key in keys):
        return (
            "global (speaker) conditioning",
            "a single-speaker model (gin_channels -1)",
            "Vocoscope's WaveNet cannot take r9y9's speaker embedding yet.",
        )
    if not any(key.startswith("upsample_net.conv_in.") for key in keys):
        found = (
            "its UpsampleNetwork (no conv_in)"
            if any(key.startswith("upsample_net.") for key in keys)
            else "no upsampling network (upsample_conditional_features false, or a version before v0.2)"
        )
        return (
            found,
            'upsample_net "ConvInUpsampleNetwork" (every egs/ recipe)',
            "Only r9y9's recipes' network imports.",
        )
    indices = sorted(
        int(match.group(1))
        for key in keys
        if (match := re.fullmatch(r"upsample_net\.upsample\.up_layers\.(\d+)\.weight", key))
    )
    if indices != list(range(1, 2 * len(indices), 2)):  # an activation after each smoothing shifts the indices
        return (
            "an upsampling activation",
            'upsample_activation "none" (every egs/ recipe)',
            "Vocoscope's conv_in network has none.",
        )
    if any(state[f"upsample_net.upsample.up_layers.{i}.weight"].shape[2] != 1 for i in indices):
        return (
            "freq_axis_kernel_size above 1",
            "freq_axis_kernel_size 1 (the default)",
            "Vocoscope's smoothing does not mix bands.",
        )
    if str(settings.get("preprocess")) not in ("", "none", "preemphasis"):
        return (
            f"preprocess {settings.get('preprocess')!r}",
            'preprocess "", "none" or "preemphasis"',
            "Pass the checkpoint's hparams.json.",
        )
    return None


def _stacks(path: Path, settings: Settings, layers: int) -> int:
    """The dilation cycles, which no weight shows: the hparams', else the published preset's for this many layers."""
    if settings.has("stacks"):
        stacks = int(settings.get("stacks"))
    elif layers in STACKS_OF_PRESETS:
        stacks = STACKS_OF_PRESETS[layers]
        settings.guessed["stacks"] = stacks
    else:
        raise CheckpointError(
            path,
            f"{layers} layers and no hparams naming the stacks (dilation cycles)",
            f"the checkpoint's hparams.json, or a preset's layer count ({', '.join(map(str, STACKS_OF_PRESETS))})",
            "Pass --hparams hparams.json (train.py writes it beside the checkpoints).",
        )
    if stacks < 1 or layers % stacks:
        raise CheckpointError(
            path,
            f"{layers} layers in {stacks} stacks",
            "a whole number of layers per stack",
            "Pass the checkpoint's hparams.json.",
        )
    return stacks


def _smoothing_keys(state: dict[str, torch.Tensor]) -> list[str]:
    found = [
        (int(match.group(1)), key)
        for key in state
        if (match := re.fullmatch(r"upsample_net\.upsample\.up_layers\.(\d+)\.weight", key))
    ]
    return [key for _, key in sorted(found)]


def ours(state: dict[str, torch.Tensor], config: dict[str, Any], gain: float) -> dict[str, torch.Tensor]:
    """r9y9's (weight-norm folded, float64) tensors → our WaveNet's state dict, the gain folded in."""
    n_layers = config["blocks"] * config["layers"]
    layer = [f"conv_layers.{l}." for l in range(n_layers)]
    skip_scale = math.sqrt(1.0 / n_layers)
    weights = {
        "condition.weight": torch.cat([state[p + "conv1x1c.weight"] for p in layer]),
        "skip.weight": torch.cat([state[p + "conv1x1_skip.weight"] for p in layer], dim=1) * skip_scale,
        "skip.bias": sum(state[p + "conv1x1_skip.bias"] for p in layer) * skip_scale,
        "post.weight": state["last_conv_layers.1.weight"],
        "post.bias": state["last_conv_layers.1.bias"],
        "out.weight": state["last_conv_layers.3.weight"].clone(),
        "out.bias": state["last_conv_layers.3.bias"].clone(),
        "upsample.conv_in.weight": state["upsample_net.conv_in.weight"],
    }
    weights["condition.bias"] = weights["condition.weight"].new_zeros(weights["condition.weight"].shape[0])
    for l, p in enumerate(layer):
        weights[f"layers.{l}.filter_gate.weight"] = state[p + "conv.weight"]
        weights[f"layers.{l}.filter_gate.bias"] = state[p + "conv.bias"]
        weights[f"layers.{l}.residual.weight"] = state[p + "conv1x1_out.weight"]
        weights[f"layers.{l}.residual.bias"] = state[p + "conv1x1_out.bias"]
    for index, key in enumerate(_smoothing_keys(state)):
        weights[f"upsample.smooth.{index}.weight"] = state[key]
    if config["input"] == "scalar":
        weights["first_conv.weight"] = state["first_conv.weight"] * gain  # fed x, r9y9 was fed g · x
        weights["first_conv.bias"] = state["first_conv.bias"]
        m = config["mixtures"]  # r9y9's mixture is over g · x: x's means are ÷ g, its log scales − log g
        weights["out.weight"][m : 2 * m] /= gain
        weights["out.bias"][m : 2 * m] /= gain
        weights["out.bias"][2 * m :] -= math.log(gain)
    else:
        weights["embed.weight"] = state["first_conv.weight"][:, :, 0].t() + state["first_conv.bias"]
    return weights


def r9y9_mel(path: Path, settings: Settings, n_mels: int, hop_length: int) -> tuple[MelConfig, str]:
    """r9y9's standardised log-mel as a MelConfig, and a line saying where its statistics came from."""
    sample_rate = int(settings.get("sample_rate"))
    hop = settings.get("hop_size") if settings.has("hop_size") else None
    if hop is None and settings.has("frame_shift_ms") and settings.get("frame_shift_ms") is not None:
        hop = int(settings.get("frame_shift_ms") / 1000 * sample_rate)
    if hop is not None and int(hop) != hop_length:
        raise CheckpointError(
            path,
            f"upsampling scales making hop {hop_length} in the weights, but hop {hop} in the hparams",
            "the hparams the model was trained with",
            "Pass the checkpoint's hparams.json.",
        )
    settings.guessed.pop("hop_size", None)
    win_length = int(settings.get("win_length"))
    if win_length < 0:
        win_length = int(float(settings.get("win_length_ms")) / 1000 * sample_rate)
    fmax = settings.get("fmax")
    mean, scale, stats_note = _statistics(path, settings, n_mels)
    emphasis = PREEMPHASIS if str(settings.get("preprocess")) == "preemphasis" else 0.0
    config = MelConfig(
        sample_rate=sample_rate,
        n_fft=int(settings.get("fft_size")),
        hop_length=hop_length,
        win_length=win_length,
        window=str(settings.get("window")),
        n_mels=n_mels,
        fmin=float(settings.get("fmin")),
        fmax=float(sample_rate / 2 if fmax is None else fmax),
        normalisation="log10_meanvar",
        mel_mean=mean,
        mel_scale=scale,
        highpass_hz=max(float(settings.get("highpass_cutoff")), 0.0),
        output_preemphasis=emphasis,
    )
    return config, stats_note


def _statistics(path: Path, settings: Settings, n_mels: int) -> tuple[tuple[float, ...], tuple[float, ...], str]:
    """The per-band mean and scale (sklearn's StandardScaler: √var, 1 where var is 0) from the hparams files' arrays
    `mean` and `var` (or `scale`)."""
    given = settings.given
    if "mean" not in given or not ("var" in given or "scale" in given):
        raise CheckpointError(
            path, "no mean-variance statistics of the mel", "the training set's per-band mean and variance", _STATS_HELP
        )
    mean = np.asarray(given["mean"], dtype=np.float64).reshape(-1)
    scale = (
        np.asarray(given["scale"], dtype=np.float64)
        if "scale" in given
        else np.sqrt(np.asarray(given["var"], dtype=np.float64))
    ).reshape(-1)
    if len(mean) != n_mels or len(scale) != n_mels or not np.isfinite(mean).all() or not np.isfinite(scale).all():
        raise CheckpointError(
            path,
            f"statistics of {len(mean)} means and {len(scale)} scales for {n_mels} bands",
            f"{n_mels} finite numbers each",
            _STATS_HELP,
        )
    scale = np.where(scale == 0, 1.0, scale)
    return (
        tuple(mean.tolist()),
        tuple(scale.tolist()),
        f"mel statistics: mean and {'scale' if 'scale' in given else 'variance'} of {n_mels} bands from "
        f"{settings.files}",
    )
