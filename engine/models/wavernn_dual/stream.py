"""Streaming the dual-softmax WaveRNN (model.py): the state carried between blocks, the per-sample torch loop, and the
weights of the compiled loop (kernel.py), which runs instead on the CPU.

Streaming reorders R's rows once to half-major, [u_c r_c e_c | u_f r_f e_f], so that the coarse half can be updated,
c_t drawn, and then the fine half updated with c_t, from one R·h_{t−1}.
"""

from __future__ import annotations

import numpy as np
import torch

from engine.models.base import StreamBlock
from engine.models.coding import sample_classes
from engine.models.recurrent import RecurrentStream
from engine.sampling import Sampling
from engine.models.wavernn_dual import kernel
from engine.models.wavernn_dual.cell import (
    BYTE_VALUES,
    SILENCE_COARSE,
    SILENCE_FINE,
    byte_input,
    bytes_to_audio,
    coarse_fine_bytes,
    gates,
)


def half_major_rows(model) -> torch.Tensor:
    """Row order taking a gate-major 3H vector [u_c u_f | r_c r_f | e_c e_f] to [u_c r_c e_c | u_f r_f e_f]."""
    rows = torch.arange(3 * model.config.hidden_size, device=model.R.weight.device).view(3, 2, model.half)
    return rows.transpose(0, 1).reshape(-1)


def kernel_weights(model) -> tuple[np.ndarray, ...]:
    """The weights `kernel.run_block` takes, from a DualSoftmaxWaveRNN on the CPU: float32 contiguous copies,
    (in, out)."""

    def columns(weight: torch.Tensor) -> np.ndarray:  # an nn.Linear-style (out, in) weight → (in, out)
        return np.ascontiguousarray(weight.detach().t().float().numpy())

    def vector(values: torch.Tensor) -> np.ndarray:
        return np.ascontiguousarray(values.detach().float().numpy())

    outputs = []
    for layer in (model.O1, model.O2, model.O3, model.O4):
        outputs += [columns(layer.weight), vector(layer.bias)]
    return (
        vector(byte_input(torch.arange(BYTE_VALUES))),
        columns(model.R.weight[half_major_rows(model)]),
        columns(torch.cat([model.I_coarse.weight, model.I_fine.weight[:, :2]])),
        vector(model.I_fine.weight[:, 2]),
        *outputs,
    )


