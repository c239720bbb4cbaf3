"""A mel spectrogram on the shared time axis: the input's mel, or the generated audio's, growing live.

The image is a preallocated (n_mels, frames) float32 buffer shown row-major with fixed levels [0, 1] (the
normalised mel's range) and a 256-entry colour table, so a repaint never rescans the data. Given a reference mel,
the view shows the difference to it instead (computed frames only), on a diverging colour table.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF

from app.views import theme
from app.views.incremental_mel import IncrementalMel
from app.views.timeline import TimelinePlot
from engine.features import MelConfig

LEVELS = (0.0, 1.0)
DIFFERENCE_LEVELS = (-0.25, 0.25)  # normalised units: ±25 dB with the default 100 dB range


class SpectrogramView(TimelinePlot):
    """Shows a normalised mel (n_mels, T), frame t centred on t·hop / sample_rate seconds."""

    def __init__(self, title: str, parent=None):
        super().__init__(title, "mel band", parent)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setLookupTable(theme.magma_lut())
        self.image.setLevels(LEVELS)
        self.plot_item.addItem(self.image)
        self.plot_item.setMouseEnabled(x=True, y=False)
        self.mel_config = MelConfig()
        self.live: IncrementalMel | None = None
        self._mel = np.zeros((self.mel_config.n_mels, 0), dtype=np.float32)
        self._frames = 0
        self._painted_frames = 0
        self.title = title
        self.reference: np.ndarray | None = None

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
        self.mark_dirty()

    def set_reference(self, mel: np.ndarray | None) -> None:
        """Show the difference to `mel` (n_mels, T) normalised, frame by frame (red: louder than it, blue: quieter),
        or the mel itself again for None."""
        self.reference = None if mel is None else np.ascontiguousarray(mel, dtype=np.float32)
        difference = self.reference is not None
        self.image.setLookupTable(theme.difference_lut() if difference else theme.magma_lut())
        decibels = DIFFERENCE_LEVELS[1] * -self.mel_config.min_db
        self.set_title(f"Generated mel − input mel (red: louder, blue: quieter; ±{decibels:.0f} dB)" if difference
                       else self.title)
        self.mark_dirty()

    def start_live(self, config: MelConfig, expected_samples: int) -> None:
        """Start an empty spectrogram that `append` fills from generated samples."""
        self.mel_config = config
        self.live = IncrementalMel(config, expected_samples)
        self.mark_dirty()

    def append(self, samples: np.ndarray) -> None:
        """Add the next generated samples (n,); only the frames they complete are computed."""
        if self.live.append(samples):
            self.mark_dirty()

    def finish(self) -> None:
        """The audio is complete: compute the last frames (end padding)."""
        if self.live is not None and not self.live.finished:
            self.live.finish()
            self.mark_dirty()

    def paint(self) -> None:
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
            frames = min(self.frames, self.reference.shape[1])
            np.subtract(buffer[:, :frames], self.reference[:, :frames], out=shown[:, :frames])
            self.image.setImage(shown, levels=DIFFERENCE_LEVELS, autoLevels=False)
        self.image.setRect(QRectF(-0.5 * seconds_per_frame, 0.0, columns * seconds_per_frame, n_mels))
        self._painted_frames = self.frames
