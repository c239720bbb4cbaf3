"""A waveform on the shared time axis: a whole file, or a generation's output stream growing chunk by chunk.

The view keeps no copy of the samples: it reads the whole signal it was given, or the engine's output stream
(engine/output.py) where the engine thread wrote it, on the paint timer. What it keeps is their envelope: the lowest
and the highest sample of each bucket of `bucket` samples (at most ENVELOPE_BUCKETS buckets over the signal),
brought up to date on each paint for the samples that arrived since. A refresh hands the curve either the envelope,
when the view is so wide that a pixel covers a bucket or more, or the visible samples themselves. Either way a
repaint costs the same however long the audio is.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg

from app.views.timeline import TimelinePlot

ENVELOPE_BUCKETS = 4096


class WaveformView(TimelinePlot):
    """Shows samples at `sample_rate`: a whole signal (`set_audio`) or an output stream as it grows (`follow`)."""

    def __init__(self, title: str, colour: str, parent=None):
        super().__init__(title, "amplitude", parent)
        self.plot_item.setYRange(-1.05, 1.05, padding=0)
        self.plot_item.getAxis("left").setTicks([[(-1, "-1"), (0, "0"), (1, "1")]])
        self.curve = pg.PlotDataItem(pen=pg.mkPen(colour, width=1), skipFiniteCheck=True)
        # Set on the plot, not the curve: PlotItem.addItem gives each item the plot's own modes (both off).
        self.plot_item.setDownsampling(auto=True, mode="peak")
        self.plot_item.addItem(self.curve)
        self.plot_item.sigXRangeChanged.connect(self.mark_dirty)  # zooming may switch envelope and samples
        self.sample_rate = 16000
        self.painted_samples = 0  # how many of the samples the curve shows now
        self.bucket = 1
        self._samples = np.zeros(0, dtype=np.float32)  # the whole signal, when not following a stream
        self._stream = None  # the engine.output.OutputStream followed, if any
        self._settled = 0  # samples before this are final and in the envelope
        self._seen = (0, 0)  # the stream's (ready, extent) when the envelope was last brought up to date
        self._low = np.zeros(0, dtype=np.float32)
        self._high = np.zeros(0, dtype=np.float32)

    @property
    def num_samples(self) -> int:
        """Samples there are to show: the whole signal's, or as far as the stream has been written."""
        return self._stream.extent if self._stream is not None else len(self._samples)

    @property
    def samples(self) -> np.ndarray:
        """(num_samples,) the samples shown, read where they lie (a read-only view, no copy)."""
        return self._read(0, self.num_samples)

    def set_audio(self, samples: np.ndarray | None, sample_rate: int) -> None:
        """Show a whole signal (n,), or nothing for None; the view reads it where it is."""
        self._stream = None
        self._samples = np.zeros(0, dtype=np.float32) if samples is None else samples
        self._start(sample_rate, len(self._samples))
        self._envelope(0, len(self._samples))

    def follow(self, stream) -> None:
        """Show an engine.output.OutputStream, read on each refresh as far as it has been written."""
        self._samples = np.zeros(0, dtype=np.float32)
        self._stream = stream
        self._start(stream.sample_rate, stream.total or stream.ring.capacity)

    def _start(self, sample_rate: int, length: int) -> None:
        self.sample_rate = sample_rate
        self.bucket = max(1, math.ceil(length / ENVELOPE_BUCKETS))
        buckets = math.ceil(length / self.bucket)
        self._low, self._high = np.zeros(buckets, dtype=np.float32), np.zeros(buckets, dtype=np.float32)
        self._settled, self._seen = 0, (0, 0)
        self.curve.setData([], [])
        self.painted_samples = 0
        self.mark_dirty()

    def refresh(self) -> bool:
        """Paint if the stream followed has moved on since the last paint (or anything else changed)."""
        if self._stream is not None and (self._stream.ready, self._stream.extent) != self._seen:
            self.mark_dirty()
        return super().refresh()

    def _read(self, start: int, end: int) -> np.ndarray:
        if self._stream is not None:
            return self._stream.ring.view(start, end - start)
        return self._samples[start:end]

    def _catch_up(self) -> None:
        """Bring the envelope up to date with the stream: every bucket from the first not yet final on (fold mode
        writes ahead, leaving silence that is filled later)."""
        ready, extent = self._stream.ready, self._stream.extent  # in this order: ready ≤ extent
        if (ready, extent) != self._seen:
            self._envelope(self._settled, extent)
            self._settled, self._seen = ready, (ready, extent)

    def _envelope(self, start: int, end: int) -> None:
        """The lowest and highest sample of each bucket that samples [start, end) fall in; a bucket partly filled
        counts the samples it has."""
        if end <= start:
            return
        bucket = self.bucket
        first, whole, last = start // bucket, end // bucket, math.ceil(end / bucket)
        if len(self._low) < last:
            grow = np.zeros(last - len(self._low), dtype=np.float32)
            self._low, self._high = np.concatenate([self._low, grow]), np.concatenate([self._high, grow])
        if whole > first:
            buckets = self._read(first * bucket, whole * bucket).reshape(whole - first, bucket)
            self._low[first:whole], self._high[first:whole] = buckets.min(axis=1), buckets.max(axis=1)
        if last > whole:
            part = self._read(whole * bucket, end)
            self._low[whole], self._high[whole] = part.min(), part.max()

    def paint(self) -> None:
        if self._stream is not None:
            self._catch_up()
        n = self._seen[1] if self._stream is not None else len(self._samples)
        (left, right), _ = self.plot_item.viewRange()
        pixels = max(self.plot_item.vb.width(), 1.0)
        samples_per_pixel = (right - left) * self.sample_rate / pixels
        if self.bucket > 1 and samples_per_pixel >= self.bucket:
            buckets = math.ceil(n / self.bucket)
            starts = np.arange(buckets, dtype=np.float64) * self.bucket
            times = np.repeat(starts, 2) / self.sample_rate
            times[1::2] += (self.bucket - 1) / self.sample_rate  # each bucket's low at its start, high at its end
            values = np.empty(2 * buckets, dtype=np.float32)
            values[0::2], values[1::2] = self._low[:buckets], self._high[:buckets]
        else:
            first = max(0, int(left * self.sample_rate) - 1)
            last = min(n, int(math.ceil(right * self.sample_rate)) + 2)
            first = min(first, last)
            times = np.arange(first, last, dtype=np.float64) / self.sample_rate
            values = self._read(first, last)
        self.curve.setData(times, values, skipFiniteCheck=True)
        self.painted_samples = n
