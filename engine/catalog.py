"""The built-in models and the model list, without torch: what `vocoscope models` prints and what the command line
checks a model name against start at once (torch alone costs about 2 s of CPU).

A built-in model is resources/models/<name>.safetensors when that file exists (trained), else its family's default
config with weights from a fixed seed (untrained; engine/models/loading.py builds and loads both, and is the
half of the catalogue that needs torch). What the list
says about a model (its receptive field, what it draws, its size) is computed by the model's own code, which needs
torch; `list_builtins` keeps those entries on disk, under a key made of the checkpoint's safetensors header (its
JSON: the config, the training record and every tensor's shape), the built-in's spec and the engine's source, so
an entry is only reused for the same file read by the same code. A miss (the first run, a new checkpoint, changed
code) builds the models once, as `loading.list_models` does.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

from engine import __version__
from engine.checkpoint_header import read_header
from engine.models import DEFAULT_MODEL
from engine.sampling import Sampling

ENGINE = Path(__file__).resolve().parent
# What Vocoscope ships besides code: engine/resources in an installed wheel (pyproject.toml puts resources/ there)
# and in the desktop bundle (packaging/vocoscope.spec), resources/ beside the packages in a checkout.
BUNDLED = ENGINE / "resources" if (ENGINE / "resources").is_dir() else ENGINE.parent / "resources"
RESOURCES = BUNDLED / "models"
EXAMPLES = BUNDLED / "examples"


@dataclass(frozen=True)
class BuiltinSpec:
    """A built-in model: its family and the overrides of the family's default config (none by default)."""

    family: str
    model: dict[str, Any]


BUILTINS: dict[str, BuiltinSpec] = {
    "wavernn": BuiltinSpec("wavernn", {"mode": "mulaw"}),
    "wavernn-dual": BuiltinSpec("wavernn-dual", {}),
    "wavenet": BuiltinSpec("wavenet", {}),
}


@dataclass
class ModelInfo:
    """What the model list shows. receptive_field is 0 for recurrent models (unbounded)."""

    name: str
    family: str
    sample_rate: int
    hop_length: int
    n_mels: int
    receptive_field: int
    parameters: int
    trained: bool
    path: Path | None
    draws: str  # what one sampling step draws, e.g. "9-bit mu-law"
    # how it draws (engine/sampling.py): its own settings, None for those it has not; in a job's events, the job's
    sampling: Sampling
    steps: int = 0  # training steps its checkpoint records, with those of the run it started from (--init)
    training_data: str = ""  # what it was trained on and under which licence, e.g. "asterisk-en (CC-BY-SA-3.0)"
    sparsity: str = ""  # its pruned matrices' share of zero blocks, e.g. "R 96% zero in 16x1 blocks"; "" if dense

    def to_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["path"] = str(self.path) if self.path is not None else None
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelInfo:
        """The inverse of `to_dict`."""
        path = values.get("path")
        return cls(**{**values, "sampling": Sampling(**values["sampling"]), "path": Path(path) if path else None})


def bundled_checkpoint(name: str) -> Path | None:
    """resources/models/<name>.safetensors when the built-in `name` ships trained weights, else None."""
    path = RESOURCES / f"{name}.safetensors"
    return path if path.is_file() else None


def has_trained_weights(name_or_path: str) -> bool:
    """False for a built-in without bundled weights, True for the others and for any checkpoint path."""
    return name_or_path not in BUILTINS or bundled_checkpoint(name_or_path) is not None


def untrained_warning(name: str, trained: bool) -> str | None:
    """One line for a person who chose the model `name` with random weights (None when `trained`): what it will
    sound like and what to choose instead. For the command line's stderr and the window alike."""
    if trained:
        return None
    bundled = sorted(
        (builtin for builtin in BUILTINS if bundled_checkpoint(builtin) is not None),
        key=lambda builtin: builtin != DEFAULT_MODEL,
    )
    choices = [f"{builtin} (the default)" if builtin == DEFAULT_MODEL else builtin for builtin in bundled]
    return (
        f"{name} has random weights (not trained): it makes noise, not speech. Use "
        f"{' or '.join(choices) + ', or ' if choices else ''}a checkpoint trained with `vocoscope train`."
    )


def list_builtins(build: Callable[[], list[ModelInfo]]) -> list[ModelInfo]:
    """The built-in models' list entries, from the cache where it has them, else made by `build` (with torch:
    engine/models/loading.py's `list_models`, which `loading.list_builtins` passes) and cached."""
    source = _source_fingerprint()
    keys = {name: _entry_key(name, source) for name in BUILTINS}
    cache = _cache_file()
    stored = _read_cache(cache)
    try:
        return [ModelInfo.from_dict({**stored[keys[name]], "path": bundled_checkpoint(name)}) for name in BUILTINS]
    except (KeyError, TypeError):  # not cached yet (or an entry not written by this code): build them
        pass
    infos = build()
    _write_cache(cache, {keys[info.name]: {**info.to_dict(), "path": None} for info in infos})
    return infos


def _entry_key(name: str, source: bytes) -> str:
    """What a built-in's list entry depends on: the engine's version and `source`, the spec, and the checkpoint."""
    digest = hashlib.sha256(f"{__version__}\n{name}\n{json.dumps(asdict(BUILTINS[name]), sort_keys=True)}\n".encode())
    digest.update(source)
    path = bundled_checkpoint(name)
    digest.update(read_header(path) if path is not None else b"untrained")
    return digest.hexdigest()


def _source_fingerprint() -> bytes:
    """A hash of every Python file of the engine (a few ms): changed code (a config default) changes the keys."""
    digest = hashlib.sha256()
    for source in sorted(ENGINE.rglob("*.py")):
        digest.update(source.relative_to(ENGINE).as_posix().encode() + b"\0" + source.read_bytes())
    return digest.digest()


def _cache_file() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "vocoscope" / "model-list.json"


def _read_cache(path: Path) -> dict[str, dict[str, Any]]:
    try:
        stored = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return stored if isinstance(stored, dict) else {}


def _write_cache(path: Path, entries: dict[str, dict[str, Any]]) -> None:
    """Replace the cache with `entries`; a cache that cannot be written only means the next run builds again."""
    from engine.export import atomic_path

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as temporary:
            temporary.write_text(json.dumps(entries))
    except OSError:
        pass
