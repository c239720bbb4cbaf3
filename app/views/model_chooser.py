"""The model chooser: the registry's built-ins, checkpoints opened before, and "Open checkpoint…".

Each entry's data is what `engine.jobs.Engine.submit_generate` takes as `model` (a built-in's name or a path).
Choosing "Open checkpoint…" asks the window for a file and puts the previous choice back meanwhile. An untrained
built-in (random weights: it makes noise) is marked with a warning sign and "(untrained)", and while it is chosen
the box itself is drawn in the warning colour.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QComboBox, QStyle

from app.views.theme import WARNING_COLOUR

OPEN_CHECKPOINT = "Open checkpoint…"
UNTRAINED_ROLE = Qt.ItemDataRole.UserRole + 1  # True on an untrained built-in's entry


def describe(info) -> str:
    """One line for a registry `ModelInfo`: family, what it draws, rate, hop, mel bands, size, trained or not."""
    trained = (
        " · untrained (random weights)"
        if not info.trained
        else (f" · trained {info.steps:,} steps on {info.training_data}" if info.steps and info.training_data else "")
    )
    return (
        f"{info.family} ({info.draws}) · {info.sample_rate} Hz · hop {info.hop_length} · {info.n_mels} mels · "
        f"{info.parameters / 1e6:.2f} M parameters · receptive field {info.receptive_field}{trained}"
    )


class ModelChooser(QComboBox):
    """Emits `model_chosen(name_or_path)` on a real choice and `open_checkpoint_requested` for the last entry."""

    model_chosen = Signal(str)
    open_checkpoint_requested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setMinimumContentsLength(18)
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self._previous = -1
        self.activated.connect(self._on_activated)
        self.currentIndexChanged.connect(self._mark_current)

    def populate(self, models: list, checkpoints: list[str]) -> None:
        """Built-ins from `engine.models.loading.list_builtins()`, then checkpoint paths, then the opener."""
        self.blockSignals(True)
        self.clear()
        warning = self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)
        for info in models:
            if info.trained:
                self.addItem(info.name, info.name)
            else:
                self.addItem(warning, f"{info.name} (untrained)", info.name)
                self.setItemData(self.count() - 1, True, UNTRAINED_ROLE)
                self.setItemData(self.count() - 1, QColor(WARNING_COLOUR), Qt.ItemDataRole.ForegroundRole)
            self.setItemData(self.count() - 1, describe(info), Qt.ItemDataRole.ToolTipRole)
        for path in checkpoints:
            self.add_checkpoint(path, select=False)
        self.addItem(OPEN_CHECKPOINT, None)
        self.blockSignals(False)
        self._mark_current()

    def add_checkpoint(self, path: str, select: bool = True) -> None:
        """List a checkpoint by its file name, or with its folder's name too when another entry has that name."""
        index = self.findData(path)
        if index < 0:
            index = max(0, self.count() - 1) if self.findText(OPEN_CHECKPOINT) >= 0 else self.count()
            name = Path(path).name
            label = name if self.findText(name) < 0 else f"{Path(path).parent.name}/{name}"
            self.insertItem(index, label, path)
            self.setItemData(index, path, 3)
        if select:
            self.select(path)

    def select(self, name_or_path: str) -> bool:
        """Select an entry by its data without emitting `model_chosen`. Returns whether it exists."""
        index = self.findData(name_or_path)
        if index < 0:
            return False
        self.setCurrentIndex(index)
        self._previous = index
        return True

    @property
    def current(self) -> str | None:
        return self.currentData()

    @property
    def untrained(self) -> bool:
        """Whether the chosen entry is an untrained built-in."""
        return bool(self.currentData(UNTRAINED_ROLE))

    def _mark_current(self) -> None:
        """The box's tooltip says what the chosen model is; an untrained one turns the box the warning colour."""
        self.setToolTip(self.currentData(Qt.ItemDataRole.ToolTipRole) or "")
        self.setStyleSheet(
            f"QComboBox {{ color: {WARNING_COLOUR}; border-color: {WARNING_COLOUR}; }}" if self.untrained else ""
        )

    def _on_activated(self, index: int) -> None:
        if self.itemData(index) is None:
            self.setCurrentIndex(self._previous)
            self.open_checkpoint_requested.emit()
            return
        if index != self._previous:
            self._previous = index
            self.model_chosen.emit(self.itemData(index))
