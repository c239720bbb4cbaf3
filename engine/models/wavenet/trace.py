"""The WaveNet at sample t, layer by layer with the model's own weights, for the shape inspector
(`WaveNet.trace_step`): column t of every residual layer (input, filter/gate, gated z, residual out, skip share),
then the output; with a synthesis filter, the source's direct path, the excitation and the sample the filter makes
of it. A WaveNet carries no state but its inputs, so column t of the teacher-forced pass is its step."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from engine.models.step_view import StepView, step_record

OUTPUT_WORDS = {
    "mulaw": "logits over 2^bits mu-law classes",
    "mol": "mixture parameters",
    "waveform": "the sample x_t itself",
}


def trace_step(model, mel: torch.Tensor, audio: torch.Tensor, t: int) -> StepView:
    """mel (N, n_mels, F), audio (N, F · hop) → the layers at sample t; its output out_t (N, C)."""
    seen: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]] = []
    handles = [
        layer.register_forward_hook(lambda _m, args, out: seen.append((args[0], args[1], out[0], out[1])))
        for layer in model.layers
    ]
    shaping: dict[
        str, torch.Tensor
    ] = {}  # with a synthesis filter: the layers' output and the direct path (N, 1, T), the responses (N, F, TAPS)
    if model.synthesis is not None:
        handles.append(model.out.register_forward_hook(lambda _m, _args, out: shaping.update(layers=out)))
        handles.append(model.direct.register_forward_hook(lambda _m, _args, out: shaping.update(direct=out)))
        handles.append(model.synthesis.register_forward_hook(lambda _m, _args, out: shaping.update(responses=out)))
    try:
        model(mel, audio)
    finally:
        for handle in handles:
            handle.remove()
    r = model.config.residual_channels
    skip_weight = model.skip.weight.squeeze(-1)
    first_input = (
        "embedding of the previous sample's mu-law class"
        if model.config.autoregressive
        else "the source features and noise at t, through a 1×1 convolution"
    )
    steps = [step_record("x_0", seen[0][0][..., t], first_input)]
    gated = []
    for index, ((x, cond, x_next, z), layer) in enumerate(zip(seen, model.layers)):
        a = layer.filter_gate(x)[..., t] + cond[..., t]
        skip_share = z[..., t] @ skip_weight[:, index * r : (index + 1) * r].t()
        gated.append(z[..., t])
        steps += [
            step_record(
                f"a_{index}", a, f"layer {index} (dilation {layer.dilation}): W⊛x + V·c, filter and gate halves"
            ),
            step_record(f"z_{index}", z[..., t], "tanh(filter) ⊙ σ(gate)"),
            step_record(f"x_{index + 1}", x_next[..., t], "residual: (x + W_res·z) · √½"),
            step_record(f"skip_{index}", skip_share, "W_skip,l · z (this layer's share of the skip sum)"),
        ]
    skip = model.skip(torch.cat(gated, dim=1).unsqueeze(-1))[..., 0]
    hidden = F.relu(model.post(F.relu(skip).unsqueeze(-1)))[..., 0]
    out = model.out(hidden.unsqueeze(-1))[..., 0]
    steps += [
        step_record("skip", skip, "Σ_l W_skip,l · z_l + bias"),
        step_record("post", hidden, "relu(post(relu(skip)))"),
        step_record("out_t", out, "the layers' share of e_t" if shaping else OUTPUT_WORDS[model.config.output]),
    ]
    if shaping:
        excitation = shaping["layers"][:, 0] + shaping["direct"][:, 0]
        steps += [
            step_record(
                "direct_t", shaping["direct"][..., t], "w · [tone · v, noise · (1 − v), noise · v]: the source"
            ),
            step_record("e_t", excitation[:, t : t + 1], "out_t + direct_t: the excitation"),
        ]
        out = synthesised_at(excitation, shaping["responses"], model.hop_length, t)
        steps.append(
            step_record("x_t", out, "Σ_k h_frame(t−k)[k] · e_(t−k): the excitation through the frames' filters")
        )
    if model.config.output == "mulaw":
        steps.append(step_record("P(x_t)", torch.softmax(out, dim=-1), "softmax(out_t)"))
    return StepView(f"WaveNet layers at sample t = {t}", steps, out)


def synthesised_at(excitation: torch.Tensor, responses: torch.Tensor, hop: int, t: int) -> torch.Tensor:
    """excitation (N, T), each frame's impulse response (N, F, taps) → sample t of the synthesis filter's output (N, 1)."""
    lags = torch.arange(min(t + 1, responses.shape[-1]))
    taps = responses[:, (t - lags) // hop, lags]  # (N, lags): h_frame(t−k)[k]
    return (taps * excitation[:, t - lags]).sum(1, keepdim=True)
