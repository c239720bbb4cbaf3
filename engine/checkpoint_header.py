"""A checkpoint's safetensors header, read and checked without torch and before any tensor is read.

The header is 8 bytes of little-endian length, then a JSON object: one entry per tensor, {"dtype", "shape",
"data_offsets"}, and "__metadata__" (string → string) whose "vocoscope" value is the JSON object `save` wrote
(engine/checkpoints.py). Everything here judges what the file says about itself: the types of the metadata the
rest of the program reads, and the tensors' declared dtypes and shapes, which engine/checkpoint_limits.py then holds
against the model the config describes.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import CheckpointError

FORMAT = "vocoscope-checkpoint-1"
HEADER_LIMIT = 100_000_000  # safetensors refuses larger headers
DTYPES = {
    "F64": 8,
    "F32": 4,
    "F16": 2,
    "BF16": 2,
    "F8_E4M3": 1,
    "F8_E5M2": 1,
    "I64": 8,
    "I32": 4,
    "I16": 2,
    "I8": 1,
    "U64": 8,
    "U32": 4,
    "U16": 2,
    "U8": 1,
    "BOOL": 1,
}
FLOAT_DTYPES = ("F64", "F32", "F16", "BF16")
INT_DTYPES = ("I64", "I32", "I16", "I8", "U64", "U32", "U16", "U8")
_REWRITE = "The file is damaged or was not written by Vocoscope; save the model again."


@dataclass(frozen=True)
class TensorEntry:
    """One tensor as the header declares it: its safetensors dtype name ("F32", "I64", ...) and shape."""

    dtype: str
    shape: tuple[int, ...]

    @property
    def numel(self) -> int:
        count = 1
        for side in self.shape:
            count *= side
        return count


@dataclass(frozen=True)
class CheckpointHeader:
    """meta: the "vocoscope" JSON object (family, model, mel, training_note, ...). tensors: by name, in file order."""

    meta: dict[str, Any]
    tensors: dict[str, TensorEntry]


def read_header(path: Path) -> bytes:
    """The JSON header of the safetensors file `path` (8 bytes of little-endian length, then that much JSON), as
    stored. Raises `CheckpointError` when the file does not start like a safetensors file."""
    try:
        with open(path, "rb") as handle:
            prefix = handle.read(8)
            length = struct.unpack("<Q", prefix)[0] if len(prefix) == 8 else -1
            size = os.fstat(handle.fileno()).st_size
            header = handle.read(length) if 0 < length <= min(HEADER_LIMIT, size - 8) else b""
        if not header.startswith(b"{") or not isinstance(json.loads(header), dict):
            raise ValueError("no JSON object")
    except (OSError, ValueError) as error:
        raise CheckpointError(
            path,
            f"a file that is not a safetensors checkpoint ({error})",
            "8 bytes of header length, then a JSON header",
            "Replace the file with a checkpoint saved by Vocoscope.",
        ) from None
    return header


def read_checkpoint_header(path: Path) -> CheckpointHeader:
    """The header of the checkpoint `path`, its metadata's types checked. Raises `CheckpointError` naming the first
    thing that is not as `engine.checkpoints.save` writes it."""
    raw = json.loads(read_header(path))
    metadata = raw.pop("__metadata__", None)
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT or "vocoscope" not in metadata:
        found = metadata.get("format") if isinstance(metadata, dict) else None
        raise CheckpointError(
            path,
            f"a safetensors file without Vocoscope metadata (format={found!r})",
            f"format {FORMAT!r} with the model's family and config",
            "Save the model with engine.checkpoints.save, or import its state dict with its family.",
        )
    try:
        meta = json.loads(metadata["vocoscope"]) if isinstance(metadata["vocoscope"], str) else None
    except json.JSONDecodeError as error:
        raise CheckpointError(path, f"metadata that is not JSON ({error})", "a JSON object", _REWRITE) from None
    if not isinstance(meta, dict):
        raise CheckpointError(
            path, f"metadata that is {_kind(meta)}", "a JSON object with family, model and mel", _REWRITE
        )
    _check_meta(path, meta)
    return CheckpointHeader(meta=meta, tensors={name: _entry(path, name, value) for name, value in raw.items()})


def _check_meta(path: Path, meta: dict[str, Any]) -> None:
    """The types of what the loader and the model list read from the metadata."""
    if not isinstance(meta.get("family"), str):
        raise CheckpointError(
            path, f"a model family that is {_kind(meta.get('family'))}", "the family's name, a string", _REWRITE
        )
    for key in ("model", "mel"):
        if not isinstance(meta.get(key, {}), dict):
            raise CheckpointError(
                path, f'"{key}" that is {_kind(meta[key])}', f'"{key}": a JSON object of settings', _REWRITE
            )
    for key in ("training_note", "licence"):
        if not isinstance(meta.get(key, ""), str):
            raise CheckpointError(path, f'"{key}" that is {_kind(meta[key])}', f'"{key}": a string', _REWRITE)
    _check_steps(path, "steps", meta.get("steps", 0))
    training = meta.get("training", {})
    if not isinstance(training, dict):
        raise CheckpointError(path, f'"training" that is {_kind(training)}', '"training": a JSON object', _REWRITE)
    for key in ("data", "initialised_from"):
        if not isinstance(training.get(key) or {}, dict):
            raise CheckpointError(
                path, f'"training.{key}" that is {_kind(training[key])}', f'"training.{key}": a JSON object', _REWRITE
            )
    _check_steps(path, "training.initialised_from.steps", (training.get("initialised_from") or {}).get("steps", 0))


def _check_steps(path: Path, name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise CheckpointError(
            path, f'"{name}" of {value!r}', f'"{name}": a whole number of training steps, 0 or more', _REWRITE
        )


def _entry(path: Path, name: str, value: Any) -> TensorEntry:
    shape = value.get("shape") if isinstance(value, dict) else None
    dtype = value.get("dtype") if isinstance(value, dict) else None
    if (
        dtype not in DTYPES
        or not isinstance(shape, list)
        or not all(isinstance(side, int) and not isinstance(side, bool) and side >= 0 for side in shape)
    ):
        raise CheckpointError(
            path,
            f"tensor {name!r} declared as {json.dumps(value)[:120]}",
            "a dtype and a shape of whole numbers",
            _REWRITE,
        )
    return TensorEntry(dtype=dtype, shape=tuple(shape))


def _kind(value: Any) -> str:
    """What a JSON value is, in words, with the value when it is short: 'a list ([1, 2])', 'null'."""
    if value is None:
        return "null"
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    text = json.dumps(value)
    return f"{names.get(type(value), type(value).__name__)} ({text[:60]}{'…' if len(text) > 60 else ''})"
