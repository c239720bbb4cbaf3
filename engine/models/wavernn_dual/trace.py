"""The paper's dual-softmax cell at sample t, equation by equation with the model's weights, for the shape
inspector (`DualSoftmaxWaveRNN.trace_step`). It starts from h_{t−1} as the teacher-forced pass reached it (the
cell run over samples 0 … t − 1 from h_{−1} = 0), so its output equals `forward`'s column t.

Gate-major 3H vectors [u_c u_f | r_c r_f | e_c e_f] as in the model's forward."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from engine.models.step_view import StepView, step_record
from engine.models.wavernn_dual.cell import gates


def trace_step(model, mel: torch.Tensor, audio: torch.Tensor, t: int) -> StepView:
    """mel (N, n_mels, F), audio (N, F · hop) → the cell at sample t; its output [P_c, P_f] logits (N, 512)."""
    n, half = audio.shape[0], model.half
    x, I_all = model.teacher_inputs(mel, audio)  # (N, T, 3), (N, T, 3H)
    h_prev = audio.new_zeros(n, model.config.hidden_size)
    for s in range(t):  # the state the teacher-forced pass reaches before sample t
        h_prev = gates(model.R(h_prev), I_all[:, s], h_prev)
    x_t, I_x = x[:, t], I_all[:, t]
    R_h = model.R(h_prev)
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
        step_record("x_t", x_t, "[c_{t−1}, f_{t−1}, c_t], bytes scaled to [-1, 1]"),
        step_record("h_{t−1}", h_prev, "the state before the step"),
        step_record("R·h_{t−1}", R_h, "one (3H × H) product, split into the u, r, e parts"),
        step_record(
            "I*·x_t", I_x, "masked input projection (coarse half: 2 → 3H/2, fine half: 3 → 3H/2) + mel conditioning"
        ),
        step_record("u_t", u_t, "σ(R_u h_{t−1} + I_u* x_t + b_u)   update gate"),
        step_record("r_t", r_t, "σ(R_r h_{t−1} + I_r* x_t + b_r)   reset gate"),
        step_record("e_t", e_t, "tanh(r_t ∘ (R_e h_{t−1}) + I_e* x_t + b_e)"),
        step_record("h_t", h_t, "u_t ∘ h_{t−1} + (1 − u_t) ∘ e_t"),
        step_record("y_c", y_c, "coarse half of h_t"),
        step_record("y_f", y_f, "fine half of h_t"),
        step_record("P(c_t)", torch.softmax(logits_c, dim=-1), "softmax(O_2 relu(O_1 y_c)), 256 coarse values"),
        step_record("P(f_t)", torch.softmax(logits_f, dim=-1), "softmax(O_4 relu(O_3 y_f)), 256 fine values"),
    ]
    return StepView(f"Dual-softmax WaveRNN cell, sample t = {t}", steps, torch.cat([logits_c, logits_f], dim=1))
