"""The paper's WaveRNN with a dual softmax (Kalchbrenner et al., 2018, "Efficient Neural Audio Synthesis").

A 16-bit sample is split into a coarse byte c_t and a fine byte f_t (both scaled to [-1, 1] as inputs).
One GRU-like cell of H units, its state split into a coarse half and a fine half, predicts both:

    x_t = [c_{t−1}, f_{t−1}, c_t]
    u_t = σ(R_u h_{t−1} + I_u* x_t + b_u)
    r_t = σ(R_r h_{t−1} + I_r* x_t + b_r)
    e_t = tanh(r_t ∘ (R_e h_{t−1}) + I_e* x_t + b_e)
    h_t = u_t ∘ h_{t−1} + (1 − u_t) ∘ e_t
    y_c, y_f = split(h_t)
    P(c_t) = softmax(O_2 relu(O_1 y_c)),   P(f_t) = softmax(O_4 relu(O_3 y_f))

R is one (3H × H) matrix, so R·h_{t−1} is computed once per step and split into its u, r, e parts. I* is
masked: the coarse half sees only [c_{t−1}, f_{t−1}] (`I_coarse`, 2 → 3·H/2), the fine half also sees c_t
(`I_fine`, 3 → 3·H/2); their outputs are interleaved into the u, r, e parts of each half, and hold the biases.
Both halves' gates read the whole h_{t−1}. The upsampled mel and aux features are projected to 3H and added
to I*·x_t.

Layout of every 3H vector in `forward` (gate-major, as the equations): [u_c u_f | r_c r_f | e_c e_f].
Streaming reorders R's rows once to half-major, [u_c r_c e_c | u_f r_f e_f], so that the coarse half can be
updated, c_t drawn, and then the fine half updated with c_t, from one R·h_{t−1}.

Output column t holds the logits of c_t and f_t: it sees audio[:, :t] and, for the fine logits, the coarse
byte of audio[:, t] (teacher forcing of c_t, as in the paper). The receptive field is unbounded (reported 0).

On the CPU the per-sample loop runs compiled (engine/models/wavernn_dual_kernel.py: the same arithmetic and draws);
elsewhere it runs as torch ops.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from engine.errors import ConfigError
from engine.features import MelConfig
from engine.models.base import StreamBlock, config_from_dict
from engine.models.coding import sample_classes
from engine.models.frame_windows import FrameWindows
from engine.models.upsample import UpsampleConfig, UpsampleNetwork, check_factors
from engine.models.wavernn import RecurrentVocoder, check_model_input

BYTE_VALUES = 256
PAPER_HIDDEN_SIZE = 896  # chosen in the paper to fit a GPU's registers
SILENCE_COARSE, SILENCE_FINE = 128, 0  # the bytes of int16 sample 0: the "previous sample" at t = 0


def coarse_fine_bytes(audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Float audio (N, T) → (coarse, fine) int64 bytes (N, T); equal to features.split_coarse_fine(float_to_int16)."""
    unsigned = torch.round(audio * 32768.0).clamp(-32768, 32767).long() + 32768
    return unsigned // BYTE_VALUES, unsigned % BYTE_VALUES


def bytes_to_audio(coarse: torch.Tensor, fine: torch.Tensor) -> torch.Tensor:
    """(coarse, fine) int64 bytes → float32 samples in [-1, 1)."""
    return (coarse * BYTE_VALUES + fine - 32768).float() / 32768.0


def byte_input(byte: torch.Tensor | int) -> torch.Tensor | float:
    """Bytes 0..255 (a tensor or an int) → network inputs in [-1, 1]."""
    return byte / 127.5 - 1.0


