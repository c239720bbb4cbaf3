"""Which model families exist, and building a model of one from its config. Loading a model by name or path is
engine/models/loading.py's, above this module and the checkpoints."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any


from engine.errors import ConfigError
from engine.features import MelConfig
from engine.models.base import Vocoder

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


def build(
    family: str, model_cfg: dict[str, Any] | Any | None = None, mel_cfg: dict[str, Any] | MelConfig | None = None
) -> Vocoder:
    """A freshly initialised model of `family` from config dicts (or config objects); missing keys take defaults."""
    if family not in FAMILIES:
        raise ConfigError(f"unknown model family {family!r}; known families are {', '.join(FAMILIES)}.")
    model_cls, config_cls = FAMILIES[family]
    if model_cfg is None or isinstance(model_cfg, dict):
        model_cfg = config_cls.from_dict(model_cfg or {})
    if mel_cfg is None or isinstance(mel_cfg, dict):
        mel_cfg = MelConfig.from_dict(mel_cfg or {})
    return model_cls(model_cfg, mel_cfg)
