"""What every importer shares: reading a PyTorch file without running code, reading a source's hparams without
running them, and keeping account of which setting came from where.

An importer reads the architecture from the tensors' names and shapes, and takes every other setting (sample rate,
STFT, mel range, normalisation) from the user's hparams file when given, else from the source's published
defaults: each of those is a guess, and `Settings.notes` names every one.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from engine.errors import CheckpointError, InputError
from engine.models.base import Vocoder


@dataclass
class Imported:
    """An imported model (eval mode, CPU), the metadata to save with it, and the lines that say where each setting
    came from."""

    model: Vocoder
    meta: dict[str, Any]
    notes: list[str] = field(default_factory=list)


def read_torch_file(path: Path) -> Any:
    """The object a .pt/.pth/.pyt file holds, read with `torch.load(weights_only=True)`: tensors, numbers, strings
    and containers only; a file that needs code to unpickle is refused."""
    if not path.is_file():
        raise CheckpointError(
            path, "no such file" if not path.exists() else "a folder", "a PyTorch checkpoint file", "Check the path."
        )
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 (torch raises many types for files that hold code or are not its own)
        first = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
        raise CheckpointError(
            path,
            f"a file torch will not read as plain tensors without running its code ({first})",
            "a checkpoint of tensors, numbers and dicts (torch.save of a state dict)",
            "Vocoscope never unpickles code. In the project that wrote it, save the weights alone: "
            "torch.save(model.state_dict(), 'weights.pt'), and import that file.",
        ) from None


def tensor_dict(path: Path, value: Any, keys: tuple[str, ...] = ()) -> dict[str, torch.Tensor]:
    """The state dict in `value`: `value` itself, or under the first of `keys` it has; refused unless it maps names
    to tensors."""
    for key in keys:
        if isinstance(value, dict) and isinstance(value.get(key), dict):
            value = value[key]
            break
    tensors = {k: v for k, v in value.items() if isinstance(v, torch.Tensor)} if isinstance(value, dict) else {}
    if not tensors:
        found = (
            f"a dict with keys {sorted(map(str, value))[:6]}"
            if isinstance(value, dict)
            else f"a {type(value).__name__}"
        )
        raise CheckpointError(
            path,
            f"{found}, no state dict of tensors",
            "a state dict (parameter name → tensor)"
            + (f", at the top or under {' or '.join(map(repr, keys))}" if keys else ""),
            "Import the checkpoint its training script saved, or torch.save(model.state_dict()).",
        )
    return tensors


def read_hparams(paths: list[Path]) -> dict[str, Any]:
    """Settings from hparams files, later files overriding earlier ones, without running them.

    A .json file is one object of settings (r9y9's exported hparams). A .py file gives each top-level
    `name = <literal>` and each literal keyword of a top-level call (`hparams = HParams(name=<literal>, ...)`);
    values that are computed (`voc_seq_len = hop_length * 5`) are left out. A .npz file gives each of its arrays,
    as a list, under its name (r9y9's mel statistics: `mean`, `var`), read without unpickling.
    """
    settings: dict[str, Any] = {}
    for path in paths:
        if path.suffix.lower() == ".npz":
            settings.update(_arrays(path))
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise InputError(
                path, f"a file that cannot be read as text ({error})", "an hparams .py or .json file", "Check the path."
            ) from None
        if path.suffix.lower() == ".json":
            try:
                values = json.loads(text)
            except json.JSONDecodeError as error:
                raise InputError(
                    path,
                    f"JSON that does not parse ({error})",
                    "one JSON object of settings",
                    "Fix the file, or pass the project's hparams.py instead.",
                ) from None
            if not isinstance(values, dict):
                raise InputError(
                    path,
                    f"a JSON {type(values).__name__}",
                    "one JSON object of settings",
                    "Pass the hparams object itself.",
                )
            settings.update(values)
            continue
        try:
            tree = ast.parse(text, filename=str(path))
        except SyntaxError as error:
            raise InputError(
                path,
                f"Python that does not parse (line {error.lineno}: {error.msg})",
                "the project's hparams.py",
                "Pass the file as the project ships it, or a JSON file.",
            ) from None
        settings.update(_literal_settings(tree))
    return settings


def _arrays(path: Path) -> dict[str, Any]:
    """The arrays of a .npz file by name, as lists; refused when it holds pickled objects or is not a .npz."""
    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as arrays:
            return {name: arrays[name].tolist() for name in arrays.files}
    except (OSError, ValueError, EOFError) as error:
        raise InputError(
            path,
            f"a file numpy will not read as plain arrays ({str(error)[:120]})",
            "a .npz of numeric arrays (numpy.savez)",
            "Write it with numpy.savez(path, mean=..., var=...), from plain arrays.",
        ) from None


def _literal_settings(tree: ast.Module) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for node in tree.body:
        if not isinstance(node, ast.Assign):
            continue
        if isinstance(node.value, ast.Call):
            for keyword in node.value.keywords:
                if keyword.arg is not None:
                    _put_literal(values, keyword.arg, keyword.value)
            continue
        for target in node.targets:
            if isinstance(target, ast.Name):
                _put_literal(values, target.id, node.value)
    return values


def _put_literal(values: dict[str, Any], name: str, node: ast.expr) -> None:
    try:
        values[name] = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        pass  # computed from other settings: the importer derives what it needs itself


class Settings:
    """A source's settings by name: the user's hparams where they have the name, else the published default (a guess).

    `get` records where each value came from; `notes` says it, the guesses named one by one.
    """

    def __init__(self, source: str, given: dict[str, Any], defaults: dict[str, Any], files: list[Path]):
        self.source = source
        self.given = given
        self.defaults = defaults
        self.files = ", ".join(path.name for path in files)
        self.read: dict[str, Any] = {}
        self.from_weights: dict[str, Any] = {}
        self.guessed: dict[str, Any] = {}

    def get(self, *names: str) -> Any:
        """The first of `names` the hparams have, else the published default of the first name."""
        for name in names:
            if name in self.given:
                self.read[name] = self.given[name]
                return self.given[name]
        value = self.defaults[names[0]]
        self.guessed[names[0]] = value
        return value

    def has(self, *names: str) -> bool:
        return any(name in self.given for name in names)

    def weights(self, name: str, value: Any) -> Any:
        """Record `value` as read from the tensors' shapes."""
        self.from_weights[name] = value
        return value

    def notes(self) -> list[str]:
        lines = ["read from the weights: " + _listing(self.from_weights)]
        if self.read:
            lines.append(f"read from {self.files}: " + _listing(self.read))
        if self.guessed:
            lines.append(
                f"guessed from {self.source}'s published defaults (pass --hparams to set them): "
                + _listing(self.guessed)
            )
        return lines

    def record(self) -> dict[str, Any]:
        """The same accounts, JSON-able, for the checkpoint's metadata."""
        return {
            "from_weights": _jsonable(self.from_weights),
            "from_hparams": _jsonable(self.read),
            "guessed": _jsonable(self.guessed),
        }


def _listing(values: dict[str, Any]) -> str:
    return ", ".join(f"{name} {value}" for name, value in values.items()) or "nothing"


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(values, default=str))


def renamed(
    state: dict[str, torch.Tensor], renames: list[tuple[str, str]], dropped: tuple[str, ...] = ()
) -> dict[str, torch.Tensor]:
    """`state` with each key's first matching prefix replaced (renames: (source prefix, our prefix)), float tensors
    as float32, and the keys starting with any of `dropped` left out."""
    out = {}
    for key, value in state.items():
        if key.startswith(dropped):
            continue
        for old, new in renames:
            if key.startswith(old):
                key = new + key[len(old) :]
                break
        out[key] = value.float() if value.is_floating_point() else value
    return out


def fold_weight_norm(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """`nn.utils.weight_norm`'s pairs (`<name>.weight_g`, `<name>.weight_v`) → `<name>.weight` = g · v / ‖v‖, the
    norm taken over every axis but the first (as weight_norm's default dim=0 does)."""
    out = {}
    for key, value in state.items():
        if key.endswith(".weight_g"):
            stem = key[: -len("_g")]
            v = state[stem + "_v"].double()
            norm = v.flatten(1).norm(dim=1).reshape(-1, *([1] * (v.dim() - 1)))
            out[stem] = (value.double() * v / norm).float()
        elif not key.endswith(".weight_v"):
            out[key] = value
    return out


def load_into(path: Path, model: Vocoder, weights: dict[str, torch.Tensor], source: str) -> None:
    """Put `weights` into `model`, refusing (naming the first misfit) unless they fill it exactly."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(weights))
    unexpected = sorted(set(weights) - set(expected))
    wrong = sorted(k for k in set(expected) & set(weights) if tuple(expected[k].shape) != tuple(weights[k].shape))
    if missing or unexpected or wrong:
        first = (
            f"{missing[0]} missing"
            if missing
            else f"{unexpected[0]} unexpected"
            if unexpected
            else f"{wrong[0]} of shape {tuple(weights[wrong[0]].shape)}, not {tuple(expected[wrong[0]].shape)}"
        )
        raise CheckpointError(
            path,
            f"weights that do not fit a {source} model read from their shapes ({first})",
            f"a {source} checkpoint",
            "Check --from: the file may come from another project.",
        )
    model.load_state_dict(weights)
    model.eval()
