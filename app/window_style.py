"""The window's look: a dark palette and a style sheet in the plots' colours, so the whole window matches."""

from __future__ import annotations

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPalette, QPen, QPixmap

from app.views import theme

STYLE_SHEET = f"""
QMainWindow, QWidget#central {{ background: {theme.BACKGROUND}; }}
QToolBar {{ background: {theme.PANEL}; border: none; spacing: 4px; padding: 3px; }}
QToolBar::separator {{ background: #323a46; width: 1px; margin: 4px 6px; }}
QToolBar QToolButton {{ color: #d8dce3; padding: 3px 8px; border-radius: 3px; }}
QToolBar QToolButton:hover {{ background: #2a303a; }}
QToolBar QToolButton:disabled {{ color: #59606b; }}
QToolBar QToolButton#qt_toolbar_ext_button {{ padding: 0px; min-width: 16px; border: 1px solid #323a46; }}
QToolBar QLabel {{ color: {theme.GRID_TEXT}; padding: 0 4px 0 10px; }}
QComboBox {{ background: #242a33; color: #d8dce3; border: 1px solid #323a46; border-radius: 3px; padding: 2px 8px; }}
QStatusBar {{ background: {theme.PANEL}; color: #c8ccd4; }}
QStatusBar QLabel {{ color: #c8ccd4; }}
QStatusBar QLabel#sound_label {{ padding-right: 8px; }}
QProgressBar {{ background: #242a33; color: #e8e8e8; border: 1px solid #323a46; border-radius: 3px;
               text-align: center; height: 14px; }}
QProgressBar::chunk {{ background: {theme.OUTPUT_COLOUR}; border-radius: 2px; }}
QDockWidget {{ color: #c8ccd4; }}
QDockWidget::title {{ background: {theme.PANEL}; padding: 4px; }}
QListWidget {{ background: {theme.BACKGROUND}; border: none; font-family: monospace; }}
QSplitter::handle {{ background: {theme.PANEL}; }}
QTabWidget::pane {{ border: 1px solid #323a46; }}
QTabBar::tab {{ background: {theme.PANEL}; color: #aab1bd; padding: 4px 10px; border: 1px solid #323a46; }}
QTabBar::tab:selected {{ background: #2a303a; color: #e8e8e8; }}
QHeaderView::section {{ background: {theme.PANEL}; color: #aab1bd; border: none; padding: 3px 6px; }}
QTreeWidget {{ border: none; background: {theme.BACKGROUND}; alternate-background-color: {theme.PANEL};
               color: #d8dce3; }}
QDockWidget QLabel {{ color: #c8ccd4; }}
QMenuBar {{ background: {theme.PANEL}; color: #d8dce3; }}
QMenuBar::item:selected {{ background: #2a303a; }}
"""


def dark_palette() -> QPalette:
    """The window's colours, so docks and dialogs from other views match the plots."""
    palette = QPalette()
    for role, colour in (
        (QPalette.ColorRole.Window, theme.BACKGROUND),
        (QPalette.ColorRole.Base, theme.BACKGROUND),
        (QPalette.ColorRole.AlternateBase, theme.PANEL),
        (QPalette.ColorRole.Button, theme.PANEL),
        (QPalette.ColorRole.WindowText, "#d8dce3"),
        (QPalette.ColorRole.Text, "#d8dce3"),
        (QPalette.ColorRole.ButtonText, "#d8dce3"),
        (QPalette.ColorRole.ToolTipBase, theme.PANEL),
        (QPalette.ColorRole.ToolTipText, "#d8dce3"),
        (QPalette.ColorRole.Highlight, "#3d5a80"),
        (QPalette.ColorRole.HighlightedText, "#ffffff"),
    ):
        palette.setColor(role, QColor(colour))
    return palette


def overflow_icon() -> QIcon:
    """A light "»" for the toolbar's extension button (the style's own arrow is dark on the dark bar)."""
    pixmap = QPixmap(16, 16)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(QPen(QColor("#d8dce3"), 1.6))
    for left in (3.5, 8.5):
        painter.drawPolyline([QPointF(left, 4.0), QPointF(left + 4.0, 8.0), QPointF(left, 12.0)])
    painter.end()
    return QIcon(pixmap)
