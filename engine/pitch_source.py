"""The pitch as a network input: per-frame pitch rows and the per-sample source features made from them.

A pitch-conditioned vocoder is given, besides the mel, the pitch read from that mel (engine/pitch.py) as rows
(N, PITCH_ROWS, F): F0 in Hz, voicing (0 or 1) and the template score. From them `source_features` makes, for every
sample, SOURCE_CHANNELS values: a band-limited harmonic tone at the F0 (harmonics up to TONE_TOP_HZ, RMS 1), the
sine and cosine of its phase, each times the voicing, and the voicing itself. The network adds them to its
conditioning, so it shapes a tone of the right period instead of inventing the period from the mel's ripple.

F0 and voicing are interpolated linearly between frame centres (frame f's centre is sample f · hop, as the mel's
centred frames are) and held past the last centre; the phase is the running sum of the F0 from `start_phase`.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from engine.features import MelConfig
from engine.pitch import PitchTrack, estimate_pitch

PITCH_ROWS = 3  # F0 (Hz), voiced (0/1), score
SOURCE_CHANNELS = 4  # tone · v, sin φ · v, cos φ · v, v
TONE_TOP_HZ = 4000.0
BLOCK = 4096  # samples of tone made at a time: (N, BLOCK, harmonics) stays small for any length


def pitch_rows(track: PitchTrack) -> np.ndarray:
    """A PitchTrack of F frames → (PITCH_ROWS, F) float32."""
    return np.stack([track.f0, track.voiced.astype(np.float32), track.score]).astype(np.float32)


def pitch_of_mels(mel: torch.Tensor, config: MelConfig) -> torch.Tensor:
    """Normalised mels (N, n_mels, F) → their pitch rows (N, PITCH_ROWS, F), each track read from its whole mel."""
    rows = [pitch_rows(estimate_pitch(one.detach().cpu().numpy(), config)) for one in mel]
    return torch.from_numpy(np.stack(rows)).to(mel.device)


def per_sample(values: torch.Tensor, hop_length: int) -> torch.Tensor:
    """(N, F) per frame → (N, F · hop) per sample, linear between frame centres f · hop, held after the last."""
    following = torch.cat([values[:, 1:], values[:, -1:]], dim=1)
    fraction = torch.arange(hop_length, dtype=values.dtype, device=values.device) / hop_length
    return (values[:, :, None] + (following - values)[:, :, None] * fraction).reshape(values.shape[0], -1)


def tone(f0: torch.Tensor, phase: torch.Tensor, top_hz: float) -> torch.Tensor:
    """Per-sample F0 and phase (N, T) → a band-limited tone (N, T), every harmonic below `top_hz` at one level, RMS 1
    for a steady F0; harmonics fade out over the top tenth below top_hz, so one crossing it as F0 moves does not
    switch on or off at once. Made BLOCK samples at a time: (N, BLOCK, harmonics) stays small for any length."""
    harmonics = torch.arange(1, int(top_hz // max(float(f0.min()), 1.0)) + 1, dtype=f0.dtype, device=f0.device)
    parts = []
    for start in range(0, f0.shape[1], BLOCK):
        part_f0, part_phase = f0[:, start : start + BLOCK, None], phase[:, start : start + BLOCK, None]
        weight = ((top_hz - harmonics * part_f0) / (0.1 * top_hz)).clamp(0.0, 1.0)
        parts.append((weight * torch.cos(harmonics * part_phase)).sum(-1)
                     / torch.sqrt(((weight**2).sum(-1) / 2.0).clamp_min(1e-9)))
    return torch.cat(parts, dim=1)


def running_phase(f0: torch.Tensor, sample_rate: int, start_phase: torch.Tensor | None = None) -> torch.Tensor:
    """Per-sample F0 (N, T) Hz → the tone's phase after each sample (N, T), from start_phase (N,) or 0."""
    phase = 2.0 * math.pi * torch.cumsum(f0, dim=1) / sample_rate
    return phase if start_phase is None else phase + start_phase[:, None].to(phase.dtype)


def source_features(pitch: torch.Tensor, hop_length: int, sample_rate: int,
                    start_phase: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """pitch (N, PITCH_ROWS, F) → (source (N, F · hop, SOURCE_CHANNELS) float32, the phase after the last sample
    (N,), to continue from). start_phase (N,) radians, or None for 0."""
    f0 = per_sample(pitch[:, 0].double(), hop_length)
    voicing = per_sample(pitch[:, 1].double(), hop_length)
    phase = running_phase(f0, sample_rate, start_phase)
    source = torch.stack([tone(f0, phase, TONE_TOP_HZ) * voicing, torch.sin(phase) * voicing,
                          torch.cos(phase) * voicing, voicing], dim=-1)
    return source.float(), torch.remainder(phase[:, -1], 2.0 * math.pi)


class PitchSource(nn.Module):
    """The source features of the pitch read from each whole mel, as a module of the vocoder that uses them (so the
    shape inspector lists them like any other layer; no weights). mel (N, n_mels, F) normalised →
    source (N, F · hop, SOURCE_CHANNELS) float32."""

    def __init__(self, mel_config: MelConfig):
        super().__init__()
        self.mel_config = mel_config

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        config = self.mel_config
        return source_features(pitch_of_mels(mel, config), config.hop_length, config.sample_rate)[0]
