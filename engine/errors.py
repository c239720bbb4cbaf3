"""Errors a person can act on.

Every way an input can be wrong is one of these. The message is written for a person: it names the file,
what was found, what was expected and the fix. The CLI prints it on one line and exits 2; the window shows it
in place; the engine stays alive.
"""

from __future__ import annotations

from pathlib import Path


class VocoscopeError(Exception):
    """Base of every error that is the user's to fix (exit status 2)."""


class InputError(VocoscopeError):
    """A file or array that cannot be used as it is.

    The message reads ``<source>: found <found>; expected <expected>. <fix>``.
    """

    def __init__(self, source: str | Path | None, found: str, expected: str, fix: str):
        self.source = str(source) if source is not None else "input"
        self.found = found
        self.expected = expected
        self.fix = fix
        super().__init__(f"{self.source}: found {found}; expected {expected}. {fix}")


class CheckpointError(InputError):
    """A checkpoint file that cannot be loaded safely or does not describe a model."""


class OutputError(InputError, OSError):
    """A file that cannot be written: the folder missing or read-only, the disk full, the name taken.

    The message reads ``<file>: found <the cause>; expected <what writing needs>. <fix>``. It is an `OSError` too, so
    that code which carries on without a file it could not write (a cache) still does.
    """


class ConfigError(VocoscopeError):
    """A model configuration that contradicts itself (for example upsampling factors against the hop)."""


class AudioDeviceError(VocoscopeError):
    """No usable sound output: no server, the device busy, or a rate it refuses."""
