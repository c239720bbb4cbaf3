"""Streaming generation: a model and its conditioning in, chunks of audio out.

`generate` is a Python generator of `Chunk`s: float32 samples in [-1, 1] with their absolute start sample
and running statistics. Chunks hold 20–50 ms of audio and at least one hop (the last one may be shorter:
it is trimmed to the conditioning's length). Cancellation is checked after every block the model yields (a
hop, or a whole chunk for a model fast enough: `BlockPacer`), so stopping costs at most one block of compute.

Fold mode (`fold=Fold(...)` or `fold=True`) splits the mel into overlapping segments, generates them at once
and crossfades them together again (engine/fold.py).

In order, the mel is read a window at a time (engine/mel_frames.py) by the model (where it `reads_frame_sources`)
and by the envelope post-filter, so a long input's mel (engine/streamed_mel.py) is never made whole; fold mode, which
cuts the whole mel into segments, and a model that takes only tensors get it whole.
"""

from __future__ import annotations

import dataclasses
import math
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch

from engine.emphasis import DeEmphasis
from engine.envelope import EnvelopePostFilter
from engine.errors import VocoscopeError
from engine.features import Conditioning, mel_spectrogram, resample, validate_mel
from engine.fold import Fold, FoldJoiner, InOrder, fold_layout, fold_mel, segments_as_one_batch, segments_in_parallel
from engine.mel_frames import FrameSource, frame_source
from engine.models.base import Vocoder
from engine.output_guard import OutputGuard
from engine.postfilter import PitchPostFilter
from engine.sampling import Sampling

CHUNK_TARGET_SECONDS = 0.045
BLOCK_SECONDS = 0.050  # the longest a streamed block should take: cancelling acts between blocks


@dataclass
class Stats:
    """Running statistics; real_time_factor is audio seconds per wall second (> 1 is faster than real time).

    warning: what is wrong with the output so far ("" when nothing is: engine/output_guard.py): NaN samples (made
    silent), or output clipped, constant or silent; the last chunk's is the run's verdict.
    """

    samples_done: int
    total_samples: int
    elapsed: float
    samples_per_second: float
    real_time_factor: float
    eta_seconds: float
    warning: str = ""


@dataclass
class Chunk:
    """samples: (n,) float32 in [-1, 1], starting at absolute sample `start` of the output."""

    samples: np.ndarray
    start: int
    stats: Stats


