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
from typing import Any, Callable, Iterator

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.overrides import TorchFunctionMode

from engine.explain import explain, failed_module, watch
from engine.features import Conditioning

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
class StepRecord:
    """One quantity of one step of the autoregressive cell: its symbol, shape, dtype and what it is."""

    symbol: str
    shape: tuple[int, ...]
    dtype: str
    meaning: str


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
    the module where it would fail in use. The cell is traced at its first step (t = 0, zero state), as
    generation starts, and checked against the forward pass's first column (`step_error`).
    """
    mel, audio = _forward_inputs(model, raw, frames)
    result = Trace(family=getattr(model, "family", ""), model=type(model).__name__,
                   frames=int(mel.shape[-1]), samples=int(audio.shape[-1]))
    records = {name: ModuleRecord(name, type(module).__name__, name.count(".") + (1 if name else 0),
                                  sum(p.numel() for p in module.parameters()))
               for name, module in model.named_modules()}
    result.modules = list(records.values())
    was_training = model.training
    model.eval()
    try:
        with same_noise(mel.device):
            output = _hooked_forward(model, mel, audio, records, result)
        if output is not None:
            result.training = _training_view(model, output, model.training_target(mel, audio))
            step_tracer = STEP_TRACERS.get(result.family)
            if step_tracer is not None:
                with torch.no_grad(), same_noise(mel.device):
                    title, steps, produced = step_tracer(model, mel, audio)
                result.step_title, result.steps = title, steps
                result.step_error = float((produced - output[..., 0]).abs().max())
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


# --- one step of each family's cell ---------------------------------------------------------------------------

StepTracer = Callable[[nn.Module, torch.Tensor, torch.Tensor], tuple[str, list[StepRecord], torch.Tensor]]


def _record(symbol: str, tensor: torch.Tensor, meaning: str) -> StepRecord:
    return StepRecord(symbol, tuple(tensor.shape), _first_dtype(tensor), meaning)


def _wavernn_step(model, mel, audio) -> tuple[str, list[StepRecord], torch.Tensor]:
    """fatchord's WaveRNN at sample 0 from zero GRU states, with the model's own layers. Returns out_0 (N, C)."""
    t = 0
    mel_up, aux = model.upsample(mel)
    a1, a2, a3, a4 = (part[:, t] for part in aux.split(model.aux_part, dim=-1))
    previous = model.sample_inputs(mel, audio)[:, t]
    source = model.source(mel)
    source_t = [] if source is None else [source[:, t]]
    x_in = model.input_layer(torch.cat([previous, mel_up[:, t], a1, *source_t], dim=-1))
    h1 = model.rnn1(x_in.unsqueeze(1))[0][:, 0]
    z1 = x_in + h1
    h2 = model.rnn2(torch.cat([z1, a2], dim=-1).unsqueeze(1))[0][:, 0]
    z2 = z1 + h2
    y1 = F.relu(model.fc1(torch.cat([z2, a3], dim=-1)))
    y2 = F.relu(model.fc2(torch.cat([y1, a4], dim=-1)))
    out = model.fc3(y2)
    mulaw = model.config.mode == "mulaw"
    steps = [
        _record("x_{t-1}", previous, "previous sample" + (" (mu-law compressed)" if mulaw else ""))
        if model.predictor is None
        else _record("[x_{t-1}, e_{t-1}, p_t]", previous, "previous sample, its excitation, the prediction (mu-law)"),
        _record("mel_t", mel_up[:, t], "upsampled mel at t"),
        _record("aux¹_t", a1, "aux features, first quarter"),
        *[_record("s_t", part, "source features at t: tone, sin and cos of its phase (each × voicing), voicing")
          for part in source_t],
        _record("x_in", x_in, "I([sample inputs, mel_t, aux¹_t" + (", s_t])" if source_t else "])")),
        _record("h¹_t", h1, "GRU₁(x_in, h¹_{t-1})"),
        _record("z¹", z1, "x_in + h¹_t (residual)"),
        _record("h²_t", h2, "GRU₂([z¹, aux²_t], h²_{t-1})"),
        _record("z²", z2, "z¹ + h²_t (residual)"),
        _record("fc₁", y1, "relu(fc₁([z², aux³_t]))"),
        _record("fc₂", y2, "relu(fc₂([fc₁, aux⁴_t]))"),
        _record("out_t", out, f"fc₃: {'logits over 2^bits mu-law classes' if mulaw else 'mixture parameters'}"
                + (" of the excitation e_t = x_t − p_t" if model.predictor is not None else "")),
    ]
    if mulaw:
        steps.append(_record("P(x_t)", torch.softmax(out, dim=-1), "softmax(out_t)"))
    return f"WaveRNN cell, sample t = {t}", steps, out


OUTPUT_WORDS = {"mulaw": "logits over 2^bits mu-law classes", "mol": "mixture parameters",
                "waveform": "the sample x_t itself"}


def _wavenet_step(model, mel, audio) -> tuple[str, list[StepRecord], torch.Tensor]:
    """Column 0 of every residual layer (input, filter/gate, gated z, residual out, skip share), then the output."""
    t = 0
    seen: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]] = []
    handles = [layer.register_forward_hook(lambda _m, args, out: seen.append((args[0], args[1], out[0], out[1])))
               for layer in model.layers]
    try:
        output = model(mel, audio)
    finally:
        for handle in handles:
            handle.remove()
    r = model.config.residual_channels
    skip_weight = model.skip.weight.squeeze(-1)
    first_input = ("embedding of the previous sample's mu-law class" if model.config.autoregressive
                   else "the source features and noise at t, through a 1×1 convolution")
    steps = [_record("x_0", seen[0][0][..., t], first_input)]
    gated = []
    for l, ((x, cond, x_next, z), layer) in enumerate(zip(seen, model.layers)):
        a = layer.filter_gate(x)[..., t] + cond[..., t]
        skip_share = z[..., t] @ skip_weight[:, l * r : (l + 1) * r].t()
        gated.append(z[..., t])
        steps += [
            _record(f"a_{l}", a, f"layer {l} (dilation {layer.dilation}): W⊛x + V·c, filter and gate halves"),
            _record(f"z_{l}", z[..., t], "tanh(filter) ⊙ σ(gate)"),
            _record(f"x_{l + 1}", x_next[..., t], "residual: (x + W_res·z) · √½"),
            _record(f"skip_{l}", skip_share, "W_skip,l · z (this layer's share of the skip sum)"),
        ]
    skip = model.skip(torch.cat(gated, dim=1).unsqueeze(-1))[..., 0]
    hidden = F.relu(model.post(F.relu(skip).unsqueeze(-1)))[..., 0]
    out = model.out(hidden.unsqueeze(-1))[..., 0]
    steps += [
        _record("skip", skip, "Σ_l W_skip,l · z_l + bias"),
        _record("post", hidden, "relu(post(relu(skip)))"),
        _record("out_t", out, OUTPUT_WORDS[model.config.output]),
    ]
    if model.config.output == "mulaw":
        steps.append(_record("P(x_t)", torch.softmax(out, dim=-1), "softmax(out_t)"))
    del output
    return f"WaveNet layers at sample t = {t}", steps, out


def _dual_step(model, mel, audio) -> tuple[str, list[StepRecord], torch.Tensor]:
    """The paper's dual-softmax cell at sample 0 (h_{-1} = 0), equation by equation, with the model's weights.

    Gate-major 3H vectors [u_c u_f | r_c r_f | e_c e_f] as in the model's forward. Returns [P_c, P_f] logits (N, 512).
    """
    from engine.models.wavernn_dual.cell import SILENCE_COARSE, SILENCE_FINE, byte_input, coarse_fine_bytes

    n, half = audio.shape[0], model.half
    coarse, _fine = coarse_fine_bytes(audio[:, :1])
    c_prev = byte_input(torch.full((n, 1), SILENCE_COARSE, device=audio.device))
    f_prev = byte_input(torch.full((n, 1), SILENCE_FINE, device=audio.device))
    x_t = torch.cat([c_prev, f_prev, byte_input(coarse)], dim=1)
    h_prev = audio.new_zeros(n, model.config.hidden_size)
    R_h = model.R(h_prev)
    I_c = model.I_coarse(x_t[:, :2]).view(n, 3, half)
    I_f = model.I_fine(x_t).view(n, 3, half)
    cond = model.conditioning(torch.cat(model.upsample(mel), dim=-1))[:, 0]
    I_x = torch.cat([I_c, I_f], dim=-1).view(n, -1) + cond
    R_u_h, R_r_h, R_e_h = R_h.chunk(3, dim=1)
    I_u_x, I_r_x, I_e_x = I_x.chunk(3, dim=1)
    u_t = torch.sigmoid(R_u_h + I_u_x)
    r_t = torch.sigmoid(R_r_h + I_r_x)
    e_t = torch.tanh(r_t * R_e_h + I_e_x)
    h_t = u_t * h_prev + (1 - u_t) * e_t
    y_c, y_f = h_t.split(half, dim=1)
    logits_c = model.O2(F.relu(model.O1(y_c)))
    logits_f = model.O4(F.relu(model.O3(y_f)))
    steps = [
        _record("x_t", x_t, "[c_{t−1}, f_{t−1}, c_t], bytes scaled to [-1, 1]"),
        _record("R·h_{t−1}", R_h, "one (3H × H) product, split into the u, r, e parts"),
        _record("I*·x_t", I_x, "masked input projection (coarse half: 2 → 3H/2, fine half: 3 → 3H/2) + mel conditioning"),
        _record("u_t", u_t, "σ(R_u h_{t−1} + I_u* x_t + b_u)   update gate"),
        _record("r_t", r_t, "σ(R_r h_{t−1} + I_r* x_t + b_r)   reset gate"),
        _record("e_t", e_t, "tanh(r_t ∘ (R_e h_{t−1}) + I_e* x_t + b_e)"),
        _record("h_t", h_t, "u_t ∘ h_{t−1} + (1 − u_t) ∘ e_t"),
        _record("y_c", y_c, "coarse half of h_t"),
        _record("y_f", y_f, "fine half of h_t"),
        _record("P(c_t)", torch.softmax(logits_c, dim=-1), "softmax(O_2 relu(O_1 y_c)), 256 coarse values"),
        _record("P(f_t)", torch.softmax(logits_f, dim=-1), "softmax(O_4 relu(O_3 y_f)), 256 fine values"),
    ]
    return "Dual-softmax WaveRNN cell, sample t = 0", steps, torch.cat([logits_c, logits_f], dim=1)


STEP_TRACERS: dict[str, StepTracer] = {
    "wavernn": _wavernn_step,
    "wavernn-dual": _dual_step,
    "wavenet": _wavenet_step,
}
