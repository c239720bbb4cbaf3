"""The shape inspector on a user's own model code: `vocoscope inspect INPUT --module FILE.py:NAME`.

`inspect_code(request)` builds the user's nn.Module (engine.module_loading), loads its weights if given, makes
the input's mel by the recipe read from its constructor (engine.module_inputs), calls its forward on the first
few frames with hooks on every module, and returns an engine.shapes Verdict and Trace: what `vocoscope inspect`
prints (`render_report`) and the window's Shapes dock shows, for the project's own models and for this one.

Each module's row holds its first call's input and output shapes; its dtype column reads "int64→float32" when
the dtype changes in it. On a failure the forward check names the module that failed (its dotted name), what it
received (shapes and dtypes), what it expected (from the layer's own sizes) and the fix, worded by
engine.explain with the recipe's band count and hop; the seeds' errors are told in their terms (band count,
frames × hop against the upsampled length, integer tensors into float layers, hidden-state batch, (N, T, C)
logits handed to cross_entropy).

A model that uses mel context (fatchord's and r9y9's padding, torchaudio's kernel_size) makes (F − k) × hop
samples from F frames, not F × hop. When a first run with F × hop samples fails on a length that is a whole
number of frames shorter, it runs again with that length and says so.
"""

from __future__ import annotations

import inspect as pyinspect
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from engine.errors import InputError
from engine.explain import cause, explain, failed_module, watch
from engine.module_inputs import (
    Binding,
    Recipe,
    Source,
    bind_forward,
    forward_inputs,
    mel_recipe,
    read_source,
)
from engine.module_loading import (
    BuiltModule,
    build_module,
    load_checkpoint,
    parse_module_spec,
)
from engine.module_options import DEFAULT_FRAMES
from engine.shape_trace import ModuleRecord, Trace, _first_dtype, _LossCalls, _shapes, tensors
from engine.shapes import Check, Verdict

FAMILY = "your code"


@dataclass
class CodeRequest:
    """Everything `inspect --module` and the window's Open model code… dialog ask for."""

    module: str  # FILE.py:NAME
    input: str | Path  # audio or mel file
    kwargs: str | dict[str, Any] = ""  # JSON object (or a dict) for NAME's constructor
    checkpoint: str | Path | None = None
    mel_arg: str | None = None
    audio_arg: str | None = None
    mel: str | dict[str, Any] = ""  # JSON object of MelConfig settings over the guessed ones
    mel_layout: str = "N,n_mels,F"
    audio_layout: str = "N,T"
    frames: int = DEFAULT_FRAMES


@dataclass
class CodeInspection:
    """The verdict (setup and forward checks) and the per-module trace of a user's model on one input."""

    verdict: Verdict
    trace: Trace
    built: BuiltModule
    recipe: Recipe
    binding: Binding

    @property
    def failure(self) -> Check | None:
        return next((check for check in self.verdict.failures if check.name == "forward"), None)


def inspect_code(request: CodeRequest) -> CodeInspection:
    """Build, load, bind, read the input and trace; InputError for anything wrong before the forward runs."""
    spec = parse_module_spec(request.module)
    built = build_module(spec, _json_object(request.kwargs, "--kwargs"))
    module = built.module
    weights = "random weights"
    if request.checkpoint:
        count = load_checkpoint(module, request.checkpoint)
        weights = f"weights from {request.checkpoint} ({count} tensors)"
    recipe = mel_recipe(built.arguments, _json_object(request.mel, "--mel"))
    binding = bind_forward(module, request.mel_arg, request.audio_arg)
    source = read_source(request.input, recipe)
    verdict = Verdict(source=str(request.input))
    parameters = sum(p.numel() for p in module.parameters())
    verdict.checks += [
        Check(
            "model",
            True,
            f"{spec} → {type(module).__name__}, {parameters:,} parameters, {weights}",
            "a torch.nn.Module",
        ),
        Check("arguments", True, binding.describe(), "a mel and optionally an audio parameter"),
        Check("mel recipe", True, recipe.describe(), "the mel the model was built for"),
    ]
    if recipe.factors:
        verdict.checks.append(_factors_check(recipe))
    verdict.checks.append(_bands_check(source, recipe))
    trace = _trace(module, source, recipe, binding, request, verdict)
    return CodeInspection(verdict, trace, built, recipe, binding)


