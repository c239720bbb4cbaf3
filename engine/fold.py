"""Fold mode: a long mel cut into overlapping segments that are generated at once, and their audio joined again.

Segment i covers mel frames ``[i·T, i·T + T + P)``: T frames of its own and P frames shared with the next segment.
The next segment's cold start (it begins from silence) lies inside that shared part and is faded in with a linear
crossfade. Linear, not equal-power: the two segments are conditioned on the same mel and largely correlated, and
only a linear fade (weights summing to one) has unity gain for correlated signals; equal-power would swell by up to
3 dB in the middle of every overlap.

How the segments are generated follows the sampling loop's cost:
- a compiled loop (`Vocoder.compiled_on`) costs the same per batch row whatever the batch, and releases the GIL:
  each segment is a stream of its own, with its own generator seeded from the run's, and the streams run in a
  thread per core (`segments_in_parallel`). The audio does not depend on how many threads there are.
- a torch loop (CUDA, or a mixture model on the CPU) costs about the same per step for a whole batch as for one
  row: all segments are one batch in one stream (`segments_as_one_batch`), as batched WaveRNN inference does it.
Both give (segment, local start, samples) in whatever order they come; `FoldJoiner` turns those into final spans
of the output, and `InOrder` gives the spans out in order, each as soon as everything before it has come.
"""

from __future__ import annotations

import math
import queue
import threading
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch

from engine.devices import cpu_cores
from engine.models.base import Vocoder
from engine.sampling import Sampling

SegmentBlock = tuple[int, int, np.ndarray]  # (segment, first local sample, samples (n,) float32)


@dataclass(frozen=True)
class Fold:
    """Fold-mode segment sizes in samples; both are rounded to whole hops (target down, overlap up). threads: how
    many segments a compiled loop makes at once (None: one per core)."""

    target_samples: int = 16000
    overlap_samples: int = 800
    threads: int | None = None


