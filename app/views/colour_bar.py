"""A spectrogram's colour bar: its colour table from the low level to the high one, values and unit beside it.

Painted by hand on a plain QGraphicsWidget, with no child items and no layout of its own: pyqtgraph's ColorBarItem
is a whole PlotItem, and one nested in another plot's layout made the process crash at exit now and then (PySide
deletes the outer plot, whose layout then calls back into Python for the inner one's new geometry). The bar only
paints when its levels or colours change, never per frame.
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPen
from PySide6.QtWidgets import QGraphicsWidget

from app.views import theme

BAR_WIDTH = 10
TICK_LENGTH = 4
TICK_UNITS = (1.0, 2.0, 2.5, 5.0, 10.0)  # steps between ticks: one of these times a power of ten


def tick_values(low: float, high: float, most: int = 6) -> list[float]:
    """The multiples of the smallest round step that puts at most `most` of them between `low` and `high`."""
    span = high - low
    if span <= 0:
        return []
    power = 10.0 ** math.floor(math.log10(span / (most - 1)))
    step = next(unit * power for unit in TICK_UNITS if span / (unit * power) <= most - 1)
    return [n * step for n in range(math.ceil(low / step - 1e-9), math.floor(high / step + 1e-9) + 1)]


class ColourBar(QGraphicsWidget):
    """A vertical bar of a (256, 3) uint8 colour table spanning `levels()`, labelled with `tick_values` and `unit`."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._levels = (0.0, 1.0)
        self.unit = ""
        self.lut = np.zeros((256, 3), dtype=np.uint8)
        self._image = QImage()

    def levels(self) -> tuple[float, float]:
        return self._levels

    def set_scale(self, lut: np.ndarray, levels: tuple[float, float], unit: str) -> None:
        """Show `lut` (256, 3) uint8 from levels[0] (bottom) to levels[1] (top), the values in `unit`."""
        self.lut = np.ascontiguousarray(lut, dtype=np.uint8)
        self._levels = (float(levels[0]), float(levels[1]))
        self.unit = unit
        column = np.ascontiguousarray(self.lut[::-1].reshape(256, 1, 3))  # the high end at the top
        self._image = QImage(column.data, 1, 256, 3, QImage.Format.Format_RGB888).copy()
        self.update()

    def paint(self, painter, option, widget=None) -> None:
        line = painter.fontMetrics().height()
        bar = QRectF(1.0, line / 2, BAR_WIDTH, max(1.0, self.size().height() - line))
        painter.drawImage(bar, self._image)
        pen = QPen(QColor(theme.GRID_TEXT))
        pen.setWidth(0)
        painter.setPen(pen)
        painter.drawRect(bar)
        low, high = self._levels
        for value in tick_values(low, high):
            y = bar.bottom() - (value - low) / (high - low) * bar.height()
            painter.drawLine(QPointF(bar.right(), y), QPointF(bar.right() + TICK_LENGTH, y))
            painter.drawText(
                QRectF(bar.right() + TICK_LENGTH + 2, y - line / 2, 40, line),
                Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                f"{value:g}",
            )
        painter.save()  # the unit along the right edge, reading upwards, as the plots' axis labels do
        painter.translate(self.size().width() - 2, bar.center().y())
        painter.rotate(-90)
        painter.drawText(QRectF(-bar.height() / 2, -line, bar.height(), line), Qt.AlignmentFlag.AlignCenter, self.unit)
        painter.restore()