def _json_object(value: str | dict[str, Any], option: str) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    if not value.strip():
        return {}
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as error:
        raise InputError(
            option,
            f"{value!r}, not JSON ({error.msg} at character {error.pos})",
            'a JSON object, e.g. \'{"rnn_dims": 512, "hop_length": 275}\'',
            "Quote the whole object for the shell and the names inside with double quotes.",
        ) from None
    if not isinstance(parsed, dict):
        raise InputError(
            option,
            f"a JSON {type(parsed).__name__}",
            'a JSON object {"name": value, ...}',
            "Wrap the arguments in braces.",
        )
    return parsed


def _factors_check(recipe: Recipe) -> Check:
    product = 1
    for factor in recipe.factors:
        product *= factor
    hop = recipe.config.hop_length
    found = f"upsampling factors {recipe.factors} multiply to {product}"
    if product == hop:
        return Check("upsampling", True, found, f"hop {hop}")
    return Check(
        "upsampling",
        False,
        f"{found}, but the hop is {hop} ({recipe.origins['hop_length']})",
        f"factors multiplying to {hop}",
        f"F mel frames become F × {product} samples while the audio has F × {hop}: make the factors multiply"
        f" to {hop}, or use hop_length={product}.",
    )


def _bands_check(source: Source, recipe: Recipe) -> Check:
    bands, given = recipe.config.n_mels, source.mel.shape[0]
    found = f"a mel of {given} bands × {source.mel.shape[1]} frames, {source.mel.dtype}"
    if given == bands:
        return Check("bands", True, found, f"{bands} bands")
    return Check(
        "bands",
        False,
        found,
        f"{bands} bands ({recipe.origins['n_mels']})",
        f"Recompute the mel with n_mels={bands}, or build the model for {given} bands.",
    )


# --- the traced forward -------------------------------------------------------------------------------------


@dataclass
class _Run:
    """One forward call: its inputs, the records, the loss calls, and the error if it failed."""

    inputs: dict[str, torch.Tensor]
    records: dict[str, ModuleRecord]
    received: dict[str, list[str]]
    losses: _LossCalls
    output: Any = None
    error: Exception | None = None


def _trace(
    module: nn.Module, source: Source, recipe: Recipe, binding: Binding, request: CodeRequest, verdict: Verdict
) -> Trace:
    layouts = {"mel_layout": request.mel_layout, "audio_layout": request.audio_layout}
    frames = min(request.frames, source.mel.shape[1])
    hop = recipe.config.hop_length
    was_training = module.training
    module.eval()
    try:
        run = _run(module, forward_inputs(source, recipe, binding, frames=frames, **layouts))
        if run.error is not None and binding.audio is not None:
            length = _context_length(run, frames * hop, hop)
            if length is not None:
                retry = _run(module, forward_inputs(source, recipe, binding, frames=frames, samples=length, **layouts))
                if retry.error is None:
                    context = frames - length // hop
                    verdict.checks.append(
                        Check(
                            "length",
                            True,
                            f"{frames} frames make {length} samples = ({frames} − {context}) × hop {hop}: the model uses"
                            f" {context} frames of mel context (its padding); ran again with {length} samples of audio",
                            f"frames × hop = {frames * hop} samples, or fewer by whole frames of context",
                        )
                    )
                    run = retry
    finally:
        module.train(was_training)
    audio = run.inputs.get(binding.audio) if binding.audio else None
    trace = Trace(
        family=FAMILY,
        model=type(module).__name__,
        frames=frames,
        samples=int(audio.shape[-1]) if audio is not None else frames * hop,
        modules=list(run.records.values()),
    )
    trace.training = run.losses.calls
    if run.error is None:
        verdict.checks.append(Check("forward", True, f"output {_describe(run.output)}", "a forward pass"))
        return trace
    name = failed_module(run.error, module)
    trace.error = explain(run.error, module, recipe.config) + _length_note(run, frames, hop)
    trace.failed_module = name
    if name in run.records:
        run.records[name].failed = True
    verdict.checks.append(_failure_check(module, run, name, recipe, binding, request, frames))
    return trace


