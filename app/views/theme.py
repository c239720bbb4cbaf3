"""Colours and plot styling shared by the views, so the window reads as one instrument."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

BACKGROUND = "#15181d"
PANEL = "#1c2027"
GRID_TEXT = "#8a93a3"
INPUT_COLOUR = "#5fb3f9"
OUTPUT_COLOUR = "#f6a35c"
PLAYHEAD_COLOUR = "#f25f5c"
ERROR_COLOUR = "#f25f5c"
WARNING_COLOUR = "#f2c14e"
PITCH_COLOUR = "#5ef2b5"  # the pitch track over the input mel: apart from the magma colours and the playhead


def style_plot(plot: pg.PlotItem, title: str, y_label: str) -> None:
    """Dark background, muted axes, a small title in the corner, no mouse zoom on the y axis."""
    plot.setTitle(title_html(title), justify="left")
    plot.showGrid(x=True, y=False, alpha=0.15)
    for side in ("left", "bottom"):
        axis = plot.getAxis(side)
        axis.setPen(pg.mkPen(GRID_TEXT, width=1))
        axis.setTextPen(pg.mkPen(GRID_TEXT))
    plot.getAxis("left").setWidth(54)
    plot.getAxis("bottom").enableAutoSIPrefix(False)  # the shared axis stays in seconds, never "(x0.001)"
    plot.setLabel("left", y_label, color=GRID_TEXT)
    plot.setMenuEnabled(False)
    plot.setMouseEnabled(x=True, y=False)
    plot.hideButtons()


def title_html(title: str) -> str:
    """A plot title in the views' small grey type."""
    return f"<span style='color:{GRID_TEXT};font-size:9pt'>{title}</span>"


def magma_lut() -> np.ndarray:
    """(256, 3) uint8 lookup table for spectrograms."""
    return pg.colormap.get("magma").getLookupTable(0.0, 1.0, 256, alpha=False)


def difference_lut() -> np.ndarray:
    """(256, 3) uint8 diverging lookup table (blue, grey, red) for a difference of two spectrograms."""
    return pg.colormap.get("CET-D1").getLookupTable(0.0, 1.0, 256, alpha=False)
