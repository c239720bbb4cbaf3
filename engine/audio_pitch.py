"""Training on the recording's own pitch, as neural source-filter models do.

A pitch-conditioned vocoder generates from the pitch read from the mel (engine/pitch.py), which lies some 20 cents
from the recording's on average. Trained on that reading, a waveform network learns that its harmonics never quite
meet the recording's, and that noise between them costs less than a peak in the wrong place: it fills the gaps
(docs/benchmarks.md, 2026-12-04). With the training setting `audio_pitch_cents` c > 0 each training batch's source is
made from the recording's F0 instead, where the recording shows one near the mel's reading: librosa's YIN on the
segment, frame for frame with the mel's frames, taken wherever it lies within c cents of the mel's F0 in a frame the
mel reads voiced. The voicing stays the mel's, and validation and generation read the mel alone.

The source's phase runs from an arbitrary start (engine/pitch_source.py), so in training it says nothing about when
the recording's next glottal pulse comes: an autoregressive network fed the recording's past finds that in its last
pulses and leaves the source unused (docs/training.md). With `audio_phase` the rows gain a fourth, PHASE_ROW: per
frame, the phase of the recording's fundamental against the source's running phase, so that the source's tone peaks
with the recording's fundamental. It is read by demodulation: the segment times exp(−iφ), φ the source's running
phase, summed under the mel's window centred on each frame (the harmonics above the fundamental then turn at
multiples of the F0 and cancel), its angle unwrapped from frame to frame.
"""

from __future__ import annotations

import torch

from engine.features import MelConfig
from engine.pitch import F0_RANGE
from engine.pitch_source import per_sample, running_phase


def audio_pitch_rows(rows: torch.Tensor, audio: torch.Tensor, config: MelConfig, cents: float) -> torch.Tensor:
    """rows (N, PITCH_ROWS, F) read from the mels of segments audio (N, F · hop) → the same rows with the F0 of each
    voiced frame replaced by YIN's F0 of the audio where that lies within `cents` of it."""
    import librosa

    frames = rows.shape[-1]
    heard = librosa.yin(
        audio.detach().cpu().double().numpy(),
        fmin=F0_RANGE[0],
        fmax=F0_RANGE[1],
        sr=config.sample_rate,
        frame_length=config.n_fft,
        hop_length=config.hop_length,
        center=True,
    )[:, :frames]  # (N, F): frame f centred on sample f · hop, as the mel's
    heard = torch.from_numpy(heard).to(rows)
    read, voiced = rows[:, 0], rows[:, 1] > 0
    off = (1200.0 * torch.log2(heard / read.clamp_min(1.0))).abs()
    taken = voiced & (off <= cents)
    return torch.cat([torch.where(taken, heard, read)[:, None], rows[:, 1:]], dim=1)


def audio_phase_rows(rows: torch.Tensor, audio: torch.Tensor, config: MelConfig) -> torch.Tensor:
    """rows (N, PITCH_ROWS, F) for segments audio (N, F · hop) → (N, PITCH_ROWS + 1, F): the same rows and, as
    PHASE_ROW, each frame's phase offset in radians (unwrapped along the frames) that brings the source's running
    phase onto the audio's fundamental."""
    frames, hop = rows.shape[-1], config.hop_length
    phase = running_phase(per_sample(rows[:, 0].double(), hop), config.sample_rate)  # (N, F · hop)
    heard = audio.to(phase) * torch.exp(-1j * phase)  # the fundamental turned to rest, the harmonics still turning
    window = torch.hann_window(config.win_length, periodic=False, dtype=phase.dtype, device=phase.device)
    parts = torch.stack([heard.real, heard.imag], dim=1).reshape(-1, 1, heard.shape[-1])  # (2N, 1, T)
    summed = torch.nn.functional.conv1d(parts, window[None, None], stride=hop, padding=config.win_length // 2)
    summed = summed[:, 0, :frames].reshape(-1, 2, frames)  # frame f: the window centred on sample f · hop
    offset = torch.atan2(summed[:, 1], summed[:, 0])  # (N, F)
    step = torch.remainder(offset.diff(dim=1) + torch.pi, 2 * torch.pi) - torch.pi
    unwrapped = torch.cat([offset[:, :1], offset[:, :1] + step.cumsum(dim=1)], dim=1)
    return torch.cat([rows, unwrapped.to(rows.dtype)[:, None]], dim=1)
