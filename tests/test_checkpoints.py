"""Checkpoints: exact round trips, metadata, extra tensors, atomic writes, and refusing bad or unsafe files."""

import json
import os
import pickle

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from engine import checkpoints
from engine.errors import CheckpointError, ConfigError
from engine.features import Conditioning, MelConfig
from engine.generate import generate
from engine.models import registry
from engine.models.registry import build
from engine.sampling import Sampling

TINY = {
    "wavernn": {
        "rnn_dims": 16,
        "fc_dims": 16,
        "upsample": {"resnet_blocks": 1, "resnet_channels": 8, "aux_channels": 4},
    },
    "wavernn-dual": {"hidden_size": 16, "upsample": {"resnet_blocks": 1, "resnet_channels": 8, "aux_channels": 4}},
    "wavenet": {
        "layers": 3,
        "blocks": 1,
        "residual_channels": 8,
        "skip_channels": 8,
        "upsample": {"resnet_blocks": 1, "resnet_channels": 8, "aux_channels": 4},
    },
}


def tiny(family: str, mel: MelConfig | None = None):
    torch.manual_seed(0)
    return build(family, TINY[family], mel or MelConfig(sample_rate=8000, fmax=4000)).eval()


@pytest.mark.parametrize("family", list(TINY))
def test_round_trip_keeps_weights_config_and_output(family, tmp_path):
    model = tiny(family)
    path = checkpoints.save(model, tmp_path / "m.safetensors", meta={"training_note": "LJ 10 min", "steps": 12})
    loaded = checkpoints.load(path)
    assert json.dumps(loaded.model.config_dict()) == json.dumps(model.config_dict())
    assert loaded.model.mel_config == model.mel_config and loaded.model.family == family
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[key], value), key
    assert loaded.meta["training_note"] == "LJ 10 min" and loaded.meta["steps"] == 12 and loaded.meta["licence"] == ""
    assert not loaded.model.training
    conditioning = Conditioning(
        mel=np.random.default_rng(0).random((80, 3), dtype=np.float32), mel_config=model.mel_config
    )
    original = np.concatenate([c.samples for c in generate(model, conditioning, device="cpu", seed=3)])
    again = np.concatenate([c.samples for c in generate(loaded.model, conditioning, device="cpu", seed=3)])
    np.testing.assert_array_equal(original, again)


def test_extra_tensors_come_back_by_name(tmp_path):
    model = tiny("wavernn")
    optimizer = torch.optim.Adam(model.parameters())
    model.loss(model(torch.rand(1, 80, 3), torch.rand(1, 3 * 200) * 2 - 1), torch.rand(1, 600) * 2 - 1).backward()
    optimizer.step()
    state = {f"adam.{i}.{name}": value for i, s in optimizer.state.items() for name, value in s.items()}
    path = checkpoints.save(model, tmp_path / "m.safetensors", extra_tensors=state)
    extra = checkpoints.load(path).extra_tensors
    assert set(extra) == set(state)
    assert all(torch.equal(extra[k], v) for k, v in state.items())


def test_save_is_atomic_and_leaves_no_temporary_files(tmp_path):
    path = tmp_path / "m.safetensors"
    checkpoints.save(tiny("wavernn"), path)
    before = path.read_bytes()
    with pytest.raises(ValueError, match="family"):
        checkpoints.save(tiny("wavernn"), path, meta={"family": "other"})
    checkpoints.save(tiny("wavenet"), path)
    assert path.read_bytes() != before and os.listdir(tmp_path) == ["m.safetensors"]


def expect_checkpoint_error(path, *words):
    with pytest.raises(CheckpointError) as caught:
        checkpoints.load(path)
    message = str(caught.value)
    assert path.name in message and "expected" in message
    for word in words:
        assert word in message
    return message


