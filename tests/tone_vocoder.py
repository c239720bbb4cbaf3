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

from dataclasses import dataclass
from typing import Any

import torch

from engine.features import MelConfig
from engine.models.base import config_from_dict
from tests.helpers import ClosedFormVocoder

FAMILY = "test-tone"


@dataclass
class ToneConfig:
    """seconds_per_frame: wall time each streamed mel frame takes, to make generation slow on purpose."""

    amplitude: float = 0.4
    seconds_per_frame: float = 0.0

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "ToneConfig":
        return config_from_dict(cls, values)


class MelTone(ClosedFormVocoder):
    family = FAMILY

    def __init__(self, config: ToneConfig | None = None, mel_config: MelConfig | None = None):
        super().__init__(config or ToneConfig(), mel_config or MelConfig())
        self.amplitude = torch.nn.Parameter(torch.tensor(float(self.config.amplitude)))

    def expected(self, mel: torch.Tensor) -> torch.Tensor:
        """mel (N, n_mels, F) in [0, 1] → samples (N, F · hop) in [-amplitude, amplitude]."""
        bands = torch.arange(mel.shape[1], dtype=mel.dtype)
        weights = mel.clamp(min=0) + 1e-6
        centroid = (weights * bands[None, :, None]).sum(1) / weights.sum(1) / (mel.shape[1] - 1)  # (N, F)
        frequency = (150.0 + 1500.0 * centroid).repeat_interleave(self.hop_length, dim=1)
        phase = torch.cumsum(2 * torch.pi * frequency.double() / self.mel_config.sample_rate, dim=1)
        loudness = (0.5 + 0.5 * mel.mean(1).clamp(0, 1)).repeat_interleave(self.hop_length, dim=1)
        return (self.amplitude * loudness * torch.sin(phase).to(mel.dtype)).detach()


def gliding_mel(frames: int, n_mels: int = 80) -> torch.Tensor:
    """(n_mels, frames) in [0, 1]: a bump that glides up and down the bands, so the tone glides too."""
    centre = (0.5 + 0.4 * torch.sin(torch.linspace(0, 6.0, frames))) * (n_mels - 1)
    bands = torch.arange(n_mels, dtype=torch.float32)[:, None]
    return torch.exp(-0.5 * ((bands - centre[None, :]) / 4.0) ** 2)
