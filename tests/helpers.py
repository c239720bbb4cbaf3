"""Shared test utilities: audio files, a deterministic stand-in vocoder, and running the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile
import torch

from engine.features import MelConfig
from engine.models.base import StreamBlock, Vocoder, block_ranges

REPO = Path(__file__).resolve().parents[1]
# librosa's numba cache shared by every CLI subprocess of a test session: the mel compiles once, not per run.
NUMBA_CACHE = Path(tempfile.gettempdir()) / f"vocoscope-tests-numba-{os.getuid()}"


def write_wav(path: Path, samples: np.ndarray, rate: int, subtype: str | None = None) -> Path:
    """samples: (n,) or (n, channels) float in [-1, 1]."""
    soundfile.write(str(path), samples, rate, subtype=subtype)
    return path


def tone(seconds: float, rate: int, frequency: float = 220.0, channels: int = 1) -> np.ndarray:
    """A sine at half scale: (n,) or (n, channels)."""
    t = np.arange(int(round(seconds * rate))) / rate
    wave = (0.5 * np.sin(2 * np.pi * frequency * t)).astype(np.float32)
    return wave if channels == 1 else np.repeat(wave[:, None], channels, axis=1)


class ClosedFormVocoder(Vocoder):
    """A real `Vocoder` whose samples are a closed-form function of the mel, `expected(mel)`: deterministic,
    cheap to stream unless its config's `seconds_per_frame` slows each streamed frame down on purpose. `blocks`
    records the frames of each block it streamed."""

    def __init__(self, config, mel_config: MelConfig):
        super().__init__(config, mel_config)
        self.blocks: list[int] = []

    @property
    def receptive_field(self) -> int:
        return 1

    @property
    def min_frames(self) -> int:
        return 1

    def expected(self, mel: torch.Tensor) -> torch.Tensor:
        """mel (N, n_mels, F) → samples (N, F · hop)."""
        raise NotImplementedError

    def forward(self, mel: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        return self.expected(mel).unsqueeze(1)

    def loss(self, output: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        return torch.mean((output[:, 0] - audio) ** 2)

    def stream(self, mel, *, block_frames=2, teacher=None, return_logits=False, generator=None, sampling=None):
        samples, hop = self.expected(mel), self.hop_length
        for start, stop in block_ranges(mel.shape[-1], block_frames):
            self.blocks.append(stop - start)
            if self.config.seconds_per_frame:
                time.sleep(self.config.seconds_per_frame * (stop - start))
            yield StreamBlock(samples=samples[:, start * hop : stop * hop])


@dataclass
class EchoConfig:
    """warmup_samples: the first samples of every stream are faded in (like a cold-started recurrent state).
    seconds_per_frame: wall time each streamed frame takes, to make generation slow on purpose."""

    warmup_samples: int = 0
    seconds_per_frame: float = 0.0


class MelEcho(ClosedFormVocoder):
    """A deterministic stand-in vocoder: sample t = 0.5 · tanh(mel[0, t // hop]) · min(1, (k + 1) / warmup),
    k being t counted from the start of the stream. Its output is a known function of the mel."""

    family = "test-echo"

    def __init__(self, config: EchoConfig | None = None, mel_config: MelConfig | None = None):
        super().__init__(config or EchoConfig(), mel_config or MelConfig())
        self.scale = torch.nn.Parameter(torch.tensor(0.5))

    def expected(self, mel: torch.Tensor) -> torch.Tensor:
        """mel (N, n_mels, F) → samples (N, F · hop)."""
        values = self.scale * torch.tanh(mel[:, 0, :].repeat_interleave(self.hop_length, dim=1))
        if self.config.warmup_samples:
            k = torch.arange(values.shape[1], dtype=values.dtype)
            values = values * torch.clamp((k + 1) / self.config.warmup_samples, max=1.0)
        return values


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 240) -> subprocess.CompletedProcess:
    """Run `vocoscope ARGS` as a separate process, as a person would; returns the finished process (text)."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(NUMBA_CACHE), PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    script = Path(sys.executable).with_name("vocoscope")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "app"]
    return subprocess.run([*command, *args], cwd=cwd or REPO, env=env, capture_output=True, text=True, timeout=timeout)
