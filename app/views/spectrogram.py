"""A mel spectrogram on the shared time axis: the input's mel, or the generated audio's, growing live.

The generated audio's mel is computed by the engine, on its own thread, as the samples are written into the output
stream (engine/output.py, engine/incremental_mel.py); the view only reads how far it has got on each refresh and
draws it. The image is a preallocated (n_mels, frames) float32 buffer shown row-major with fixed levels [0, 1] (the
normalised mel's range) and a 256-entry colour table, so a repaint never rescans the data. Given a reference mel,
the view shows the difference to it instead (computed frames only), on a diverging colour table.

The y axis is labelled in Hz at the mel bands (frequency_axis.py), and a colour bar beside the image gives its
levels in dB (colour_bar.py): the same fixed levels, so it is drawn once per change of model or mode, never per
repaint. Until it has a mel the view shows no ticks and no colour bar, only its hint.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF

from app.engine_bridge import MelConfig
from app.views import theme
from app.views.colour_bar import ColourBar
from app.views.frequency_axis import FrequencyAxis, band_position, band_range
from app.views.timeline import TimelinePlot

LEVELS = (0.0, 1.0)
DIFFERENCE_LEVELS = (-0.25, 0.25)  # normalised units: ±25 dB with the default 100 dB range


def decibels(levels: tuple[float, float], config: MelConfig, difference: bool = False) -> tuple[float, float]:
    """Normalised levels → dB: [0, 1] spans [min_db, 0] dB (0 dB being the model's reference, ref_db); a difference
    of normalised mels scales alike, without the offset."""
    offset = 0.0 if difference else config.min_db
    return tuple(level * -config.min_db + offset for level in levels)


class SpectrogramView(TimelinePlot):
    """Shows a normalised mel (n_mels, T), frame t centred on t·hop / sample_rate seconds."""

    def __init__(self, title: str, parent=None):
        self.frequency_axis = FrequencyAxis()
        self.colour_bar = ColourBar()
        super().__init__(title, "frequency (Hz)", parent, left_axis=self.frequency_axis, side=self.colour_bar)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.plot_item.addItem(self.image)
        self.pitch_curve = pg.PlotCurveItem(pen=pg.mkPen(theme.PITCH_COLOUR, width=2), connect="finite")
        self.plot_item.addItem(self.pitch_curve)
        self.plot_item.setMouseEnabled(x=True, y=False)
        self.mel_config = MelConfig()
        self.live = None  # the engine.incremental_mel.IncrementalMel of the output stream followed, if any
        self._mel = np.zeros((self.mel_config.n_mels, 0), dtype=np.float32)
        self._frames = 0
        self._painted_frames = 0
        self.title = title
        self.reference: np.ndarray | None = None
        self._show_colours()
        self._show_axes(None)

    @property
    def decibel_levels(self) -> tuple[float, float]:
        """The image's levels in dB, as the colour bar shows them."""
        return decibels(tuple(self.image.getLevels()), self.mel_config, difference=self.reference is not None)

    @property
    def frames(self) -> int:
        """Frames computed so far (columns with data)."""
        return self.live.frames_done if self.live is not None else self._frames

    @property
    def mel(self) -> np.ndarray:
        """The normalised mel shown so far (n_mels, frames)."""
        return self.live.mel if self.live is not None else self._mel[:, : self._frames]

    @property
    def painted_frames(self) -> int:
        """Frames the image held the last time it painted."""
        return self._painted_frames

    def set_mel(self, mel: np.ndarray | None, config: MelConfig) -> None:
        """Show a whole normalised mel (n_mels, T), or nothing for None."""
        self.live = None
        self.mel_config = config
        self._mel = np.ascontiguousarray(mel if mel is not None else np.zeros((config.n_mels, 0)), dtype=np.float32)
        self._frames = self._mel.shape[1]
        self.set_pitch(None)
        self._show_axes(config if mel is not None else None)
        self.mark_dirty()

    def set_pitch(self, f0: np.ndarray | None, voiced: np.ndarray | None = None) -> None:
        """Draw a pitch track over the image: f0 (T,) Hz per frame, a line at its mel band through the voiced frames
        (voiced (T,) bool), none elsewhere; None clears it."""
        if f0 is None:
            self.pitch_curve.setData([], [])
            return
        config = self.mel_config
        seconds = np.arange(len(f0)) * config.hop_length / config.sample_rate
        bands = np.array([band_position(float(hz), config) for hz in f0])
        self.pitch_curve.setData(seconds, np.where(voiced, bands, np.nan), skipFiniteCheck=False)

    def set_reference(self, mel: np.ndarray | None) -> None:
        """Show the difference to `mel` (n_mels, T) normalised, frame by frame (red: louder than it, blue: quieter),
        or the mel itself again for None."""
        self.reference = None if mel is None else np.ascontiguousarray(mel, dtype=np.float32)
        self._show_colours()
        self.set_title(
            f"Generated mel − input mel (red: louder, blue: quieter; ±{self.decibel_levels[1]:.0f} dB)"
            if self.reference is not None
            else self.title
        )
        self.mark_dirty()

    def follow(self, stream) -> None:
        """Show the mel of an engine.output.OutputStream (its `mel`), as far as the engine has computed it."""
        self.live = stream.mel
        self.mel_config = stream.mel.config
        self.set_pitch(None)
        self._show_axes(self.mel_config)
        self.mark_dirty()

    def refresh(self) -> bool:
        """Paint if the engine has computed frames since the last paint (or anything else changed)."""
        if self.live is not None and self.live.frames_done != self._painted_frames:
            self.mark_dirty()
        return super().refresh()

    def paint(self) -> None:
        frames = self.frames  # before the buffer: frames the engine adds meanwhile wait for the next paint
        buffer = self.live.buffer if self.live is not None else self._mel
        seconds_per_frame = self.mel_config.hop_length / self.mel_config.sample_rate
        n_mels, columns = buffer.shape
        if columns == 0:
            self.image.clear()
            self._painted_frames = 0
            return
        if self.reference is None:
            self.image.setImage(buffer, levels=LEVELS, autoLevels=False)
        else:
            shown = np.zeros_like(buffer)
            compared = min(frames, self.reference.shape[1])
            np.subtract(buffer[:, :compared], self.reference[:, :compared], out=shown[:, :compared])
            self.image.setImage(shown, levels=DIFFERENCE_LEVELS, autoLevels=False)
        self.image.setRect(QRectF(-0.5 * seconds_per_frame, 0.0, columns * seconds_per_frame, n_mels))
        self._painted_frames = frames

    def _show_colours(self) -> None:
        """The image's colour table and levels, and the colour bar to match (in dB)."""
        difference = self.reference is not None
        lut = theme.difference_lut() if difference else theme.magma_lut()
        self.image.setLookupTable(lut)
        self.image.setLevels(DIFFERENCE_LEVELS if difference else LEVELS)
        self.colour_bar.set_scale(lut, self.decibel_levels, "Δ dB" if difference else "dB")

    def _show_axes(self, config: MelConfig | None) -> None:
        """Frequency ticks and the dB colour bar for `config`'s bands, or, with nothing to show (None), neither: the
        hint instead."""
        self.frequency_axis.set_config(config)
        self.plot_item.setYRange(*band_range(config or self.mel_config), padding=0)
        if config is not None:
            self._show_colours()
        self.colour_bar.setVisible(config is not None)
        self.show_hint(config is None)
