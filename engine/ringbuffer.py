"""A preallocated float32 ring buffer addressed by absolute sample offsets, written by one thread, read by several.

A sample at absolute offset i lives at `i % capacity`; once the ring has wrapped (i ≥ capacity) it is written a
second time at `i % capacity + capacity` (friture's layout), so any run of up to `capacity` held samples is one
contiguous view: a reader never stitches a wrap-around. A sample of the first lap needs no second copy (a view that
reads past index `capacity` reads only samples of a later lap), so a ring as long as the whole signal writes each
sample once and never touches the second half of its buffer.

Offsets are absolute sample counts since the start, so several readers (the player's callback, the views) each keep
their own position. One producer writes, at the end (appending) or ahead of it (samples that arrive out of order:
fold mode); `written` is one past the furthest sample written, and a sample below it not written yet is silence.
The producer must not overwrite samples a reader still needs: `free(reader_offset)` says how much it may append.
Writes store the samples before advancing `written`, so a reader on another thread never sees samples that are not
there yet.
"""

from __future__ import annotations

import numpy as np


class RingBuffer:
    """`capacity` samples of float32 audio, readable as contiguous views.

    buffer: (2 · capacity,) float32, allocated once (a ring made with `holding`: (capacity,), its samples).
    """

    def __init__(self, capacity: int):
        if capacity < 1:
            raise ValueError(f"ring buffer capacity must be at least 1 sample, got {capacity}")
        self.capacity = int(capacity)
        self._buffer = np.zeros(2 * self.capacity, dtype=np.float32)
        self.written = 0

    @classmethod
    def holding(cls, samples: np.ndarray) -> RingBuffer:
        """A full ring over `samples` (n,) float32, n ≥ 1, without copying them; it is read, never written again."""
        samples = np.ascontiguousarray(samples, dtype=np.float32).reshape(-1)
        ring = cls.__new__(cls)
        ring.capacity = max(1, len(samples))
        ring._buffer = samples if len(samples) else np.zeros(1, dtype=np.float32)
        ring.written = len(samples)
        return ring

    def free(self, reader_offset: int) -> int:
        """Samples that can be appended without overwriting anything at or after `reader_offset`."""
        return self.capacity - (self.written - reader_offset)

    def write(self, samples: np.ndarray, start: int | None = None) -> None:
        """Store `samples` (n,) float32, n ≤ capacity, at absolute offset `start` (None: at `written`, appending).

        Samples more than `capacity` behind the new end are overwritten; a write that would reach that far back
        from where it starts is refused.
        """
        count = len(samples)
        start = self.written if start is None else int(start)
        end = start + count
        if count > self.capacity:
            raise ValueError(f"cannot write {count} samples into a ring of {self.capacity}; write in pieces")
        if start < 0 or start < max(self.written, end) - self.capacity:
            raise ValueError(
                f"cannot write samples [{start}, {end}): the ring holds {self.capacity} samples "
                f"and has written up to {self.written}; write nearer the end"
            )
        stale = max(self.written, self.capacity)  # from here on, a gap before `start` holds an earlier lap's samples
        if start > stale:
            self._store(np.zeros(start - stale, dtype=np.float32), stale)
        self._store(samples, start)
        self.written = max(self.written, end)

    def _store(self, samples: np.ndarray, start: int) -> None:
        """Place samples at absolute `start` and, past the first lap, in the mirror (module docstring)."""
        count, end = len(samples), start + len(samples)
        head = start % self.capacity
        first = min(count, self.capacity - head)
        self._buffer[head : head + first] = samples[:first]
        self._buffer[: count - first] = samples[first:]
        if end > self.capacity:
            lap = max(start, self.capacity)
            mirrored = self.capacity + lap % self.capacity
            stop = mirrored + end - lap
            if stop <= 2 * self.capacity:
                self._buffer[mirrored:stop] = samples[lap - start :]
            else:  # the mirrored range wraps too: its two pieces
                split = 2 * self.capacity - mirrored
                self._buffer[mirrored:] = samples[lap - start : lap - start + split]
                self._buffer[self.capacity : self.capacity + stop - 2 * self.capacity] = samples[lap - start + split :]

    def oldest(self) -> int:
        """The first absolute offset still held."""
        return max(0, self.written - self.capacity)

    def view(self, start: int, count: int) -> np.ndarray:
        """Samples [start, start + count) as one read-only contiguous view (count,) — no copy.

        The view aliases the buffer: copy it before the producer can overwrite that range.
        """
        if count < 0 or count > self.capacity:
            raise ValueError(f"can view 0 to {self.capacity} samples, asked for {count}")
        if start < self.oldest() or start + count > self.written:
            raise ValueError(
                f"samples [{start}, {start + count}) are not held; the ring holds [{self.oldest()}, {self.written})"
            )
        head = start % self.capacity
        view = self._buffer[head : head + count]
        view.flags.writeable = False
        return view

    def copy_into(self, out: np.ndarray, start: int, end: int) -> int:
        """Copy samples [start, end) into `out` (m,) in place, as many as fit; return how many.

        Allocates nothing, for the audio callback. The caller guarantees `start` is still held and `end` ≤ `written`.
        """
        count = min(len(out), end - start)
        if count <= 0:
            return 0
        head = start % self.capacity
        np.copyto(out[:count], self._buffer[head : head + count])
        return count
