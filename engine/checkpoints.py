"""Checkpoints: one safetensors file with the weights and everything needed to rebuild the model.

The file's metadata (string → string, as safetensors allows) holds ``format`` and ``vocoscope``, a JSON
object: {"family", "model" (config), "mel" (MelConfig), "training_note", "licence", "steps", ...caller's meta}.
Tensors are the model's state dict under its own keys, plus optional extra tensors (optimizer state for an
exact resume) under ``extra/<name>``.

Loading never executes pickled code: safetensors holds no code, and a plain PyTorch state dict (.pt/.pth)
from another project is read with ``torch.load(weights_only=True)`` and only when its family is given.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from engine.checkpoint_header import FORMAT, read_checkpoint_header
from engine.checkpoint_limits import check_config, check_skeleton, check_weights, fit_problems
from engine.errors import CheckpointError, ConfigError
from engine.export import atomic_path
from engine.models.base import Vocoder

EXTRA_PREFIX = "extra/"
PLAIN_STATE_SUFFIXES = (".pt", ".pth")
RESERVED_KEYS = ("family", "model", "mel")


@dataclass
class LoadedCheckpoint:
    """model: in eval mode on the requested device. meta: the stored JSON object. extra_tensors: by name."""

    model: Vocoder
    meta: dict[str, Any]
    extra_tensors: dict[str, torch.Tensor] = field(default_factory=dict)


def save(
    model: Vocoder,
    path: str | Path,
    *,
    meta: dict[str, Any] | None = None,
    extra_tensors: dict[str, torch.Tensor] | None = None,
) -> Path:
    """Write `model` (and `extra_tensors`) to `path` atomically: a temporary file beside it, then a rename.

    meta: JSON-able values; "training_note", "licence" and "steps" are shown by the model list.
    """
    from safetensors.torch import save_file

    path = Path(path)
    meta = dict(meta or {})
    clash = [key for key in RESERVED_KEYS if key in meta]
    if clash:
        raise ValueError(f"meta keys {clash} are written from the model itself; leave them out")
    header = {"training_note": "", "licence": "", "steps": 0, **meta, **model.config_dict()}
    # clone() separates tensors that share storage (tied weights), which safetensors refuses to write.
    tensors = {key: value.detach().to("cpu").contiguous().clone() for key, value in model.state_dict().items()}
    for name, value in (extra_tensors or {}).items():
        tensors[EXTRA_PREFIX + name] = value.detach().to("cpu").contiguous().clone()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as temporary:
        save_file(tensors, str(temporary), metadata={"format": FORMAT, "vocoscope": json.dumps(header)})
    return path


def load(path: str | Path, device: str | torch.device = "cpu", *, family: str | None = None) -> LoadedCheckpoint:
    """Read a checkpoint written by `save` (or, with `family`, a plain .pt/.pth state dict) onto `device`.

    Everything the file asks for is checked before memory is spent on it (engine/checkpoint_limits.py): the config's
    types and ranges, the size of the model it describes, the tensors' declared shapes against that model, and last
    the weights themselves (finite floats)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(
            path,
            "no such file" if not path.exists() else "a folder",
            "a .safetensors checkpoint",
            "Check the path, or run `vocoscope models`.",
        )
    if path.suffix.lower() in PLAIN_STATE_SUFFIXES:
        return _import_state_dict(path, device, family)
    header = read_checkpoint_header(path)
    config_class = _config_class(path, header.meta)
    model_values, mel_values = header.meta.get("model") or {}, header.meta.get("mel") or {}
    check_config(path, config_class, model_values, mel_values)
    skeleton = _rebuild(path, header.meta, device="meta")
    if skeleton is not None:
        check_skeleton(path, skeleton, header)
    tensors = _read_tensors(path)
    model = _rebuild(path, header.meta)
    if skeleton is None:  # a family that cannot be built on the meta device: the same checks, after the build
        check_skeleton(path, model, header)
    weights = {key: value for key, value in tensors.items() if not key.startswith(EXTRA_PREFIX)}
    extra = {key[len(EXTRA_PREFIX) :]: value for key, value in tensors.items() if key.startswith(EXTRA_PREFIX)}
    _load_weights(path, model, weights)
    model.to(device).eval()
    return LoadedCheckpoint(model=model, meta=header.meta, extra_tensors={k: v.to(device) for k, v in extra.items()})