class DualSoftmaxStream(RecurrentStream):
    """One generation of a DualSoftmaxWaveRNN (see `RecurrentStream`). Carried from block to block: h_{t−1} `h`
    (rows, H) and [c_{t−1}, f_{t−1}] `x_prev` (rows, 2) as inputs; R's rows reordered, transposed, `R_t` (H, 3H);
    the compiled loop's weights (`kernel_weights`), copied at its first block."""

    def __init__(self, model, mel: torch.Tensor, repeats: int = 1, sampling: Sampling | None = None):
        super().__init__(model, mel, repeats, sampling)
        silence = torch.tensor([[byte_input(SILENCE_COARSE), byte_input(SILENCE_FINE)]], device=mel.device)
        self.h = torch.zeros(self.rows, model.config.hidden_size, device=mel.device)
        self.x_prev = silence.expand(self.rows, 2)
        self.R_t = model.R.weight[half_major_rows(model)].t()
        self.kernel_weights: tuple[np.ndarray, ...] | None = None

    def fed(self, teacher: torch.Tensor) -> torch.Tensor:
        """The teacher's samples (rows, T) as their (coarse, fine) bytes (rows, T, 2)."""
        return torch.stack(coarse_fine_bytes(teacher), dim=-1)

    @torch.inference_mode()
    def block_inputs(self, start: int, stop: int) -> tuple[torch.Tensor]:
        """The conditioning's share of I*·x_t with I*'s biases, for frames [start, stop): ((L, N, 3H) half-major,)."""
        model = self.model
        mel_up, aux = model.upsample.upsample_range(self.padded, start, stop)
        conditioning = model.projected_conditioning(mel_up.transpose(0, 1), aux.transpose(0, 1))
        return (conditioning[..., half_major_rows(model)] + torch.cat([model.I_coarse.bias, model.I_fine.bias]),)

    @torch.inference_mode()
    def block(
        self, start: int, stop: int, fed: torch.Tensor | None, return_logits: bool, generator: torch.Generator | None
    ) -> StreamBlock:
        """Run the cell over frames [start, stop). fed: the teacher's (coarse, fine) bytes (rows, L, 2), or None.

        Per sample: R·h_{t−1} once; the coarse half's gates; draw c_t; the fine half's gates with c_t; draw f_t.
        """
        (I_cond,) = self.windows.get(start, stop)
        L, N = I_cond.shape[:2]
        device = self.padded.device
        # One uniform per step and row for drawing c_t ([0]) and one for f_t ([1]): (2, L, N, 1).
        uniforms = torch.rand(2, L, N, 1, generator=generator, device=device)
        loop = self._compiled_loop if self.model.compiled_on(device) else self._torch_loop
        drawn_bytes, logits = loop(I_cond, uniforms, fed, return_logits)
        return StreamBlock(bytes_to_audio(drawn_bytes[:, 0], drawn_bytes[:, 1]), logits)

    def _torch_loop(
        self,
        I_cond: torch.Tensor,
        uniforms: torch.Tensor,
        fed: torch.Tensor | None,
        return_logits: bool,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """`block`'s loop as torch ops. I_cond (L, N, 3H) half-major, uniforms (2, L, N, 1), fed (N, L, 2) or None →
        the drawn (coarse, fine) bytes (N, 2, L) and the logits (N, 512, L) or None."""
        model = self.model
        half = model.half
        # Both halves' I*·[c_{t−1}, f_{t−1}] in one product; the fine half's c_t column is added after drawing c_t.
        W_prev_t = torch.cat([model.I_coarse.weight, model.I_fine.weight[:, :2]]).t()
        w_c_t = model.I_fine.weight[:, 2]
        if fed is not None:
            teacher_inputs = byte_input(fed)  # (N, L, 2)
            teacher_x_prev = torch.cat([self.x_prev.unsqueeze(1), teacher_inputs[:, :-1]], dim=1).unbind(1)
            teacher_c_t = teacher_inputs[:, :, :1].unbind(1)
        inputs = byte_input(torch.arange(BYTE_VALUES, device=I_cond.device))
        O1_t, O2_t, O3_t, O4_t = (layer.weight.t() for layer in (model.O1, model.O2, model.O3, model.O4))
        b1, b2, b3, b4 = (layer.bias for layer in (model.O1, model.O2, model.O3, model.O4))
        h, x_prev, R_t = self.h, self.x_prev, self.R_t
        drawn, outputs = [], []
        coarse_uniforms, fine_uniforms = uniforms
        steps = zip(I_cond.unbind(0), coarse_uniforms.unbind(0), fine_uniforms.unbind(0))
        for t, (I_cond_t, coarse_uniform, fine_uniform) in enumerate(steps):
            if fed is not None:
                x_prev = teacher_x_prev[t]
            R_h_c, R_h_f = torch.mm(h, R_t).split(3 * half, dim=1)
            I_x_c, I_x_f = torch.addmm(I_cond_t, x_prev, W_prev_t).split(3 * half, dim=1)
            h_c, h_f = h.split(half, dim=1)
            y_c = gates(R_h_c, I_x_c, h_c)
            P_c = torch.addmm(b2, torch.relu(torch.addmm(b1, y_c, O1_t)), O2_t)
            coarse = sample_classes(P_c, coarse_uniform)
            c_t = torch.take(inputs, coarse) if fed is None else teacher_c_t[t]
            y_f = gates(R_h_f, torch.addcmul(I_x_f, c_t, w_c_t), h_f)
            P_f = torch.addmm(b4, torch.relu(torch.addmm(b3, y_f, O3_t)), O4_t)
            fine = sample_classes(P_f, fine_uniform)
            x_prev = torch.cat([c_t, torch.take(inputs, fine)], dim=1)
            h = torch.cat([y_c, y_f], dim=1)
            drawn.append(torch.cat([coarse, fine], dim=1))
            if return_logits:
                outputs.append(torch.cat([P_c, P_f], dim=1))
        self.h, self.x_prev = h, (x_prev if fed is None else teacher_inputs[:, -1])
        return torch.stack(drawn, dim=2), torch.stack(outputs, dim=2) if return_logits else None

    def _compiled_loop(
        self,
        I_cond: torch.Tensor,
        uniforms: torch.Tensor,
        fed: torch.Tensor | None,
        return_logits: bool,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """`_torch_loop` on the CPU, by `kernel.run_block` (same inputs, same draws)."""
        if self.kernel_weights is None:
            self.kernel_weights = kernel_weights(self.model)
        return self.run_compiled(kernel.run_block, I_cond, uniforms, fed, return_logits)

    def run_compiled(
        self,
        run_block,
        I_cond: torch.Tensor,
        uniforms: torch.Tensor,
        fed: torch.Tensor | None,
        return_logits: bool,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Run a compiled loop (kernel.py's `run_block`, or sparse_kernel.py's) with `self.kernel_weights` on the
        state, as `_torch_loop` takes and returns it."""
        L, N = I_cond.shape[:2]
        h, x_prev = self.h.numpy().copy(), self.x_prev.numpy().copy()
        taught = np.empty((0, 0, 0), dtype=np.int64) if fed is None else fed.transpose(0, 1).contiguous().numpy()
        drawn = np.empty((L, N, 2), dtype=np.int64)
        logits = np.empty((L, N, 2 * BYTE_VALUES) if return_logits else (0, 0, 0), dtype=np.float32)
        run_block(
            I_cond.contiguous().numpy(),
            uniforms.reshape(2, L, N).numpy(),
            taught,
            *self.kernel_weights,
            h,
            x_prev,
            drawn,
            logits,
        )
        self.h, self.x_prev = torch.from_numpy(h), torch.from_numpy(x_prev)
        logits_block = torch.from_numpy(logits).permute(1, 2, 0) if return_logits else None
        return torch.from_numpy(drawn).permute(1, 2, 0), logits_block
