"""Shape checks for a model and its input: preflight (no compute), trace (hooks on a short forward), explain.

This module is the public face: `preflight`, `hidden_shapes` and `render_report` live here; `trace` comes from
engine.shape_trace and `explain` from engine.explain.

Preflight checks everything about an input that can be checked against a model without running the network.
`preflight(model, raw)` looks at the RAW input (a mel array or tensor as it was given, or a `Conditioning`) and
returns a `Verdict`: one `Check` per question (band count, layout, dtype, NaN/Inf, value range, sample rate,
hop against the upsampling factors, frames × hop against the sample count, frames against the conditioning
network's padding, batch and hidden state). A failed check names the value found, the value expected and the
fix, and the module that would fail, so the window can highlight it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from engine.errors import InputError
from engine.explain import explain, failed_module, watch
from engine.features import MEL_SUFFIXES, Conditioning, MelConfig, load_input, mel_problems, read_mel_file
from engine.models.upsample import UpsampleNetwork
from engine.shape_trace import LossRecord, ModuleRecord, StepRecord, Trace, trace

__all__ = [
    "Check",
    "Verdict",
    "Inspection",
    "preflight",
    "inspect",
    "load_raw",
    "hidden_shapes",
    "trace",
    "Trace",
    "ModuleRecord",
    "StepRecord",
    "LossRecord",
    "explain",
    "failed_module",
    "watch",
    "render_report",
]

# Values a [0, 1]-normalised mel may overshoot by before it reads as another normalisation.
RANGE_TOLERANCE = 0.05


@dataclass
class Check:
    """One preflight question. `module` is the dotted name of the module that would fail, when known."""

    name: str
    ok: bool
    found: str
    expected: str
    fix: str = ""
    module: str | None = None

    def message(self) -> str:
        text = f"{self.name}: found {self.found}; expected {self.expected}."
        return f"{text} {self.fix}" if self.fix and not self.ok else text

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Verdict:
    """All checks of one input against one model; `ok` when none failed."""

    checks: list[Check] = field(default_factory=list)
    source: str = "input"

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [check for check in self.checks if not check.ok]

    def check(self, name: str) -> Check:
        """The check called `name` (KeyError if preflight did not make one)."""
        for check in self.checks:
            if check.name == name:
                return check
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "source": self.source, "checks": [c.to_dict() for c in self.checks]}


# --- what the model expects --------------------------------------------------------------------------------


def upsample_network(model: nn.Module) -> tuple[str, UpsampleNetwork] | None:
    """(dotted name, the conditioning network) of `model`, or None when it has none."""
    for name, module in model.named_modules():
        if isinstance(module, UpsampleNetwork):
            return name, module
    return None


def upsample_factors(model: nn.Module) -> tuple[int, ...] | None:
    found = upsample_network(model)
    return None if found is None else tuple(stage.scale for stage in found[1].stages)


def mel_entry_module(model: nn.Module) -> str | None:
    """The first module that sees the mel: the conditioning network's input convolution, when there is one."""
    found = upsample_network(model)
    return None if found is None else f"{found[0]}.resnet.conv_in".lstrip(".")


def hidden_shapes(model: nn.Module, batch: int) -> dict[str, tuple[int, ...]]:
    """The recurrent state the model's family starts generation from, by name, for `batch` rows
    (`Vocoder.state_shapes`); none for a module of one's own."""
    state_shapes = getattr(model, "state_shapes", None)
    return state_shapes(batch) if state_shapes is not None else {}


# --- preflight ---------------------------------------------------------------------------------------------


