"""What the window remembers between runs: model, compute device, sampling temperature, post-filters and mel
guidance, audio output, geometry, recent files and checkpoints, how the generated mel is shown.

Backed by QSettings (organisation "Vocoscope"). Tests and scripts pass their own ini file so they never touch
the user's settings.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

ORGANISATION = "Vocoscope"
APPLICATION = "Vocoscope"
MAX_RECENT_FILES = 10
MAX_RECENT_CHECKPOINTS = 8


class _Switch:
    """A remembered on/off setting of `Settings`, kept as "true" or "false" under the attribute's own name."""

    def __init__(self, default: bool, doc: str):
        self.default, self.__doc__ = default, doc

    def __set_name__(self, owner: type, name: str) -> None:
        self.key = name

    def __get__(self, settings: "Settings | None", owner: type | None = None):
        if settings is None:
            return self
        return str(settings.store.value(self.key, "true" if self.default else "false")).lower() == "true"

    def __set__(self, settings: "Settings", on: bool) -> None:
        settings.store.setValue(self.key, "true" if on else "false")


class Settings:
    """Typed access to the few values the window persists."""

    def __init__(self, store: QSettings | None = None):
        self.store = store if store is not None else QSettings(ORGANISATION, APPLICATION)

    @classmethod
    def from_file(cls, path: str | Path) -> "Settings":
        """Settings kept in one ini file (for tests and scripted runs)."""
        return cls(QSettings(str(path), QSettings.Format.IniFormat))

    def _text(self, key: str) -> str | None:
        value = self.store.value(key)
        return str(value) if value not in (None, "") else None

    @property
    def model(self) -> str | None:
        return self._text("model")

    @model.setter
    def model(self, name_or_path: str) -> None:
        self.store.setValue("model", name_or_path)

    @property
    def device(self) -> str | None:
        return self._text("device")

    @device.setter
    def device(self, name: str) -> None:
        self.store.setValue("device", name)

    @property
    def temperature(self) -> float | None:
        """The sampling temperature generation asks for, or None for each model's own."""
        try:
            value = float(self.store.value("temperature") or 0.0)
        except (TypeError, ValueError):  # a hand-edited settings file
            return None
        return value if value > 0 else None

    @temperature.setter
    def temperature(self, value: float | None) -> None:
        self.store.setValue("temperature", value or "")

    mel_difference = _Switch(False, "Whether the generated mel is shown as its difference to the input mel.")
    postfilters = _Switch(True, "Whether a model with post-filters uses them (off: its raw output).")
    mel_guidance = _Switch(True, "Whether a model that chooses among draws by the mel does so (off: every draw kept).")

    @property
    def audio_device(self) -> str | None:
        """The audio output device's name, or None for the system default."""
        return self._text("audio_device")

    @audio_device.setter
    def audio_device(self, name: str | None) -> None:
        self.store.setValue("audio_device", name or "")

    @property
    def geometry(self) -> QByteArray | None:
        value = self.store.value("geometry")
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    @geometry.setter
    def geometry(self, value: QByteArray) -> None:
        self.store.setValue("geometry", value)

    @property
    def window_state(self) -> QByteArray | None:
        value = self.store.value("window_state")
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    @window_state.setter
    def window_state(self, value: QByteArray) -> None:
        self.store.setValue("window_state", value)

    @property
    def first_run(self) -> bool:
        return self.store.value("first_run_done") is None

    def mark_first_run_done(self) -> None:
        self.store.setValue("first_run_done", True)

    @property
    def recent_files(self) -> list[str]:
        return self._paths("recent_files")

    def add_recent_file(self, path: str | Path) -> list[str]:
        """Put `path` first, drop duplicates, keep at most MAX_RECENT_FILES. Returns the new list."""
        return self._add_path("recent_files", path, MAX_RECENT_FILES)

    @property
    def recent_checkpoints(self) -> list[str]:
        """Checkpoints opened before, the latest first: the model chooser lists those that still exist."""
        return self._paths("recent_checkpoints")

    def add_recent_checkpoint(self, path: str | Path) -> list[str]:
        return self._add_path("recent_checkpoints", path, MAX_RECENT_CHECKPOINTS)

    def _paths(self, key: str) -> list[str]:
        value = self.store.value(key)
        if value is None or value == "":
            return []
        if isinstance(value, str):
            return [value]
        return [str(v) for v in value]

    def _add_path(self, key: str, path: str | Path, most: int) -> list[str]:
        path = str(Path(path).resolve())
        paths = ([path] + [p for p in self._paths(key) if p != path])[:most]
        self.store.setValue(key, paths)
        return paths

    def sync(self) -> None:
        self.store.sync()
