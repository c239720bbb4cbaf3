"""Trace: what every module of a model is given and gives back, from a short real forward pass.

`trace(model, raw)` runs the teacher-forced forward on the first few frames of the input with hooks on every
module and records each one's input and output shapes, dtype and parameter count (`ModuleRecord`), then the
training view (what `model.loss` and the loss functions inside it receive), then one step of the
autoregressive cell written as the family's equations (`StepRecord`s). An input the model cannot take is
traced as far as it goes: the module that failed is marked and the error explained in words.

The result is plain data (`Trace.to_dict()` is JSON-able) that the CLI table and the window's dock render.
"""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.overrides import TorchFunctionMode

from engine.explain import explain, failed_module, watch
from engine.features import Conditioning
from engine.models.step_view import StepRecord

LOSS_FUNCTIONS = {
    F.cross_entropy: "cross_entropy",
    F.nll_loss: "nll_loss",
    F.mse_loss: "mse_loss",
    F.l1_loss: "l1_loss",
    F.binary_cross_entropy_with_logits: "binary_cross_entropy_with_logits",
}

# Frames traced by default: enough for the conditioning network's padding, short enough to be instant.
TRACE_FRAMES = 3
TRACE_SEED = 0  # torch's generators while tracing (see same_noise)


@dataclass
class ModuleRecord:
    """One module as the forward pass saw it (its first call). name: dotted path, "" for the model itself."""

    name: str
    kind: str
    depth: int
    parameters: int
    inputs: list[tuple[int, ...]] = field(default_factory=list)
    outputs: list[tuple[int, ...]] = field(default_factory=list)
    dtype: str = ""
    calls: int = 0
    failed: bool = False


@dataclass
class LossRecord:
    """The training view: what a loss function was given. input: the logits or parameters; target: the truth."""

    function: str
    input: tuple[int, ...]
    target: tuple[int, ...]
    input_dtype: str
    target_dtype: str


@dataclass
class Trace:
    """A model traced on one input. `error` and `failed_module` are set when the forward pass failed."""

    family: str
    model: str
    frames: int
    samples: int
    modules: list[ModuleRecord] = field(default_factory=list)
    training: list[LossRecord] = field(default_factory=list)
    steps: list[StepRecord] = field(default_factory=list)
    step_title: str = ""
    step_error: float | None = None
    error: str | None = None
    failed_module: str | None = None

    def module(self, name: str) -> ModuleRecord:
        for record in self.modules:
            if record.name == name:
                return record
        raise KeyError(name)

    def step(self, symbol: str) -> StepRecord:
        for record in self.steps:
            if record.symbol == symbol:
                return record
        raise KeyError(symbol)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def trace(model: nn.Module, raw: Any, *, frames: int | None = None) -> Trace:
    """Trace `model` on the first `frames` frames of `raw` (default: max(min_frames, TRACE_FRAMES)).

    raw: a `Conditioning`, or a mel as given ((n_mels, T), (T, n_mels) or (N, n_mels, T); numpy or torch).
    Its values and dtype are kept as they are (a float64 mel becomes float32), so a mistaken input fails in
    the module where it would fail in use. The family's cell is traced at its first step (`Vocoder.trace_step` at
    t = 0, zero state), as generation starts, and checked against the forward pass's first column (`step_error`).
    """
    mel, audio = _forward_inputs(model, raw, frames)
    result = Trace(
        family=getattr(model, "family", ""),
        model=type(model).__name__,
        frames=int(mel.shape[-1]),
        samples=int(audio.shape[-1]),
    )
    records = {
        name: ModuleRecord(
            name,
            type(module).__name__,
            name.count(".") + (1 if name else 0),
            sum(p.numel() for p in module.parameters()),
        )
        for name, module in model.named_modules()
    }
    result.modules = list(records.values())
    was_training = model.training
    model.eval()
    try:
        with same_noise(mel.device):
            output = _hooked_forward(model, mel, audio, records, result)
        if output is not None:
            result.training = _training_view(model, output, model.training_target(mel, audio))
            trace_step = getattr(model, "trace_step", None)  # a Vocoder's; a module of one's own has none
            with torch.no_grad(), same_noise(mel.device):
                view = trace_step(mel, audio, 0) if trace_step is not None else None
            if view is not None:
                result.step_title, result.steps = view.title, view.steps
                result.step_error = float((view.output - output[..., 0]).abs().max())
    finally:
        model.train(was_training)
    return result


