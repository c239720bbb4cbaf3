"""Per-block inputs of a streamed model, computed a window of frames at a time and handed out in slices.

The conditioning of frames [start, stop) needs `pad` frames of context on each side (engine/models/upsample.py),
so streaming one hop at a time, as the app does with a slow model so that Stop is quick, computed five frames of
conditioning for every frame it used. A window of several frames shares that context among its blocks.
"""

from __future__ import annotations

from typing import Callable

import torch

WINDOW_ROWS = 8  # frames × batch rows per window: bounded, so a big batch's window stays one block long


class FrameWindows:
    """compute(start, stop) → time-major tensors ((stop − start) · hop, …); `get(start, stop)` gives the same
    (equal up to float rounding), cut from a window of at least max(1, WINDOW_ROWS // batch) frames."""

    def __init__(self, compute: Callable[[int, int], tuple[torch.Tensor, ...]], frames: int, hop: int, batch: int):
        self.compute, self.frames, self.hop = compute, frames, hop
        self.window = max(1, WINDOW_ROWS // batch)
        self.first = self.last = 0
        self.cached: tuple[torch.Tensor, ...] = ()

    def get(self, start: int, stop: int) -> tuple[torch.Tensor, ...]:
        if not (self.first <= start and stop <= self.last and self.cached):
            self.first, self.last = start, min(self.frames, max(stop, start + self.window))
            self.cached = self.compute(self.first, self.last)
        begin, end = (start - self.first) * self.hop, (stop - self.first) * self.hop
        return tuple(tensor[begin:end] for tensor in self.cached)
