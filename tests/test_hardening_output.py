"""Full-scale DC and NaN never pass silently (issue 22, item 2): generation writes and plays only finite samples, a
run whose output is clipped, constant or silent ends with a warning that names the cause, and a mel of absurd values
(1e30) is refused with a clear message by vocode and inspect alike."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile
import torch

from engine import checkpoints
from engine.cli import main
from engine.features import Conditioning, MelConfig
from engine.generate import generate
from engine.models.registry import build
from engine.output_guard import OutputGuard
from tests.helpers import EchoConfig, MelEcho

RATE = MelConfig().sample_rate


def echo_run(mel_value: float, scale: float, frames: int = 40):
    """Chunks of the stand-in vocoder whose samples are scale · tanh(mel[0]), over a constant mel."""
    model = MelEcho(EchoConfig())
    with torch.no_grad():
        model.scale.fill_(scale)
    mel = np.full((80, frames), mel_value, dtype=np.float32)
    return list(generate(model, Conditioning(mel=mel, mel_config=model.mel_config), device="cpu", seed=0))


def test_nan_samples_become_silence_and_the_last_chunk_says_so():
    chunks = echo_run(0.5, float("nan"))
    samples = np.concatenate([chunk.samples for chunk in chunks])
    assert np.isfinite(samples).all() and not samples.any()
    warning = chunks[-1].stats.warning
    assert f"{len(samples):,} NaN or infinite samples (written as silence)" in warning


def test_full_scale_output_ends_with_a_warning_naming_clipping():
    chunks = echo_run(20.0, 1.0)
    assert np.concatenate([chunk.samples for chunk in chunks]).min() == pytest.approx(1.0)
    assert "clipped at full scale for 0.50 s in a row (from 0.00 s)" in chunks[-1].stats.warning


def test_constant_output_is_called_dc_and_speechlike_output_passes():
    chunks = echo_run(0.5, 0.5)
    assert "stuck at the constant value +0.231 (DC) for 0.50 s" in chunks[-1].stats.warning
    guard = OutputGuard(RATE)
    speech = (0.3 * np.sin(np.arange(RATE) / 9.0) * np.random.default_rng(0).random(RATE)).astype(np.float32)
    for start in range(0, RATE, 720):
        guard.watch(guard.clean(speech[start : start + 720]), start)
    assert guard.warning == ""


def test_a_moment_of_clipping_passes_and_a_silent_take_is_named():
    guard = OutputGuard(RATE)
    take = (0.2 * np.sin(np.arange(RATE) / 5.0)).astype(np.float32)
    take[1000:1100] = 1.0  # 6 ms at full scale: a loud peak, not a broken model
    guard.watch(guard.clean(take), 0)
    assert guard.warning == ""
    silent = OutputGuard(RATE)
    silent.watch(silent.clean(np.full(RATE, 1e-5, np.float32)), 0)
    assert "silent throughout (peak -100 dBFS)" in silent.warning


def test_vocode_prints_the_warning_for_a_model_stuck_at_full_scale_and_writes_finite_audio(tmp_path, capsys):
    torch.manual_seed(0)
    model = build(
        "wavenet",
        {
            "layers": 2,
            "blocks": 1,
            "residual_channels": 4,
            "skip_channels": 4,
            "upsample": {"resnet_blocks": 1, "resnet_channels": 8, "aux_channels": 4},
        },
    )
    with torch.no_grad():  # every draw the top mu-law class: +1.0, for ever
        model.out.bias.fill_(-1e3)
        model.out.bias[-1] = 1e3
    path = checkpoints.save(model, tmp_path / "stuck.safetensors")
    mel = tmp_path / "m.npy"
    np.save(mel, np.random.default_rng(0).random((80, 20), dtype=np.float32))
    out = tmp_path / "out.wav"
    assert main(["vocode", str(mel), "--model", str(path), "-o", str(out), "--seed", "1"]) == 0
    err = capsys.readouterr().err
    assert f"vocoscope: warning: {out}: the output is clipped at full scale for 0.25 s in a row" in err
    audio, _ = soundfile.read(out, dtype="float32")
    assert len(audio) == 20 * 200 and np.isfinite(audio).all()


@pytest.mark.parametrize("command", ["vocode", "inspect"])
def test_a_mel_of_1e30_is_refused_with_one_clear_line(tmp_path, capsys, command):
    mel = tmp_path / "huge.npy"
    np.save(mel, np.full((80, 20), 1e30, np.float32))
    assert main([command, str(mel)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith(
        f"vocoscope: {mel}: found values from 1e+30 to 1e+30, beyond any mel; expected values "
        "within ±10000; for this model's db_minmax normalisation, within [0, 1]"
    )
    assert not (tmp_path / "huge.vocoded.wav").exists()