@contextlib.contextmanager
def same_noise(device: torch.device) -> Iterator[None]:
    """Inside, torch's generators start from TRACE_SEED, and outside they are as before: a model that draws noise in
    its forward pass (a WaveNet with output "waveform") draws the same in the forward pass and the step trace."""
    with torch.random.fork_rng([device] if device.type == "cuda" else []):
        torch.manual_seed(TRACE_SEED)
        yield


def _forward_inputs(model: nn.Module, raw: Any, frames: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """raw → (mel (N, n_mels, F), teacher audio (N, F · hop) float32), F at most `frames`."""
    bands = model.mel_config.n_mels
    audio = None
    if isinstance(raw, Conditioning):
        mel = torch.from_numpy(np.ascontiguousarray(raw.mel))
        audio = None if raw.audio is None else torch.from_numpy(np.asarray(raw.audio, dtype=np.float32))
    else:
        mel = raw.detach().cpu() if isinstance(raw, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(raw))
        if mel.ndim == 2 and mel.shape[0] != bands and mel.shape[1] == bands:
            mel = mel.t()  # time-major mels are accepted on loading
    if mel.dtype == torch.float64:
        mel = mel.float()
    if mel.ndim == 2:
        mel = mel.unsqueeze(0)
    count = max(model.min_frames, TRACE_FRAMES) if frames is None else frames
    mel = mel[..., :count].contiguous()
    length = mel.shape[-1] * model.hop_length
    teacher = torch.zeros(mel.shape[0], length)
    if audio is not None:
        clip = audio[:length]
        teacher[:, : len(clip)] = clip
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    return mel.to(device), teacher.to(device)


def tensors(value: Any) -> list[torch.Tensor]:
    """Every tensor in a (nested) value of tuples, lists and dicts, in order."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [tensor for item in value for tensor in tensors(item)]
    if isinstance(value, dict):
        return [tensor for item in value.values() for tensor in tensors(item)]
    return []


def _shapes(value: Any) -> list[tuple[int, ...]]:
    """Shapes of every tensor in a (nested) value, in order."""
    return [tuple(tensor.shape) for tensor in tensors(value)]


def _first_dtype(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return str(value.dtype).replace("torch.", "")
    if isinstance(value, (tuple, list)):
        for item in value:
            found = _first_dtype(item)
            if found:
                return found
    return ""


def _hooked_forward(model, mel, audio, records: dict[str, ModuleRecord], result: Trace) -> torch.Tensor | None:
    """Run the forward pass with shape-recording hooks; on failure fill `result.error`, return None."""
    handles = []

    def before(name):
        def hook(_module, args, kwargs):
            record = records[name]
            record.calls += 1
            if record.calls == 1:
                record.inputs = _shapes(args) + _shapes(kwargs)

        return hook

    def after(name):
        def hook(_module, _args, _kwargs, output):
            record = records[name]
            if not record.outputs:
                record.outputs = _shapes(output)
                record.dtype = _first_dtype(output)

        return hook

    for name, module in model.named_modules():
        handles.append(module.register_forward_pre_hook(before(name), with_kwargs=True))
        handles.append(module.register_forward_hook(after(name), with_kwargs=True))
    try:
        with torch.no_grad(), watch(model):
            return model(mel, audio)
    except Exception as error:  # any error of the model's forward is the thing to show
        result.error = explain(error, model)
        result.failed_module = failed_module(error, model)
        if result.failed_module in records:
            records[result.failed_module].failed = True
        return None
    finally:
        for handle in handles:
            handle.remove()


class _LossCalls(TorchFunctionMode):
    """Records the loss functions called (and what they were given) while active."""

    def __init__(self):
        super().__init__()
        self.calls: list[LossRecord] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = LOSS_FUNCTIONS.get(func)
        if name is not None and len(args) >= 2:
            self.calls.append(_loss_record(name, args[0], args[1]))
        return func(*args, **kwargs)


def _loss_record(name: str, given: torch.Tensor, target: torch.Tensor) -> LossRecord:
    return LossRecord(name, tuple(given.shape), tuple(target.shape), _first_dtype(given), _first_dtype(target))


def _training_view(model: nn.Module, output: torch.Tensor, target: torch.Tensor) -> list[LossRecord]:
    """model.loss(output, target) and the loss functions inside it, as the training loop calls them."""
    mode = _LossCalls()
    with torch.no_grad(), mode:
        model.loss(output, target)
    return [_loss_record(f"{type(model).__name__}.loss", output, target)] + mode.calls
