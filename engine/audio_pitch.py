"""Training on the recording's own pitch, as neural source-filter models do.

A pitch-conditioned vocoder generates from the pitch read from the mel (engine/pitch.py), which lies some 20 cents
from the recording's on average. Trained on that reading, a waveform network learns that its harmonics never quite
meet the recording's, and that noise between them costs less than a peak in the wrong place: it fills the gaps
(docs/benchmarks.md, 2026-12-04). With the training setting `audio_pitch_cents` c > 0 each training batch's source is
made from the recording's F0 instead, where the recording shows one near the mel's reading: librosa's YIN on the
segment, frame for frame with the mel's frames, taken wherever it lies within c cents of the mel's F0 in a frame the
mel reads voiced. The voicing stays the mel's, and validation and generation read the mel alone.
"""

from __future__ import annotations

import torch

from engine.features import MelConfig
from engine.pitch import F0_RANGE


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
