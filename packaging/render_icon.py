"""Render the icon's PNG from its SVG with Qt's own SVG renderer (offscreen: no display needed).

QT_QPA_PLATFORM=offscreen python3 packaging/render_icon.py    # writes packaging/vocoscope.png
"""

import sys
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

PACKAGING = Path(__file__).resolve().parent
SVG, PNG = PACKAGING / "vocoscope.svg", PACKAGING / "vocoscope.png"
SIZE = 256  # pixels a side: the largest size desktop menus ask for (icons/hicolor/256x256)


def render(svg: Path, size: int = SIZE) -> QImage:
    """The SVG drawn on a transparent size x size ARGB image. Needs a QGuiApplication."""
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise ValueError(f"{svg}: Qt cannot read it as SVG; expected the icon's SVG. Check the file")
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    renderer.render(painter)
    painter.end()
    return image


if __name__ == "__main__":
    application = QGuiApplication(sys.argv[:1])
    if not render(SVG).save(str(PNG)):
        sys.exit(f"could not write {PNG}")
    print(f"wrote {PNG}")
