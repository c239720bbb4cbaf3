"""A waveform on the shared time axis: a whole file, or generated audio growing chunk by chunk.

Samples go into a preallocated buffer as they arrive, and so does their envelope: the lowest and the highest sample
of each bucket of `bucket` samples (at most ENVELOPE_BUCKETS buckets over the buffer), updated for the new samples
only. A refresh hands the curve either the envelope, when the view is so wide that a pixel covers a bucket or more,
or the visible samples themselves. Either way a repaint costs the same however long the audio is.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg

from app.views.timeline import TimelinePlot

ENVELOPE_BUCKETS = 4096


class WaveformView(TimelinePlot):
    """Holds samples (capacity,) float32 at `sample_rate`; the first `num_samples` of them are shown."""

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
        self.num_samples = 0
        self.painted_samples = 0  # how many of the samples the curve shows now
        self.bucket = 1
        self._samples = np.zeros(0, dtype=np.float32)
        self._low = np.zeros(0, dtype=np.float32)
        self._high = np.zeros(0, dtype=np.float32)

    @property
    def samples(self) -> np.ndarray:
        """(num_samples,) the samples received so far (a view into the buffer)."""
        return self._samples[:self.num_samples]

    def reset(self, sample_rate: int, capacity: int) -> None:
        """Empty the view and preallocate room for `capacity` samples."""
        self.sample_rate = sample_rate
        self.num_samples = 0
        self.bucket = max(1, math.ceil(capacity / ENVELOPE_BUCKETS))
        self._samples = np.zeros(0, dtype=np.float32)
        self._low, self._high = np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.float32)
        self._reserve(capacity)
        self.curve.setData([], [])
        self.painted_samples = 0
        self.mark_dirty()

    def set_audio(self, samples: np.ndarray | None, sample_rate: int) -> None:
        """Show a whole signal (n,), or nothing for None."""
        samples = np.zeros(0, dtype=np.float32) if samples is None else samples
        self.reset(sample_rate, len(samples))
        self.append(samples, 0)

    def append(self, samples: np.ndarray, start: int) -> None:
        """Write samples (n,) at absolute sample `start`."""
        end = start + len(samples)
        self._reserve(end)
        self._samples[start:end] = samples
        self.num_samples = max(self.num_samples, end)
        first, last = start // self.bucket, math.ceil(end / self.bucket)
        touched = self._samples[first * self.bucket:last * self.bucket]
        if last * self.bucket > self.num_samples:  # the last bucket is partly filled: its envelope so far
            touched = touched.copy()
            touched[self.num_samples - first * self.bucket:] = touched[self.num_samples - first * self.bucket - 1]
        buckets = touched.reshape(last - first, self.bucket)
        self._low[first:last], self._high[first:last] = buckets.min(axis=1), buckets.max(axis=1)
        self.mark_dirty()

    def paint(self) -> None:
        n = self.num_samples
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
            values = self._samples[first:last]
        self.curve.setData(times, values, skipFiniteCheck=True)
        self.painted_samples = n

    def _reserve(self, capacity: int) -> None:
        """Room for `capacity` samples, in whole buckets, and for their envelope."""
        if capacity > len(self._samples):
            buckets = math.ceil(max(capacity, 2 * len(self._samples)) / self.bucket)
            grown = np.zeros(buckets * self.bucket, dtype=np.float32)
            grown[:self.num_samples] = self._samples[:self.num_samples]
            self._samples = grown
            kept = len(self._low)
            self._low, self._high = (np.concatenate([old, np.zeros(buckets - kept, dtype=np.float32)])
                                     for old in (self._low, self._high))
