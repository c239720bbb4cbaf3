"""The Help menu's texts: the keyboard shortcuts, read from the window's actions so the list cannot go stale,
and what this copy of Vocoscope runs on."""

from __future__ import annotations

import html
import importlib.metadata
import platform

from PySide6.QtGui import QAction, QKeySequence


def shortcut_rows(actions: list[QAction]) -> list[tuple[str, str]]:
    """(what the action does, its key sequence as this platform writes it) for every action with a shortcut."""
    rows = []
    for action in actions:
        keys = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
        if keys:
            rows.append((action.text().lstrip("▶■ ").rstrip("…"), keys))
    return rows


def shortcuts_html(actions: list[QAction]) -> str:
    cells = "".join(
        f"<tr><td>{html.escape(text)}</td><td><b>{html.escape(keys)}</b></td></tr>"
        for text, keys in shortcut_rows(actions)
    )
    return (
        f"<table cellspacing='6'>{cells}</table><p>Drop a file on the window to open it. Click a plot to play its "
        "row (the input, or the finished output) from there; drag to pan, wheel to zoom.</p>"
    )


def about_text() -> str:
    """Version, Python, Qt and torch, and whether CUDA is there: what a bug report needs."""
    import PySide6
    import torch

    cuda = (
        f"CUDA {torch.version.cuda}, {torch.cuda.device_count()} device(s)"
        if torch.cuda.is_available()
        else "no CUDA device (generation runs on the CPU)"
    )
    return (
        f"Vocoscope {importlib.metadata.version('vocoscope')}: a studio for neural vocoders.\n\n"
        f"Python {platform.python_version()}, PySide6 {PySide6.__version__}, torch {torch.__version__}; {cuda}."
    )
