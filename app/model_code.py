"""File → Open model code…: the shape inspector on the user's own nn.Module, shown in the Shapes dock.

A small dialog asks for the Python file, the class (or factory function) in it, its constructor's arguments as
JSON, an optional state_dict and the input (the window's current input by default). The class list is read from
the file's syntax (ast) without running it; running it is the inspection itself, done on a worker thread by
engine.module_inspect, whose Verdict and Trace the Shapes dock shows like a built-in model's. Running the file runs
the user's code: the dialog says so.

API for the main window:

    control = ModelCodeControl(window)             # shows results in window.shape_inspector (the Shapes dock)
    control.open_dialog()                          # File → Open model code…
    control.inspect(request)                       # run an engine.module_inspect.CodeRequest (tests call this)
    control.finished (Signal(object))              # the CodeInspection, after the dock shows it
    control.failed (Signal(str))                   # a person-facing message (the window shows it in the banner)
"""

from __future__ import annotations

import ast
import threading
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QWidget,
)

from app.engine_bridge import EngineBridge, plain_message

WARNING = (
    "Running the file runs its code, with your rights: open only code you trust. Weights are read as tensors "
    "only (weights_only), never as pickled code."
)


def model_names(path: str | Path) -> list[str]:
    """Classes and top-level functions defined in `path`, read from its syntax without running it."""
    try:
        tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return []
    classes = [node.name for node in tree.body if isinstance(node, ast.ClassDef)]
    functions = [node.name for node in tree.body if isinstance(node, ast.FunctionDef) and not node.name.startswith("_")]
    return classes + functions


class ModelCodeDialog(QDialog):
    """File, class, kwargs, checkpoint and input; `request()` turns them into a CodeRequest."""

    def __init__(self, parent: QWidget | None = None, input_path: str = ""):
        super().__init__(parent)
        self.setWindowTitle("Open model code")
        form = QFormLayout(self)
        warning = QLabel(WARNING, self)
        warning.setWordWrap(True)
        form.addRow(warning)
        self.file = QLineEdit(self)
        self.file.setPlaceholderText("models/my_vocoder.py")
        self.file.textChanged.connect(self._read_names)
        form.addRow("File", self._with_browse(self.file, self._browse_file))
        self.name = QComboBox(self)
        self.name.setEditable(True)
        form.addRow("Class", self.name)
        self.kwargs = QLineEdit(self)
        self.kwargs.setPlaceholderText('{"n_mels": 80, "hop_length": 200}')
        form.addRow("Arguments (JSON)", self.kwargs)
        self.checkpoint = QLineEdit(self)
        self.checkpoint.setPlaceholderText("optional: a state_dict (.pt, .pth)")
        form.addRow("Weights", self._with_browse(self.checkpoint, self._browse_checkpoint))
        self.input = QLineEdit(input_path, self)
        form.addRow("Input", self._with_browse(self.input, self._browse_input))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Inspect")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def request(self):
        """The engine.module_inspect.CodeRequest the fields describe."""
        return EngineBridge.code_request(
            f"{self.file.text().strip()}:{self.name.currentText().strip()}",
            self.input.text().strip(),
            self.kwargs.text(),
            self.checkpoint.text().strip() or None,
        )

    def _with_browse(self, field: QLineEdit, browse) -> QWidget:
        row = QWidget(self)
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        button = QPushButton("Browse…", row)
        button.clicked.connect(browse)
        layout.addWidget(field, 1)
        layout.addWidget(button)
        return row

    def _read_names(self, path: str) -> None:
        current = self.name.currentText()
        self.name.clear()
        self.name.addItems(model_names(path.strip()) if path.strip().endswith(".py") else [])
        if current and self.name.findText(current) >= 0:
            self.name.setCurrentText(current)

    def _browse_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Model code", "", "Python (*.py)")
        if path:
            self.file.setText(path)

    def _browse_checkpoint(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Weights", "", "state_dict (*.pt *.pth *.pyt *.ckpt);;All (*)")
        if path:
            self.checkpoint.setText(path)

    def _browse_input(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Input", "", "Audio or mel (*.wav *.flac *.ogg *.mp3 *.npy *.pt)")
        if path:
            self.input.setText(path)


class ModelCodeControl(QObject):
    """Opens the dialog, runs the inspection off the GUI thread, hands the result to the Shapes dock."""

    finished = Signal(object)
    failed = Signal(str)
    _done = Signal(object, str)  # (inspection or None, message): from the worker thread, queued to the GUI thread

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.dialog: ModelCodeDialog | None = None
        self._done.connect(self._show)

    def open_dialog(self) -> None:
        """Show the dialog (not modal: the window keeps running); Inspect runs it."""
        loaded = getattr(self.window, "loaded", None)
        dialog = ModelCodeDialog(self.window, str(loaded.path) if loaded is not None else "")
        dialog.accepted.connect(lambda: self.inspect(dialog.request()))
        dialog.show()
        self.dialog = dialog

    def inspect(self, request) -> threading.Thread:
        """Run `request` on a worker thread; the result arrives as `finished` or `failed` on the GUI thread."""
        worker = threading.Thread(target=self._work, args=(request,), name="vocoscope-model-code", daemon=True)
        worker.start()
        return worker

    def _work(self, request) -> None:
        try:
            self._done.emit(EngineBridge.inspect_code(request), "")
        except Exception as error:  # noqa: BLE001 (the user's code and files can fail in any way: shown, never raised)
            self._done.emit(None, plain_message(error))

    def _show(self, inspection, message: str) -> None:
        if inspection is None:
            self.failed.emit(message)
            return
        dock = self.window.shape_inspector
        dock.show_inspection(inspection.verdict, inspection.trace)
        dock.show()
        dock.raise_()
        self.finished.emit(inspection)
