"""A mel spectrogram on the shared time axis: the input's mel, or the generated audio's, growing live.

The image is a preallocated (n_mels, frames) float32 buffer shown row-major with fixed levels [0, 1] (the
normalised mel's range) and a 256-entry colour table, so a repaint never rescans the data.
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
        self.image.setImage(buffer, levels=LEVELS, autoLevels=False)
        self.image.setRect(QRectF(-0.5 * seconds_per_frame, 0.0, columns * seconds_per_frame, n_mels))
        self._painted_frames = self.frames
