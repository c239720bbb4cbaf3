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

Layout of every 3H vector in `forward` (gate-major, as the equations): [u_c u_f | r_c r_f | e_c e_f]. One step of
the cell is `gates` (cell.py), the same in `forward` and in the torch loop; streaming (stream.py) reorders R's rows
to half-major, so that c_t can be drawn between the coarse half's update and the fine half's.

Output column t holds the logits of c_t and f_t: it sees audio[:, :t] and, for the fine logits, the coarse
byte of audio[:, t] (teacher forcing of c_t, as in the paper). The receptive field is unbounded (reported 0).

On the CPU the per-sample loop runs compiled (kernel.py: the same arithmetic and draws); elsewhere it runs as torch
ops (stream.py).

Sparse WaveRNN (§4): with `sparsity.target` > 0, training prunes R (and optionally O1–O4) in 16×1 blocks on the
paper's schedule (pruning.py; the trainer calls `after_step`), and the CPU loop skips the zero blocks
(sparse.py, sparse_kernel.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from engine.errors import ConfigError
from engine.features import MelConfig
from engine.models.base import config_from_dict
from engine.models.recurrent import RecurrentVocoder, check_model_input
from engine.models.upsample import UpsampleConfig, UpsampleNetwork, check_factors
from engine.models.wavernn_dual.cell import (
    BYTE_VALUES,
    SILENCE_COARSE,
    SILENCE_FINE,
    byte_input,
    coarse_fine_bytes,
    gates,
)
from engine.models.wavernn_dual.pruning import BlockPruning, SparsityConfig
from engine.models.wavernn_dual.sparse import SparseStream
from engine.models.wavernn_dual.stream import DualSoftmaxStream
from engine.models.wavernn_dual import trace
from engine.models.step_view import StepView
from engine.sampling import Sampling

PAPER_HIDDEN_SIZE = 896  # chosen in the paper to fit a GPU's registers


@dataclass
class DualSoftmaxConfig:
    """hidden_size: H, the whole state (even). The default is sized for CPU streaming; the paper's model is
    `DualSoftmaxConfig(hidden_size=PAPER_HIDDEN_SIZE)` (see benchmarks/speed.py for the speed of each).
    sparsity: the pruning schedule (pruning.py); its target 0 keeps the model dense."""

    hidden_size: int = 256
    upsample: UpsampleConfig = field(default_factory=UpsampleConfig)
    sparsity: SparsityConfig = field(default_factory=SparsityConfig)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "DualSoftmaxConfig":
        return config_from_dict(cls, values)


class DualSoftmaxWaveRNN(RecurrentVocoder):
    """forward: mel (N, n_mels, F), audio (N, F·hop) → logits (N, 512, F·hop): coarse [:, :256], fine [:, 256:]."""

    family = "wavernn-dual"
    # Sampling on the CPU runs the compiled loop of kernel.py; False runs the torch loop there too (the one CUDA runs),
    # for comparing the two.
    compiled_cpu_loop = True

    def __init__(self, config: DualSoftmaxConfig, mel_config: MelConfig):
        super().__init__(config, mel_config)
        check_factors(config.upsample.factors, mel_config.hop_length)
        H = config.hidden_size
        if H < 2 or H % 2:
            raise ConfigError(f"hidden_size is {H}; it must be even (a coarse half and a fine half).")
        self.half = H // 2
        config.sparsity.check(self.half)
        self.upsample = UpsampleNetwork(mel_config.n_mels, mel_config.hop_length, config.upsample)
        self.R = nn.Linear(H, 3 * H, bias=False)
        self.I_coarse = nn.Linear(2, 3 * self.half)
        self.I_fine = nn.Linear(3, 3 * self.half)
        self.conditioning = nn.Linear(mel_config.n_mels + config.upsample.aux_channels, 3 * H, bias=False)
        self.O1 = nn.Linear(self.half, self.half)
        self.O2 = nn.Linear(self.half, BYTE_VALUES)
        self.O3 = nn.Linear(self.half, self.half)
        self.O4 = nn.Linear(self.half, BYTE_VALUES)
        self.pruning = None
        if config.sparsity.target:
            self.pruning = BlockPruning(config.sparsity, {name: getattr(self, name) for name in config.sparsity.layers})
            # Loaded weights may be an average that let masked blocks drift from zero: zero them again.
            self.register_load_state_dict_post_hook(lambda module, keys: module.pruning.apply())

    def state_shapes(self, batch: int) -> dict[str, tuple[int, ...]]:
        """The cell's state h (batch, hidden_size)."""
        return {"h": (batch, self.config.hidden_size)}

    def trace_step(self, mel: torch.Tensor, audio: torch.Tensor, t: int = 0) -> StepView:
        return trace.trace_step(self, mel, audio, t)

    def draws_with(self, sampling: Sampling) -> str:
        return "16-bit sample as coarse and fine bytes"

    @property
    def sparsity_note(self) -> str:
        """The pruned matrices' share of zero 16×1 blocks in words, e.g. "R 96% zero in 16x1 blocks"; "" if dense."""
        if self.pruning is None:
            return ""
        shares = ", ".join(f"{name} {fraction:.0%}" for name, fraction in self.pruning.sparsity().items())
        return f"{shares} zero in 16x1 blocks"

    def after_step(self, step: int) -> None:
        """Called by the trainer after training step `step`: the pruning schedule's masks (pruning.py), if any."""
        if self.pruning is not None:
            self.pruning.after_step(step)

    def compiled_on(self, device: torch.device) -> bool:
        return self.compiled_cpu_loop and device.type == "cpu"

    def projected_conditioning(self, mel_up: torch.Tensor, aux: torch.Tensor) -> torch.Tensor:
        """mel_up (…, n_mels), aux (…, aux) → (…, 3H), gate-major; the leading axes (N, L) or (L, N)."""
        return self.conditioning(torch.cat([mel_up, aux], dim=-1))

    def teacher_inputs(self, mel: torch.Tensor, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """mel (N, n_mels, F), audio (N, F·hop) → x (N, T, 3): [c_{t−1}, f_{t−1}, c_t] from audio's bytes, and
        I*·x_t + b + conditioning (N, T, 3H), gate-major: what the cell takes at every t when teacher-forced."""
        N, T = audio.shape
        coarse, fine = coarse_fine_bytes(audio)
        c_t, f_t = byte_input(coarse), byte_input(fine)
        c_prev = F.pad(c_t, (1, -1), value=byte_input(SILENCE_COARSE))
        f_prev = F.pad(f_t, (1, -1), value=byte_input(SILENCE_FINE))
        I_c_x = self.I_coarse(torch.stack([c_prev, f_prev], dim=-1)).view(N, T, 3, self.half)
        I_f_x = self.I_fine(torch.stack([c_prev, f_prev, c_t], dim=-1)).view(N, T, 3, self.half)
        I_x = torch.cat([I_c_x, I_f_x], dim=-1).view(N, T, 3 * self.config.hidden_size)
        return torch.stack([c_prev, f_prev, c_t], dim=-1), I_x + self.projected_conditioning(*self.upsample(mel))

    def forward(self, mel: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        """mel (N, n_mels, F), audio (N, F·hop) → logits (N, 512, F·hop), teacher-forced with audio's bytes."""
        check_model_input(self, mel, audio)
        N = audio.shape[0]
        I_x = self.teacher_inputs(mel, audio)[1]
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

    def start_stream(self, mel: torch.Tensor, repeats: int = 1, sampling: Sampling | None = None) -> DualSoftmaxStream:
        """A generation over mel (N, n_mels, F) before its first sample (silence before it); see `RecurrentStream`."""
        return (DualSoftmaxStream if self.pruning is None else SparseStream)(self, mel, repeats, sampling)
