"""A user's own model code: import a Python file, build the nn.Module it names, load a state_dict into it.

`vocoscope inspect INPUT --module FILE.py:NAME` and the window's File → Open model code… come here first.
Importing FILE runs it: this is the user's code, run with the user's rights (the help says so).

- `parse_module_spec("models/wavernn.py:WaveRNN")` → `ModuleSpec(path, name)`.
- `build_module(spec, kwargs)` imports the file as part of its package when its folder has an `__init__.py`
  (so relative imports and the package's siblings work: `from utils.dsp import *`, `from .modules import ...`),
  then calls NAME with `kwargs`: NAME is an nn.Module class or a factory function returning one. Returns
  `BuiltModule(module, arguments)`, `arguments` being every constructor argument (the defaults filled in),
  from which engine.module_inputs reads the band count, hop and upsampling factors.
- `load_checkpoint(module, path)` loads a state_dict with `torch.load(weights_only=True)`: never unpickles code.

Every failure is an InputError naming the file, what happened (the exception and the line of the user's file
it came from), what was expected and the fix; never a traceback.
"""

from __future__ import annotations

import importlib
import inspect as pyinspect
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from torch import nn

from engine.errors import InputError

# Keys under which training scripts commonly nest the state_dict in a checkpoint dictionary.
STATE_KEYS = ("state_dict", "model", "model_state", "model_state_dict", "net", "generator")


@dataclass(frozen=True)
class ModuleSpec:
    """FILE.py:NAME as given on the command line or in the window's dialog."""

    path: Path
    name: str

    def __str__(self) -> str:
        return f"{self.path}:{self.name}"


@dataclass
class BuiltModule:
    """The user's module and the arguments it was built with (kwargs given, then the signature's defaults)."""

    module: nn.Module
    arguments: dict[str, Any]
    spec: ModuleSpec


def parse_module_spec(text: str) -> ModuleSpec:
    """ "FILE.py:NAME" → ModuleSpec; the file must exist and end in .py."""
    path_text, colon, name = text.rpartition(":")
    if not colon or not name.isidentifier() or not path_text:
        raise InputError(
            text,
            f"{text!r}",
            "FILE.py:NAME, for example models/wavernn.py:WaveRNN",
            "Name the file and, after a colon, the class or function in it that builds the model.",
        )
    path = Path(path_text)
    if path.suffix != ".py":
        raise InputError(
            path,
            f"a file ending in {path.suffix or 'nothing'!r}",
            "a Python file (.py)",
            "Give the .py file that defines the model.",
        )
    if not path.is_file():
        raise InputError(path, "no such file", "a Python file that defines the model", "Check the path.")
    return ModuleSpec(path, name)


def import_file(path: Path) -> ModuleType:
    """Import `path` (running it), as `package.sub.module` when its folders are packages, else as a top-level
    module; its package root goes on sys.path so that its own imports resolve as they do in its project."""
    path = path.resolve()
    root, parts = path.parent, [path.stem]
    while (root / "__init__.py").is_file():
        parts.insert(0, root.name)
        root = root.parent
    dotted = ".".join(parts)
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    sys.modules.pop(dotted, None)  # a second open reads the file again (the user may have edited it)
    try:
        return importlib.import_module(dotted)
    except (Exception, SystemExit) as error:  # noqa: BLE001 (the user's code may raise anything while it loads)
        raise _code_error(path, error, f"importing it as {dotted!r}", root) from None


def build_module(spec: ModuleSpec, kwargs: dict[str, Any] | None = None) -> BuiltModule:
    """Import spec.path and call spec.name(**kwargs); the result must be a torch.nn.Module."""
    kwargs = dict(kwargs or {})
    module_file = import_file(spec.path)
    target = getattr(module_file, spec.name, None)
    if target is None or not callable(target):
        raise InputError(
            spec.path,
            f"no class or function named {spec.name!r}",
            f"one of: {', '.join(_candidates(module_file)) or 'none found'}",
            "Name an nn.Module class, or a function that returns one, after the colon.",
        )
    arguments = _bind(spec, target, kwargs)
    try:
        built = target(**kwargs)
    except (Exception, SystemExit) as error:  # noqa: BLE001 (the user's constructor may raise anything)
        raise _code_error(
            spec.path, error, f"building {spec.name}({_kwargs_text(kwargs)})", spec.path.resolve().parent
        ) from None
    if not isinstance(built, nn.Module):
        raise InputError(
            spec.path,
            f"{spec.name}(...) returned a {type(built).__name__}",
            "a torch.nn.Module",
            "Name the model's class, or a function that returns the model.",
        )
    return BuiltModule(built, arguments, spec)


def _candidates(module_file: ModuleType) -> list[str]:
    """nn.Module classes and functions defined in the file itself (not those it imported)."""
    names = []
    for name, value in vars(module_file).items():
        if getattr(value, "__module__", None) != module_file.__name__ or name.startswith("_"):
            continue
        if (isinstance(value, type) and issubclass(value, nn.Module)) or pyinspect.isfunction(value):
            names.append(name)
    return names


