"""The frequency axis of a mel spectrogram: ticks in Hz placed at the mel band that holds each frequency.

The image's row i is mel band i and spans y ∈ [i, i + 1]. librosa's filter bank (Slaney's mel scale, librosa's
default) puts the centres of the n_mels bands at n_mels + 2 points evenly spaced in mel from fmin to fmax, less the
two ends, so band i is centred on point i + 1 and a frequency f sits at y = (mel(f) − mel(fmin)) / step − 0.5. The
axis then runs from fmin at y = −0.5 to fmax at y = n_mels + 0.5. Numpy only: no librosa import for an axis.
"""

from __future__ import annotations

import math

import pyqtgraph as pg

from app.engine_bridge import MelConfig

TICK_FREQUENCIES = (50.0, 100.0, 250.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0, 16000.0)
MIN_TICK_SPACING_PX = 16  # about a line of the axis's type: closer labels would overlap

_LINEAR_HZ_PER_MEL = 200.0 / 3.0  # Slaney: linear below 1 kHz ...
_BREAK_HZ = 1000.0
_BREAK_MEL = _BREAK_HZ / _LINEAR_HZ_PER_MEL
_LOG_STEP = math.log(6.4) / 27.0  # ... and logarithmic above


def hz_to_mel(frequency: float) -> float:
    """Slaney's mel scale, as librosa.hz_to_mel(frequency, htk=False)."""
    if frequency < _BREAK_HZ:
        return frequency / _LINEAR_HZ_PER_MEL
    return _BREAK_MEL + math.log(frequency / _BREAK_HZ) / _LOG_STEP


def band_position(frequency: float, config: MelConfig) -> float:
    """Where `frequency` (Hz) lies on the image's y axis, in bands: i + 0.5 at the centre of band i."""
    low, high = hz_to_mel(config.fmin), hz_to_mel(config.fmax)
    step = (high - low) / (config.n_mels + 1)
    return (hz_to_mel(frequency) - low) / step - 0.5


def band_range(config: MelConfig) -> tuple[float, float]:
    """The y range from fmin to fmax: half a band beyond the image's first and last rows."""
    return -0.5, config.n_mels + 0.5


def frequency_label(frequency: float) -> str:
    """100 → "100", 2000 → "2k", 2500 → "2.5k"."""
    return f"{frequency:.0f}" if frequency < 1000 else f"{frequency / 1000:g}k"


class FrequencyAxis(pg.AxisItem):
    """A left axis labelled in Hz for a mel image; without a `MelConfig` (nothing shown yet) it has no ticks."""

    def __init__(self, **kwargs):
        super().__init__("left", **kwargs)
        self.enableAutoSIPrefix(False)
        self.config: MelConfig | None = None
        self._labels: dict[float, str] = {}

    def set_config(self, config: MelConfig | None) -> None:
        """Label the bands of `config`, or show no ticks for None."""
        self.config = config
        self.picture = None  # pyqtgraph's cached drawing of the ticks
        self.update()

    def tickValues(self, minVal, maxVal, size):
        """One level of ticks at TICK_FREQUENCIES inside fmin..fmax and the view, from the highest down, each at
        least MIN_TICK_SPACING_PX from the one above (the low ones crowd together on a mel scale)."""
        self._labels = {}
        if self.config is None or maxVal <= minVal:
            return []
        pixels_per_band = size / (maxVal - minVal)
        kept: list[float] = []
        for frequency in reversed(TICK_FREQUENCIES):
            if not self.config.fmin <= frequency <= self.config.fmax:
                continue
            position = band_position(frequency, self.config)
            if not minVal <= position <= maxVal:
                continue
            if kept and (kept[-1] - position) * pixels_per_band < MIN_TICK_SPACING_PX:
                continue
            kept.append(position)
            self._labels[position] = frequency_label(frequency)
        return [(1.0, kept)]

    def tickStrings(self, values, scale, spacing):
        return [self._labels.get(value, "") for value in values]