def gates(R_h: torch.Tensor, I_x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """One GRU step of the paper. R_h = R·h_{t−1}, I_x = I*·x_t + b (+ conditioning): (N, 3K) as [u | r | e];
    h = h_{t−1} (N, K). Returns h_t (N, K)."""
    R_u_h, R_r_h, R_e_h = R_h.chunk(3, dim=1)
    I_u_x, I_r_x, I_e_x = I_x.chunk(3, dim=1)
    u_t = torch.sigmoid(R_u_h + I_u_x)
    r_t = torch.sigmoid(R_r_h + I_r_x)
    e_t = torch.tanh(torch.addcmul(I_e_x, r_t, R_e_h))
    return torch.lerp(e_t, h, u_t)  # u_t ∘ h_{t−1} + (1 − u_t) ∘ e_t


@dataclass
class DualSoftmaxConfig:
    """hidden_size: H, the whole state (even). The default is sized for CPU streaming; the paper's model is
    `DualSoftmaxConfig(hidden_size=PAPER_HIDDEN_SIZE)` (see benchmarks/wavernn_stream.py for the speed of each)."""

    hidden_size: int = 256
    upsample: UpsampleConfig = field(default_factory=UpsampleConfig)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "DualSoftmaxConfig":
        return config_from_dict(cls, values)


class DualSoftmaxWaveRNN(RecurrentVocoder):
    """forward: mel (N, n_mels, F), audio (N, F·hop) → logits (N, 512, F·hop): coarse [:, :256], fine [:, 256:]."""

    family = "wavernn-dual"
    # Sampling on the CPU runs the compiled loop of engine/models/wavernn_dual_kernel.py; False runs the torch loop
    # there too (the one CUDA runs), for comparing the two.
    compiled_cpu_loop = True

    def __init__(self, config: DualSoftmaxConfig, mel_config: MelConfig):
        super().__init__(config, mel_config)
        check_factors(config.upsample.factors, mel_config.hop_length)
        H = config.hidden_size
        if H < 2 or H % 2:
            raise ConfigError(f"hidden_size is {H}; it must be even (a coarse half and a fine half).")
        self.half = H // 2
        self.upsample = UpsampleNetwork(mel_config.n_mels, mel_config.hop_length, config.upsample)
        self.R = nn.Linear(H, 3 * H, bias=False)
        self.I_coarse = nn.Linear(2, 3 * self.half)
        self.I_fine = nn.Linear(3, 3 * self.half)
        self.conditioning = nn.Linear(mel_config.n_mels + config.upsample.aux_channels, 3 * H, bias=False)
        self.O1 = nn.Linear(self.half, self.half)
        self.O2 = nn.Linear(self.half, BYTE_VALUES)
        self.O3 = nn.Linear(self.half, self.half)
        self.O4 = nn.Linear(self.half, BYTE_VALUES)

    @property
    def draws(self) -> str:
        return "16-bit sample as coarse and fine bytes"

    def compiled_on(self, device: torch.device) -> bool:
        return self.compiled_cpu_loop and device.type == "cpu"

    def _projected_conditioning(self, mel_up: torch.Tensor, aux: torch.Tensor) -> torch.Tensor:
        """mel_up (…, n_mels), aux (…, aux) → (…, 3H), gate-major; the leading axes (N, L) or (L, N)."""
        return self.conditioning(torch.cat([mel_up, aux], dim=-1))

    def forward(self, mel: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        """mel (N, n_mels, F), audio (N, F·hop) → logits (N, 512, F·hop), teacher-forced with audio's bytes."""
        check_model_input(self, mel, audio)
        N, T = audio.shape
        coarse, fine = coarse_fine_bytes(audio)
        c_t, f_t = byte_input(coarse), byte_input(fine)
        c_prev = F.pad(c_t, (1, -1), value=byte_input(SILENCE_COARSE))
        f_prev = F.pad(f_t, (1, -1), value=byte_input(SILENCE_FINE))
        I_c_x = self.I_coarse(torch.stack([c_prev, f_prev], dim=-1)).view(N, T, 3, self.half)
        I_f_x = self.I_fine(torch.stack([c_prev, f_prev, c_t], dim=-1)).view(N, T, 3, self.half)
        I_x = torch.cat([I_c_x, I_f_x], dim=-1).view(N, T, 3 * self.config.hidden_size)
        I_x = I_x + self._projected_conditioning(*self.upsample(mel))
        h = audio.new_zeros(N, self.config.hidden_size)
        states = []
        for I_x_t in I_x.unbind(1):
            h = gates(self.R(h), I_x_t, h)
            states.append(h)
        y_c, y_f = torch.stack(states, dim=1).split(self.half, dim=-1)
        P_c = self.O2(F.relu(self.O1(y_c)))
        P_f = self.O4(F.relu(self.O3(y_f)))
        return torch.cat([P_c, P_f], dim=-1).transpose(1, 2)

    def loss(self, output: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        """output (N, 512, T), audio (N, T) → CE(coarse) + CE(fine) against audio's 16-bit bytes."""
        coarse, fine = coarse_fine_bytes(audio)
        return F.cross_entropy(output[:, :BYTE_VALUES], coarse) + F.cross_entropy(output[:, BYTE_VALUES:], fine)

    def _stream_start(
        self, mel: torch.Tensor, teacher: torch.Tensor | None
    ) -> tuple["_DualStreamState", torch.Tensor | None]:
        """The state before the first sample, and the teacher's (coarse, fine) bytes (N, T, 2) or None."""
        N = mel.shape[0]
        silence = torch.tensor([[byte_input(SILENCE_COARSE), byte_input(SILENCE_FINE)]], device=mel.device)
        state = _DualStreamState(
            h=torch.zeros(N, self.config.hidden_size, device=mel.device),
            x_prev=silence.expand(N, 2),
            R_t=self.R.weight[self._half_major_rows()].t(),
        )
        return state, None if teacher is None else torch.stack(coarse_fine_bytes(teacher), dim=-1)

    def _half_major_rows(self) -> torch.Tensor:
        """Row order taking a gate-major 3H vector [u_c u_f | r_c r_f | e_c e_f] to [u_c r_c e_c | u_f r_f e_f]."""
        rows = torch.arange(3 * self.config.hidden_size, device=self.R.weight.device).view(3, 2, self.half)
        return rows.transpose(0, 1).reshape(-1)

    @torch.inference_mode()
    def _block_conditioning(self, padded: torch.Tensor, start: int, stop: int) -> tuple[torch.Tensor]:
        """The conditioning's share of I*·x_t with I*'s biases, for frames [start, stop): ((L, N, 3H) half-major,)."""
        mel_up, aux = self.upsample.upsample_range(padded, start, stop)
        conditioning = self._projected_conditioning(mel_up.transpose(0, 1), aux.transpose(0, 1))
        return (conditioning[..., self._half_major_rows()] + torch.cat([self.I_coarse.bias, self.I_fine.bias]),)

    @torch.inference_mode()
    def _stream_block(
        self,
        padded: torch.Tensor,
        start: int,
        stop: int,
        state: "_DualStreamState",
        fed: torch.Tensor | None,
        return_logits: bool,
        generator: torch.Generator | None,
    ) -> StreamBlock:
        """Run the cell over frames [start, stop), updating `state`. fed: the teacher's (coarse, fine) bytes (N, L, 2).

        Per sample: R·h_{t−1} once; the coarse half's gates; draw c_t; the fine half's gates with c_t; draw f_t.
        """
        if state.windows is None:
            state.windows = self._frame_windows(padded, self._block_conditioning)
        (I_cond,) = state.windows.get(start, stop)
        L, N = I_cond.shape[:2]
        # One uniform per step and row for drawing c_t ([0]) and one for f_t ([1]): (2, L, N, 1).
        uniforms = torch.rand(2, L, N, 1, generator=generator, device=padded.device)
        loop = self._compiled_loop if self.compiled_on(padded.device) else self._torch_loop
        drawn_bytes, logits = loop(I_cond, uniforms, state, fed, return_logits)
        return StreamBlock(bytes_to_audio(drawn_bytes[:, 0], drawn_bytes[:, 1]), logits)

    def _torch_loop(
        self, I_cond: torch.Tensor, uniforms: torch.Tensor, state: "_DualStreamState", fed: torch.Tensor | None,
        return_logits: bool,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """`_stream_block`'s loop as torch ops. I_cond (L, N, 3H) half-major, uniforms (2, L, N, 1), fed (N, L, 2) or
        None → the drawn (coarse, fine) bytes (N, 2, L) and the logits (N, 512, L) or None."""
        half = self.half
        # Both halves' I*·[c_{t−1}, f_{t−1}] in one product; the fine half's c_t column is added after drawing c_t.
        W_prev_t = torch.cat([self.I_coarse.weight, self.I_fine.weight[:, :2]]).t()
        w_c_t = self.I_fine.weight[:, 2]
        if fed is not None:
            teacher_inputs = byte_input(fed)  # (N, L, 2)
            teacher_x_prev = torch.cat([state.x_prev.unsqueeze(1), teacher_inputs[:, :-1]], dim=1).unbind(1)
            teacher_c_t = teacher_inputs[:, :, :1].unbind(1)
        inputs = byte_input(torch.arange(BYTE_VALUES, device=I_cond.device))
        O1_t, O2_t, O3_t, O4_t = (layer.weight.t() for layer in (self.O1, self.O2, self.O3, self.O4))
        b1, b2, b3, b4 = (layer.bias for layer in (self.O1, self.O2, self.O3, self.O4))
        h, x_prev, R_t = state.h, state.x_prev, state.R_t
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
        state.h, state.x_prev = h, (x_prev if fed is None else teacher_inputs[:, -1])
        return torch.stack(drawn, dim=2), torch.stack(outputs, dim=2) if return_logits else None

    def _compiled_loop(
        self, I_cond: torch.Tensor, uniforms: torch.Tensor, state: "_DualStreamState", fed: torch.Tensor | None,
        return_logits: bool,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """`_torch_loop` on the CPU, by `wavernn_dual_kernel.run_block` (same inputs, same draws)."""
        from engine.models import wavernn_dual_kernel

        L, N = I_cond.shape[:2]
        if state.kernel_weights is None:
            state.kernel_weights = wavernn_dual_kernel.as_kernel_weights(self)
        h, x_prev = state.h.numpy().copy(), state.x_prev.numpy().copy()
        taught = np.empty((0, 0, 0), dtype=np.int64) if fed is None else fed.transpose(0, 1).contiguous().numpy()
        drawn = np.empty((L, N, 2), dtype=np.int64)
        logits = np.empty((L, N, 2 * BYTE_VALUES) if return_logits else (0, 0, 0), dtype=np.float32)
        wavernn_dual_kernel.run_block(I_cond.contiguous().numpy(), uniforms.reshape(2, L, N).numpy(), taught,
                                      *state.kernel_weights, h, x_prev, drawn, logits)
        state.h, state.x_prev = torch.from_numpy(h), torch.from_numpy(x_prev)
        logits_block = torch.from_numpy(logits).permute(1, 2, 0) if return_logits else None
        return torch.from_numpy(drawn).permute(1, 2, 0), logits_block


@dataclass
class _DualStreamState:
    """Carried between blocks: h_{t−1} (N, H), [c_{t−1}, f_{t−1}] (N, 2), R's rows reordered, transposed; the window
    of block conditioning computed so far; the compiled loop's weights (`wavernn_dual_kernel.as_kernel_weights`),
    copied at its first block."""

    h: torch.Tensor
    x_prev: torch.Tensor
    R_t: torch.Tensor
    windows: FrameWindows | None = None
    kernel_weights: tuple[np.ndarray, ...] | None = None
