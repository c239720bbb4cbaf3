"""What every vocoder offers the rest of the engine.

A vocoder is an autoregressive model of audio samples conditioned on a mel spectrogram. Every family has:
- a teacher-forced `forward` for training: column t of the output predicts sample t from samples < t and the mel;
- `loss(output, target)` on that output, against `training_target(mel, audio)` (the audio itself, unless the
  family models something derived from it);
- `stream(mel, ...)`: generation as an iterator of `StreamBlock`s, one block of samples at a time, reading the mel a
  window of frames at a time (a tensor, or for the families that say so, `reads_frame_sources`, a `FrameSource`:
  engine/mel_frames.py);
- its `MelConfig`, its `receptive_field` and `min_frames`, and a JSON-able `config_dict()` for checkpoints.
"""

from __future__ import annotations

import abc
import dataclasses
import itertools
import typing
from dataclasses import dataclass
from typing import Any, ClassVar, Iterator, TypeVar

import torch
from torch import nn

from engine.errors import ConfigError
from engine.features import MelConfig
from engine.mel_frames import FrameSource, frame_source
from engine.pitch_source import SourceBlocks
from engine.models.step_view import StepView
from engine.sampling import Sampling, own_sampling, resolved

ConfigT = TypeVar("ConfigT")


def config_from_dict(cls: type[ConfigT], values: dict[str, Any]) -> ConfigT:
    """Build a config dataclass from JSON, the inverse of `dataclasses.asdict`: a dict for a field whose type is a
    dataclass (`upsample`) becomes that dataclass, lists become tuples. An unknown setting is a `ConfigError`."""
    known = sorted(f.name for f in dataclasses.fields(cls))
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"{cls.__name__} has no setting {unknown}; known settings are {known}.")
    types = typing.get_type_hints(cls)
    settings = {}
    for name, value in values.items():
        if isinstance(value, dict) and dataclasses.is_dataclass(types[name]):
            value = config_from_dict(types[name], value)
        elif isinstance(value, list):
            value = tuple(value)
        settings[name] = value
    return cls(**settings)


@dataclass
class StreamBlock:
    """One block of generated samples.

    samples: (N, n) float32 in [-1, 1].
    logits: (N, C, n), the output that each sample was drawn from (or computed on the teacher's samples),
        present only when `stream(..., return_logits=True)`.
    """

    samples: torch.Tensor
    logits: torch.Tensor | None = None


def block_ranges(frames: int, block_frames: int | Iterator[int]) -> Iterator[tuple[int, int]]:
    """Frame ranges [start, stop) covering `frames`, each `block_frames` long, or as long as the next value of
    `block_frames` (an iterator), asked for as the block begins; the last one may be shorter."""
    sizes = itertools.repeat(block_frames) if isinstance(block_frames, int) else block_frames
    start = 0
    while start < frames:
        size = next(sizes)
        if size < 1:
            raise ConfigError(f"block_frames is {size}; it must be 1 or more.")
        yield start, min(start + size, frames)
        start += size