def preflight(
    model: nn.Module,
    raw: Any,
    *,
    source_rate: int | None = None,
    hop_length: int | None = None,
    num_samples: int | None = None,
    batch: int | None = None,
    hidden: torch.Tensor | dict[str, torch.Tensor] | None = None,
    source: str | None = None,
) -> Verdict:
    """Check `raw` against `model` without running the network.

    raw: a `Conditioning`, or a mel as given: numpy array or tensor, (n_mels, T), (T, n_mels) or (N, n_mels, T).
    source_rate: the sample rate the mel was computed at (a `Conditioning` knows it).
    hop_length: the hop the mel was computed with (a `Conditioning`'s mel_config knows it).
    num_samples: the samples requested (default: the conditioning's `num_samples`, or frames × hop).
    batch: the batch the input will run with (default: axis 0 of a 3-D mel, else 1).
    hidden: an initial recurrent state to check: one tensor, or {name: tensor} as `hidden_shapes` names them.
    """
    config: MelConfig = model.mel_config
    conditioning = raw if isinstance(raw, Conditioning) else None
    array = _as_array(conditioning.mel if conditioning is not None else raw)
    if conditioning is not None:
        source = source or (str(conditioning.source) if conditioning.source is not None else None)
        hop_length = hop_length or conditioning.mel_config.hop_length
        if conditioning.audio is None:
            source_rate = source_rate or conditioning.mel_config.sample_rate
        if num_samples is None:
            num_samples = conditioning.num_samples
    verdict = Verdict(source=source or "input")
    checks = verdict.checks
    entry = mel_entry_module(model)

    if array.ndim == 3:
        batch = array.shape[0] if batch is None else batch
        single = array[0]
    else:
        single = array
    batch = 1 if batch is None else batch

    problems = {_problem_kind(p): p for p in mel_problems(single, config, model.min_frames, source)}
    checks.append(_layout_check(array, single, config, problems.get("layout"), entry))
    if single.ndim != 2:  # bands, dtype and values mean nothing until there is one 2-D mel to read them from
        checks += [
            _rate_check(conditioning, source_rate, config),
            _hop_check(model, hop_length, config),
            _hidden_check(model, batch, hidden),
        ]
        return verdict
    for kind, module in (("bands", entry), ("dtype", entry), ("finite", None)):
        problem = problems.get(kind)
        if problem is not None:
            fix = _bands_fix(single, config) if kind == "bands" else problem.fix
            checks.append(Check(kind, False, problem.found, problem.expected, fix, module))
        else:
            checks.append(_passed(kind, single, config))
    frames = _frames(single, config)
    problem = problems.get("frames")
    if problem is not None:
        checks.append(Check("frames", False, problem.found, problem.expected, problem.fix, entry))
    elif frames is not None:
        checks.append(Check("frames", True, f"{frames} frames", f"at least {model.min_frames} frames"))
    if "dtype" not in problems and "finite" not in problems and frames:
        checks.append(_range_check(single, config, entry))
    checks.append(_rate_check(conditioning, source_rate, config))
    checks.append(_hop_check(model, hop_length, config))
    if frames is not None:
        checks.append(_length_check(frames, num_samples, config.hop_length))
    checks.append(_hidden_check(model, batch, hidden))
    if conditioning is not None:
        checks.append(_settings_check(conditioning.mel_config, config))
    return verdict


