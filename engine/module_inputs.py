"""What to hand a user's model: which forward argument is the mel and which the audio, the mel recipe the model
was built for, and the input turned into tensors of the layouts it takes.

A user's module carries no MelConfig. `mel_recipe(arguments, overrides)` reads one from its constructor's
arguments (band count from n_mels / feat_dims / n_freq / cin_channels..., hop from hop_length or the product of
the upsampling factors, rate from sample_rate), the project's defaults for the rest, `overrides` (--mel JSON)
last; every value says where it came from, and factors that do not multiply to the hop are a failed check.

`bind_forward(module, mel_arg, audio_arg)` names the forward's mel and audio parameters: the ones given, else
by their names (mels, c, specgram...; x, audio, waveform...), else the one required parameter is the mel.
`forward_inputs(...)` makes the tensors: the mel (N, n_mels, F) and the audio (N, T) by default; the layouts
(MEL_LAYOUTS, AUDIO_LAYOUTS) cover torchaudio's (N, 1, n_freq, F) / (N, 1, T) and r9y9's one-hot (N, C, T).
"""

from __future__ import annotations

import dataclasses
import inspect as pyinspect
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from engine.errors import InputError
from engine.features import (
    MEL_SUFFIXES,
    MelConfig,
    load_input,
    mulaw_encode,
    read_mel_file,
)
from engine.module_options import AUDIO_LAYOUTS, DEFAULT_FRAMES, MEL_LAYOUTS

BAND_NAMES = (
    "n_mels",
    "num_mels",
    "n_mel_channels",
    "mel_channels",
    "mel_bins",
    "n_freq",
    "feat_dims",
    "cin_channels",
    "in_channels",
)
HOP_NAMES = ("hop_length", "hop_size", "hop")
RATE_NAMES = ("sample_rate", "sampling_rate", "sr")
FACTOR_NAMES = ("upsample_factors", "upsample_scales", "upsample_rates")
CLASS_NAMES = ("n_classes", "quantize_channels", "num_classes")

MEL_NAMES = (
    "mel",
    "mels",
    "melspec",
    "mel_spec",
    "spec",
    "specgram",
    "spectrogram",
    "c",
    "cond",
    "condition",
    "conditioning",
    "local_condition",
    "features",
    "feats",
    "m",
)
AUDIO_NAMES = ("x", "audio", "wav", "wave", "waveform", "samples", "signal", "y", "inputs", "input")


@dataclass
class Recipe:
    """The mel a user's model was built for, each value's origin, and whether its factors agree with its hop."""

    config: MelConfig
    origins: dict[str, str]
    factors: tuple[int, ...] | None = None
    classes: int = 256

    def describe(self) -> str:
        c = self.config
        return (
            f"{c.n_mels} bands ({self.origins['n_mels']}), hop {c.hop_length} ({self.origins['hop_length']}),"
            f" {c.sample_rate} Hz ({self.origins['sample_rate']})"
        )


def mel_recipe(arguments: dict[str, Any], overrides: dict[str, Any] | None = None) -> Recipe:
    """The MelConfig to compute the input's mel with, guessed from the constructor's `arguments`."""
    flat = _flatten(arguments)
    values: dict[str, Any] = {}
    origins = {
        "n_mels": "Vocoscope's default",
        "hop_length": "Vocoscope's default",
        "sample_rate": "Vocoscope's default",
    }
    for key, names in (("n_mels", BAND_NAMES), ("hop_length", HOP_NAMES), ("sample_rate", RATE_NAMES)):
        for name in names:
            value = flat.get(name)
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                values[key], origins[key] = value, f"from {name}={value}"
                break
    factors = next(
        (
            tuple(int(f) for f in flat[name])
            for name in FACTOR_NAMES
            if isinstance(flat.get(name), (list, tuple)) and flat[name]
        ),
        None,
    )
    if factors and "hop_length" not in values:
        values["hop_length"] = math.prod(factors)
        origins["hop_length"] = f"the product of the upsampling factors {factors}"
    classes = next((flat[name] for name in CLASS_NAMES if isinstance(flat.get(name), int) and flat[name] > 1), None)
    if classes is None and isinstance(flat.get("bits"), int):
        classes = 2 ** flat["bits"]
    if classes is None and isinstance(flat.get("out_channels"), int) and flat["out_channels"] > 1:
        classes = flat["out_channels"]
    for key, value in (overrides or {}).items():
        if key not in {f.name for f in dataclasses.fields(MelConfig)}:
            raise InputError(
                "--mel",
                f"the setting {key!r}",
                f"MelConfig settings: {', '.join(f.name for f in dataclasses.fields(MelConfig))}",
                "Spell the setting as MelConfig does.",
            )
        values[key] = value
        origins[key] = "from --mel"
    rate = values.get("sample_rate", MelConfig.sample_rate)
    hop = values.get("hop_length", MelConfig.hop_length)
    defaults = {"fmax": min(MelConfig.fmax, rate / 2)}
    if "win_length" not in values:  # the defaults' window (4 hops) and n_fft, scaled to the model's hop
        defaults["win_length"] = 4 * hop
        defaults["n_fft"] = max(MelConfig.n_fft, 1 << (4 * hop - 1).bit_length())
    config = MelConfig(**{**defaults, **values})
    return Recipe(config, origins, factors, int(classes or 256))


