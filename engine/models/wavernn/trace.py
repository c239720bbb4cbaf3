"""fatchord's WaveRNN cell at sample t, equation by equation with the model's own layers, for the shape inspector
(`WaveRNN.trace_step`). The GRU states it starts from are those the teacher-forced pass reached at t − 1 (zero at
t = 0), so its output equals `forward`'s column t."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from engine.models.step_view import StepView, step_record


def trace_step(model, mel: torch.Tensor, audio: torch.Tensor, t: int) -> StepView:
    """mel (N, n_mels, F), audio (N, F · hop) → the cell at sample t; its output out_t (N, C)."""
    mel_up, aux = model.upsample(mel)
    a1, a2, a3, a4 = aux.split(model.aux_part, dim=-1)  # each (N, T, aux / 4)
    previous = model.sample_inputs(mel, audio)  # (N, T, n_fed)
    source = model.source(mel)
    source = None if source is None else source.to(mel_up.dtype)  # (N, T, SOURCE_CHANNELS), as forward takes it
    x_in_all = model.input_layer(torch.cat([previous, mel_up, a1, *([] if source is None else [source])], dim=-1))
    h1_all = model.rnn1(x_in_all)[0]
    h2_all = model.rnn2(torch.cat([x_in_all + h1_all, a2], dim=-1))[0]
    h1_before, h2_before = (h[:, t - 1] if t else torch.zeros_like(h[:, 0]) for h in (h1_all, h2_all))

    source_t = [] if source is None else [source[:, t]]
    x_in = model.input_layer(torch.cat([previous[:, t], mel_up[:, t], a1[:, t], *source_t], dim=-1))
    h1 = model.rnn1(x_in.unsqueeze(1), h1_before.unsqueeze(0))[0][:, 0]
    z1 = x_in + h1
    h2 = model.rnn2(torch.cat([z1, a2[:, t]], dim=-1).unsqueeze(1), h2_before.unsqueeze(0))[0][:, 0]
    z2 = z1 + h2
    y1 = F.relu(model.fc1(torch.cat([z2, a3[:, t]], dim=-1)))
    y2 = F.relu(model.fc2(torch.cat([y1, a4[:, t]], dim=-1)))
    out = model.fc3(y2)
    mulaw = model.config.mode == "mulaw"
    steps = [
        step_record("x_{t-1}", previous[:, t], "previous sample" + (" (mu-law compressed)" if mulaw else ""))
        if model.predictor is None
        else step_record(
            "[x_{t-1}, e_{t-1}, p_t]", previous[:, t], "previous sample, its excitation, the prediction (mu-law)"
        ),
        step_record("mel_t", mel_up[:, t], "upsampled mel at t"),
        step_record("aux¹_t", a1[:, t], "aux features, first quarter"),
        *[
            step_record("s_t", part, "source features at t: tone, sin and cos of its phase (each × voicing), voicing")
            for part in source_t
        ],
        step_record("x_in", x_in, "I([sample inputs, mel_t, aux¹_t" + (", s_t])" if source_t else "])")),
        step_record("h¹_{t-1}", h1_before, "GRU₁'s state before the step"),
        step_record("h¹_t", h1, "GRU₁(x_in, h¹_{t-1})"),
        step_record("z¹", z1, "x_in + h¹_t (residual)"),
        step_record("h²_t", h2, "GRU₂([z¹, aux²_t], h²_{t-1})"),
        step_record("z²", z2, "z¹ + h²_t (residual)"),
        step_record("fc₁", y1, "relu(fc₁([z², aux³_t]))"),
        step_record("fc₂", y2, "relu(fc₂([fc₁, aux⁴_t]))"),
        step_record(
            "out_t",
            out,
            f"fc₃: {'logits over 2^bits mu-law classes' if mulaw else 'mixture parameters'}"
            + (" of the excitation e_t = x_t − p_t" if model.predictor is not None else ""),
        ),
    ]
    if mulaw:
        steps.append(step_record("P(x_t)", torch.softmax(out, dim=-1), "softmax(out_t)"))
    return StepView(f"WaveRNN cell, sample t = {t}", steps, out)