def _run(module: nn.Module, inputs: dict[str, torch.Tensor]) -> _Run:
    """module(**inputs) with hooks recording each module's first call: input and output shapes and dtypes."""
    records = {
        name: ModuleRecord(
            name, type(sub).__name__, name.count(".") + (1 if name else 0), sum(p.numel() for p in sub.parameters())
        )
        for name, sub in module.named_modules()
    }
    run = _Run(inputs, records, {}, _LossCalls())

    def before(name):
        def hook(_module, args, kwargs):
            record = records[name]
            record.calls += 1
            if record.calls == 1:
                record.inputs = _shapes(args) + _shapes(kwargs)
                run.received[name] = _dtypes(args) + _dtypes(kwargs)

        return hook

    def after(name):
        def hook(_module, _args, _kwargs, output):
            record = records[name]
            if not record.outputs:
                record.outputs = _shapes(output)
                given, made = (run.received.get(name) or [""])[0], _first_dtype(output)
                record.dtype = made if given in ("", made) or not made else f"{given}→{made}"

        return hook

    handles = []
    for name, sub in module.named_modules():
        handles.append(sub.register_forward_pre_hook(before(name), with_kwargs=True))
        handles.append(sub.register_forward_hook(after(name), with_kwargs=True))
    try:
        with torch.no_grad(), watch(module), run.losses:
            run.output = module(**inputs)
    except Exception as error:  # noqa: BLE001 (any error of the user's forward is the thing to explain)
        run.error = error
    finally:
        for handle in handles:
            handle.remove()
    return run


def _dtypes(value: Any) -> list[str]:
    """dtypes of every tensor in a (nested) value, in order (as `_shapes` lists their shapes)."""
    return [str(tensor.dtype).replace("torch.", "") for tensor in tensors(value)]


def _describe(value: Any) -> str:
    shapes, dtypes = _shapes(value), _dtypes(value)
    return ", ".join(f"{tuple(shape)} {dtype}" for shape, dtype in zip(shapes, dtypes)) or type(value).__name__


def _context_length(run: _Run, audio_length: int, hop: int) -> int | None:
    """A length a whole number of frames shorter than the audio, met where the run failed, else None.

    It must be a size in the error's message (any size, for a bare `assert`) and an axis of an output recorded
    beside no axis of the audio's length: the conditioning made from the mel, not logits over 256 classes next
    to a time axis of the audio's length."""
    made = {
        size
        for record in run.records.values()
        for shape in record.outputs
        if audio_length not in shape
        for size in shape
    }
    named = {int(n) for n in re.findall(r"\d+", str(run.error))}
    fits = [n for n in (named & made if named else made) if hop <= n < audio_length and n % hop == 0]
    return max(fits, default=None)


def _length_note(run: _Run, frames: int, hop: int) -> str:
    """Frames × hop against the upsampled length, in numbers, when the error is two lengths that disagree."""
    match = re.search(
        r"Expected size (\d+) but got size (\d+)|size of tensor a \((\d+)\) must match the size of"
        r" tensor b \((\d+)\)",
        str(run.error),
    )
    if match is None:
        return ""
    first, second = (int(n) for n in match.groups() if n is not None)
    audio = frames * hop
    other = second if first == audio else first if second == audio else None
    if other is None or other % frames:
        return ""
    return (
        f" The input has {frames} frames and {audio} samples (frames × hop = {frames} × {hop}); the other"
        f" tensor has {other} = {frames} × {other // frames}: each frame was upsampled by {other // frames}, not"
        f" by the hop {hop}. Make the upsampling factors multiply to {hop}."
    )


