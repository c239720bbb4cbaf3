"""What a checkpoint may ask for: every config value's type and range, the model's size, and the stored tensors.

A checkpoint is a few megabytes that describe a model; a hostile or damaged one can describe a model of a million
layers or of billions of parameters. The loader (engine/checkpoints.py) therefore checks, in this order and before
any memory is spent on the model: each config value against its declared type and a sane range (`check_config`),
then a skeleton of the model built on torch's meta device (shapes only, no storage) against a size limit and
against every tensor the header declares (`check_skeleton`), and last the weights themselves once read: finite
floats where the model has floats (`check_weights`).
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from pathlib import Path
from typing import Any

import torch

from engine.checkpoint_header import FLOAT_DTYPES, INT_DTYPES, CheckpointHeader
from engine.errors import CheckpointError
from engine.features import NORMALISATIONS, MelConfig
from engine.sampling import SETTINGS

MAX_PARAMETERS = 100_000_000  # 400 MB of float32 weights: twenty times the paper-sized dual-softmax WaveRNN
MAX_RECEPTIVE_FIELD = 1 << 20  # samples (65 s at 16 kHz): a WaveNet keeps a queue per layer as long as its dilation
MAX_FACTORS = 8
BAND_LISTS = (0, 1024)  # MelConfig's per-band statistics: none, or one number per band
MAX_LAYERS = 128  # blocks × layers of a WaveNet: the paper's has 30; building 128 takes about a second
_REWRITE = "The file is damaged or was not written by Vocoscope; save the model again from a working set-up."

# Inclusive ranges of the settings the built-in families and MelConfig have, by name: wide enough for any model
# anyone trains, narrow enough that building the skeleton takes milliseconds. A setting not named here (a family
# registered by a user) has its type checked only.
RANGES: dict[str, tuple[float, float]] = {
    # MelConfig
    "sample_rate": (1000, 384_000),
    "n_fft": (16, 65_536),
    "hop_length": (1, 65_536),
    "win_length": (1, 65_536),
    "n_mels": (1, 1024),
    "fmin": (0.0, 192_000.0),
    "fmax": (1.0, 192_000.0),
    "min_db": (-300.0, -1.0),
    "ref_db": (-300.0, 300.0),
    "peak": (0.0, 1.0),
    "preemphasis": (0.0, 1.0),
    "output_preemphasis": (0.0, 1.0),
    "highpass_hz": (0.0, 192_000.0),
    # the upsampling network
    "pad": (0, 64),
    "resnet_blocks": (0, 64),
    "resnet_channels": (1, 4096),
    "aux_channels": (0, 4096),
    # WaveRNN and the dual-softmax WaveRNN
    "rnn_dims": (1, 4096),
    "fc_dims": (1, 4096),
    "hidden_size": (2, 8192),
    "n_mixtures": (1, 256),
    "log_scale_min": (-50.0, 0.0),
    # WaveNet
    "blocks": (1, 32),
    "layers": (1, 32),
    "dilation_base": (1, 16),
    "kernel_size": (1, 64),
    "residual_channels": (1, 4096),
    "skip_channels": (1, 4096),
    "mixtures": (1, 256),
    "mol_bits": (1, 16),
    "speakers": (0, 100_000),
    # shared
    "bits": (1, 16),
    "lpc_order": (0, 64),
    # the sampling settings a config keeps its own of (engine/sampling.py)
    **{setting.name: (setting.low, setting.high) for setting in SETTINGS},
}
# Windows librosa makes from a name alone (scipy.signal.get_window without parameters).
WINDOWS = (
    "hann",
    "hamming",
    "blackman",
    "blackmanharris",
    "bartlett",
    "barthann",
    "bohman",
    "boxcar",
    "cosine",
    "flattop",
    "nuttall",
    "parzen",
    "triang",
    "tukey",
    "lanczos",
)


def check_config(path: Path, config_class: type, model_values: dict[str, Any], mel_values: dict[str, Any]) -> None:
    """Raise `CheckpointError` for the first model or mel setting of the wrong type or out of range."""
    problems = _dataclass_problems(config_class, model_values, "model") + _dataclass_problems(
        MelConfig, mel_values, "mel"
    )
    if not problems:
        problems = _mel_problems(MelConfig.from_dict(mel_values))
        blocks = model_values.get("blocks", getattr(config_class, "blocks", 1))  # the class holds the defaults
        layers = model_values.get("layers", getattr(config_class, "layers", 1))
        if blocks * layers > MAX_LAYERS:
            problems.append(
                (
                    f"model.blocks {blocks} × model.layers {layers} = {blocks * layers} layers",
                    f"at most {MAX_LAYERS} layers in all",
                )
            )
    if problems:
        found, expected = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise CheckpointError(path, found + more, expected, _REWRITE)


def _dataclass_problems(cls: type, values: dict[str, Any], where: str) -> list[tuple[str, str]]:
    """(found, expected) for each value of `values` that does not fit its field of the dataclass `cls`."""
    hints = typing.get_type_hints(cls)
    known = {field.name for field in dataclasses.fields(cls)}
    problems = []
    for name, value in values.items():
        key = f"{where}.{name}"
        if name not in known:
            if cls is not MelConfig:  # MelConfig.from_dict ignores what it does not know; the families refuse it
                problems.append((f"{key}, a setting {cls.__name__} does not have", f"one of {sorted(known)}"))
            continue
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            if isinstance(value, dict):
                problems += _dataclass_problems(hint, value, key)
            else:
                problems.append((f"{key} of {value!r}", f"a JSON object of {hint.__name__} settings"))
            continue
        problem = _value_problem(key, name, hint, value)
        if problem:
            problems.append(problem)
    return problems


def _value_problem(key: str, name: str, hint: Any, value: Any) -> tuple[str, str] | None:
    """(found, expected) when `value` does not fit the type `hint` and the range of the setting `name`."""
    origin, arguments = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in arguments:
            return None
        hint = next(argument for argument in arguments if argument is not type(None))
        origin, arguments = typing.get_origin(hint), typing.get_args(hint)
    if origin is tuple:
        bands = name in ("mel_mean", "mel_scale")
        shortest, longest = BAND_LISTS if bands else (1, MAX_FACTORS)
        if not isinstance(value, (list, tuple)) or not shortest <= len(value) <= longest:
            return f"{key} of {_short(value)}", f"a list of {shortest} to {longest} {'' if bands else 'whole '}numbers"
        for item in value:
            problem = _value_problem(key, name, arguments[0], item)
            if problem:
                return f"{key} of {_short(value)}", problem[1]
        return None
    if hint is bool:
        return None if isinstance(value, bool) else (f"{key} of {_short(value)}", "true or false")
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            return f"{key} of {_short(value)}", f"a whole number{_range_words(name)}"
    elif hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return f"{key} of {_short(value)}", f"a finite number{_range_words(name)}"
    elif hint is str:
        return None if isinstance(value, str) else (f"{key} of {_short(value)}", "a string")
    else:
        return None
    low, high = RANGES.get(name, (-math.inf, math.inf))
    if name == "factors":
        low, high = 1, 65_536
    if not low <= value <= high:
        return f"{key} of {_short(value)}", f"a value{_range_words(name) or f' from {low:g} to {high:g}'}"
    return None


def _range_words(name: str) -> str:
    if name not in RANGES:
        return ""
    low, high = RANGES[name]
    return f" from {low:g} to {high:g}"


def _mel_problems(mel: MelConfig) -> list[tuple[str, str]]:
    """How the mel settings contradict each other (each one alone is in range)."""
    problems = []
    nyquist = mel.sample_rate / 2
    if mel.window not in WINDOWS:
        problems.append((f"mel.window of {mel.window!r}", f"one of {', '.join(WINDOWS)}"))
    if mel.normalisation not in NORMALISATIONS:
        problems.append((f"mel.normalisation of {mel.normalisation!r}", f"one of {', '.join(NORMALISATIONS)}"))
    if mel.win_length > mel.n_fft:
        problems.append((f"mel.win_length of {mel.win_length} with n_fft {mel.n_fft}", "a window no longer than n_fft"))
    if mel.n_mels > mel.n_fft // 2 + 1:
        problems.append(
            (
                f"mel.n_mels of {mel.n_mels} with n_fft {mel.n_fft}",
                f"at most n_fft / 2 + 1 = {mel.n_fft // 2 + 1} bands (one frequency bin each)",
            )
        )
    if not mel.fmin < mel.fmax <= nyquist:
        problems.append(
            (
                f"mel.fmin {mel.fmin:g} Hz and mel.fmax {mel.fmax:g} Hz at {mel.sample_rate} Hz",
                f"0 <= fmin < fmax <= {nyquist:g} Hz (half the sample rate)",
            )
        )
    return problems


def check_skeleton(path: Path, skeleton: torch.nn.Module, header: CheckpointHeader) -> None:
    """Hold the model the config describes (its `skeleton` on the meta device) against the size limits and the tensors
    the header declares: the same names, shapes and kinds of dtype (floats for floats, integers for integers)."""
    expected = skeleton.state_dict()
    parameters = sum(value.numel() for value in expected.values())
    if parameters > MAX_PARAMETERS:
        raise CheckpointError(
            path,
            f"a config asking for a model of {parameters:,} parameters ({parameters * 4 / 1e9:.1f} GB as float32)",
            f"at most {MAX_PARAMETERS:,} parameters ({MAX_PARAMETERS * 4 / 1e9:.1f} GB)",
            _REWRITE,
        )
    receptive = int(getattr(skeleton, "receptive_field", 0))
    if receptive > MAX_RECEPTIVE_FIELD:
        raise CheckpointError(
            path,
            f"a config asking for a receptive field of {receptive:,} samples",
            f"at most {MAX_RECEPTIVE_FIELD:,} samples",
            _REWRITE,
        )
    declared = {name: entry for name, entry in header.tensors.items() if not name.startswith("extra/")}
    parts = fit_problems(expected, {name: entry.shape for name, entry in declared.items()})
    kinds = [name for name in expected if name in declared and _dtype_problem(expected[name], declared[name].dtype)]
    if kinds:
        name = kinds[0]
        parts.append(
            f"{len(kinds)} of another dtype (first {name}: {declared[name].dtype} stored, "
            f"{_dtype_problem(expected[name], declared[name].dtype)} by the model)"
        )
    if parts:
        raise CheckpointError(
            path,
            "weights that do not fit the model its config describes: " + ", ".join(parts),
            f"the weights of a {getattr(skeleton, 'family', 'this')} model with the stored config",
            "The file's config and weights disagree; save or export the model again.",
        )


def fit_problems(expected: dict[str, torch.Tensor], stored: dict[str, tuple[int, ...]]) -> list[str]:
    """How the stored tensors (name → shape) fail the model's state dict `expected`, as message parts
    ("2 missing (first x)", "1 unexpected (first y)", "1 of another shape (first z: ...)"); empty when they fit."""
    missing = [name for name in expected if name not in stored]
    unexpected = [name for name in stored if name not in expected]
    wrong = [name for name in expected if name in stored and tuple(expected[name].shape) != tuple(stored[name])]
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing (first {missing[0]})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected (first {unexpected[0]})")
    if wrong:
        name = wrong[0]
        parts.append(
            f"{len(wrong)} of another shape (first {name}: {tuple(stored[name])} stored, "
            f"{tuple(expected[name].shape)} by the config)"
        )
    return parts


def _dtype_problem(expected: torch.Tensor, stored: str) -> str | None:
    """None when a tensor stored as `stored` may fill `expected`, else what the model needs, in words."""
    if expected.is_floating_point():
        return None if stored in FLOAT_DTYPES else "floats (F32)"
    return None if stored in INT_DTYPES else "integers (I64)"


def check_weights(path: Path, weights: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> None:
    """Raise `CheckpointError` unless every weight the model has as floats is stored as floats and finite."""
    for name, value in weights.items():
        if name in expected and expected[name].is_floating_point():
            if not value.is_floating_point():
                raise CheckpointError(
                    path, f"weight {name} stored as {value.dtype}", "floating-point weights", _REWRITE
                )
            finite = torch.isfinite(value)
            if not bool(finite.all()):
                bad = int(value.numel() - finite.sum())
                raise CheckpointError(
                    path,
                    f"{bad:,} NaN or infinite value{'s' if bad != 1 else ''} in weight {name}",
                    "finite weights",
                    "The training diverged or the file is damaged; use an earlier checkpoint.",
                )


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
