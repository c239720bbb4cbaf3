"""Per-block inputs of a streamed model, computed a window of frames at a time and handed out in slices, from a mel
that is padded a window at a time.

The conditioning of frames [start, stop) needs `pad` frames of context on each side (engine/models/upsample.py),
so streaming one hop at a time, as the app does with a slow model so that Stop is quick, computed five frames of
conditioning for every frame it used. A window of several frames shares that context among its blocks.

The padded mel those windows are cut from (`PaddedFrames`) is never made whole: each window is read from the mel's
`FrameSource` (engine/mel_frames.py) and padded only where it reaches past an end, so a long input's mel need not be
in memory at all, and a mel that is costs no padded copy.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from engine.mel_frames import FrameSource, frame_source

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


class PaddedFrames:
    """mel (rows, n_mels, F) padded by `pad` frames at both ends as `mode` says (torch's names: "reflect", "replicate",
    "constant" for zeros), one window at a time: `padded[:, :, a:b]` equals `F.pad(mel, (pad, pad), mode)[:, :, a:b]`
    (the same values), read from the mel's frames [a − pad, b − pad) and, at an end, the frames reflected or repeated
    there. A window inside the mel is the source's own (for a tensor, a view of it). Sliced as the padded tensor is
    (the last axis only), so the upsampling networks' `upsample_range` and `unpadded` take it in its place."""

    def __init__(self, mel: FrameSource, pad: int, mode: str):
        self.mel, self.pad, self.mode = mel, pad, mode
        self.frames = mel.frames + 2 * pad

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.mel.rows, self.mel.n_mels, self.frames)

    @property
    def device(self) -> torch.device:
        return self.mel.device

    def __getitem__(self, index: tuple[slice, slice, slice]) -> torch.Tensor:
        rows, bands, frames = index
        if rows != slice(None) or bands != slice(None) or frames.step not in (None, 1):
            raise IndexError("a padded mel is sliced along its frames only: padded[:, :, start:stop]")
        start, stop, _ = frames.indices(self.frames)
        return self.window(start, max(start, stop))

    def window(self, start: int, stop: int) -> torch.Tensor:
        """Padded frames [start, stop), 0 ≤ start ≤ stop ≤ F + 2·pad: (rows, n_mels, stop − start)."""
        frames = self.mel.frames
        first, last = start - self.pad, stop - self.pad  # in the mel's frames
        if 0 <= first and last <= frames:
            return self.mel.window(first, last)
        if last <= first:
            return self.mel.window(0, 0)
        at = torch.arange(first, last, device=self.device)  # the mel's frame each padded frame copies
        if self.mode == "reflect":
            at = torch.where(at < 0, -at, at)
            at = torch.where(at > frames - 1, 2 * (frames - 1) - at, at)
        inside = (at >= 0) & (at < frames)
        at = at.clamp(0, frames - 1)  # "replicate" as it is; zeros are masked below
        low, high = int(at.min()), int(at.max()) + 1
        padded = self.mel.window(low, high)[:, :, at - low]
        if self.mode == "constant":
            padded = padded.masked_fill(~inside, 0.0)
        return padded


def padded_frames(network: nn.Module, mel: FrameSource | torch.Tensor) -> PaddedFrames:
    """The mel (a FrameSource or a tensor (rows, n_mels, F)) padded as the upsampling network `network` pads it
    (its `pad` and torch `pad_mode`), a window at a time: what its `upsample_range` takes in place of `pad_mel(mel)`."""
    return PaddedFrames(frame_source(mel), network.pad, network.pad_mode)
