"""Writing generated audio to WAV or FLAC atomically: a temporary file beside the target, then a rename.

A crash or a full disk leaves the old file (or nothing), never half a file. Overwriting needs `overwrite=True`,
which the window passes only after the person has said yes.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import soundfile

from engine.errors import InputError

FORMATS = {".wav": ("WAV", "PCM_16"), ".flac": ("FLAC", "PCM_16")}


def export_audio(path: str | Path, audio: np.ndarray, sample_rate: int, *, overwrite: bool = False) -> Path:
    """Write mono audio (n,) float32 in [-1, 1] as 16-bit WAV or FLAC (chosen by the suffix). Returns the path."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise InputError(path, f"the file type {suffix or '(none)'!r}", "a .wav or .flac file name",
                         "Name the file with .wav or .flac at the end.")
    if path.exists() and not overwrite:
        raise InputError(path, "an existing file", "a new file name, or permission to replace the file",
                         "Choose another name, or confirm that the file may be replaced.")
    file_format, subtype = FORMATS[suffix]
    handle, temporary = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=suffix, dir=path.parent)
    os.close(handle)
    try:
        soundfile.write(temporary, np.clip(audio, -1.0, 1.0), sample_rate, format=file_format, subtype=subtype)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path
