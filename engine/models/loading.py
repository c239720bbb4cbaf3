"""Loading a model by name or path, and the model list: the half of the catalogue that needs torch, above the family
registry (engine/models/registry.py) and the checkpoints (engine/checkpoints.py), which import neither it nor
engine/catalog.py (the torch-free half: the built-ins, ModelInfo, the list's cache).

A built-in model is resources/models/<name>.safetensors when that file exists (trained=True, its own config),
else the family's default config with weights drawn from a fixed seed (trained=False): the same random model
in every run, useful for trying the program and for tests, silly to listen to.

Importing this module imports no torch: `vocoscope models` reads the list from the cache through it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine import catalog
from engine.catalog import BUILTINS, RESOURCES, ModelInfo
from engine.errors import InputError

if TYPE_CHECKING:
    import torch

    from engine.models.base import Vocoder

RANDOM_INIT_SEED = 20240601


def info_for(
    model: Vocoder, name: str, trained: bool, path: Path | None, meta: dict[str, Any] | None = None
) -> ModelInfo:
    """The list entry of `model`; `meta` is its checkpoint's metadata, for the training it records."""
    mel = model.mel_config
    training = (meta or {}).get("training", {})
    data = training.get("data") or {}
    training_data = f"{data.get('source', '?')} ({data.get('licence') or 'licence not recorded'})" if data else ""
    steps = int((meta or {}).get("steps", 0)) + int((training.get("initialised_from") or {}).get("steps", 0))
    return ModelInfo(
        name=name,
        family=model.family,
        sample_rate=mel.sample_rate,
        hop_length=mel.hop_length,
        n_mels=mel.n_mels,
        receptive_field=int(model.receptive_field),
        parameters=model.parameter_count(),
        trained=trained,
        path=path,
        draws=model.draws,
        sampling=model.own_sampling,
        steps=steps,
        training_data=training_data,
        sparsity=getattr(model, "sparsity_note", ""),
    )


def load_model(name_or_path: str | Path, device: str | torch.device = "cpu") -> tuple[Vocoder, ModelInfo]:
    """A built-in name or a checkpoint path → (model in eval mode on `device`, its ModelInfo)."""
    from engine import checkpoints

    if isinstance(name_or_path, str) and name_or_path in BUILTINS:
        return _builtin(name_or_path, device)
    path = Path(name_or_path)
    if not path.exists():
        raise InputError(
            path,
            "no built-in model of that name and no such file",
            f"one of {', '.join(BUILTINS)} or a .safetensors checkpoint",
            "Run `vocoscope models` for the names, or check the path.",
        )
    loaded = checkpoints.load(path, device=device)
    return loaded.model, info_for(loaded.model, path.stem, True, path, loaded.meta)


def list_models() -> list[ModelInfo]:
    """The built-in models, each built (or loaded) once on the CPU to report its size."""
    return [_builtin(name, "cpu")[1] for name in BUILTINS]


def list_builtins() -> list[ModelInfo]:
    """The built-in models' list entries, from the cache where it has them (no torch), else `list_models`."""
    return catalog.list_builtins(list_models)


def _builtin(name: str, device: str | torch.device) -> tuple[Vocoder, ModelInfo]:
    import torch

    from engine import checkpoints
    from engine.models.registry import build

    path = RESOURCES / f"{name}.safetensors"
    if path.exists():
        loaded = checkpoints.load(path, device=device)
        return loaded.model, info_for(loaded.model, name, True, path, loaded.meta)
    spec = BUILTINS[name]
    # The fixed seed makes the untrained built-in the same model in every run, without touching global RNG state.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(RANDOM_INIT_SEED)
        model = build(spec.family, spec.model)
    model.to(device).eval()
    return model, info_for(model, name, False, None)