def _as_array(value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        tensor = value.detach().cpu()
        return (tensor.float() if tensor.dtype == torch.bfloat16 else tensor).numpy()
    return np.asarray(value)


def _problem_kind(problem: InputError) -> str:
    """Which check one of `mel_problems`' errors answers (read from what it expected)."""
    expected = problem.expected
    if expected.startswith("a 2-D array"):
        return "layout"
    if expected.startswith("a floating-point"):
        return "dtype"
    if "mel bands" in expected:
        return "bands"
    if "frames" in expected:
        return "frames"
    if expected.startswith("finite"):
        return "finite"
    return "input"


def _bands_fix(single: np.ndarray, config: MelConfig) -> str:
    """When no axis has the model's band count, read axis 0 as the bands: (n_mels, frames) is the saved layout."""
    given = f" trained on {single.shape[0]} bands" if single.ndim == 2 else ""
    return f"Recompute the mel with n_mels={config.n_mels}, or choose a model{given or ' with matching bands'}."


def _frames(single: np.ndarray, config: MelConfig) -> int | None:
    """Frames of a 2-D mel whose band axis is found, else None."""
    if single.ndim != 2 or config.n_mels not in single.shape:
        return None
    return int(single.shape[1] if single.shape[0] == config.n_mels else single.shape[0])


def _layout_check(array, single, config, problem, module) -> Check:
    bands = config.n_mels
    expected = (
        f"(n_mels={bands}, frames) or time-major (frames, n_mels={bands}), optionally batched (N, n_mels, frames)"
    )
    if problem is not None or array.ndim not in (2, 3):
        found = problem.found if problem is not None else f"a {array.ndim}-D array of shape {tuple(array.shape)}"
        fix = problem.fix if problem is not None else "Save one 2-D mel."
        return Check("layout", False, found, expected, fix, module)
    shape = tuple(array.shape)
    if single.shape[0] != bands and single.shape[1] == bands:
        if array.ndim == 3:
            return Check(
                "layout",
                False,
                f"a time-major batch (N, frames, n_mels) of shape {shape}",
                f"(N, n_mels={bands}, frames)",
                "Transpose it: mel.transpose(1, 2).",
                module,
            )
        return Check(
            "layout",
            True,
            f"time-major (frames, n_mels) {shape}",
            expected,
            "Transposed to (n_mels, frames) when loaded.",
        )
    return Check(
        "layout", True, f"{'(N, n_mels, frames)' if array.ndim == 3 else '(n_mels, frames)'} {shape}", expected
    )


def _passed(kind: str, single: np.ndarray, config: MelConfig) -> Check:
    if kind == "bands":
        return Check("bands", True, f"{config.n_mels} bands", f"{config.n_mels} mel bands")
    if kind == "dtype":
        return Check("dtype", True, f"dtype {single.dtype}", "a floating-point mel (float32)")
    return Check("finite", True, "no NaN or infinite values", "finite values")


def _range_check(single: np.ndarray, config: MelConfig, module: str | None) -> Check:
    """Values against the model's normalisation: ``db_minmax`` means [0, 1]."""
    if config.normalisation != "db_minmax":
        return Check("range", True, f"normalisation {config.normalisation!r}", "not checked")
    low, high = float(np.min(single)), float(np.max(single))
    found = f"values in [{low:.3g}, {high:.3g}]"
    expected = f"values in [0, 1] (db_minmax: dB from {config.min_db:g} to 0, scaled to [0, 1])"
    if low >= -RANGE_TOLERANCE and high <= 1 + RANGE_TOLERANCE:
        return Check("range", True, found, expected)
    normalise = (
        f"normalised = clip((dB − ({config.min_db:g})) / {-config.min_db:g}, 0, 1)"
        f" with dB = 20·log10(magnitude) − {config.ref_db:g}"
    )
    if low < -1 - RANGE_TOLERANCE or (low < -RANGE_TOLERANCE and high <= RANGE_TOLERANCE):
        return Check(
            "range",
            False,
            found + " — decibels, not a normalised mel",
            expected,
            f"Normalise it the model's way: {normalise}; or load the audio and let Vocoscope make the mel.",
            module,
        )
    if low >= -RANGE_TOLERANCE:
        return Check(
            "range",
            False,
            found + " — a magnitude (linear) mel, not a normalised one",
            expected,
            f"Normalise it the model's way (engine.features.normalise): {normalise}.",
            module,
        )
    return Check(
        "range",
        False,
        found + " — a symmetric [-1, 1] normalisation",
        expected,
        "Rescale it to [0, 1]: (mel + 1) / 2, if it was made with the same dB range.",
        module,
    )


def _rate_check(conditioning: Conditioning | None, source_rate: int | None, config: MelConfig) -> Check:
    expected = f"{config.sample_rate} Hz (the model's sample rate)"
    if conditioning is not None and conditioning.audio is not None:
        rate = conditioning.source_rate or conditioning.mel_config.sample_rate
        resampled = (
            f", resampled to {conditioning.mel_config.sample_rate} Hz"
            if rate != conditioning.mel_config.sample_rate
            else ""
        )
        if conditioning.mel_config.sample_rate != config.sample_rate:
            return Check(
                "sample rate",
                False,
                f"a mel made at {conditioning.mel_config.sample_rate} Hz from audio at {rate} Hz",
                expected,
                f"Remake the mel from the audio at {config.sample_rate} Hz (load it with this model's MelConfig).",
            )
        return Check("sample rate", True, f"audio at {rate} Hz{resampled}", expected)
    if source_rate is None:
        return Check("sample rate", True, "not given (a bare mel does not say)", expected)
    if source_rate != config.sample_rate:
        return Check(
            "sample rate",
            False,
            f"a mel computed from audio at {source_rate} Hz",
            expected,
            f"Recompute the mel from the audio resampled to {config.sample_rate} Hz, or load the audio file"
            " itself (Vocoscope resamples it); a mel made at another rate plays at the wrong speed and pitch.",
        )
    return Check("sample rate", True, f"{source_rate} Hz", expected)


def _hop_check(model: nn.Module, hop_length: int | None, config: MelConfig) -> Check:
    """The upsampling factors must multiply to the model's hop, and the input's hop must be that hop."""
    factors = upsample_factors(model)
    network = upsample_network(model)
    module = network[0] if network is not None and network[0] else None
    product = math.prod(factors) if factors else config.hop_length
    described = f"upsampling factors {factors} multiply to {product}" if factors else f"hop {product}"
    if product != config.hop_length:
        return Check(
            "hop",
            False,
            f"{described} but the model's hop is {config.hop_length}",
            f"factors multiplying to {config.hop_length}",
            f"Rebuild the model with upsampling factors whose product is {config.hop_length}.",
            module,
        )
    if hop_length is not None and hop_length != product:
        return Check(
            "hop",
            False,
            f"a mel made with hop {hop_length} samples; the model's {described}",
            f"hop {product} (the product of the upsampling factors)",
            f"Recompute the mel with hop_length={product}, or use a model whose upsampling factors multiply"
            f" to {hop_length}: F frames become F × {product} samples, not F × {hop_length}.",
            module,
        )
    given = f"input hop {hop_length}, " if hop_length is not None else ""
    return Check("hop", True, f"{given}{described}", f"hop {config.hop_length}")


def _length_check(frames: int, num_samples: int | None, hop: int) -> Check:
    """F frames upsample to exactly F × hop samples; the samples asked for must fit that (within one frame)."""
    available = frames * hop
    if num_samples is None:
        return Check("length", True, f"{frames} frames × hop {hop} = {available} samples", f"{available} samples")
    low, high = math.ceil(num_samples / hop), num_samples // hop + 1
    expected = (
        f"{low} frames for {num_samples} samples"
        if low == high
        else f"{low} to {high} frames for {num_samples} samples"
    )
    found = f"{frames} frames × hop {hop} = {available} samples"
    if frames < low:
        return Check(
            "length",
            False,
            found,
            expected,
            f"Ask for at most {available} samples, or give a mel of {low} frames: the upsampled conditioning"
            " must cover every sample generated.",
        )
    if frames > high:
        return Check(
            "length",
            False,
            found,
            expected,
            f"The mel and the sample count disagree (a mel made with another hop or rate?). Ask for {available}"
            f" samples, or recompute the mel with hop {hop} from the {num_samples}-sample audio.",
        )
    return Check("length", True, found, expected)


def _hidden_check(model: nn.Module, batch: int, hidden) -> Check:
    shapes = hidden_shapes(model, batch)
    expected = ", ".join(f"{name} {shape}" for name, shape in shapes.items()) or "no recurrent state"
    if hidden is None:
        if not shapes:
            return Check("hidden", True, f"batch {batch}; no recurrent state", expected)
        warmup = getattr(model, "WARMUP_FRAMES", 0)
        start = f"zeros, warmed on {warmup} frames of silence when sampling" if warmup else "zeros"
        return Check("hidden", True, f"batch {batch}; the state starts from {start}", expected)
    if not shapes:
        return Check(
            "hidden",
            False,
            "an initial hidden state",
            expected,
            f"{getattr(model, 'family', type(model).__name__)} keeps no recurrent state; pass none.",
        )
    given = hidden if isinstance(hidden, dict) else {next(iter(shapes)): hidden}
    for name, tensor in given.items():
        want = shapes.get(name)
        shape = tuple(tensor.shape)
        if want is None:
            return Check("hidden", False, f"a state named {name!r}", expected, f"Name the states {', '.join(shapes)}.")
        if shape != want:
            return Check(
                "hidden",
                False,
                f"hidden state {name} of shape {shape} (batch {shape[0] if shape else '?'})",
                f"{want} (batch {batch}, the input's)",
                f"Make it for the input's batch: torch.zeros{want}.",
            )
        if not torch.is_floating_point(tensor):
            return Check(
                "hidden",
                False,
                f"hidden state {name} of dtype {tensor.dtype}",
                f"{want} float32",
                f"Make it with torch.zeros{want}.",
            )
        if not bool(torch.isfinite(tensor).all()) or float(tensor.abs().max()) > 1.0 + RANGE_TOLERANCE:
            return Check(
                "hidden",
                False,
                f"hidden state {name} with values outside [-1, 1] or NaN"
                " (uninitialised memory, e.g. torch.Tensor(1, H))",
                f"{want} in [-1, 1] (a GRU state)",
                f"Start from zeros: torch.zeros{want}; torch.Tensor(...) and torch.empty(...) hold garbage.",
            )
    return Check("hidden", True, ", ".join(f"{n} {tuple(t.shape)}" for n, t in given.items()), expected)


_SETTINGS = ("n_fft", "win_length", "window", "fmin", "fmax", "normalisation", "min_db", "ref_db")


def _settings_check(given: MelConfig, config: MelConfig) -> Check:
    """The rest of the mel recipe (the rate, hop and band count have their own checks)."""
    different = [name for name in _SETTINGS if getattr(given, name) != getattr(config, name)]
    if not different:
        return Check("mel settings", True, "the model's mel settings", "the model's mel settings")
    found = ", ".join(f"{name}={getattr(given, name)!r}" for name in different)
    expected = ", ".join(f"{name}={getattr(config, name)!r}" for name in different)
    return Check(
        "mel settings",
        False,
        found,
        expected,
        "Remake the mel with the model's MelConfig (loading the audio with this model does that).",
    )


# --- both at once, from whatever the user gave ---------------------------------------------------------------


@dataclass
class Inspection:
    """The preflight verdict and the trace of one input on one model (what the shape inspector shows)."""

    verdict: Verdict
    trace: Trace


def load_raw(path: str | Path, model: nn.Module) -> np.ndarray | Conditioning:
    """A file as preflight should see it: a mel file's array exactly as saved (not validated, so a 60-band or
    dB-valued mel reaches the checks), or an audio file as the model's `Conditioning`."""
    path = Path(path)
    if path.suffix.lower() in MEL_SUFFIXES:
        return read_mel_file(path)
    return load_input(path, model.mel_config, model.min_frames)


def inspect(model: nn.Module, source: Any) -> Inspection:
    """Preflight and trace `source`: a path (read with `load_raw`), a `Conditioning`, or a mel array/tensor."""
    raw = load_raw(source, model) if isinstance(source, (str, Path)) else source
    name = str(source) if isinstance(source, (str, Path)) else None
    return Inspection(preflight(model, raw, source=name), trace(model, raw))


# --- the report `vocoscope inspect` prints -----------------------------------------------------------------


def render_report(verdict: Verdict | None, trace: Trace | None) -> str:
    """The preflight verdict, the module table, the training view and the cell step as plain text."""
    lines: list[str] = []
    if verdict is not None:
        lines.append(f"Preflight of {verdict.source}: {'ok' if verdict.ok else f'{len(verdict.failures)} problem(s)'}")
        for check in verdict.checks:
            mark = "ok " if check.ok else "FAIL"
            lines.append(f"  [{mark}] {check.name}: {check.found}")
            if not check.ok:
                lines.append(f"         expected {check.expected}")
                if check.fix:
                    lines.append(f"         fix: {check.fix}")
                if check.module:
                    lines.append(f"         enters the model at: {check.module}")
    if trace is not None:
        lines += ["", f"{trace.model} ({trace.family}) traced on {trace.frames} frames, {trace.samples} samples"]
        lines += _table(
            ("module", "input shape", "output shape", "dtype", "parameters"),
            [
                (
                    ("  " * record.depth)
                    + (record.name.rsplit(".", 1)[-1] or trace.model)
                    + f" ({record.kind})"
                    + (f" ×{record.calls} calls" if record.calls > 1 else "")
                    + (" <- FAILED" if record.failed else ""),
                    _shape_list(record.inputs)
                    if record.calls
                    else ("container" if record.kind in _CONTAINERS else "not called"),
                    _shape_list(record.outputs),
                    record.dtype,
                    f"{record.parameters:,}",
                )
                for record in trace.modules
            ],
        )
        if trace.error:
            lines += ["", f"Forward pass failed: {trace.error}"]
        if trace.training:
            lines += ["", "Training view (loss input and target):"]
            lines += _table(
                ("function", "input", "input dtype", "target", "target dtype"),
                [
                    (r.function, _shape(r.input), r.input_dtype, _shape(r.target), r.target_dtype)
                    for r in trace.training
                ],
            )
        if trace.steps:
            lines += ["", f"{trace.step_title} (matches the forward pass to {trace.step_error:.2g}):"]
            lines += _table(
                ("symbol", "shape", "dtype", "meaning"),
                [(s.symbol, _shape(s.shape), s.dtype, s.meaning) for s in trace.steps],
            )
    return "\n".join(lines)


_CONTAINERS = ("ModuleList", "ModuleDict", "Sequential")


def _shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(n) for n in shape) + ")"


def _shape_list(shapes: list[tuple[int, ...]]) -> str:
    return " ".join(_shape(shape) for shape in shapes)


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]

    def line(row):
        return "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip()

    return [line(header), line(tuple("-" * w for w in widths))] + [line(row) for row in rows]
