"""A mel read a window of frames at a time, so that generation never needs the whole mel of a long input at once.

Generation reads its conditioning in order: the model a few frames ahead of what it makes (engine/models/
frame_windows.py), the pitch of the next block (engine/pitch_source.py), the envelope post-filter a few frames behind
(engine/envelope.py). A `FrameSource` gives any window [start, stop) of its frames as a tensor. A mel that is already
in memory (the window's, the tests', a mel file) is wrapped as it is (`TensorFrames`, `frame_source`); the mel of a
long recording is computed from the file block by block as it is asked for (engine/streamed_mel.py).
"""

from __future__ import annotations

import abc

import numpy as np
import torch


class FrameSource(abc.ABC):
    """Mels (rows, n_mels, frames), read through `window`. `shape` and `device` read as a tensor's would, so that code
    that only asks a mel its size takes either."""

    rows: int
    n_mels: int
    frames: int

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.rows, self.n_mels, self.frames)

    @property
    @abc.abstractmethod
    def device(self) -> torch.device:
        """Where `window`'s tensors are."""

    @abc.abstractmethod
    def window(self, start: int, stop: int) -> torch.Tensor:
        """Frames [start, stop), 0 ≤ start ≤ stop ≤ frames: (rows, n_mels, stop − start) float32 on `device`."""

    def whole(self) -> torch.Tensor:
        """All the frames at once (rows, n_mels, frames): for what cannot work a window at a time (fold mode)."""
        return self.window(0, self.frames)

    def first(self, frames: int) -> "FrameSource":
        """The first `frames` frames only (the mel's end is then there, for padding)."""
        return _View(self, min(frames, self.frames), self.device)

    def to(self, device: torch.device | str) -> "FrameSource":
        """The same frames, each window moved to `device`."""
        return _View(self, self.frames, torch.device(device))


class TensorFrames(FrameSource):
    """A mel already in memory, mel (rows, n_mels, frames): its windows are slices of it (views, no copies)."""

    def __init__(self, mel: torch.Tensor):
        self.mel = mel
        self.rows, self.n_mels, self.frames = (int(size) for size in mel.shape)

    @property
    def device(self) -> torch.device:
        return self.mel.device

    def window(self, start: int, stop: int) -> torch.Tensor:
        return self.mel[:, :, start:stop]

    def first(self, frames: int) -> FrameSource:
        return TensorFrames(self.mel[:, :, :frames])

    def to(self, device: torch.device | str) -> FrameSource:
        return TensorFrames(self.mel.to(device))


class _View(FrameSource):
    """Another source's first `frames` frames, moved to `device`."""

    def __init__(self, source: FrameSource, frames: int, device: torch.device):
        self.source, self._device = source, device
        self.rows, self.n_mels, self.frames = source.rows, source.n_mels, frames

    @property
    def device(self) -> torch.device:
        return self._device

    def window(self, start: int, stop: int) -> torch.Tensor:
        if not 0 <= start <= stop <= self.frames:
            raise IndexError(f"frames [{start}, {stop}) of a mel of {self.frames}")
        return self.source.window(start, stop).to(self._device)


def frame_source(mel: FrameSource | torch.Tensor | np.ndarray) -> FrameSource:
    """`mel` as a FrameSource: a source as it is; a tensor or array (rows, n_mels, frames), or (n_mels, frames) as
    one row, wrapped without a copy."""
    if isinstance(mel, FrameSource):
        return mel
    tensor = mel if isinstance(mel, torch.Tensor) else torch.from_numpy(np.asarray(mel))
    return TensorFrames(tensor if tensor.dim() == 3 else tensor.unsqueeze(0))
