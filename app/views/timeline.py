"""A plot on the window's shared time axis (seconds): styling, a playhead line, repaint only when dirty, clicks.

Data arrives whenever it likes (`mark_dirty`); the window's frame clock calls `refresh` about 30 times a
second, and a plot paints only if something changed and it is visible. A left click (not a drag, which pans)
in the plot area reports its time (`clicked_at`): the window plays from there.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal

from app.views import theme


class TimelinePlot(pg.PlotWidget):
    """Base of the waveform and spectrogram views."""

    clicked_at = Signal(float)  # seconds on the time axis where the plot area was clicked (0 at the least)

    def __init__(self, title: str, y_label: str, parent=None):
        super().__init__(parent=parent, background=theme.BACKGROUND)
        self.plot_item: pg.PlotItem = self.getPlotItem()
        theme.style_plot(self.plot_item, title, y_label)
        self.playhead = pg.InfiniteLine(pos=0.0, angle=90, movable=False,
                                        pen=pg.mkPen(theme.PLAYHEAD_COLOUR, width=1.5))
        self.playhead.setZValue(10)
        self.playhead.hide()
        self.plot_item.addItem(self.playhead, ignoreBounds=True)
        self._dirty = False
        self.paints = 0
        self.scene().sigMouseClicked.connect(self._on_click)

    def set_title(self, title: str) -> None:
        self.plot_item.setTitle(theme.title_html(title), justify="left")

    def mark_dirty(self) -> None:
        self._dirty = True

    def refresh(self) -> bool:
        """Paint pending data if there is any and the plot is on screen. Returns whether it painted."""
        if not self._dirty or not self.isVisible():
            return False
        self._dirty = False
        self.paint()
        self.paints += 1
        return True

    def paint(self) -> None:
        """Push the buffered data into the plot items (subclasses)."""
        raise NotImplementedError

    def _on_click(self, event) -> None:
        view = self.plot_item.vb
        if (event.button() == Qt.MouseButton.LeftButton and not event.double()
                and view.sceneBoundingRect().contains(event.scenePos())):
            self.clicked_at.emit(max(0.0, view.mapSceneToView(event.scenePos()).x()))

    def set_playhead(self, seconds: float | None) -> None:
        """Show the playhead at `seconds`, or hide it for None."""
        if seconds is None:
            self.playhead.hide()
            return
        if self.playhead.value() != seconds:
            self.playhead.setValue(seconds)
        self.playhead.show()
