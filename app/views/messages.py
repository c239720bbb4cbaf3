"""The messages panel: warnings and errors, newest last, each with its time; and the in-place banner.

Errors are shown where the user is looking (the banner above the plots) and kept here for later.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QToolButton

from app.views import theme

LEVEL_COLOURS = {"error": theme.ERROR_COLOUR, "warning": theme.WARNING_COLOUR, "info": theme.GRID_TEXT}


@dataclass(frozen=True)
class Message:
    level: str
    text: str
    time: float


class MessagesPanel(QListWidget):
    """A list of `Message`s; `messages` holds them for anyone who wants the text (tests, copy)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.messages: list[Message] = []
        self.setWordWrap(True)
        self.setAlternatingRowColors(False)

    def add(self, level: str, text: str) -> Message:
        message = Message(level, text, time.time())
        self.messages.append(message)
        stamp = time.strftime("%H:%M:%S", time.localtime(message.time))
        item = QListWidgetItem(f"{stamp}  {level.upper():7}  {text}")
        item.setForeground(QColor(LEVEL_COLOURS.get(level, theme.GRID_TEXT)))
        item.setToolTip(text)
        self.addItem(item)
        self.scrollToBottom()
        return message


class Banner(QFrame):
    """One line above the plots that says what just went wrong (or needs attention), until dismissed."""

    dismissed = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("banner")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 4, 4, 4)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.label, 1)
        close = QToolButton()
        close.setText("✕")
        close.setAutoRaise(True)
        close.setToolTip("Dismiss")
        close.clicked.connect(self.hide)
        close.clicked.connect(self.dismissed)
        layout.addWidget(close)
        self.hide()

    @property
    def text(self) -> str:
        return self.label.text() if self.isVisibleTo(self.parentWidget()) else ""

    def show_message(self, level: str, text: str) -> None:
        colour = LEVEL_COLOURS.get(level, theme.GRID_TEXT)
        self.setStyleSheet(
            f"#banner {{ background: {colour}22; border: 1px solid {colour}; border-radius: 4px; }}"
            f"#banner QLabel {{ color: #e8e8e8; }}"
        )
        self.label.setText(text)
        self.show()