def test_random_bytes_and_text_are_refused(tmp_path):
    (tmp_path / "noise.safetensors").write_bytes(np.random.default_rng(0).bytes(3000))
    (tmp_path / "notes.safetensors").write_text("hello, not a checkpoint\n")
    expect_checkpoint_error(tmp_path / "noise.safetensors", "not a safetensors checkpoint")
    expect_checkpoint_error(tmp_path / "notes.safetensors", "not a safetensors checkpoint")
    expect_checkpoint_error(tmp_path / "missing.safetensors", "no such file")


def test_foreign_safetensors_unknown_family_and_mismatched_weights_are_refused(tmp_path):
    save_file({"w": torch.zeros(2)}, str(tmp_path / "foreign.safetensors"))
    expect_checkpoint_error(tmp_path / "foreign.safetensors", "without Vocoscope metadata")

    model = tiny("wavernn")
    header = {**model.config_dict(), "family": "melgan"}
    save_file(
        {"w": torch.zeros(2)},
        str(tmp_path / "melgan.safetensors"),
        metadata={"format": checkpoints.FORMAT, "vocoscope": json.dumps(header)},
    )
    expect_checkpoint_error(tmp_path / "melgan.safetensors", "'melgan'")

    weights = {k: v.clone() for k, v in model.state_dict().items()}
    weights.pop(next(iter(weights)))
    save_file(
        weights,
        str(tmp_path / "short.safetensors"),
        metadata={"format": checkpoints.FORMAT, "vocoscope": json.dumps(model.config_dict())},
    )
    expect_checkpoint_error(tmp_path / "short.safetensors", "1 missing")


