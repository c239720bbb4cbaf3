"""Whether a model named by its built-in name or a checkpoint path can be used, told at once and without torch.

The window remembers the last model between runs; the file may since have been deleted, moved or replaced by
something else. The window asks here before it opens anything, so that a file it was asked to open is read with a
model that exists (the default, with a warning), never dropped for a model that is gone.
"""

from __future__ import annotations

from pathlib import Path

from engine.catalog import BUILTINS
from engine.checkpoint_header import read_checkpoint_header
from engine.errors import CheckpointError
from engine.models import DEFAULT_MODEL


def model_problem(name_or_path: str) -> str | None:
    """Why `name_or_path` is neither a built-in model nor a readable Vocoscope checkpoint, in words; None when it is
    one. Only the checkpoint's header is read (engine/checkpoint_header.py), not its weights."""
    if name_or_path in BUILTINS:
        return None
    path = Path(name_or_path)
    if not path.is_file():
        return f"{name_or_path} is {'a folder' if path.is_dir() else 'gone'}"
    try:
        read_checkpoint_header(path)
    except CheckpointError as error:
        return f"{name_or_path} is not a checkpoint Vocoscope can read (found {error.found})"
    return None


def usable_model(remembered: str | None) -> tuple[str, str | None]:
    """(the model to start with, a warning or None): `remembered` when it can be used, else the default model and a
    line that says why the remembered one was set aside."""
    if not remembered:
        return DEFAULT_MODEL, None
    problem = model_problem(remembered)
    if problem is None:
        return remembered, None
    return DEFAULT_MODEL, f"The model remembered from last time cannot be used: {problem}. Using {DEFAULT_MODEL}."