class Vocoder(nn.Module, abc.ABC):
    """Base of the model families. Subclasses set `family` and build their layers from (config, mel_config)."""

    family: ClassVar[str]
    # whether `stream` takes a FrameSource as its mel (reading it a window at a time, engine/models/frame_windows.py):
    # generation then hands it a long input's mel without ever making it whole; other models get the whole tensor
    reads_frame_sources: ClassVar[bool] = False

    def __init__(self, config: Any, mel_config: MelConfig):
        super().__init__()
        self.config = config
        self.mel_config = mel_config

    @property
    def hop_length(self) -> int:
        return self.mel_config.hop_length

    @property
    @abc.abstractmethod
    def receptive_field(self) -> int:
        """Past samples that can influence one output sample (for a recurrent network: unbounded, shown as 0)."""

    @property
    @abc.abstractmethod
    def min_frames(self) -> int:
        """The fewest mel frames the conditioning network accepts."""

    @abc.abstractmethod
    def forward(self, mel: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        """Teacher-forced pass.

        mel: (N, n_mels, F) float32; audio: (N, F · hop) float32 in [-1, 1].
        Returns the output (N, C, F · hop): column t is computed from audio[:, :t] and the mel only.
        """

    def source(self, mel: torch.Tensor, pitch: torch.Tensor | None = None) -> torch.Tensor | None:
        """With pitch conditioning (a family's `pitch_source` module, engine/pitch_source.py): the source features
        of the pitch read from each whole mel (N, n_mels, F), or of `pitch` rows (N, PITCH_ROWS, F) when given
        (training on the recording's pitch, engine/audio_pitch.py) → (N, F · hop, SOURCE_CHANNELS); else None."""
        pitch_source = getattr(self, "pitch_source", None)
        if pitch_source is None:
            return None
        return pitch_source(mel) if pitch is None else pitch_source(mel, pitch)

    def source_blocks(self, mel: FrameSource | torch.Tensor) -> SourceBlocks | None:
        """With pitch conditioning, for streaming: the source features of the pitch of mel (N, n_mels, F), a
        FrameSource or a tensor, made a block of frames at a time (engine/pitch_source.py: the same as `source` for a
        mel of up to a minute); else None."""
        pitch_source = getattr(self, "pitch_source", None)
        return None if pitch_source is None else SourceBlocks(frame_source(mel), pitch_source.mel_config)

    def grown_weights(self, source: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """For `train --init` from a smaller model of this family: weights for the names whose shapes differ from
        `source`'s, built so that this larger model first computes exactly what the smaller one did. Families that
        cannot grow return none, and those weights keep their fresh initialisation."""
        return {}

    def training_target(self, mel: torch.Tensor, audio: torch.Tensor, fed: torch.Tensor | None = None) -> torch.Tensor:
        """What `loss` scores forward's output against, (N, F · hop): here the audio itself. `fed` (N, F · hop) is
        the past forward was fed instead of the audio when training injects noise (a family whose target depends
        on the past, like an excitation, computes it from `fed`); the target stays the clean audio's."""
        return audio

    def scored_output(self, output: torch.Tensor, mel: torch.Tensor) -> torch.Tensor:
        """forward's output (N, C, F · hop) as `loss` scores it, given the mel (N, n_mels, F): here itself; a family
        may score it after what generation applies to it."""
        return output

    @abc.abstractmethod
    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Scalar training loss of `forward`'s output against `training_target(mel, audio)`, (N, F · hop)."""

    @abc.abstractmethod
    def stream(
        self,
        mel: torch.Tensor,
        *,
        block_frames: int | Iterator[int] = 2,
        teacher: torch.Tensor | None = None,
        return_logits: bool = False,
        generator: torch.Generator | None = None,
        sampling: Sampling | None = None,
    ) -> Iterator[StreamBlock]:
        """Generate sample by sample, yielding every `block_frames · hop` samples.

        mel: (N, n_mels, F), a tensor, or a `FrameSource` where `reads_frame_sources`. The conditioning is read and
            upsampled one window of frames at a time, so memory stays flat.
        block_frames: frames per block, or an iterator asked for each block's frames as the block begins
            (`block_ranges`), so that the sizes can follow how fast the blocks go.
        teacher: (N, F · hop) samples to feed back instead of the sampled ones (teacher forcing), so the
            logits can be compared with `forward`'s.
        generator: the source of randomness for sampling, for reproducible output.
        sampling: how to draw (engine/sampling.py; None or a setting left None: the model's own). The post-filters
            are generation's (engine/generate.py), not the stream's.
        Yields blocks whose samples add up to F · hop per batch row.
        """

    def compiled_on(self, device: torch.device) -> bool:
        """Whether `stream` on `device` samples in a compiled loop that releases the GIL while it runs: one whose
        cost grows with the batch rows (fold mode then streams segments side by side in threads, engine/fold.py),
        unlike a loop of torch ops, whose cost per step is nearly the same for a whole batch."""
        return False

    def state_shapes(self, batch: int) -> dict[str, tuple[int, ...]]:
        """The recurrent state generation starts from, by name, for `batch` rows; none where the family carries
        none (a WaveNet's state is the per-layer queues of past activations, made by the model)."""
        return {}

    def trace_step(self, mel: torch.Tensor, audio: torch.Tensor, t: int = 0) -> StepView | None:
        """The cell at sample t, quantity by quantity, for the shape inspector, from the state the teacher-forced
        pass reached at t − 1: its output equals `forward(mel, audio)`'s column t. None for a family without one."""
        return None

    def draws_with(self, sampling: Sampling) -> str:
        """What one sampling step draws with `sampling` (resolved: `sampling()`), in words, e.g. "9-bit mu-law"."""
        return "one sample"

    @property
    def draws(self) -> str:
        """What one sampling step draws by the model's own sampling, in words, for the model list."""
        return self.draws_with(self.sampling())

    @property
    def own_sampling(self) -> Sampling:
        """The settings this model draws with unless a generation asks otherwise: those of its config, None for the
        ones its family (or its output) has not. A family drawing without a temperature says so here."""
        return own_sampling(self.config)

    def sampling(self, requested: Sampling | None = None) -> Sampling:
        """The sampling a generation asking for `requested` draws with: each setting given there, the model's own
        for the rest, off for those it has not. Raises `ConfigError` for a setting this model cannot take."""
        return resolved(requested, self.own_sampling, self.family, self.draws_with)

    def config_dict(self) -> dict[str, Any]:
        """Everything needed to rebuild the model: {"family", "model", "mel"}."""
        return {"family": self.family, "model": dataclasses.asdict(self.config), "mel": self.mel_config.to_dict()}

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.parameters())
