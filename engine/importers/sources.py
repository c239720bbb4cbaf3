"""The sources `vocoscope import` knows, and telling them apart by a checkpoint's structure."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from engine.errors import CheckpointError
from engine.importers.common import Imported, read_torch_file

# source → (module, function(path, hparams_files) → Imported), imported when used.
SOURCES = {
    "fatchord": ("engine.importers.fatchord", "import_fatchord"),
    "rtvc": ("engine.importers.rtvc", "import_rtvc"),
    "torchaudio": ("engine.importers.torchaudio_wavernn", "import_torchaudio"),
    "r9y9": ("engine.importers.r9y9", "import_r9y9"),
}
# The same network saved two ways: either name imports a plain state dict of it.
_SAME_NETWORK = {"fatchord", "rtvc"}
SUFFIXES = (".pt", ".pth", ".pyt", ".ckpt")


def detect(value: Any) -> str | None:
    """The source whose structure the object a checkpoint file holds has, or None."""
    if not isinstance(value, dict):
        return None
    if isinstance(value.get("model_state"), dict):
        return "rtvc"
    state = value.get("state_dict") if isinstance(value.get("state_dict"), dict) else value
    keys = [str(key).removeprefix("module.") for key in state]  # DataParallel's prefix
    if any(key.startswith(("first_conv.", "conv_layers.")) for key in keys):
        return "r9y9"
    if any(key.startswith("upsample.resnet.melresnet_model.") for key in keys):
        return "torchaudio"
    if "I.weight" in keys and any(key.startswith("upsample.up_layers.") for key in keys):
        return "fatchord"
    return None


def detect_source(path: Path) -> str | None:
    """The source of the checkpoint at `path` (read without running code), or None when its structure is not one
    of theirs."""
    return detect(read_torch_file(path))


def import_checkpoint(path: Path, source: str | None, hparams_files: list[Path] = ()) -> tuple[str, Imported]:
    """(the source, the imported model) for the checkpoint at `path`: `source` is checked against the file's
    structure, or found from it when None."""
    detected = detect_source(path)
    if source is None:
        if detected is None:
            raise CheckpointError(
                path,
                "a checkpoint whose tensor names match none of the known sources",
                f"a checkpoint of {', '.join(SOURCES)}",
                "Name its source with --from; for your own model code, use `vocoscope inspect --module`.",
            )
        source = detected
    if detected is not None and detected != source and not {detected, source} <= _SAME_NETWORK:
        raise CheckpointError(
            path,
            f"a {detected} checkpoint (by its tensor names) imported as {source}",
            f"a {source} checkpoint",
            f"Use --from {detected}, or leave --from out.",
        )
    if source not in SOURCES:
        raise CheckpointError(path, f"source {source!r}", f"one of {', '.join(SOURCES)}", "Choose one of those.")
    module_name, function_name = SOURCES[source]
    function = getattr(importlib.import_module(module_name), function_name)
    return source, function(Path(path), [Path(file) for file in hparams_files])
