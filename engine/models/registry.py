"""Which model families exist, the built-in models, and loading a model by name or path.

A built-in model is resources/models/<name>.safetensors when that file exists (trained=True, its own config),
else the family's default config with weights drawn from a fixed seed (trained=False): the same random model
in every run, useful for trying the program and for tests, silly to listen to.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from engine.catalog import BUILTINS, RESOURCES, ModelInfo
from engine.errors import ConfigError, InputError
from engine.features import MelConfig
from engine.models.base import Vocoder

RANDOM_INIT_SEED = 20240601

# family → (module, model class name, config class name); imported on first use.
_FAMILY_SOURCES = {
    "wavernn": ("engine.models.wavernn.model", "WaveRNN", "WaveRNNConfig"),
    "wavernn-dual": ("engine.models.wavernn_dual.model", "DualSoftmaxWaveRNN", "DualSoftmaxConfig"),
    "wavenet": ("engine.models.wavenet.model", "WaveNet", "WaveNetConfig"),
}


class _Families(Mapping):
    """{family: (ModelCls, ConfigCls)}, importing each family's module only when it is asked for."""

    def __getitem__(self, family: str) -> tuple[type[Vocoder], type]:
        module_name, model_name, config_name = _FAMILY_SOURCES[family]
        module = importlib.import_module(module_name)
        return getattr(module, model_name), getattr(module, config_name)

    def __contains__(self, family: object) -> bool:
        return family in _FAMILY_SOURCES

    def __iter__(self):
        return iter(_FAMILY_SOURCES)

    def __len__(self) -> int:
        return len(_FAMILY_SOURCES)


FAMILIES = _Families()


def register_family(family: str, module: str, model_class: str, config_class: str) -> None:
    """Make checkpoints of `family` loadable: its model and config classes are `module`.`model_class` and
    `module`.`config_class`, imported when first needed. For a vocoder of one's own (a `Vocoder` subclass);
    a built-in family cannot be replaced."""
    if family in _FAMILY_SOURCES and _FAMILY_SOURCES[family] != (module, model_class, config_class):
        raise ConfigError(f"model family {family!r} is already registered; choose another family name.")
    _FAMILY_SOURCES[family] = (module, model_class, config_class)


def build(family: str, model_cfg: dict[str, Any] | Any | None = None, mel_cfg: dict[str, Any] | MelConfig | None = None) -> Vocoder:
    """A freshly initialised model of `family` from config dicts (or config objects); missing keys take defaults."""
    if family not in FAMILIES:
        raise ConfigError(f"unknown model family {family!r}; known families are {', '.join(FAMILIES)}.")
    model_cls, config_cls = FAMILIES[family]
    if model_cfg is None or isinstance(model_cfg, dict):
        model_cfg = config_cls.from_dict(model_cfg or {})
    if mel_cfg is None or isinstance(mel_cfg, dict):
        mel_cfg = MelConfig.from_dict(mel_cfg or {})
    return model_cls(model_cfg, mel_cfg)


def info_for(model: Vocoder, name: str, trained: bool, path: Path | None,
             meta: dict[str, Any] | None = None) -> ModelInfo:
    """The list entry of `model`; `meta` is its checkpoint's metadata, for the training it records."""
    mel = model.mel_config
    training = (meta or {}).get("training", {})
    data = training.get("data") or {}
    training_data = f"{data.get('source', '?')} ({data.get('licence') or 'licence not recorded'})" if data else ""
    steps = int((meta or {}).get("steps", 0)) + int((training.get("initialised_from") or {}).get("steps", 0))
    return ModelInfo(name=name, family=model.family, sample_rate=mel.sample_rate, hop_length=mel.hop_length,
                     n_mels=mel.n_mels, receptive_field=int(model.receptive_field),
                     parameters=model.parameter_count(), trained=trained, path=path, draws=model.draws,
                     sampling=model.own_sampling, steps=steps, training_data=training_data, sparsity=getattr(model, "sparsity_note", ""))


def _builtin(name: str, device: str | torch.device) -> tuple[Vocoder, ModelInfo]:
    from engine import checkpoints

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


def load_model(name_or_path: str | Path, device: str | torch.device = "cpu") -> tuple[Vocoder, ModelInfo]:
    """A built-in name or a checkpoint path → (model in eval mode on `device`, its ModelInfo)."""
    from engine import checkpoints

    if isinstance(name_or_path, str) and name_or_path in BUILTINS:
        return _builtin(name_or_path, device)
    path = Path(name_or_path)
    if not path.exists():
        raise InputError(path, "no built-in model of that name and no such file",
                         f"one of {', '.join(BUILTINS)} or a .safetensors checkpoint",
                         "Run `vocoscope models` for the names, or check the path.")
    loaded = checkpoints.load(path, device=device)
    return loaded.model, info_for(loaded.model, path.stem, True, path, loaded.meta)


def list_models() -> list[ModelInfo]:
    """The built-in models, each built (or loaded) once on the CPU to report its size."""
    return [_builtin(name, "cpu")[1] for name in BUILTINS]
