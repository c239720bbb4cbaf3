"""The engine-owned output stream: one take's samples at absolute positions, written once, read where they lie.

The engine thread writes each chunk once (`write`), at its absolute start, into a `RingBuffer` (engine/ringbuffer.py)
long enough for the whole take. Nothing copies it on the way out: the player's audio callback copies straight from
the ring into the sound card's buffer (engine/playback.py), the window's views read it on their paint timer, and the
take's mel is computed from it on the writer's thread as the samples become final (`mel`), so the GUI thread only
draws.

Chunks may arrive out of order (fold mode). `ready` is the finished prefix: samples [0, ready) are final and
contiguous, which is what the player may play and what the mel is made from. `extent` is how far anything has
been written; between `ready` and `extent` there may be silence still to be filled.

Threads. One writer (the engine's generating thread, or whoever feeds a Player). Readers on other threads read
`ready` (or `extent`), then the ring below it: the writer stores the samples before it moves `ready` on, so a reader
never sees samples that are not there yet. Followers (`follow`) are called on the writer's thread after each write
and at the end: the player uses that to start playing once enough is buffered.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from engine.features import MelConfig
from engine.incremental_mel import IncrementalMel
from engine.ringbuffer import RingBuffer

log = logging.getLogger(__name__)


class OutputStream:
    """Mono float32 samples at `sample_rate`, [0, extent), of which [0, ready) are final.

    capacity: samples the ring holds; a stream as long as its take (`total`) keeps all of it, for replay and export.
    total: the samples the take will have, or None when unknown.
    mel_config: when given, the normalised mel of the finished prefix (`mel`, engine.incremental_mel) is computed
        on the writer's thread after each write.
    """

    def __init__(self, sample_rate: int, capacity: int, total: int | None = None, mel_config: MelConfig | None = None):
        self.sample_rate = int(sample_rate)
        self.total = total
        self.ring = RingBuffer(capacity)
        self.ready = 0
        self.finished = False
        self.stats: Any = None  # the last chunk's engine.generate.Stats, if the writer gave them
        self.mel = IncrementalMel(mel_config, total or 0) if mel_config is not None else None
        self._ahead: dict[int, int] = {}  # start → end of the spans written past `ready` (fold mode)
        self._followers: list[Callable[[OutputStream], None]] = []
        self._lock = threading.Lock()

    @classmethod
    def of_clip(cls, samples: np.ndarray, sample_rate: int) -> OutputStream:
        """A finished stream over a finished clip (n,) float32, without copying it."""
        stream = cls(sample_rate, capacity=1, total=len(samples))
        stream.ring = RingBuffer.holding(samples)
        stream.ready, stream.finished = stream.ring.written, True
        return stream

    @property
    def extent(self) -> int:
        """One past the furthest sample written."""
        return self.ring.written

    def write(self, samples: np.ndarray, start: int | None = None, stats: Any = None) -> None:
        """Store `samples` (n,) float32 at absolute sample `start` (None: at `ready`), n ≤ the ring's capacity; then
        the mel of what became final is computed and the followers are told, on this thread."""
        start = self.ready if start is None else int(start)
        self.ring.write(samples, start)
        if stats is not None:
            self.stats = stats
        end = start + len(samples)
        if start != self.ready:
            self._ahead[start] = end
            return
        while end in self._ahead:
            end = self._ahead.pop(end)
        self.ready = end
        if self.mel is not None:
            self.mel.update(self.ring, self.ready)
        self._notify()

    def finish(self, complete: bool = True) -> None:
        """No more samples will come. `complete`: the take is whole, so the mel's last frames are computed (a
        cancelled take's mel stops at its last complete frame)."""
        if self.mel is not None and complete:
            self.mel.finish(self.ring, self.ready)
        self.finished = True
        self._notify()

    def samples(self) -> np.ndarray:
        """The samples held, [oldest, extent), as one read-only view (no copy); for a whole take, all of it."""
        return self.ring.view(self.ring.oldest(), self.extent - self.ring.oldest())

    def follow(self, follower: Callable[[OutputStream], None]) -> None:
        """Call `follower(stream)` on the writer's thread after each write that moves `ready`, and at the end."""
        with self._lock:
            self._followers = self._followers + [follower]

    def unfollow(self, follower: Callable[[OutputStream], None]) -> None:
        with self._lock:
            self._followers = [f for f in self._followers if f is not follower]

    def _notify(self) -> None:
        for follower in self._followers:  # a list replaced, never changed in place: no lock needed to walk it
            try:
                follower(self)
            except Exception:  # a broken follower must not stop the writer (the engine's job)
                log.exception("a follower of the output stream failed")
