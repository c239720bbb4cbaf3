"""A preallocated float32 ring buffer addressed by absolute sample offsets.

Each sample is written twice, at `i % capacity` and at `i % capacity + capacity` (friture's layout), so any
run of up to `capacity` samples is one contiguous view: a reader never stitches a wrap-around. Offsets are
absolute sample counts since the first write, so several readers can each keep their own position.

One producer writes; readers only read. The producer must not overwrite samples a reader still needs:
`free(reader_offset)` says how much it may write. Writes store the samples before advancing `written`,
so a reader on another thread never sees samples that are not there yet.
"""

from __future__ import annotations

import numpy as np


class RingBuffer:
    """`capacity` samples of float32 audio, readable as contiguous views.

    buffer: (2 · capacity,) float32, allocated once.
    """

    def __init__(self, capacity: int):
        if capacity < 1:
            raise ValueError(f"ring buffer capacity must be at least 1 sample, got {capacity}")
        self.capacity = int(capacity)
        self._buffer = np.zeros(2 * self.capacity, dtype=np.float32)
        self.written = 0

    def free(self, reader_offset: int) -> int:
        """Samples that can be written without overwriting anything at or after `reader_offset`."""
        return self.capacity - (self.written - reader_offset)

    def write(self, samples: np.ndarray) -> None:
        """Append `samples` (n,) float32, n ≤ capacity; the oldest samples are overwritten."""
        count = len(samples)
        if count > self.capacity:
            raise ValueError(f"cannot write {count} samples into a ring of {self.capacity}; write in pieces")
        head = self.written % self.capacity
        first = min(count, self.capacity - head)
        rest = count - first
        for base in (0, self.capacity):
            self._buffer[base + head:base + head + first] = samples[:first]
            self._buffer[base:base + rest] = samples[first:]
        self.written += count

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
        view = self._buffer[head:head + count]
        view.flags.writeable = False
        return view

    def copy_into(self, out: np.ndarray, start: int) -> int:
        """Copy samples from `start` into `out` (m,) in place, as many as are written; return how many.

        Allocates nothing, for the audio callback. The caller guarantees `start` is still held.
        """
        count = min(len(out), self.written - start)
        if count <= 0:
            return 0
        head = start % self.capacity
        np.copyto(out[:count], self._buffer[head:head + count])
        return count
