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
import contextlib
import dataclasses
import itertools
import math
import typing
from dataclasses import dataclass
from typing import Any, ClassVar, Iterator, TypeVar

import torch
from torch import nn

from engine.errors import ConfigError
from engine.features import MelConfig
from engine.mel_frames import FrameSource, frame_source
from engine.pitch_source import SourceBlocks

ConfigT = TypeVar("ConfigT")

# The post-filters generation may apply to a model's output, in this order: their config names, their names in
# words and their greatest strength (engine/postfilter.py, engine/envelope.py).
POSTFILTERS = {"pitch_postfilter": ("pitch post-filter", 4.0), "envelope_postfilter": ("envelope post-filter", 1.0)}


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

    def source(self, mel: torch.Tensor) -> torch.Tensor | None:
        """With pitch conditioning (a family's `pitch_source` module, engine/pitch_source.py): the source features
        of the pitch read from each whole mel (N, n_mels, F) → (N, F · hop, SOURCE_CHANNELS); else None."""
        pitch_source = getattr(self, "pitch_source", None)
        return None if pitch_source is None else pitch_source(mel)

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
    ) -> Iterator[StreamBlock]:
        """Generate sample by sample, yielding every `block_frames · hop` samples.

        mel: (N, n_mels, F), a tensor, or a `FrameSource` where `reads_frame_sources`. The conditioning is read and
            upsampled one window of frames at a time, so memory stays flat.
        block_frames: frames per block, or an iterator asked for each block's frames as the block begins
            (`block_ranges`), so that the sizes can follow how fast the blocks go.
        teacher: (N, F · hop) samples to feed back instead of the sampled ones (teacher forcing), so the
            logits can be compared with `forward`'s.
        generator: the source of randomness for sampling, for reproducible output.
        Yields blocks whose samples add up to F · hop per batch row.
        """

    def compiled_on(self, device: torch.device) -> bool:
        """Whether `stream` on `device` samples in a compiled loop that releases the GIL while it runs: one whose
        cost grows with the batch rows (fold mode then streams segments side by side in threads, engine/fold.py),
        unlike a loop of torch ops, whose cost per step is nearly the same for a whole batch."""
        return False

    @property
    def draws(self) -> str:
        """What one sampling step draws, in words, for the model list (e.g. "9-bit mu-law")."""
        return "one sample"

    @property
    def temperature(self) -> float | None:
        """The temperature its classes are drawn at, or None where the family draws without one (mixtures of
        logistics, the dual softmax). A family with one keeps it in `config.temperature`."""
        return None

    @property
    def pitch_postfilter(self) -> float:
        """0, or the strength of the pitch post-filter `engine.generate.generate` applies to what this model makes
        (engine/postfilter.py). A family that offers it keeps it in `config.pitch_postfilter`."""
        return float(getattr(self.config, "pitch_postfilter", 0.0))

    @property
    def envelope_postfilter(self) -> float:
        """0, or the strength of the mel-envelope post-filter `engine.generate.generate` applies after the pitch
        post-filter (engine/envelope.py). A family that offers it keeps it in `config.envelope_postfilter`."""
        return float(getattr(self.config, "envelope_postfilter", 0.0))

    @property
    def candidates(self) -> int:
        """How many draws mel-guided sampling chooses among (engine/models/wavernn/mel_guide.py); 1: every draw is
        kept. A family that offers it keeps it in `config.candidates`."""
        return int(getattr(self.config, "candidates", 1))

    def check_candidates(self, candidates: int) -> None:
        """Raise `ConfigError` unless the model can choose among `candidates` draws (1 always: every draw kept)."""
        if not (isinstance(candidates, int) and candidates >= 1):
            raise ConfigError(f"the candidates are {candidates}; they must be a whole number, 1 (every draw kept) "
                              "or more.")
        if candidates > 1 and not (hasattr(self.config, "candidates") and self.temperature is not None):
            raise ConfigError(f"this {self.family} draws {self.draws}: mel-guided sampling chooses among the mu-law "
                              "draws of a WaveRNN. Generate with --candidates 1 or without it.")

    def check_temperature(self, temperature: float) -> None:
        """Raise `ConfigError` unless the model draws at a temperature and `temperature` is more than 0."""
        if self.temperature is None:
            raise ConfigError(f"this {self.family} draws {self.draws}, without a temperature: a temperature applies "
                              "to mu-law models only. Generate with the model's own sampling.")
        if not (math.isfinite(temperature) and temperature > 0):
            raise ConfigError(f"the temperature is {temperature}; it must be a number more than 0 (1 draws from the "
                              "model's distribution as it is, lower draws the likelier classes more often).")

    def draws_at(self, temperature: float | None, pitch_postfilter: float | None = None,
                 envelope_postfilter: float | None = None, candidates: int | None = None) -> str:
        """`draws` as it reads at `temperature`, the post-filter strengths and `candidates` (None: the model's
        own); refuses what `sampling_at` refuses."""
        with self.sampling_at(temperature, pitch_postfilter, envelope_postfilter, candidates):
            return self.draws

    @contextlib.contextmanager
    def sampling_at(self, temperature: float | None, pitch_postfilter: float | None = None,
                    envelope_postfilter: float | None = None, candidates: int | None = None) -> Iterator[None]:
        """Draw at `temperature`, choose among `candidates` draws by the mel (1: keep every draw), and post-filter at
        `pitch_postfilter` and `envelope_postfilter` (0: not at all), inside the block instead of the model's own
        (None: the model's own); the model's own are restored after it. Raises `ConfigError` for a model without
        one, a temperature that is not > 0, candidates that are not a whole number from 1, or a post-filter
        strength out of its range (pitch 0–4, envelope 0–1)."""
        names = ("temperature", "candidates", *POSTFILTERS)
        own = {name: getattr(self.config, name) for name in names if hasattr(self.config, name)}
        if candidates is not None:
            self.check_candidates(candidates)
            if hasattr(self.config, "candidates"):
                self.config.candidates = int(candidates)
        if temperature is not None:
            self.check_temperature(temperature)
            self.config.temperature = float(temperature)
        for name, strength in zip(POSTFILTERS, (pitch_postfilter, envelope_postfilter)):
            if strength:  # 0 asks for no post-filter, which a model without one already has
                words, most = POSTFILTERS[name]
                if not hasattr(self.config, name):
                    raise ConfigError(f"this {self.family} has no {words}. Generate without "
                                      f"--{name.replace('_', '-')}.")
                if not (math.isfinite(strength) and 0 <= strength <= most):
                    raise ConfigError(f"the {words} strength is {strength:g}; it must be 0 (off) to {most:g}.")
            if strength is not None and hasattr(self.config, name):
                setattr(self.config, name, float(strength))
        try:
            yield
        finally:
            for name, value in own.items():
                setattr(self.config, name, value)

    def config_dict(self) -> dict[str, Any]:
        """Everything needed to rebuild the model: {"family", "model", "mel"}."""
        return {"family": self.family, "model": dataclasses.asdict(self.config), "mel": self.mel_config.to_dict()}

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.parameters())
