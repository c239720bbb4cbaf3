"""Saving what the window holds: the generated audio (WAV or FLAC, tagged with how it was made) and the input's mel
(.npy, as the chosen model sees it). A save dialog beside the input asks before replacing a file; the engine writes
atomically; a refused name or a failed write becomes a message in the window, never a traceback."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from app.engine_bridge import EngineBridge, LoadedInput, VocoscopeError
from app.generation_control import GenerationControl

AUDIO_FILTERS = {"WAV audio (*.wav)": ".wav", "FLAC audio (*.flac)": ".flac"}
MEL_FILTERS = {"NumPy mel (*.npy)": ".npy"}


class ExportControl(QObject):
    """The window's two exports: the take of `generation`, and the mel of the input `loaded()` gives (None before
    one is open). Its dialogs open over `parent`; the window connects to its signals."""

    noted = Signal(str)  # what was written, for the messages panel
    failed = Signal(str, str)  # (message, level "error" or "warning"): why nothing was written

    def __init__(self, generation: GenerationControl, loaded: Callable[[], LoadedInput | None], parent: QWidget):
        super().__init__(parent)
        self.generation, self.loaded, self.parent_widget = generation, loaded, parent

    def choose_audio(self) -> None:
        """Ctrl+E."""
        if self.generation.audio is None or not len(self.generation.audio):
            self.failed.emit("Nothing to export yet: generate first (Ctrl+Return).", "warning")
            return
        path = self._save_path("Export generated audio", "_vocoded.wav", AUDIO_FILTERS)
        if path is not None:
            self.audio_to(path, overwrite=True)

    def choose_mel(self) -> None:
        """Ctrl+Shift+E."""
        if self.loaded() is None:
            self.failed.emit("No mel to export yet: open an audio or mel file first (Ctrl+O).", "warning")
            return
        path = self._save_path("Export the input mel", ".mel.npy", MEL_FILTERS)
        if path is not None:
            self.mel_to(path, overwrite=True)

    def audio_to(self, path: str | Path, overwrite: bool = False) -> Path | None:
        """Write the generated audio; an existing file is replaced only with `overwrite`."""
        take = self.generation
        written = self._written(
            path, lambda: EngineBridge.export_audio(path, take.audio, take.rate, overwrite, take.comment)
        )
        if written is not None:
            self.noted.emit(f"Exported {len(take.audio) / take.rate:.2f} s to {written}")
        return written

    def mel_to(self, path: str | Path, overwrite: bool = False) -> Path | None:
        """Write the input's mel as the chosen model sees it (n_mels, T) to .npy; replaced only with `overwrite`."""
        mel = self.loaded().conditioning.mel
        written = self._written(path, lambda: EngineBridge.export_mel(path, mel, overwrite))
        if written is not None:
            self.noted.emit(f"Exported the input mel ({mel.shape[0]} bands × {mel.shape[1]} frames) to {written}")
        return written

    def _save_path(self, title: str, default_ending: str, filters: dict[str, str]) -> Path | None:
        """A save dialog beside the input; the suffix of the chosen filter is added when missing, and a name that
        then exists is replaced only if the user says so. None when cancelled."""
        loaded = self.loaded()
        default = (
            loaded.path.with_name(loaded.path.stem + default_ending)
            if loaded is not None
            else Path(default_ending.lstrip("_."))
        )
        path, chosen_filter = QFileDialog.getSaveFileName(self.parent_widget, title, str(default), ";;".join(filters))
        if not path:
            return None
        path = Path(path)
        confirmed = path.exists()  # the dialog asked before returning an existing name
        if path.suffix.lower() not in filters.values():
            path = path.with_name(path.name + filters.get(chosen_filter, next(iter(filters.values()))))
            confirmed = False
        if path.exists() and not confirmed:
            answer = QMessageBox.question(self.parent_widget, "Replace file?", f"{path} exists. Replace it?")
            if answer != QMessageBox.StandardButton.Yes:
                return None
        return path

    def _written(self, path: str | Path, write: Callable[[], Path]) -> Path | None:
        """Run `write()`; a refused name or a failed write becomes a message, and None."""
        try:
            return write()
        except VocoscopeError as error:
            self.failed.emit(str(error), "error")
        except OSError as error:
            self.failed.emit(
                f"{path}: could not write the file ({error.strerror or error}). Choose a folder you can write to.",
                "error",
            )
        return None
