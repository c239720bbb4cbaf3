"""A plot on the window's shared time axis (seconds): styling, a playhead line, repaint only when dirty, clicks.

Data arrives whenever it likes (`mark_dirty`); the window's frame clock calls `refresh` about 30 times a
second, and a plot paints only if something changed and it is visible. A left click (not a drag, which pans)
in the plot area reports its time (`clicked_at`): the window plays from there.

Every plot keeps a column of SIDE_WIDTH pixels right of its data (a spectrogram's colour bar, else blank), so the
four plots' time axes line up. An empty plot can show a hint in its middle (`set_hint`, `show_hint`).
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QGraphicsItem, QGraphicsWidget, QLabel

from app.views import theme

SIDE_WIDTH = 62  # the colour bar and its dB labels


class TimelinePlot(pg.PlotWidget):
    """Base of the waveform and spectrogram views."""

    clicked_at = Signal(float)  # seconds on the time axis where the plot area was clicked (0 at the least)

    def __init__(
        self,
        title: str,
        y_label: str,
        parent=None,
        left_axis: pg.AxisItem | None = None,
        side: QGraphicsWidget | None = None,
    ):
        super().__init__(
            parent=parent, background=theme.BACKGROUND, axisItems={"left": left_axis} if left_axis is not None else None
        )
        self.plot_item: pg.PlotItem = self.getPlotItem()
        theme.style_plot(self.plot_item, title, y_label)
        for edge in (
            "left",
            "bottom",
        ):  # an axis (and its grid) is drawn again when its ticks move, not with each frame
            self.plot_item.getAxis(edge).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.side = side if side is not None else QGraphicsWidget()  # what fills the column right of the data
        self.side.setMinimumWidth(SIDE_WIDTH)
        self.side.setMaximumWidth(SIDE_WIDTH)
        policy = self.side.sizePolicy()
        policy.setRetainSizeWhenHidden(True)  # a hidden colour bar keeps its column: the time axes stay aligned
        self.side.setSizePolicy(policy)
        self.plot_item.layout.addItem(self.side, 2, 5)
        self.plot_item.layout.setColumnFixedWidth(4, 4)  # a gap between the data and the side column
        # Made before the plot, the left axis and the side item belong to Python; as children of the plot (like its own
        # axes) they go with it. Left to Python, PySide deletes each on its own at exit, and a graphics widget taken from
        # its parent lays itself out again, calling into Python while Python shuts down (a crash now and then).
        for item in (left_axis, self.side):
            if item is not None:
                item.setParentItem(self.plot_item)
        self.hint = QLabel(self)
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint.setWordWrap(True)
        self.hint.setStyleSheet(f"color: {theme.GRID_TEXT}; background: transparent;")
        self.hint.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.hint.hide()
        self._hint_on = False
        self.plot_item.vb.sigResized.connect(self._place_hint)
        self.playhead = pg.InfiniteLine(
            pos=0.0, angle=90, movable=False, pen=pg.mkPen(theme.PLAYHEAD_COLOUR, width=1.5)
        )
        self.playhead.setZValue(10)
        self.playhead.hide()
        self.plot_item.addItem(self.playhead, ignoreBounds=True)
        self._dirty = False
        self.paints = 0
        self.scene().sigMouseClicked.connect(self._on_click)

    def set_hint(self, text: str) -> None:
        """What to say in the middle of the plot while `show_hint(True)` (the plot is empty)."""
        self.hint.setText(text)
        self.show_hint(self._hint_on)

    def show_hint(self, on: bool) -> None:
        self._hint_on = on
        self.hint.setVisible(on and bool(self.hint.text()))

    def _place_hint(self) -> None:
        """Over the data area (the view box), not the axes."""
        self.hint.setGeometry(self.mapFromScene(self.plot_item.vb.sceneBoundingRect()).boundingRect())

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
        if (
            event.button() == Qt.MouseButton.LeftButton
            and not event.double()
            and view.sceneBoundingRect().contains(event.scenePos())
        ):
            self.clicked_at.emit(max(0.0, view.mapSceneToView(event.scenePos()).x()))

    def set_playhead(self, seconds: float | None) -> None:
        """Show the playhead at `seconds`, or hide it for None."""
        if seconds is None:
            self.playhead.hide()
            return
        if self.playhead.value() != seconds:
            self.playhead.setValue(seconds)
        self.playhead.show()
