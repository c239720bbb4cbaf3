"""A cheap, deterministic vocoder for the playback tests: a tone that follows the mel.

The built-in models run far below real time on a small CPU, and the playback tests need a model that is
faster than real time (and one slowed below it on purpose). `MelTone` is a real `Vocoder`: it streams blocks
through `engine.generate` like any model and can be saved as a checkpoint, but each sample is a closed-form
function of the mel, so its stream costs next to nothing unless `seconds_per_frame` slows it down.

Sample t of frame f = t // hop: amplitude · (0.5 + 0.5 · mean(mel[:, f])) · sin(φ_t), where φ advances by
2π · (150 + 1500 · c_f) / sample_rate per sample and c_f ∈ [0, 1] is the mel's band centroid in frame f.
The phase is continuous, so the output is a gliding tone: easy to align by cross-correlation.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

import torch

from engine.features import MelConfig
from engine.models.base import StreamBlock, Vocoder

FAMILY = "test-tone"


@dataclass
class ToneConfig:
    """seconds_per_frame: wall time each streamed mel frame takes, to make generation slow on purpose."""

    amplitude: float = 0.4
    seconds_per_frame: float = 0.0

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "ToneConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


class MelTone(Vocoder):
    family = FAMILY

    def __init__(self, config: ToneConfig | None = None, mel_config: MelConfig | None = None):
        super().__init__(config or ToneConfig(), mel_config or MelConfig())
        self.amplitude = torch.nn.Parameter(torch.tensor(float(self.config.amplitude)))

    @property
    def receptive_field(self) -> int:
        return 1

    @property
    def min_frames(self) -> int:
        return 1

    def expected(self, mel: torch.Tensor) -> torch.Tensor:
        """mel (N, n_mels, F) in [0, 1] → samples (N, F · hop) in [-amplitude, amplitude]."""
        bands = torch.arange(mel.shape[1], dtype=mel.dtype)
        weights = mel.clamp(min=0) + 1e-6
        centroid = (weights * bands[None, :, None]).sum(1) / weights.sum(1) / (mel.shape[1] - 1)  # (N, F)
        frequency = (150.0 + 1500.0 * centroid).repeat_interleave(self.hop_length, dim=1)
        phase = torch.cumsum(2 * torch.pi * frequency.double() / self.mel_config.sample_rate, dim=1)
        loudness = (0.5 + 0.5 * mel.mean(1).clamp(0, 1)).repeat_interleave(self.hop_length, dim=1)
        return (self.amplitude * loudness * torch.sin(phase).to(mel.dtype)).detach()

    def forward(self, mel: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        return self.expected(mel).unsqueeze(1)

    def loss(self, output: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        return torch.mean((output[:, 0] - audio) ** 2)

    def stream(self, mel, *, block_frames=2, teacher=None, return_logits=False, generator=None):
        samples = self.expected(mel)
        step = block_frames * self.hop_length
        for start in range(0, samples.shape[1], step):
            if self.config.seconds_per_frame:
                time.sleep(self.config.seconds_per_frame * block_frames)
            yield StreamBlock(samples=samples[:, start:start + step])


def gliding_mel(frames: int, n_mels: int = 80) -> torch.Tensor:
    """(n_mels, frames) in [0, 1]: a bump that glides up and down the bands, so the tone glides too."""
    centre = (0.5 + 0.4 * torch.sin(torch.linspace(0, 6.0, frames))) * (n_mels - 1)
    bands = torch.arange(n_mels, dtype=torch.float32)[:, None]
    return torch.exp(-0.5 * ((bands - centre[None, :]) / 4.0) ** 2)