class _Payload:
    """Pickles to a call that would create a file if unpickling ran code."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_pickled_code_is_never_executed(tmp_path):
    marker = tmp_path / "pwned"
    with open(tmp_path / "evil.pt", "wb") as f:
        pickle.dump({"weight": _Payload(marker)}, f)
    with pytest.raises(CheckpointError):
        checkpoints.load(tmp_path / "evil.pt", family="wavernn")
    with pytest.raises(CheckpointError):
        checkpoints.load(tmp_path / "evil.pt")
    assert not marker.exists()


def test_plain_state_dict_is_imported_with_its_family(tmp_path):
    model = build("wavernn")
    torch.save({"state_dict": model.state_dict()}, tmp_path / "other.pth")
    message = expect_checkpoint_error(tmp_path / "other.pth", "no model family")
    assert "family" in message
    loaded = checkpoints.load(tmp_path / "other.pth", family="wavernn")
    assert all(torch.equal(loaded.model.state_dict()[k], v) for k, v in model.state_dict().items())
    assert loaded.meta["family"] == "wavernn"


def test_a_trained_builtin_file_replaces_the_random_model(tmp_path, monkeypatch):
    from engine.models import loading

    model = tiny("wavernn")
    checkpoints.save(model, tmp_path / "wavernn.safetensors", meta={"steps": 1000})
    monkeypatch.setattr(loading, "RESOURCES", tmp_path)
    loaded, info = loading.load_model("wavernn")
    assert info.trained and info.path == tmp_path / "wavernn.safetensors"
    assert info.sample_rate == 8000 and info.parameters == model.parameter_count()
    random_dual, dual_info = loading.load_model("wavernn-dual")
    assert not dual_info.trained and dual_info.path is None


def test_untrained_builtins_are_the_same_model_every_time(monkeypatch, tmp_path):
    from engine.models import loading
    from engine.models.loading import load_model

    monkeypatch.setattr(loading, "RESOURCES", tmp_path)  # no trained file: the random-init built-in
    first, info = load_model("wavenet")
    torch.manual_seed(123)  # the global seed must not matter
    second, _ = load_model("wavenet")
    assert not info.trained
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), second.state_dict().values()))


def test_a_family_of_ones_own_loads_once_registered(tmp_path, monkeypatch):
    from tests.tone_vocoder import MelTone, ToneConfig

    monkeypatch.setattr(registry, "_FAMILY_SOURCES", dict(registry._FAMILY_SOURCES))  # undone after the test
    path = checkpoints.save(MelTone(ToneConfig(amplitude=0.3)), tmp_path / "tone.safetensors")
    with pytest.raises(CheckpointError, match="model family 'test-tone'.*one of wavernn, wavernn-dual, wavenet"):
        checkpoints.load(path)
    registry.register_family("test-tone", "tests.tone_vocoder", "MelTone", "ToneConfig")
    loaded = checkpoints.load(path)
    assert isinstance(loaded.model, MelTone) and float(loaded.model.amplitude) == pytest.approx(0.3)
    with pytest.raises(ConfigError, match="'wavenet' is already registered"):
        registry.register_family("wavenet", "tests.tone_vocoder", "MelTone", "ToneConfig")
    assert registry.FAMILIES["wavenet"][0].__name__ == "WaveNet"


def test_bundling_a_run_changes_only_the_temperature_and_post_filter_and_refuses_to_overwrite_unasked(tmp_path, capsys):
    import importlib.util

    from tests.helpers import REPO

    spec = importlib.util.spec_from_file_location("bundle_model", REPO / "packaging" / "bundle_model.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    bundle, main = script.bundle, script.main
    model = build("wavenet", {"lpc_order": 4})
    run = tmp_path / "run.safetensors"
    record = {"steps": 12, "training": {"config": {"learning_rate": 1e-4}, "resume": {"step": 12}}}
    checkpoints.save(model, run, meta=record, extra_tensors={"adam/0/exp_avg": torch.arange(3.0)})
    out = tmp_path / "bundled.safetensors"
    assert main([str(run), str(out), "--temperature", "0.6"]) == 0
    bundled, original = checkpoints.load(out), checkpoints.load(run)
    assert bundled.model.config.temperature == 0.6 and original.model.config.temperature == 1.0
    assert bundled.meta["training"] == record["training"] and bundled.meta["steps"] == 12
    assert torch.equal(bundled.extra_tensors["adam/0/exp_avg"], torch.arange(3.0))
    for name, value in original.model.state_dict().items():
        assert torch.equal(bundled.model.state_dict()[name], value)
    assert f"wrote {out}: 12 steps, T 0.6" in capsys.readouterr().out

    assert main([str(run), str(out), "--temperature", "0.7"]) == 2
    assert "--force" in capsys.readouterr().err and checkpoints.load(out).model.config.temperature == 0.6
    bundle(run, out, Sampling(temperature=0.7), force=True)
    assert checkpoints.load(out).model.config.temperature == 0.7
    assert checkpoints.load(out).model.config.pitch_postfilter == 0.0
    assert main([str(run), str(out), "--temperature", "0.5", "--pitch-postfilter", "0.8", "--force"]) == 0
    assert f"wrote {out}: 12 steps, T 0.5, pitch post-filter 0.8" in capsys.readouterr().out
    assert checkpoints.load(out).model.draws.endswith("T 0.5, pitch post-filter 0.8")
    with pytest.raises(ConfigError, match="this wavenet does not choose among draws"):
        bundle(run, out, Sampling(temperature=0.5, candidates=8), force=True)
    checkpoints.save(build("wavernn"), tmp_path / "wavernn.safetensors")
    assert (
        main(
            [
                str(tmp_path / "wavernn.safetensors"),
                str(tmp_path / "wavernn-bundled.safetensors"),
                "--temperature",
                "0.9",
                "--pitch-postfilter",
                "0.8",
                "--candidates",
                "8",
            ]
        )
        == 0
    )
    assert "T 0.9, best of 8 by the mel, pitch post-filter 0.8" in capsys.readouterr().out
    bundled = checkpoints.load(tmp_path / "wavernn-bundled.safetensors").model
    assert (bundled.config.candidates, bundled.config.pitch_postfilter) == (8, 0.8)
    assert bundled.draws.endswith("T 0.9, best of 8 by the mel, pitch post-filter 0.8")
    checkpoints.save(build("wavernn-dual"), tmp_path / "dual.safetensors")
    with pytest.raises(ConfigError, match="mu-law models only"):
        bundle(tmp_path / "dual.safetensors", tmp_path / "dual-bundled.safetensors", Sampling(temperature=0.5))
