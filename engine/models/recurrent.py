"""What both WaveRNN families share: their input check, an unbounded receptive field, and streaming block by block.

A family's model (a `RecurrentVocoder`) starts a generation with `start_stream`, which gives its `RecurrentStream`
(the family's stream.py): the state carried from block to block, the loop that runs a block, the block inputs.

Warm-up. Sampling (no teacher) first runs the recurrence over WARMUP_FRAMES frames of silence, under the first
frame's conditioning, and keeps only the state. Training never scores a cold state (a segment's first context frame
warms it), and from one the default WaveRNN drew a far-off sample that its own feedback then held: a DC step of up
to 0.6 for the first 0.1 s in 10 of 24 seeds; after this warm-up, in none.
"""

from __future__ import annotations

import abc
from typing import Iterator

import torch

from engine.errors import InputError
from engine.mel_frames import FrameSource
from engine.models.base import StreamBlock, Vocoder, block_ranges
from engine.models.frame_windows import FrameWindows, padded_frames
from engine.sampling import Sampling


def check_model_input(model: Vocoder, mel: torch.Tensor | FrameSource, audio: torch.Tensor | None = None) -> None:
    """Raise `InputError` unless mel is (N, n_mels, F ≥ min_frames) floats (a tensor or a FrameSource) and audio, if
    given, (N, F·hop)."""
    n_mels, hop, min_frames = model.mel_config.n_mels, model.hop_length, model.min_frames
    tensor = not isinstance(mel, FrameSource)
    if (tensor and (mel.dim() != 3 or not mel.is_floating_point())) or mel.shape[1] != n_mels:
        raise InputError(
            "mel",
            f"a {mel.dtype if tensor else 'float32'} mel of shape {tuple(mel.shape)}",
            f"floats of shape (N, {n_mels}, frames)",
            f"Compute the mel with this model's MelConfig (n_mels={n_mels}) and add a batch axis.",
        )
    if mel.shape[2] < min_frames:
        raise InputError("mel", f"{mel.shape[2]} frames", f"at least {min_frames} frames", "Use a longer input.")
    if audio is not None and tuple(audio.shape) != (mel.shape[0], mel.shape[2] * hop):
        raise InputError(
            "audio",
            f"shape {tuple(audio.shape)}",
            f"(N, frames · hop) = ({mel.shape[0]}, {mel.shape[2] * hop})",
            f"Cut or pad the audio to frames × {hop} samples, or check the hop length and sample rate.",
        )


class RecurrentStream(abc.ABC):
    """One generation of a recurrent vocoder over mel (N, n_mels, F): the padded mel and the block inputs computed a
    window of frames at a time (engine/models/frame_windows.py); a family adds the state it carries between blocks.

    Each of the N rows runs as `repeats` rows (N · repeats in all, `rows`) with the same conditioning, computed once
    and repeated: the candidates of mel-guided sampling (engine/models/wavernn/mel_guide.py). `sampling` is how it
    draws (resolved: `Vocoder.sampling`).
    """

    def __init__(
        self,
        model: "RecurrentVocoder",
        mel: torch.Tensor | FrameSource,
        repeats: int = 1,
        sampling: Sampling | None = None,
    ):
        self.model = model
        self.sampling = model.sampling(sampling)
        self.padded = padded_frames(model.upsample, mel)
        self.rows = mel.shape[0] * repeats

        def compute(start: int, stop: int) -> tuple[torch.Tensor, ...]:
            inputs = self.block_inputs(start, stop)
            return inputs if repeats == 1 else tuple(part.repeat_interleave(repeats, 1) for part in inputs)

        self.windows = FrameWindows(compute, mel.shape[-1], model.hop_length, mel.shape[0])

    @abc.abstractmethod
    def block_inputs(self, start: int, stop: int) -> tuple[torch.Tensor, ...]:
        """What the loop needs of frames [start, stop) that does not depend on the samples: time-major (L, N, …)."""

    @abc.abstractmethod
    def fed(self, teacher: torch.Tensor) -> torch.Tensor:
        """The teacher's samples (rows, T) as the loop is fed them (rows, T, …)."""

    @abc.abstractmethod
    def block(
        self, start: int, stop: int, fed: torch.Tensor | None, return_logits: bool, generator: torch.Generator | None
    ) -> StreamBlock:
        """Run frames [start, stop), feeding step t the sample t − 1 (the state's previous sample at t = 0) and leaving
        the last one in the state. fed: `fed(teacher)` cut to those samples (teacher forcing), or None to feed back
        the draws."""

    def warm_up(self, generator: torch.Generator | None) -> None:
        """Run the model's WARMUP_FRAMES frames of silence (teacher-forced) under frame 0's conditioning."""
        silence = self.fed(torch.zeros(self.rows, self.model.hop_length, device=self.padded.device))
        for _ in range(self.model.WARMUP_FRAMES):
            self.block(0, 1, silence, False, generator)


class RecurrentVocoder(Vocoder):
    """A vocoder with a recurrent state: the receptive field is unbounded, the `upsample` network sets the fewest
    frames, and `stream` runs the family's `RecurrentStream` block by block, after the warm-up when sampling."""

    WARMUP_FRAMES = 4
    reads_frame_sources = True

    @property
    def receptive_field(self) -> int:
        """0: the recurrent state carries every past sample (unbounded)."""
        return 0

    @property
    def min_frames(self) -> int:
        return self.upsample.min_frames

    @abc.abstractmethod
    def start_stream(self, mel: torch.Tensor, repeats: int = 1, sampling: Sampling | None = None) -> RecurrentStream:
        """A generation over mel (N, n_mels, F) before its first sample, each row run `repeats` times, drawing by
        `sampling` (None: the model's own)."""

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
        """See `Vocoder.stream`. mel (N, n_mels, F) → blocks of (N, block_frames·hop) samples. Call in eval mode."""
        check_model_input(self, mel, teacher)
        hop = self.hop_length
        blocks = block_ranges(mel.shape[-1], block_frames)
        with torch.inference_mode():
            generation = self.start_stream(mel, sampling=sampling)
            fed = None if teacher is None else generation.fed(teacher)
            if teacher is None:
                generation.warm_up(generator)
        for start, stop in blocks:
            fed_block = None if fed is None else fed[:, start * hop : stop * hop]
            yield generation.block(start, stop, fed_block, return_logits, generator)
