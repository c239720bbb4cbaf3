"""A waveform on the shared time axis: a whole file, or generated audio growing chunk by chunk.

Samples go into a preallocated buffer as they arrive; the curve takes the filled part on the next refresh.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from app.views.timeline import TimelinePlot


class WaveformView(TimelinePlot):
    """Holds samples (capacity,) float32 at `sample_rate`; the first `num_samples` of them are shown."""

    def __init__(self, title: str, colour: str, parent=None):
        super().__init__(title, "amplitude", parent)
        self.plot_item.setYRange(-1.05, 1.05, padding=0)
        self.plot_item.getAxis("left").setTicks([[(-1, "-1"), (0, "0"), (1, "1")]])
        self.curve = pg.PlotDataItem(pen=pg.mkPen(colour, width=1), skipFiniteCheck=True)
        # Set on the plot, not the curve: PlotItem.addItem gives each item the plot's own modes (both off), which
        # had the curve draw every sample at every repaint (a 21 s take: 340,000 points, 60 ms a frame).
        self.plot_item.setClipToView(True)
        self.plot_item.setDownsampling(auto=True, mode="peak")
        self.plot_item.addItem(self.curve)
        self.sample_rate = 16000
        self.num_samples = 0
        self._samples = np.zeros(0, dtype=np.float32)
        self._times = np.zeros(0, dtype=np.float64)
        self._times_rate = self.sample_rate

    @property
    def samples(self) -> np.ndarray:
        """(num_samples,) the samples received so far (a view into the buffer)."""
        return self._samples[:self.num_samples]

    @property
    def painted_samples(self) -> int:
        """How many samples the curve shows now."""
        x, _ = self.curve.getOriginalDataset()
        return 0 if x is None else len(x)

    def reset(self, sample_rate: int, capacity: int) -> None:
        """Empty the view and preallocate room for `capacity` samples."""
        self.sample_rate = sample_rate
        self.num_samples = 0
        self._reserve(capacity)
        self.curve.setData([], [])
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
        self.mark_dirty()

    def paint(self) -> None:
        n = self.num_samples
        self.curve.setData(self._times[:n], self._samples[:n], skipFiniteCheck=True)

    def _reserve(self, capacity: int) -> None:
        if capacity > len(self._samples):
            grown = np.zeros(max(capacity, 2 * len(self._samples)), dtype=np.float32)
            grown[:self.num_samples] = self._samples[:self.num_samples]
            self._samples = grown
        if len(self._times) != len(self._samples) or self._times_rate != self.sample_rate:
            self._times = np.arange(len(self._samples), dtype=np.float64) / self.sample_rate
            self._times_rate = self.sample_rate