def _failure_check(
    module: nn.Module, run: _Run, name: str | None, recipe: Recipe, binding: Binding, request: CodeRequest, frames: int
) -> Check:
    """The forward check of a failed run: the module, what it received, what it expected, the fix."""
    record = run.records.get(name) if name is not None else None
    if record is not None and name:
        received = ", ".join(f"{tuple(s)} {d}" for s, d in zip(record.inputs, run.received.get(name, [])))
        expected = expectation(module.get_submodule(name))
    else:
        received = ", ".join(f"{key} {tuple(t.shape)} {_first_dtype(t)}" for key, t in run.inputs.items())
        documented = documented_inputs(module.forward, list(run.inputs))
        expected = f"forward{binding.signature}" + (f", documented as: {documented}" if documented else "")
    told = cause(run.error, module, recipe.config)
    fix = told[told.index("Likely cause:") :] if "Likely cause:" in told else told  # the paragraph is in the trace
    fix += _length_note(run, frames, recipe.config.hop_length)
    if not name and not _any_layer_ran(run, module):
        fix = (
            fix.rstrip(".") + ". The forward rejected its inputs before any layer ran: the mel was given as"
            f" {request.mel_layout}, the audio as {request.audio_layout}. Try --mel-layout N,1,n_mels,F or"
            " N,F,n_mels,"
            " --audio-layout N,1,T, N,C,T-onehot or N,T-classes, or --mel-arg/--audio-arg if the arguments are"
            " swapped."
        )
    where = f"'{name}' ({type(module.get_submodule(name)).__name__})" if name else type(module).__name__
    return Check(
        "forward", False, f"{where} received {received or 'nothing'}", expected, fix, name if name is not None else None
    )


def documented_inputs(forward, names: list[str]) -> str:
    """What forward's docstring says of each of `names` ("x (Tensor): ... shape (B x C x T)"), joined; "" if
    it says nothing. A parameter's entry is its line and the more indented lines under it."""
    lines = (pyinspect.getdoc(forward) or "").splitlines()
    found = []
    for name in names:
        pattern = re.compile(rf"^\s*{re.escape(name)}\b\s*[(:]")
        for index, line in enumerate(lines):
            if pattern.match(line):
                indent = len(line) - len(line.lstrip())
                entry = [line.strip()]
                for follow in lines[index + 1 :]:
                    if not follow.strip() or len(follow) - len(follow.lstrip()) <= indent:
                        break
                    entry.append(follow.strip())
                found.append(" ".join(entry))
                break
    return "; ".join(found)


def _any_layer_ran(run: _Run, module: nn.Module) -> bool:
    return any(record.calls for name, record in run.records.items() if name)


def expectation(layer: nn.Module) -> str:
    """What a layer takes, from its own sizes."""
    if isinstance(layer, nn.Linear):
        return f"(…, {layer.in_features}) floating point (Linear in_features={layer.in_features})"
    if isinstance(layer, (nn.Conv1d, nn.ConvTranspose1d)):
        return f"(N, {layer.in_channels}, L) floating point ({type(layer).__name__} in_channels={layer.in_channels})"
    if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
        return f"(N, {layer.in_channels}, H, W) floating point ({type(layer).__name__} in_channels={layer.in_channels})"
    if isinstance(layer, nn.RNNBase):
        order = "(N, T, {})" if layer.batch_first else "(T, N, {})"
        layers = layer.num_layers * (2 if layer.bidirectional else 1)
        return (
            f"{order.format(layer.input_size)} floating point and an optional state ({layers}, N,"
            f" {layer.hidden_size}) with the input's batch N"
        )
    if isinstance(layer, nn.RNNCellBase):
        return (
            f"(N, {layer.input_size}) floating point and an optional state (N, {layer.hidden_size}) with the"
            " input's batch N"
        )
    if isinstance(layer, nn.Embedding):
        return f"integer indices (int64) in [0, {layer.num_embeddings})"
    if isinstance(layer, nn.modules.batchnorm._BatchNorm):
        return f"(N, {layer.num_features}, …) floating point ({type(layer).__name__} num_features={layer.num_features})"
    if isinstance(layer, (nn.CrossEntropyLoss, nn.NLLLoss)):
        return "logits (N, C, …) floating point and a target of class indices (N, …) int64"
    return f"{type(layer).__name__}.forward{pyinspect.signature(layer.forward)}"


# --- the command ------------------------------------------------------------------------------------------


def run_command(args) -> int:
    """`vocoscope inspect INPUT --module FILE.py:NAME ...`: print the report; exit 2 when a check failed."""
    from engine.shapes import render_report

    request = CodeRequest(
        module=args.module,
        input=args.input,
        kwargs=args.kwargs or "",
        checkpoint=args.checkpoint,
        mel_arg=args.mel_arg,
        audio_arg=args.audio_arg,
        mel=args.mel or "",
        mel_layout=args.mel_layout,
        audio_layout=args.audio_layout,
        frames=args.frames,
    )
    inspection = inspect_code(request)
    print(render_report(inspection.verdict, inspection.trace))
    return 0 if inspection.verdict.ok else 2
