"""How one generation draws: a frozen `Sampling` value, checked once where it is made (the window, the command line, a
benchmark) and passed whole down to the model: `generate(model, conditioning, sampling=...)`, `model.stream(mel,
sampling=...)`. No model's config changes for a generation.

A setting left None is the model's own (its family's config keeps it, and a checkpoint carries it). `SETTINGS` says,
per setting, its range, its value when off and how the command line names it, so that the checks, `vocode`'s
options and `ModelInfo` all follow from this one table. docs/architecture.md says which files adding one touches.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Callable

from engine.errors import ConfigError


@dataclass(frozen=True)
class Setting:
    """name: the field of `Sampling` and of the family configs that offer it; kind: int or float; low, high: its
    range; off: the value that leaves it out of generation, which any model takes (None: every value needs a model
    that has it); plain: the value a model's description leaves unsaid; shown: how the description says another
    (a format); words: its name in messages; missing: what a model without it is, for the refusal; metavar, help:
    its `vocode` option (--name-with-dashes); every_model: any model takes any value of it (one that generation
    applies, not the model), off unless asked for where a model's config has no own value of it; within: the
    setting it refines, without which it changes nothing (a description leaves it out where that one is 0)."""

    name: str
    kind: type
    low: float
    high: float
    off: Any
    plain: Any
    shown: str
    words: str
    missing: str
    metavar: str
    help: str
    every_model: bool = False
    within: str | None = None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def checked(self, value: Any) -> Any:
        """`value` as this setting's kind; raises `ConfigError` for one outside its range (or not a whole number)."""
        whole = self.kind is int and isinstance(value, (int, float)) and float(value).is_integer()
        number = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if not number or (self.kind is int and not whole) or not self.low <= value <= self.high:
            kind = "a whole number" if self.kind is int else "a number"
            raise ConfigError(
                f"the {self.words} is {value}; it must be {kind} from {self.low:g} to {self.high:g}"
                f"{f' ({self.off:g}: off)' if self.off is not None else ''}."
            )
        return self.kind(value)


SETTINGS = (
    Setting(
        "temperature",
        float,
        1e-3,
        100.0,
        None,
        1.0,
        "T {:g}",
        "temperature",
        "draws without a temperature (a temperature applies to mu-law models only)",
        "T",
        "draw at temperature T instead of the model's own (mu-law models; below 1: less noise)",
    ),
    Setting(
        "candidates",
        int,
        1,
        64,
        1,
        1,
        "best of {} by the mel",
        "number of candidates",
        "does not choose among draws (mel guidance chooses among the mu-law draws of a WaveRNN)",
        "K",
        "choose each block among K draws by the mel instead of the model's own number (WaveRNN mu-law models; "
        "1: every draw kept, as fast as sampling can go)",
    ),
    Setting(
        "pitch_postfilter",
        float,
        0.0,
        4.0,
        0.0,
        0.0,
        "pitch post-filter {:g}",
        "pitch post-filter strength",
        "has no pitch post-filter",
        "S",
        "pitch post-filter at strength S (up to 4) instead of the model's own (0: off)",
    ),
    Setting(
        "envelope_postfilter",
        float,
        0.0,
        1.0,
        0.0,
        0.0,
        "envelope post-filter {:g}",
        "envelope post-filter strength",
        "has no envelope post-filter",
        "S",
        "mel-envelope post-filter at strength S (up to 1) instead of the model's own (0: "
        "off; with --pitch-postfilter 0, the model's raw output)",
    ),
    Setting(
        "envelope_passes",
        int,
        1,
        16,
        1,
        1,
        "{} envelope passes",
        "number of envelope post-filter passes",
        "has no envelope post-filter passes",
        "N",
        "put the output through the envelope post-filter N times (up to 16) instead of the model's own number: "
        "each pass brings the mel bands nearer the conditioning mel (64 ms more delay each)",
        every_model=True,
        within="envelope_postfilter",
    ),
)


@dataclass(frozen=True)
class Sampling:
    """temperature: mu-law classes are drawn from softmax(logits / temperature); candidates: each block is the best
    of this many draws by the mel (engine/models/wavernn/mel_guide.py); pitch_postfilter, envelope_postfilter: the
    strengths of the post-filters generation applies (engine/postfilter.py, engine/envelope.py); envelope_passes:
    how many times the envelope post-filter is applied, one after another. None: the model's own. Made only with
    values in range (`SETTINGS`), else `ConfigError`."""

    temperature: float | None = None
    candidates: int | None = None
    pitch_postfilter: float | None = None
    envelope_postfilter: float | None = None
    envelope_passes: int | None = None

    def __post_init__(self):
        for setting in SETTINGS:
            value = getattr(self, setting.name)
            if value is not None:
                object.__setattr__(self, setting.name, setting.checked(value))

    def given(self) -> dict[str, Any]:
        """{name: value} of the settings that are set."""
        return {name: value for name, value in dataclasses.asdict(self).items() if value is not None}

    def words(self) -> str:
        """The settings a model's description mentions, e.g. ", T 0.5, best of 8 by the mel, pitch post-filter 0.8"
        ("" for none)."""
        values = ((setting, getattr(self, setting.name)) for setting in SETTINGS)
        return "".join(
            f", {setting.shown.format(value)}"
            for setting, value in values
            if value is not None
            and value != setting.plain
            and (setting.within is None or getattr(self, setting.within) != 0)
        )

    def over(self, own: Sampling) -> Sampling:
        """These settings where set, `own`'s for the rest."""
        return dataclasses.replace(own, **self.given())


def own_sampling(config: Any) -> Sampling:
    """A family config's own sampling: each setting it has (a field of that name), None for the rest; raises
    `ConfigError` for a value out of range, naming the config's field."""
    values = {setting.name: getattr(config, setting.name) for setting in SETTINGS if hasattr(config, setting.name)}
    try:
        return Sampling(**values)
    except ConfigError as error:
        raise ConfigError(f"{type(config).__name__}: {error}") from None


def resolved(requested: Sampling | None, own: Sampling, family: str, draws: Callable[[Sampling], str]) -> Sampling:
    """The sampling a generation with `requested` draws with on a model whose own is `own` (None for the settings it
    has not): each requested setting where the model has it (or it is off), the model's own for the rest, off where
    the model has none. Raises `ConfigError` for a setting the model has not, naming its `family` and what it
    `draws` by its own sampling."""
    requested = requested or Sampling()
    base = dataclasses.replace(
        own, **{setting.name: setting.off for setting in SETTINGS if getattr(own, setting.name) is None}
    )
    for setting in SETTINGS:
        value = getattr(requested, setting.name)
        if (
            value is not None
            and getattr(own, setting.name) is None
            and value != setting.off
            and not setting.every_model
        ):
            raise ConfigError(
                f"this {family} {setting.missing}; it draws {draws(base)}. Generate without "
                f"{setting.flag}" + (f" or with {setting.flag} {setting.off:g}." if setting.off is not None else ".")
            )
    return requested.over(base)
