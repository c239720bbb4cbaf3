"""Opening another project's vocoder checkpoint (.pt / .pth / .pyt) in the window offers to import it.

`offer_import(window, path)` reads the file without running code (engine/importers/sources.py) and, when its tensor
names are those of a known source, asks whether to import it: Yes with the source's published defaults, "Import with
hparams…" with the files the user picks (the source's hparams .py or .json, r9y9's mel statistics .npz), No not at
all. An import writes `<name>.safetensors` beside it (the first free `<name>-<n>.safetensors` if that exists) and makes
it the model. A .pt holding a mel, or anything else, is left to the window's ordinary open. The import runs on the GUI
thread (a checkpoint of a few megabytes reads and writes in about a second); the notes of where each setting came
from, the guesses named, are listed in the answer.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QMessageBox

from app.engine_bridge import EngineBridge, VocoscopeError

CHECKPOINT_SUFFIXES = (".pt", ".pth", ".pyt")
WITH_HPARAMS = "Import with hparams…"
HPARAMS_FILTER = "Hparams or statistics (*.py *.json *.npz);;All files (*)"


def offer_import(window, path: Path) -> bool:
    """True when `path` was another project's checkpoint (imported and used, or declined), False to open it as usual."""
    if path.suffix.lower() not in CHECKPOINT_SUFFIXES or not path.is_file():
        return False
    try:
        source = EngineBridge.checkpoint_source(path)
    except VocoscopeError:
        return False  # not plain tensors: the ordinary open says why
    if source is None:
        return False
    target = free_path(path.with_suffix(".safetensors"))
    hparams = ask(window, path, source, target)
    if hparams is None:
        return True
    try:
        notes = EngineBridge.import_checkpoint(path, source, hparams, target)
    except (VocoscopeError, OSError) as error:
        QMessageBox.warning(window, "Import failed", str(error))
        return True
    window.use_checkpoint(str(target))
    QMessageBox.information(window, "Imported", f"{path.name} → {target.name}\n\n" + "\n".join(notes))
    return True


def ask(window, path: Path, source: str, target: Path) -> list[Path] | None:
    """The hparams files to import `path` with ([] for the published defaults), or None when the user declines."""
    box = QMessageBox(
        QMessageBox.Icon.Question,
        "Import checkpoint",
        f"{path.name} is a vocoder checkpoint of {source}. Import it as a Vocoscope model ({target.name}, "
        "beside it) and use it?",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
        window,
    )
    box.setInformativeText(
        "Yes uses the source's published settings; to use the ones it was trained with, import "
        "with its hparams file (and, for r9y9, its mel statistics as a .npz)."
    )
    with_hparams = box.addButton(WITH_HPARAMS, QMessageBox.ButtonRole.AcceptRole)
    box.exec()
    if box.clickedButton() is with_hparams:
        files, _ = QFileDialog.getOpenFileNames(window, f"Hparams of {path.name}", str(path.parent), HPARAMS_FILTER)
        return [Path(file) for file in files] or None
    return [] if box.clickedButton() is box.button(QMessageBox.StandardButton.Yes) else None


def free_path(path: Path) -> Path:
    """`path`, or the first `<stem>-<n><suffix>` beside it that does not exist."""
    candidate, number = path, 1
    while candidate.exists():
        candidate = path.with_name(f"{path.stem}-{number}{path.suffix}")
        number += 1
    return candidate
