"""The pitch as a network input: per-frame pitch rows and the per-sample source features made from them.

A pitch-conditioned vocoder is given, besides the mel, the pitch read from that mel (engine/pitch.py) as rows
(N, PITCH_ROWS, F): F0 in Hz, voicing (0 or 1) and the template score. From them `source_features` makes, for every
sample, SOURCE_CHANNELS values: a band-limited harmonic tone at the F0 (harmonics up to TONE_TOP_HZ, RMS 1), the
sine and cosine of its phase, each times the voicing, and the voicing itself. The network adds them to its
conditioning, so it shapes a tone of the right period instead of inventing the period from the mel's ripple.

F0 and voicing are interpolated linearly between frame centres (frame f's centre is sample f · hop, as the mel's
centred frames are) and held past the last centre; the phase is the running sum of the F0 from `start_phase`. In
training, rows may hold a fourth, PHASE_ROW: a per-frame offset added to that phase, interpolated the same way, which
puts the tone's peaks on the recording's own (engine/audio_pitch.py).

Generation reads them a block at a time (`SourceBlocks`): the pitch of each PITCH_BLOCK_SECONDS of the mel, read
with PITCH_OVERLAP_SECONDS of the mel either side, and its source features made with the phase carried from the
block before, so that neither the per-frame scores of the pitch reading nor the per-sample features of a long take
are ever held whole (docs/long-input-memory.md). A mel of one block or less is read whole, as `PitchSource` reads it.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from engine.features import MelConfig
from engine.mel_frames import FrameSource
from engine.pitch import PitchTrack, estimate_pitch

PITCH_ROWS = 3  # F0 (Hz), voiced (0/1), score
PHASE_ROW = 3  # training only: the phase offset (radians) of the recording's fundamental, after the pitch rows
SOURCE_CHANNELS = 4  # tone · v, sin φ · v, cos φ · v, v
TONE_CHANNEL, VOICING_CHANNEL = 0, 3  # where tone · v and v lie among them
TONE_TOP_HZ = 4000.0
BLOCK = 4096  # samples of tone made at a time: (N, BLOCK, harmonics) stays small for any length
PITCH_BLOCK_SECONDS = 60.0  # generation reads the pitch of a longer mel a block of this length at a time
PITCH_OVERLAP_SECONDS = 5.0  # with this much of the mel either side, for the Viterbi paths to meet the block's


def pitch_rows(track: PitchTrack) -> np.ndarray:
    """A PitchTrack of F frames → (PITCH_ROWS, F) float32."""
    return np.stack([track.f0, track.voiced.astype(np.float32), track.score]).astype(np.float32)


def pitch_of_mels(mel: torch.Tensor, config: MelConfig) -> torch.Tensor:
    """Normalised mels (N, n_mels, F) → their pitch rows (N, PITCH_ROWS, F), each track read from its whole mel."""
    rows = [pitch_rows(estimate_pitch(one.detach().cpu().numpy(), config)) for one in mel]
    return torch.from_numpy(np.stack(rows)).to(mel.device)


def per_sample(values: torch.Tensor, hop_length: int, after: torch.Tensor | None = None) -> torch.Tensor:
    """(N, F) per frame → (N, F · hop) per sample, linear between frame centres f · hop; after the last centre
    towards `after` (N,), the value of the frame that follows (a block's), or held where None."""
    last = values[:, -1:] if after is None else after[:, None].to(values.dtype)
    following = torch.cat([values[:, 1:], last], dim=1)
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
        parts.append(
            (weight * torch.cos(harmonics * part_phase)).sum(-1)
            / torch.sqrt(((weight**2).sum(-1) / 2.0).clamp_min(1e-9))
        )
    return torch.cat(parts, dim=1)


def running_phase(f0: torch.Tensor, sample_rate: int, start_phase: torch.Tensor | None = None) -> torch.Tensor:
    """Per-sample F0 (N, T) Hz → the tone's phase after each sample (N, T), from start_phase (N,) or 0."""
    phase = 2.0 * math.pi * torch.cumsum(f0, dim=1) / sample_rate
    return phase if start_phase is None else phase + start_phase[:, None].to(phase.dtype)


def source_features(
    pitch: torch.Tensor,
    hop_length: int,
    sample_rate: int,
    start_phase: torch.Tensor | None = None,
    after: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """pitch (N, PITCH_ROWS, F), or (N, PITCH_ROWS + 1, F) with the phase offsets of PHASE_ROW → (source (N, F · hop,
    SOURCE_CHANNELS) float32, the phase after the last sample (N,), to continue from). start_phase (N,) radians, or
    None for 0. after: (N, PITCH_ROWS) the pitch of the frame that follows (a block of a longer take), or None: the
    last frame's is held."""
    f0 = per_sample(pitch[:, 0].double(), hop_length, None if after is None else after[:, 0].double())
    voicing = per_sample(pitch[:, 1].double(), hop_length, None if after is None else after[:, 1].double())
    phase = running_phase(f0, sample_rate, start_phase)
    if pitch.shape[1] > PHASE_ROW:
        phase = phase + per_sample(pitch[:, PHASE_ROW].double(), hop_length)
    source = torch.stack(
        [tone(f0, phase, TONE_TOP_HZ) * voicing, torch.sin(phase) * voicing, torch.cos(phase) * voicing, voicing],
        dim=-1,
    )
    return source.float(), torch.remainder(phase[:, -1], 2.0 * math.pi)


class PitchSource(nn.Module):
    """The source features of the pitch read from each whole mel, as a module of the vocoder that uses them (so the
    shape inspector lists them like any other layer; no weights). mel (N, n_mels, F) normalised →
    source (N, F · hop, SOURCE_CHANNELS) float32."""

    def __init__(self, mel_config: MelConfig):
        super().__init__()
        self.mel_config = mel_config

    def forward(self, mel: torch.Tensor, pitch: torch.Tensor | None = None) -> torch.Tensor:
        """pitch: rows (N, PITCH_ROWS, F) to use instead of reading them from the mel, or None."""
        config = self.mel_config
        rows = pitch_of_mels(mel, config) if pitch is None else pitch
        return source_features(rows, config.hop_length, config.sample_rate)[0]


class SourceBlocks:
    """The source features of the pitch of `mel` (N, n_mels, F), for generation: `features(start, stop)` gives frames
    [start, stop) as (N, (stop − start) · hop, SOURCE_CHANNELS) float32, made a block of `block` frames at a time
    (PITCH_BLOCK_SECONDS), of which only the last asked for is kept (windows come in order).

    Block k's pitch is read from its frames and `overlap` frames either side (PITCH_OVERLAP_SECONDS; fewer at the
    ends), so its Viterbi path and its loudness reference are that stretch's, not the whole take's; its features
    run towards the pitch of the block's next frame and start at the phase the block before ended at (kept for every
    block made, so a block can be made again). A mel of at most one block gives exactly `PitchSource`'s features."""

    def __init__(self, mel: FrameSource, config: MelConfig, block: int | None = None, overlap: int | None = None):
        frame_rate = config.sample_rate / config.hop_length
        self.mel, self.config = mel, config
        self.block = block or max(1, round(PITCH_BLOCK_SECONDS * frame_rate))
        self.overlap = round(PITCH_OVERLAP_SECONDS * frame_rate) if overlap is None else overlap
        self.phases: list[torch.Tensor | None] = [None]  # block k's start phase (N,), for every block reached
        self.kept: tuple[int, torch.Tensor] | None = None  # (k, block k's features)

    def features(self, start: int, stop: int) -> torch.Tensor:
        hop, block = self.config.hop_length, self.block
        blocks = range(start // block, max(start, stop - 1) // block + 1)
        parts = []
        for k in blocks:
            first = k * block
            part = self._block(k)[:, (max(start, first) - first) * hop : (min(stop, first + block) - first) * hop]
            parts.append(part if k == blocks[-1] else part.clone())  # a copy: the block it is cut from goes next
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)

    def _block(self, k: int) -> torch.Tensor:
        """Block k's features (N, its frames · hop, SOURCE_CHANNELS), made after the blocks before it if need be."""
        if self.kept is None or self.kept[0] != k:
            self.kept = None  # let the block before go first: one block's features at a time
            for earlier in range(len(self.phases) - 1, k):  # the phase block k starts at is where they end
                self._make(earlier)
            self.kept = (k, self._make(k))
        return self.kept[1]

    def _make(self, k: int) -> torch.Tensor:
        config, frames = self.config, self.mel.frames
        first, last = k * self.block, min((k + 1) * self.block, frames)
        low, high = max(0, first - self.overlap), min(frames, last + 1 + self.overlap)
        pitch = pitch_of_mels(self.mel.window(low, high), config)
        after = pitch[:, :, last - low] if last < frames else None
        source, end_phase = source_features(
            pitch[:, :, first - low : last - low], config.hop_length, config.sample_rate, self.phases[k], after
        )
        if len(self.phases) == k + 1:
            self.phases.append(end_phase)
        return source