def _bind(spec: ModuleSpec, target, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Every constructor argument by name (kwargs over defaults); a missing or unknown one is the user's to fix."""
    try:
        signature = pyinspect.signature(target)
    except (TypeError, ValueError):
        return dict(kwargs)
    try:
        bound = signature.bind(**kwargs)
    except TypeError as error:
        required = [
            p.name
            for p in signature.parameters.values()
            if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        ]
        missing = [name for name in required if name not in kwargs]
        found = (
            f"{spec.name} needs {', '.join(missing)}; given {_kwargs_text(kwargs) or 'no arguments'}"
            if missing
            else f"{error}"
        )
        example = ", ".join(f'"{name}": ...' for name in (missing or required))
        raise InputError(
            spec.path,
            found,
            f"{spec.name}{signature}",
            f"Give the constructor's arguments as JSON: --kwargs '{{{example}}}'.",
        ) from None
    bound.apply_defaults()
    arguments = dict(bound.arguments)
    for name, parameter in signature.parameters.items():
        if parameter.kind is parameter.VAR_KEYWORD:
            arguments.update(arguments.pop(name, {}))
    return arguments


def _kwargs_text(kwargs: dict[str, Any]) -> str:
    return ", ".join(f"{name}={value!r}" for name, value in kwargs.items())


def _code_error(path: Path, error: BaseException, doing: str, root: Path) -> InputError:
    """The user's code failed while `doing`: say where (their file and line) and what would fix it."""
    where = _user_frame(error, root)
    found = f"{type(error).__name__}: {str(error).strip().splitlines()[0] if str(error).strip() else ''}".rstrip(": ")
    found += f" while {doing}" + (f", raised at {where}" if where else "")
    if isinstance(error, ModuleNotFoundError) and error.name:
        package = error.name.split(".")[0]
        fix = (
            f"Install the package that provides {package!r} into the Python that runs Vocoscope"
            f" ({sys.executable} -m pip install {package}), or run from the project the file belongs to."
        )
    elif isinstance(error, AttributeError) and "numpy" in str(error):
        fix = (
            "The file uses a NumPy name this NumPy no longer has (for example np.cumproduct, removed in NumPy 2:"
            " np.cumprod); change that line, or run with the NumPy version the file was written for."
        )
    else:
        fix = "Fix that line of the model's code, or give the arguments it needs with --kwargs."
    return InputError(path, found, "model code that imports and builds in this environment", fix)


def _user_frame(error: BaseException, root: Path) -> str:
    """ "file.py:line" of the deepest traceback frame inside the user's folder, or ""."""
    found = ""
    for frame in traceback.extract_tb(error.__traceback__):
        try:
            relative = Path(frame.filename).resolve().relative_to(root)
        except ValueError:
            continue
        found = f"{relative}:{frame.lineno}"
    if isinstance(error, SyntaxError) and error.filename:
        found = f"{error.filename}:{error.lineno}"
    return found


# --- weights ----------------------------------------------------------------------------------------------


def load_checkpoint(module: nn.Module, path: str | Path) -> int:
    """Load the state_dict in `path` into `module` (weights_only: no code is unpickled). Returns the tensor count.

    Accepts a bare state_dict or one nested under a common key (STATE_KEYS); a DataParallel "module." prefix is
    dropped. Missing, unexpected or differently shaped tensors are listed in the error with the fix.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(
            path, "no such file", "a checkpoint saved with torch.save(model.state_dict(), path)", "Check the path."
        )
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 (pickle refusals and foreign files raise many types)
        raise InputError(
            path,
            f"a file torch.load(weights_only=True) refuses ({str(error).splitlines()[0]})",
            "tensors only (a state_dict)",
            "Vocoscope never unpickles code: save the weights alone with torch.save(model.state_dict(), path).",
        ) from None
    state = _state_dict(loaded)
    if state is None:
        keys = ", ".join(map(str, list(loaded)[:6])) if isinstance(loaded, dict) else type(loaded).__name__
        raise InputError(
            path,
            f"no state_dict (top level: {keys})",
            "a dict of tensors, or one under " + "/".join(STATE_KEYS),
            "Save it with torch.save(model.state_dict(), path).",
        )
    own = module.state_dict()
    missing = [key for key in own if key not in state]
    unexpected = [key for key in state if key not in own]
    mismatched = [
        f"{key} {tuple(state[key].shape)} where the model has {tuple(own[key].shape)}"
        for key in own
        if key in state and tuple(state[key].shape) != tuple(own[key].shape)
    ]
    if missing or unexpected or mismatched:
        parts = [
            f"{label} {', '.join(items[:4])}{' …' if len(items) > 4 else ''}"
            for label, items in (("shape", mismatched), ("missing", missing), ("unexpected", unexpected))
            if items
        ]
        raise InputError(
            path,
            "; ".join(parts),
            f"the {len(own)} tensors of {type(module).__name__} as built",
            "Build the model with the arguments the checkpoint was trained with (--kwargs), or give"
            " the checkpoint of this model.",
        )
    module.load_state_dict(state)
    return len(state)


def _state_dict(loaded: Any) -> dict[str, torch.Tensor] | None:
    if not isinstance(loaded, dict):
        return None
    if loaded and all(isinstance(value, torch.Tensor) for value in loaded.values()):
        if all(str(key).startswith("module.") for key in loaded):
            return {key[len("module.") :]: value for key, value in loaded.items()}
        return loaded
    for key in STATE_KEYS:
        nested = _state_dict(loaded.get(key))
        if nested is not None:
            return nested
    return None