def _flatten(arguments: dict[str, Any]) -> dict[str, Any]:
    """Constructor arguments with nested dicts (r9y9's upsample_params) lifted to the top; top-level names win."""
    flat: dict[str, Any] = {}
    for value in arguments.values():
        if isinstance(value, dict):
            flat.update(_flatten(value))
    flat.update({key: value for key, value in arguments.items() if not isinstance(value, dict)})
    return flat


# --- which argument is which ------------------------------------------------------------------------------


@dataclass
class Binding:
    """The forward's mel and audio parameters (either None when it takes none) and how each was chosen."""

    mel: str | None
    audio: str | None
    signature: str
    parameters: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        return f"forward{self.signature}: " + "; ".join(self.notes)


def bind_forward(module: nn.Module, mel_arg: str | None = None, audio_arg: str | None = None) -> Binding:
    """Name the mel and audio parameters of module.forward; see the module docstring for the rule."""
    signature = pyinspect.signature(module.forward)
    parameters = [p for p in signature.parameters.values() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    names = [p.name for p in parameters]
    for given, option in ((mel_arg, "--mel-arg"), (audio_arg, "--audio-arg")):
        if given is not None and given not in names:
            raise InputError(
                option,
                f"{given!r}, not a parameter of forward{signature}",
                f"one of {', '.join(names)}",
                f"Give {option} one of forward's parameter names.",
            )
    binding = Binding(mel_arg, audio_arg, str(signature), names)
    for role, given in (("mel", mel_arg), ("audio", audio_arg)):
        if given is not None:
            binding.notes.append(f"{role} → {given} (as given)")
    for role, known in (("mel", MEL_NAMES), ("audio", AUDIO_NAMES)):
        if getattr(binding, role) is None:
            taken = {binding.mel, binding.audio}
            found = next((n for n in names if n.lower() in known and n not in taken), None)
            found = found or next((n for n in names if n not in taken and _sounds_like(n, role)), None)
            if found is not None:
                setattr(binding, role, found)
                binding.notes.append(f"{role} → {found} (guessed from its name; --{role}-arg to change)")
    required = [p.name for p in parameters if p.default is p.empty]
    left = [n for n in required if n not in (binding.mel, binding.audio)]
    if left and binding.mel is None and len(left) == 1:
        binding.mel = left.pop()
        binding.notes.append(f"mel → {binding.mel} (its only other required parameter; --mel-arg to change)")
    if left:
        raise InputError(
            f"forward{signature}",
            f"required parameter(s) {', '.join(left)} that Vocoscope cannot fill",
            "a mel parameter and optionally an audio parameter",
            "Say which parameter is the mel and which the audio: --mel-arg NAME --audio-arg NAME"
            " (the others need defaults).",
        )
    if binding.mel is None and binding.audio is None:
        raise InputError(
            f"forward{signature}",
            "no parameter for the mel or the audio",
            "forward(x, mel) or similar",
            "Name them with --mel-arg NAME and --audio-arg NAME.",
        )
    for role in ("mel", "audio"):
        if getattr(binding, role) is None:
            binding.notes.append(f"no {role} parameter")
    return binding


def _sounds_like(name: str, role: str) -> bool:
    lower = name.lower()
    return ("mel" in lower or "spec" in lower) if role == "mel" else ("wav" in lower or "audio" in lower)


# --- tensors ----------------------------------------------------------------------------------------------


@dataclass
class Source:
    """The input as read: the mel as given (n_mels, F) or as saved, and the audio it came from if any."""

    mel: np.ndarray
    audio: np.ndarray | None
    path: Path


def read_source(path: str | Path, recipe: Recipe) -> Source:
    """An audio file → its mel by the recipe (and its samples); a mel file → its array exactly as saved (so a
    60-band or integer mel reaches the model and fails where it would fail in use)."""
    path = Path(path)
    if path.suffix.lower() in MEL_SUFFIXES:
        mel = read_mel_file(path)
        bands = recipe.config.n_mels
        if mel.ndim == 2 and mel.shape[0] != bands and mel.shape[1] == bands:
            mel = mel.T  # time-major mels are read as (n_mels, F), as everywhere else
        if mel.ndim != 2:
            raise InputError(
                path,
                f"a {mel.ndim}-D array of shape {tuple(mel.shape)}",
                "a 2-D mel (n_mels, frames)",
                "Save one mel: mel[0] drops a batch axis.",
            )
        return Source(np.ascontiguousarray(mel), None, path)
    conditioning = load_input(path, recipe.config)
    return Source(conditioning.mel, conditioning.audio, path)


def forward_inputs(
    source: Source,
    recipe: Recipe,
    binding: Binding,
    *,
    frames: int = DEFAULT_FRAMES,
    samples: int | None = None,
    mel_layout: str = "N,n_mels,F",
    audio_layout: str = "N,T",
) -> dict[str, torch.Tensor]:
    """{parameter name: tensor} for the first `frames` frames; the audio has `samples` samples (default
    frames × hop), zeros where the input has no audio. A float64 mel becomes float32; other dtypes stay."""
    mel = torch.from_numpy(np.ascontiguousarray(source.mel[:, :frames]))
    if mel.dtype == torch.float64:
        mel = mel.float()
    frames = mel.shape[-1]
    length = frames * recipe.config.hop_length if samples is None else samples
    audio = np.zeros(length, dtype=np.float32)
    if source.audio is not None:
        clip = source.audio[:length]
        audio[: len(clip)] = clip
    tensors = {}
    if binding.mel is not None:
        tensors[binding.mel] = layout_mel(mel, mel_layout)
    if binding.audio is not None:
        tensors[binding.audio] = layout_audio(audio, audio_layout, recipe.classes)
    return dict(sorted(tensors.items(), key=lambda item: binding.parameters.index(item[0])))  # forward's order


def layout_mel(mel: torch.Tensor, layout: str) -> torch.Tensor:
    """(n_mels, F) → one of MEL_LAYOUTS, batch 1."""
    if layout == "N,n_mels,F":
        return mel.unsqueeze(0)
    if layout == "N,1,n_mels,F":
        return mel.unsqueeze(0).unsqueeze(0)
    if layout == "N,F,n_mels":
        return mel.t().unsqueeze(0).contiguous()
    raise InputError("--mel-layout", repr(layout), " or ".join(MEL_LAYOUTS), "Pick one of those.")


def layout_audio(audio: np.ndarray, layout: str, classes: int) -> torch.Tensor:
    """(T,) float samples → one of AUDIO_LAYOUTS, batch 1; classes by mu-law with `classes` levels."""
    samples = torch.from_numpy(audio)
    if layout == "N,T":
        return samples.unsqueeze(0)
    if layout == "N,1,T":
        return samples.view(1, 1, -1)
    bits = round(math.log2(classes))
    coded = torch.from_numpy(mulaw_encode(np.clip(audio, -1.0, 1.0), bits).astype(np.int64))
    if layout == "N,T-classes":
        return coded.unsqueeze(0)
    if layout == "N,C,T-onehot":
        return torch.nn.functional.one_hot(coded, 2**bits).t().unsqueeze(0).float()
    raise InputError("--audio-layout", repr(layout), " or ".join(AUDIO_LAYOUTS), "Pick one of those.")
