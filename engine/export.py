"""Writing files so that nothing is lost: a temporary file beside the target, then a rename.

A crash or a full disk leaves the old file (or nothing), never half a file. Overwriting needs `overwrite=True`,
which the window passes only after the person has said yes and the CLI only with --force.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np

from engine.errors import InputError

AUDIO_FORMATS = {".wav": ("WAV", "PCM_16"), ".flac": ("FLAC", "PCM_16")}


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path` to write; when the block ends without an error it replaces `path`.

    The file gets the permissions of any newly created file (0666 less the umask), not mkstemp's private 0600.
    """
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent)
    os.close(handle)
    try:
        yield Path(temporary)
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def check_audio_output(path: Path, overwrite: bool) -> None:
    """Raise `InputError` unless `path` can receive exported audio: a .wav/.flac name, new (or `overwrite`), in a folder."""
    _check_output(path, overwrite, "a .wav or .flac file name", "Name the file with .wav or .flac at the end.",
                  AUDIO_FORMATS)


def check_mel_output(path: Path, overwrite: bool) -> None:
    """Raise `InputError` unless `path` can receive a mel: a .npy name, new (or `overwrite`), in a folder."""
    _check_output(path, overwrite, "a .npy file name", "Name the file with .npy at the end.", (".npy",))


def _check_output(path: Path, overwrite: bool, expected: str, fix: str, suffixes) -> None:
    suffix = path.suffix.lower()
    if suffix not in suffixes:
        raise InputError(path, f"the file type {suffix or '(none)'!r}", expected, fix)
    if path.exists() and not overwrite:
        raise InputError(path, "an existing file", "a new file name, or permission to replace the file",
                         "Choose another name (-o), or confirm that it may be replaced (--force on the command line).")
    if not path.parent.is_dir():
        raise InputError(path, f"no folder {path.parent}", "an existing folder for the output",
                         "Create the folder or choose another output path.")


def take_comment(model: str, draws: str, seed: int, source: str | Path | None) -> str:
    """How a take was made, for its file's comment tag: "wavernn (8-bit mu-law, T 0.8), seed 12, from a.wav"."""
    return f"{model} ({draws}), seed {seed}" + (f", from {Path(source).name}" if source else "")


def write_mel(path: str | Path, mel: np.ndarray, *, overwrite: bool = False) -> Path:
    """Write a normalised mel (n_mels, T) as float32 .npy, atomically: `vocoscope vocode` and the window read it
    back as the same mel."""
    path = Path(path)
    check_mel_output(path, overwrite)
    with atomic_path(path) as temporary:
        with temporary.open("wb") as file:
            np.save(file, np.ascontiguousarray(mel, dtype=np.float32))
    return path


def write_audio(path: str | Path, audio: np.ndarray, sample_rate: int, *, overwrite: bool = False,
                comment: str = "") -> Path:
    """Write mono audio (n,) float32 in [-1, 1] as 16-bit WAV or FLAC (chosen by the suffix), atomically, tagged
    with the software's name and `comment` (see `take_comment`; WAV INFO and FLAC Vorbis comments)."""
    import soundfile

    path = Path(path)
    check_audio_output(path, overwrite)
    file_format, subtype = AUDIO_FORMATS[path.suffix.lower()]
    with atomic_path(path) as temporary:
        with soundfile.SoundFile(temporary, "w", sample_rate, 1, format=file_format, subtype=subtype) as file:
            file.software = "Vocoscope"
            if comment:
                file.comment = comment
            file.write(np.clip(audio, -1.0, 1.0))
    return path
