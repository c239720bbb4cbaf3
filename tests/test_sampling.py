"""One frozen Sampling value (engine/sampling.py): checked where it is made, resolved against a model once."""

import dataclasses

import pytest

from engine.catalog import ModelInfo
from engine.errors import ConfigError
from engine.models.loading import info_for
from engine.models.registry import build
from engine.sampling import SETTINGS, Sampling, resolved


def test_a_sampling_is_frozen_and_holds_only_values_in_range():
    sampling = Sampling(temperature=0.5, candidates=4.0)
    assert (sampling.temperature, sampling.candidates) == (0.5, 4) and isinstance(sampling.candidates, int)
    with pytest.raises(dataclasses.FrozenInstanceError):
        sampling.temperature = 0.7
    for settings, words in (
        ({"temperature": 0.0}, "temperature is 0.0"),
        ({"candidates": 65}, "from 1 to 64"),
        ({"candidates": 2.5}, "a whole number"),
        ({"pitch_postfilter": float("inf")}, "from 0 to 4"),
        ({"envelope_postfilter": True}, "envelope post-filter strength is True"),
    ):
        with pytest.raises(ConfigError, match=words):
            Sampling(**settings)


def test_what_is_asked_for_replaces_the_models_own_and_the_rest_stays():
    own = Sampling(temperature=1.0, candidates=8, pitch_postfilter=0.8, envelope_postfilter=1.0)
    asked = Sampling(temperature=0.3, envelope_postfilter=0.0)
    assert asked.given() == {"temperature": 0.3, "envelope_postfilter": 0.0}
    assert asked.over(own) == Sampling(temperature=0.3, candidates=8, pitch_postfilter=0.8, envelope_postfilter=0.0)
    assert own.words() == ", best of 8 by the mel, pitch post-filter 0.8, envelope post-filter 1"


def test_a_setting_the_model_has_not_is_off_and_may_be_asked_for_only_off():
    def draws(sampling):
        return "16-bit bytes" + sampling.words()

    own = Sampling()  # a model with none of them
    assert resolved(None, own, "dual", draws) == Sampling(
        temperature=None, candidates=1, pitch_postfilter=0.0, envelope_postfilter=0.0, envelope_passes=1
    )
    assert resolved(Sampling(candidates=1, pitch_postfilter=0.0), own, "dual", draws).candidates == 1
    with pytest.raises(
        ConfigError,
        match="this dual draws without a temperature .*; it draws 16-bit bytes. Generate without --temperature.",
    ):
        resolved(Sampling(temperature=0.5), own, "dual", draws)
    with pytest.raises(ConfigError, match="Generate without --candidates or with --candidates 1."):
        resolved(Sampling(candidates=2), own, "dual", draws)


def test_a_setting_every_model_takes_is_given_to_a_model_without_its_own(monkeypatch):
    from engine import sampling

    every = tuple(dataclasses.replace(setting, every_model=setting.name == "pitch_postfilter") for setting in SETTINGS)
    monkeypatch.setattr(sampling, "SETTINGS", every)  # as if generation applied the pitch post-filter to any model
    chosen = resolved(Sampling(pitch_postfilter=0.5), Sampling(), "dual", lambda s: "bytes")
    assert (chosen.pitch_postfilter, chosen.envelope_postfilter) == (0.5, 0.0)
    with pytest.raises(ConfigError, match="has no envelope post-filter"):
        resolved(Sampling(envelope_postfilter=0.5), Sampling(), "dual", lambda s: "bytes")


def test_each_family_says_which_settings_it_has_and_the_list_entry_carries_them():
    wavernn, dual = build("wavernn", {"candidates": 3, "pitch_postfilter": 0.5}), build("wavernn-dual")
    assert wavernn.own_sampling == Sampling(
        temperature=1.0, candidates=3, pitch_postfilter=0.5, envelope_postfilter=0.0, envelope_passes=1
    )
    assert dual.own_sampling == Sampling()
    assert build("wavernn", {"mode": "mol"}).own_sampling.temperature is None
    assert build("wavenet", {"output": "mol"}).own_sampling.candidates is None
    info = info_for(wavernn, "w", False, None)
    assert info.sampling == wavernn.own_sampling and info.draws.endswith("best of 3 by the mel, pitch post-filter 0.5")
    assert ModelInfo.from_dict(info.to_dict()) == info
    chosen = wavernn.sampling(Sampling(candidates=1, temperature=0.5))
    assert wavernn.draws_with(chosen).endswith("T 0.5, pitch post-filter 0.5")
    assert wavernn.config.temperature == 1.0 and wavernn.config.candidates == 3, "the config is left as it was"
