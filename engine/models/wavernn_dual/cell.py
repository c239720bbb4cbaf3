"""What the dual-softmax WaveRNN's teacher-forced pass (model.py) and its torch loop (stream.py) share: the coarse and
fine bytes a 16-bit sample is coded in, and one step of the paper's GRU (the equations are in model.py)."""

from __future__ import annotations

import torch

BYTE_VALUES = 256
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
