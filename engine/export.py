"""Exported files: audio (16-bit WAV or FLAC, tagged with how the take was made) and mels (.npy).

Every write goes through a temporary file and a rename (engine/atomic_write.py): the whole file or the old one,
never half a file. Overwriting needs `overwrite=True`, which the window passes only after the person has said yes
and the CLI only with --force; without it a file that appears during the write is not replaced either. Audio can be
written as it is made (`AudioWriter`), so a long take never has to be held whole.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import numpy as np

from engine.atomic_write import atomic_path, check_space, check_writable, write_error
from engine.errors import InputError, OutputError

AUDIO_FORMATS = {".wav": ("WAV", "PCM_16"), ".flac": ("FLAC", "PCM_16")}
BYTES_PER_SAMPLE = 2  # 16-bit; a FLAC is smaller, so this is the most a take can need


def check_audio_output(path: Path, overwrite: bool, num_samples: int = 0) -> None:
    """Raise `InputError` unless `path` can receive exported audio: a .wav/.flac name, new (or `overwrite`), in a folder
    that can be written now, with room for `num_samples` 16-bit samples."""
    _check_output(
        path, overwrite, "a .wav or .flac file name", "Name the file with .wav or .flac at the end.", AUDIO_FORMATS
    )
    if num_samples:
        check_space(path, num_samples * BYTES_PER_SAMPLE + 4096)


def check_mel_output(path: Path, overwrite: bool) -> None:
    """Raise `InputError` unless `path` can receive a mel: a .npy name, new (or `overwrite`), in a writable folder."""
    _check_output(path, overwrite, "a .npy file name", "Name the file with .npy at the end.", (".npy",))


def _check_output(path: Path, overwrite: bool, expected: str, fix: str, suffixes) -> None:
    path = Path(path)
    if path.is_dir():
        example = path / ("out" + next(iter(suffixes)))
        raise OutputError(path, "a folder", expected, f"Name a file inside it, for example {example}.")
    suffix = path.suffix.lower()
    if suffix not in suffixes:
        raise InputError(path, f"the file type {suffix or '(none)'!r}", expected, fix)
    if path.exists() and not overwrite:
        raise OutputError(
            path,
            "an existing file",
            "a new file name, or permission to replace the file",
            "Choose another name (-o), or confirm that it may be replaced (--force on the command line).",
        )
    check_writable(path)


def take_comment(model: str, draws: str, seed: int, source: str | Path | None) -> str:
    """How a take was made, for its file's comment tag: "wavernn (8-bit mu-law, T 0.8), seed 12, from a.wav"."""
    return f"{model} ({draws}), seed {seed}" + (f", from {Path(source).name}" if source else "")


def write_mel(path: str | Path, mel: np.ndarray, *, overwrite: bool = False) -> Path:
    """Write a normalised mel (n_mels, T) as float32 .npy, atomically: `vocoscope vocode` and the window read it
    back as the same mel."""
    path = Path(path)
    check_mel_output(path, overwrite)
    with atomic_path(path, overwrite=overwrite) as temporary:
        try:
            with temporary.open("wb") as file:
                np.save(file, np.ascontiguousarray(mel, dtype=np.float32))
        except OSError as error:
            raise write_error(path, error) from None
    return path


def write_audio(
    path: str | Path, audio: np.ndarray, sample_rate: int, *, overwrite: bool = False, comment: str = ""
) -> Path:
    """Write mono audio (n,) float32 in [-1, 1] as 16-bit WAV or FLAC (chosen by the suffix), atomically, tagged
    with the software's name and `comment` (see `take_comment`; WAV INFO and FLAC Vorbis comments)."""
    with audio_writer(path, sample_rate, overwrite=overwrite, comment=comment) as writer:
        writer.write(audio)
    return Path(path)


class AudioSink:
    """The open end of `audio_writer`: `write` appends samples; `frames` counts them."""

    def __init__(self, file, path: Path):
        self._file = file
        self.path = path
        self.frames = 0

    def write(self, samples: np.ndarray) -> None:
        """Append mono samples (n,) float in [-1, 1] (clipped to it). Raises `OutputError` when the write fails."""
        import soundfile

        try:
            self._file.write(np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0))
        except (soundfile.SoundFileError, OSError) as error:
            raise write_error(self.path, error) from None
        self.frames += len(samples)


@contextmanager
def audio_writer(
    path: str | Path, sample_rate: int, *, overwrite: bool = False, comment: str = ""
) -> Iterator[AudioSink]:
    """Mono audio written as it is made, into a temporary file that becomes `path` when the block ends without an
    error (the format and tags as `write_audio`)::

        with audio_writer(path, 16000, comment=...) as writer:
            for chunk in chunks:
                writer.write(chunk.samples)

    `path` is checked first (`check_audio_output`); every failure to write is an `OutputError` naming `path` and the
    cause (disk full, permission, ...). What the block itself raises passes through, and leaves no file.
    """
    import soundfile

    path = Path(path)
    check_audio_output(path, overwrite)
    file_format, subtype = AUDIO_FORMATS[path.suffix.lower()]
    with atomic_path(path, overwrite=overwrite) as temporary:
        try:
            file = soundfile.SoundFile(temporary, "w", sample_rate, 1, format=file_format, subtype=subtype)
            file.software = "Vocoscope"
            if comment:
                file.comment = comment
        except (soundfile.SoundFileError, OSError) as error:
            raise write_error(path, error) from None
        try:
            yield AudioSink(file, path)
        except BaseException:
            with suppress(soundfile.SoundFileError, OSError):
                file.close()
            raise
        try:
            file.close()  # writes the header's final sizes and FLAC's last frames: it can fail too
        except (soundfile.SoundFileError, OSError) as error:
            raise write_error(path, error) from None
