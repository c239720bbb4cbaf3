"""One table of the shape inspector (checks, modules, cell step, training), readable in a narrow dock.

Columns of short values (names, shapes, dtypes, counts) take the width of their contents; prose columns (a step's
meaning, a check's finding) share the width left over and wrap onto more lines; without prose, the first column
(a module's name, indented by its depth) gives way when the short columns are wider than the table, so shapes and
dtypes stay in view. Every cell's tooltip holds its full text. The columns fit again whenever the table is resized
or filled; the user can still drag them wider or narrower. Fitting asks every cell for its size, which takes the GUI
thread tens of milliseconds for a large model: a hidden table (a tab behind another, a closed dock) fits when it shows.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QTreeWidget, QTreeWidgetItem, QWidget

MIN_PROSE_WIDTH = 140
MIN_NAME_WIDTH = 110


def text_margin(widget: QWidget) -> int:
    """Pixels an item view's delegate leaves beside a cell's text, both sides together (as Qt's own delegate)."""
    return 2 * (widget.style().pixelMetric(QStyle.PixelMetric.PM_FocusFrameHMargin, None, widget) + 1)


class WrappingDelegate(QStyledItemDelegate):
    """Rows as tall as their prose cells' text wrapped in the columns' current widths."""

    def sizeHint(self, option, index):
        hint = super().sizeHint(option, index)
        table = self.parent()
        if index.column() not in table.prose:
            return hint
        width = max(1, table.columnWidth(index.column()) - text_margin(table))
        text = index.data() or ""
        lines = option.fontMetrics.boundingRect(0, 0, width, 1 << 20, Qt.TextFlag.TextWordWrap, text)
        return QSize(hint.width(), max(hint.height(), lines.height() + 2))


class ShapeTable(QTreeWidget):
    """A QTreeWidget with `header` columns, those in `prose` wrapped; rows are added with `add_row`."""

    def __init__(self, header: tuple[str, ...], prose: tuple[int, ...] = (), parent=None):
        super().__init__(parent)
        self.setHeaderLabels(list(header))
        self.setAlternatingRowColors(True)
        self.setIndentation(12)
        self.prose = prose  # rows differ in height (wrapped prose, several shapes): no uniform row heights
        self._fit_when_shown = False
        if prose:
            self.setWordWrap(True)
            self.setItemDelegate(WrappingDelegate(self))
            self.header().sectionResized.connect(self.scheduleDelayedItemsLayout)

    def add_row(self, values: list[str], parent: QTreeWidgetItem | None = None) -> QTreeWidgetItem:
        """A row under `parent` (None: at the top), each cell's tooltip its whole text."""
        item = QTreeWidgetItem(values)
        for column, text in enumerate(values):
            item.setToolTip(column, text)
        if parent is None:
            self.addTopLevelItem(item)
        else:
            parent.addChild(item)
        return item

    def fit_columns(self) -> None:
        """Short columns to their contents, prose columns sharing the rest (see the module docstring); a hidden table
        when it shows."""
        self._fit_when_shown = not self.isVisible()
        if self._fit_when_shown:
            return
        shown = [column for column in range(self.columnCount()) if not self.isColumnHidden(column)]
        short = [column for column in shown if column not in self.prose]
        prose = [column for column in shown if column in self.prose]
        for column in short:
            self.resizeColumnToContents(column)
        spare = self.viewport().width() - sum(self.columnWidth(column) for column in short)
        for column in prose:
            self.setColumnWidth(column, max(MIN_PROSE_WIDTH, spare // len(prose)))
        if not prose and spare < 0 and short[0] == 0:
            self.setColumnWidth(0, max(MIN_NAME_WIDTH, self.columnWidth(0) + spare))

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.fit_columns()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._fit_when_shown:
            self.fit_columns()