def _read_tensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        raise CheckpointError(
            path,
            f"a file that is not a safetensors checkpoint ({_first_line(error)})",
            "a .safetensors file written by Vocoscope",
            "Choose a .safetensors checkpoint; a plain PyTorch state dict can be imported "
            "with its family (checkpoints.load(path, family=...)).",
        ) from None


def _config_class(path: Path, meta: dict[str, Any]) -> type:
    from engine.models.registry import FAMILIES

    family = meta.get("family")
    if family not in FAMILIES:
        raise CheckpointError(
            path,
            f"model family {family!r}",
            f"one of {', '.join(FAMILIES)}",
            "This checkpoint is for another program or a newer Vocoscope.",
        )
    return FAMILIES[family][1]


def _rebuild(path: Path, header: dict[str, Any], device: str | None = None) -> Vocoder | None:
    """The model the header describes, freshly initialised; on the meta device (no storage: shapes only) when
    `device` is "meta", or None where the family cannot be built there."""
    from engine.models.registry import build

    family = header["family"]
    try:
        if device == "meta":
            try:
                with torch.device("meta"):
                    return build(family, header.get("model") or {}, header.get("mel") or {})
            except (NotImplementedError, RuntimeError):
                return None
        return build(family, header.get("model") or {}, header.get("mel") or {})
    except ConfigError as error:
        raise CheckpointError(
            path,
            f"a {family} config that does not hold together ({error})",
            "a consistent model config",
            "Save the model again from a working set-up.",
        ) from None
    except (TypeError, ValueError, KeyError) as error:
        raise CheckpointError(
            path,
            f"a {family} config this version cannot read ({_first_line(error)})",
            f"a {family} config of this Vocoscope version",
            "Save it again with this version, or update Vocoscope.",
        ) from None


def _load_weights(path: Path, model: Vocoder, weights: dict[str, torch.Tensor]) -> None:
    expected = model.state_dict()
    parts = fit_problems(expected, {name: tuple(value.shape) for name, value in weights.items()})
    if parts:
        raise CheckpointError(
            path,
            "weights that do not fit the model: " + ", ".join(parts),
            f"the weights of a {model.family} model with the stored config",
            "The file's config and weights disagree; save or export the model again.",
        )
    check_weights(path, weights, expected)
    model.load_state_dict(weights)


def _import_state_dict(path: Path, device: str | torch.device, family: str | None) -> LoadedCheckpoint:
    """A plain state dict (optionally under "state_dict" or "model") into the family's default config."""
    from engine.models.registry import FAMILIES, build

    if family not in FAMILIES:
        raise CheckpointError(
            path,
            "a plain PyTorch file with no model family" if family is None else f"family {family!r}",
            f"a .safetensors checkpoint, or a state dict with its family ({', '.join(FAMILIES)})",
            "Pass the family to import it, or convert it to a Vocoscope checkpoint.",
        )
    try:
        value = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for files that are not its own or hold code
        raise CheckpointError(
            path,
            f"a file torch cannot read as plain tensors ({_first_line(error)})",
            "a state dict of tensors",
            "Export the weights with torch.save(model.state_dict(), path).",
        ) from None
    if isinstance(value, dict):
        for key in ("state_dict", "model"):
            if isinstance(value.get(key), dict):
                value = value[key]
    if not isinstance(value, dict) or not all(isinstance(v, torch.Tensor) for v in value.values()):
        raise CheckpointError(
            path,
            f"a {type(value).__name__} that is not a state dict",
            "a dict of tensors",
            "Export the weights with torch.save(model.state_dict(), path).",
        )
    model = build(family)
    _load_weights(path, model, value)
    model.to(device).eval()
    meta = {"training_note": f"imported from {path.name}", "licence": "", "steps": 0, **model.config_dict()}
    return LoadedCheckpoint(model=model, meta=meta)


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0][:160] if text else type(error).__name__