def fold_layout(frames: int, fold: Fold, hop: int, min_frames: int) -> tuple[int, int, int]:
    """(segments, target frames T, overlap frames P) covering `frames` mel frames with segments of T + P frames.

    T is at most the fold's target; one segment (P = 0) when the mel is no longer than that.
    """
    longest = max(fold.target_samples // hop, 2 * min_frames, 2)
    overlap = min(max(math.ceil(fold.overlap_samples / hop), 1), longest // 2)
    segments = math.ceil((frames - overlap) / longest)
    if segments <= 1:
        return 1, frames, 0
    # Share the frames out evenly, so the padding at the end is less than one frame per segment.
    return segments, math.ceil((frames - overlap) / segments), overlap


def fold_mel(mel: torch.Tensor, segments: int, target: int, overlap: int) -> torch.Tensor:
    """mel (n_mels, F) → (segments, n_mels, T + P): segment i is frames [i·T, i·T + T + P), the end edge-padded."""
    needed = segments * target + overlap
    if needed > mel.shape[1]:
        mel = torch.cat([mel, mel[:, -1:].expand(-1, needed - mel.shape[1])], dim=1)
    return torch.stack([mel[:, i * target : i * target + target + overlap] for i in range(segments)])


def crossfade(outgoing: np.ndarray, incoming: np.ndarray, position: np.ndarray, length: int) -> np.ndarray:
    """Linear crossfade at `position` (sample indices in [0, length)) of an overlap of `length` samples.

    The weights sum to one at every sample, so fading a signal into itself returns the signal (unity gain).
    """
    weight = (position.astype(np.float64) + 0.5) / length
    return (outgoing * (1.0 - weight) + incoming * weight).astype(np.float32)


class FoldJoiner:
    """Segments' samples in, in any order across segments (each segment's in order), final output spans out.

    own = T·hop and shared = P·hop samples. Segment i's local samples [0, shared) are the head that fades in over
    segment i − 1's tail, its [own, own + shared); both are kept until the other side of the fade has arrived.
    Everything else is final as soon as it arrives.
    """

    def __init__(self, segments: int, own: int, shared: int, total: int):
        self.segments, self.own, self.shared, self.total = segments, own, shared, total
        self.heads = np.zeros((segments, shared), dtype=np.float32)
        self.tails = np.zeros((segments, shared), dtype=np.float32)
        self.made = np.zeros(segments, dtype=np.int64)  # local samples received per segment
        self.faded = np.zeros(segments, dtype=np.int64)  # tail samples crossfaded and given out per segment

    def add(self, i: int, begin: int, samples: np.ndarray) -> list[tuple[int, np.ndarray]]:
        """Segment i's local samples [begin, begin + n) → the (output start, samples) spans now final, trimmed to
        the output's `total` samples."""
        own, shared, end = self.own, self.shared, begin + len(samples)
        if begin < shared:
            self.heads[i, begin : min(end, shared)] = samples[: min(end, shared) - begin]
        spans = []
        low, high = max(begin, 0 if i == 0 else shared), min(end, own)
        if low < high:
            spans.append((i * own + low, samples[low - begin : high - begin]))
        low = max(begin, own)
        if low < end:
            if i + 1 == self.segments:  # the last segment's tail fades into nothing: it is its own
                spans.append((i * own + low, samples[low - begin :]))
            else:
                self.tails[i, low - own : end - own] = samples[low - begin :]
        self.made[i] = end
        for j in (i - 1, i):  # i's head or tail grew: the fade of i − 1 into i, or of i into i + 1, may go on
            if 0 <= j < self.segments - 1:
                spans.extend(self._faded_tail(j))
        return [(start, part[: self.total - start]) for start, part in spans if start < self.total]

    def _faded_tail(self, j: int) -> list[tuple[int, np.ndarray]]:
        """The part of segment j's tail whose matching head in segment j + 1 has arrived, crossfaded."""
        ready = min(self.made[j] - self.own, self.made[j + 1], self.shared)
        done = self.faded[j]
        if ready <= done:
            return []
        self.faded[j] = ready
        position = np.arange(done, ready)
        faded = crossfade(self.tails[j, done:ready], self.heads[j + 1, done:ready], position, self.shared)
        return [((j + 1) * self.own + done, faded)]


def segments_as_one_batch(
    model: Vocoder, batch: torch.Tensor, block_frames: int, generator: torch.Generator, sampling: Sampling
) -> Iterator[SegmentBlock]:
    """batch (S, n_mels, T + P) → each segment's blocks, streamed as one batch of S rows drawn by `sampling`."""
    position = 0
    stream = model.stream(batch, block_frames=block_frames, generator=generator, sampling=sampling)
    try:
        for block in stream:
            samples = block.samples.detach().to("cpu", torch.float32).numpy()
            for i in range(samples.shape[0]):
                yield i, position, samples[i]
            position += samples.shape[1]
    finally:
        stream.close()


def segments_in_parallel(
    model: Vocoder,
    batch: torch.Tensor,
    block_frames: int,
    generator: torch.Generator,
    sampling: Sampling,
    threads: int | None = None,
) -> Iterator[SegmentBlock]:
    """batch (S, n_mels, T + P) → each segment's blocks drawn by `sampling`, each segment streamed alone (batch of
    1) with a generator seeded from `generator`'s next S draws, `threads` segments at a time (None: one per core),
    in threads of their own: the compiled loops release the GIL. Closing the iterator stops the threads after their
    current block."""
    segments = batch.shape[0]
    seeds = torch.randint(0, 2**62, (segments,), generator=generator, device=generator.device).tolist()
    waiting: queue.SimpleQueue[int] = queue.SimpleQueue()
    for i in range(segments):
        waiting.put(i)
    made: queue.SimpleQueue = queue.SimpleQueue()
    stop = threading.Event()
    finished = object()

    def work() -> None:
        try:
            with torch.no_grad():
                while not stop.is_set():
                    try:
                        i = waiting.get_nowait()
                    except queue.Empty:
                        return
                    _stream_one(model, batch[i : i + 1], block_frames, sampling, seeds[i], i, made, stop)
        except BaseException as error:  # handed to the consumer, which raises it
            made.put(error)
        finally:
            made.put(finished)

    count = max(1, min(segments, threads or cpu_cores()))
    workers = [threading.Thread(target=work, name=f"vocoscope-fold-{k}", daemon=True) for k in range(count)]
    for worker in workers:
        worker.start()
    try:
        running = count
        while running:
            item = made.get()
            if item is finished:
                running -= 1
            elif isinstance(item, BaseException):
                raise item
            else:
                yield item
    finally:
        stop.set()
        for worker in workers:
            worker.join()


def _stream_one(
    model: Vocoder,
    mel: torch.Tensor,
    block_frames: int,
    sampling: Sampling,
    seed: int,
    i: int,
    made: queue.SimpleQueue,
    stop: threading.Event,
) -> None:
    """Stream segment i (mel (1, n_mels, T + P)) into `made` as (i, local start, samples), until `stop`."""
    generator = torch.Generator(device=mel.device).manual_seed(seed)
    blocks = segments_as_one_batch(model, mel, block_frames, generator, sampling)
    try:
        for _, position, samples in blocks:
            if stop.is_set():
                return
            made.put((i, position, samples))
    finally:
        blocks.close()


class InOrder:
    """Spans of the output in any order (fold mode) → runs of samples in order, each given out as soon as it follows
    what was given out before: the post-filters, a file and a sound card take samples in order. Only the spans that
    came before their turn are held: in order, none.

    Why fold mode cannot give out everything at once: segment i + 1's samples follow segment i's last ones, which
    exist only when segment i is finished. Side by side in threads (`segments_in_parallel`, a compiled loop), the
    segments are taken in order, so about one segment per thread is held; as one batch (`segments_as_one_batch`, a
    torch loop), every segment ends at the batch's last step, and all of the take but segment 0's is held until then.
    """

    def __init__(self) -> None:
        self.next = 0  # the first sample not given out yet
        self.waiting: dict[int, np.ndarray] = {}  # start → samples (n,) that came before their turn
        self.held = 0  # samples in `waiting`
        self.most_held = 0  # the most held at once

    def add(self, start: int, samples: np.ndarray) -> list[np.ndarray]:
        """samples (n,) from absolute sample `start` → the runs now in order, from `next` on (none while a gap stays).
        Spans never overlap: each starts where another ends, or at 0."""
        if not len(samples):
            return []
        self.waiting[start] = samples
        self.held += len(samples)
        self.most_held = max(self.most_held, self.held)
        ready = []
        while self.next in self.waiting:
            samples = self.waiting.pop(self.next)
            self.held -= len(samples)
            ready.append(samples)
            self.next += len(samples)
        return ready
