"""Opening another project's vocoder checkpoint (.pt / .pth / .pyt) in the window offers to import it.

`offer_import(window, path)` reads the file without running code (engine/importers/sources.py) and, when its tensor
names are those of a known source, asks whether to import it; yes writes `<name>.safetensors` beside it (the first
free `<name>-<n>.safetensors` if that exists) and makes it the model. A .pt holding a mel, or anything else, is left
to the window's ordinary open. The import runs on the GUI thread (a checkpoint of a few megabytes reads and writes in
about a second); its settings guessed from the source's published defaults are listed in the answer.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QMessageBox

from engine.errors import VocoscopeError

CHECKPOINT_SUFFIXES = (".pt", ".pth", ".pyt")


def offer_import(window, path: Path) -> bool:
    """True when `path` was another project's checkpoint (imported and used, or declined), False to open it as usual."""
    from engine import checkpoints
    from engine.importers.sources import NOT_YET, detect_source, import_checkpoint

    if path.suffix.lower() not in CHECKPOINT_SUFFIXES or not path.is_file():
        return False
    try:
        source = detect_source(path)
    except VocoscopeError:
        return False  # not plain tensors: the ordinary open says why
    if source is None:
        return False
    if source in NOT_YET:
        QMessageBox.information(window, "Cannot import yet", f"{path.name}: {NOT_YET[source]}")
        return True
    target = free_path(path.with_suffix(".safetensors"))
    answer = QMessageBox.question(window, "Import checkpoint",
                                  f"{path.name} is a vocoder checkpoint of {source}. Import it as a Vocoscope model "
                                  f"({target.name}, beside it) and use it?")
    if answer != QMessageBox.StandardButton.Yes:
        return True
    try:
        _, imported = import_checkpoint(path, source)
        checkpoints.save(imported.model, target, meta=imported.meta)
    except (VocoscopeError, OSError) as error:
        QMessageBox.warning(window, "Import failed", str(error))
        return True
    window.use_checkpoint(str(target))
    QMessageBox.information(window, "Imported", f"{path.name} → {target.name}\n\n" + "\n".join(imported.notes))
    return True


def free_path(path: Path) -> Path:
    """`path`, or the first `<stem>-<n><suffix>` beside it that does not exist."""
    candidate, number = path, 1
    while candidate.exists():
        candidate = path.with_name(f"{path.stem}-{number}{path.suffix}")
        number += 1
    return candidate