def choose_device(name: str | torch.device = "auto") -> torch.device:
    """ "auto" → CUDA when available, else CPU. Asking for CUDA without one is a `VocoscopeError`."""
    if isinstance(name, torch.device):
        name = str(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise VocoscopeError(
                f"device {name!r} was requested but this machine has no usable CUDA GPU "
                f"(torch {torch.__version__}, cuda={torch.version.cuda}). Use --device cpu or --device auto."
            )
        return torch.device(name)
    raise VocoscopeError(f"unknown device {name!r}; expected auto, cpu or cuda (cuda:N). Pick one of those.")


def block_frames_for(hop_length: int, sample_rate: int) -> int:
    """Frames per chunk: about 45 ms of audio, never less than one hop."""
    return max(1, round(CHUNK_TARGET_SECONDS * sample_rate / hop_length))


def conform(conditioning: Conditioning, model: Vocoder) -> Conditioning:
    """The conditioning as `model` needs it: the same conditioning when its mel was made the model's way,
    else the mel remade from the source audio, or a mel file re-validated against the model's bands."""
    config = model.mel_config
    if conditioning.mel_config == config:
        return conditioning
    if conditioning.audio is not None:
        audio = conditioning.audio
        if conditioning.mel_config.sample_rate != config.sample_rate:
            audio = resample(audio, conditioning.mel_config.sample_rate, config.sample_rate)
        return Conditioning(
            mel=mel_spectrogram(audio, config),
            mel_config=config,
            source=conditioning.source,
            audio=audio,
            source_rate=conditioning.source_rate,
        )
    mel, transposed = validate_mel(conditioning.mel, config, model.min_frames, conditioning.source)
    return Conditioning(
        mel=mel, mel_config=config, source=conditioning.source, transposed=conditioning.transposed or transposed
    )


def new_seed() -> int:
    """A fresh sampling seed for a run that was given none: 31 random bits, short enough to read out and retype."""
    return secrets.randbits(31)


def generate(
    model: Vocoder,
    conditioning: Conditioning,
    *,
    num_samples: int | None = None,
    device: str | torch.device = "auto",
    seed: int | None = None,
    fold: Fold | bool | None = None,
    cancel: threading.Event | None = None,
    sampling: Sampling | None = None,
) -> Iterator[Chunk]:
    """Generate audio for `conditioning` with `model`, chunk by chunk.

    num_samples: how many samples to make (default and maximum: conditioning.num_samples).
    seed: seeds the sampling generator; the same seed, model and device give the same samples.
    fold: None/False streams in order; True or a `Fold` generates overlapping segments at once.
    cancel: when set, the generator stops after the current block.
    sampling: how to draw and post-filter (engine/sampling.py); None, or a setting left None: the model's own.
        A setting the model cannot take raises `ConfigError` before any work.
    Every sample is finite (a NaN or infinity becomes silence) and each chunk's `stats.warning` says what is wrong
    with the output so far (`engine.output_guard.OutputGuard`).
    Raises `VocoscopeError` when the GPU runs out of memory or fails.
    """
    sampling = model.sampling(sampling)
    torch_device = choose_device(device)
    total = conditioning.num_samples if num_samples is None else min(int(num_samples), conditioning.num_samples)
    if total <= 0:
        return
    hop = model.hop_length
    frames = min(conditioning.frames, max(model.min_frames, math.ceil(total / hop)))
    conditioning_mel = _conditioning_frames(conditioning)
    mel = conditioning_mel.first(frames)  # (1, n_mels, frames)
    generator = torch.Generator(device=torch_device)
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(int(seed))
    if fold is True:
        fold = Fold()
    clock = _Clock(total, model.mel_config.sample_rate)
    try:
        model.to(torch_device)
        mel = mel.to(torch_device)
        if fold:
            chunks = _generate_folded(model, mel.whole()[0], total, fold, generator, sampling, cancel, clock)
        else:
            chunks = _generate_in_order(
                model, mel if model.reads_frame_sources else mel.whole(), total, generator, sampling, cancel, clock
            )
        postfilters = []
        if model.mel_config.output_preemphasis:  # a model trained on pre-emphasised audio (engine/emphasis.py)
            postfilters.append(DeEmphasis(model.mel_config.output_preemphasis))
        if sampling.pitch_postfilter:
            postfilters.append(PitchPostFilter(model.mel_config.sample_rate, sampling.pitch_postfilter))
        if sampling.envelope_postfilter:
            postfilters.extend(
                EnvelopePostFilter(conditioning_mel, model.mel_config, sampling.envelope_postfilter)
                for _ in range(sampling.envelope_passes)
            )
        if postfilters:
            chunks = _postfiltered(chunks, postfilters)
        yield from _guarded(chunks, clock.guard)
    except torch.cuda.OutOfMemoryError:
        raise VocoscopeError(
            f"the GPU ran out of memory generating {total} samples"
            f"{' in fold mode' if fold else ''}. Use --device cpu, a shorter input"
            f"{', or turn fold mode off' if fold else ''}."
        ) from None
    except RuntimeError as error:
        if torch_device.type == "cuda" and "CUDA" in str(error):
            raise VocoscopeError(f"the GPU failed: {str(error).splitlines()[0]}. Try --device cpu.") from None
        raise


def _conditioning_frames(conditioning: Conditioning) -> FrameSource:
    """The conditioning's mel as one row (1, n_mels, T) read a window at a time: a long input's FrameSource, or a
    view of the mel in memory (not a copy: for a long input the mel is the largest thing generation could hold)."""
    if isinstance(conditioning.mel, FrameSource):
        return conditioning.mel
    return frame_source(np.asarray(conditioning.mel, dtype=np.float32))


def _postfiltered(chunks: Iterator[Chunk], postfilters: list) -> Iterator[Chunk]:
    """The chunks (in any order: fold mode) through the post-filters one after another, as chunks in order. Each
    carries the stats of the chunk that completed it; the post-filters hold back their last samples (~26 ms, and
    64 ms more for each envelope pass) until the end (or a cancel) releases them. Only chunks that came before their
    turn are held (`InOrder`: in order, none), so memory does not grow with the take; a cancelled fold keeps what
    came before its first gap."""
    in_order = InOrder()
    done = 0
    stats = None
    try:
        for chunk in chunks:
            stats, ready = chunk.stats, in_order.add(chunk.start, chunk.samples)
            if not ready:
                continue
            samples = np.concatenate(ready) if len(ready) > 1 else ready[0]
            for postfilter in postfilters:
                samples = postfilter.push(samples)
            if len(samples):
                yield Chunk(samples, done, stats)
                done += len(samples)
    finally:
        chunks.close()
    rest = np.zeros(0, dtype=np.float32)
    for postfilter in postfilters:  # each one's rest goes through the next, which then gives its own
        rest = np.concatenate([postfilter.push(rest), postfilter.finish()])
    if len(rest):
        yield Chunk(rest, done, stats)


def _guarded(chunks: Iterator[Chunk], guard: OutputGuard) -> Iterator[Chunk]:
    """The final chunks, finite and in [-1, 1], each carrying the guard's verdict on the output so far."""
    try:
        for chunk in chunks:
            samples = guard.clean(chunk.samples)
            guard.watch(samples, chunk.start)
            yield Chunk(samples, chunk.start, dataclasses.replace(chunk.stats, warning=guard.warning))
    finally:
        chunks.close()


class _Clock:
    """Counts final samples and turns them into `Stats`; its guard makes them finite as they come out of the model."""

    def __init__(self, total: int, sample_rate: int):
        self.total = total
        self.sample_rate = sample_rate
        self.done = 0
        self.began = time.perf_counter()
        self.guard = OutputGuard(sample_rate)

    def chunk(self, samples: torch.Tensor | np.ndarray, start: int) -> Chunk:
        if isinstance(samples, torch.Tensor):
            samples = samples.detach().to("cpu", torch.float32).numpy()
        samples = self.guard.clean(samples)
        self.done += len(samples)
        elapsed = max(time.perf_counter() - self.began, 1e-9)
        rate = self.done / elapsed
        stats = Stats(
            self.done,
            self.total,
            elapsed,
            rate,
            rate / self.sample_rate,
            (self.total - self.done) / rate if rate > 0 else float("inf"),
        )
        return Chunk(samples=samples, start=start, stats=stats)


@torch.no_grad()
def _generate_in_order(model, mel, total, generator, sampling, cancel, clock) -> Iterator[Chunk]:
    """mel: (1, n_mels, F), a tensor or a FrameSource. The model streams blocks paced by `BlockPacer`; they are
    gathered into ~45 ms chunks."""
    chunk_frames = block_frames_for(model.hop_length, model.mel_config.sample_rate)
    chunk_length = chunk_frames * model.hop_length
    pending: list[torch.Tensor] = []
    pending_length = 0
    start = 0
    stream = model.stream(mel, block_frames=BlockPacer(chunk_frames), generator=generator, sampling=sampling)
    try:
        for block in stream:
            if cancel is not None and cancel.is_set():
                return
            samples = block.samples[0, : total - start - pending_length]
            pending.append(samples)
            pending_length += len(samples)
            finished = start + pending_length >= total
            if pending_length >= chunk_length or finished:
                yield clock.chunk(torch.cat(pending), start)
                start += pending_length
                pending, pending_length = [], 0
            if finished:
                return
    finally:
        stream.close()


class BlockPacer:
    """Frames for each block of an in-order stream, asked for as the block begins: one at first, then as many as
    fit in BLOCK_SECONDS at the pace of the block before (the model's time and its consumer's), never past the end
    of the current chunk of `chunk_frames`, so that blocks add up to whole chunks.

    A compiled sampling loop thus makes a whole chunk per call, and waits for the GIL, which the window holds while
    it paints, once per chunk: one hop per call had made the window's WaveRNN about half as fast as the engine
    alone (benchmarks/window_generation.py). A model that takes longer than BLOCK_SECONDS per hop (a torch loop on
    the CPU, the paper-sized dual-softmax WaveRNN) goes one hop at a time, so Stop still acts after at most a hop.
    """

    def __init__(self, chunk_frames: int):
        self.chunk_frames = chunk_frames
        self.frames = 0  # handed out so far
        self.size = 0
        self.began = 0.0

    def __iter__(self) -> "BlockPacer":
        return self

    def __next__(self) -> int:
        now = time.perf_counter()
        paced = 1
        if self.size:
            paced = int(BLOCK_SECONDS * self.size / max(now - self.began, 1e-9))
        room = self.chunk_frames - self.frames % self.chunk_frames
        self.size = max(1, min(room, paced))
        self.frames += self.size
        self.began = now
        return self.size


@torch.no_grad()
def _generate_folded(model, mel, total, fold, generator, sampling, cancel, clock) -> Iterator[Chunk]:
    """Generate the segments at once (engine/fold.py); emit each span of output as soon as it is final, with its
    absolute start."""
    hop = model.hop_length
    segments, target, overlap = fold_layout(mel.shape[1], fold, hop, model.min_frames)
    batch = fold_mel(mel, segments, target, overlap)
    joiner = FoldJoiner(segments, target * hop, overlap * hop, total)
    block_frames = block_frames_for(hop, model.mel_config.sample_rate)
    if model.compiled_on(mel.device):
        blocks = segments_in_parallel(model, batch, block_frames, generator, sampling, fold.threads)
    else:
        blocks = segments_as_one_batch(model, batch, block_frames, generator, sampling)
    try:
        for i, begin, samples in blocks:
            if cancel is not None and cancel.is_set():
                return
            for start, span in joiner.add(i, begin, samples):
                yield clock.chunk(span, start)
    finally:
        blocks.close()
