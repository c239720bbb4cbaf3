"""Training: the loss falls, checkpoints resume exactly, the saved model is the trained one, the CLI and data."""

import copy
import csv
import json
import re
import signal

import numpy as np
import pytest
import soundfile
import torch

from engine import checkpoints
from engine.cli import main
from engine.datasets import SegmentDataset
from engine.errors import ConfigError
from engine.features import MelConfig, mel_spectrogram
from engine.models.loading import load_model
from engine.train import VALIDATION_SEED, Trainer, run_training

pytestmark = pytest.mark.slow  # every test here trains a model

RATE = 16000
HOP = MelConfig().hop_length

TINY_MODELS = {
    "wavernn": {
        "rnn_dims": 16,
        "fc_dims": 16,
        "bits": 6,
        "upsample": {"resnet_blocks": 1, "resnet_channels": 8, "aux_channels": 8},
    },
    "wavenet": {
        "blocks": 1,
        "layers": 4,
        "residual_channels": 8,
        "skip_channels": 16,
        "bits": 6,
        "upsample": {"resnet_blocks": 1, "resnet_channels": 8, "aux_channels": 8},
    },
}
TINY_TRAINING = {
    "batch_size": 4,
    "segment_frames": 5,
    "context_frames": 1,
    "learning_rate": 0.01,
    "checkpoint_every": 20,
    "log_every": 5,
    "seed": 7,
}


@pytest.fixture(scope="module")
def tone_set(tmp_path_factory, warm_librosa):
    """Three half-second recordings of steady tones (different pitches and levels), written as real WAV files."""
    folder = tmp_path_factory.mktemp("tones")
    t = np.arange(RATE // 2) / RATE
    for index, (frequency, level) in enumerate([(220.0, 0.5), (330.0, 0.3), (495.0, 0.4)]):
        soundfile.write(str(folder / f"tone{index}.wav"), level * np.sin(2 * np.pi * frequency * t), RATE)
    return folder


@pytest.fixture(scope="module")
def held_out_set(tmp_path_factory, warm_librosa):
    """Two half-second tones that `tone_set` does not hold: 16 whole segments of 5 frames in all."""
    folder = tmp_path_factory.mktemp("held-out")
    t = np.arange(RATE // 2) / RATE
    for index, (frequency, level) in enumerate([(275.0, 0.45), (410.0, 0.35)]):
        soundfile.write(str(folder / f"held{index}.wav"), level * np.sin(2 * np.pi * frequency * t), RATE)
    return folder


def sections(family):
    return {"model": TINY_MODELS[family], "mel": {}, "train": dict(TINY_TRAINING)}


def generated(model, mel, seed):
    """The model's sampled output for `mel` (1, n_mels, F) with a generator seeded by `seed`: (F · hop,)."""
    generator = torch.Generator().manual_seed(seed)
    return torch.cat([block.samples for block in model.eval().stream(mel, generator=generator)], dim=1)[0]


@pytest.mark.parametrize("family", ["wavernn", "wavenet"])
def test_fifty_steps_lower_the_loss_and_the_checkpoint_resumes_exactly(family, tone_set, tmp_path):
    straight = Trainer.new(family, tone_set, sections=sections(family), device="cpu")
    result = run_training(straight, tmp_path / "straight.safetensors", 50, log_path=tmp_path / "straight.csv")
    first, last = result.losses[0][1], result.losses[-1][1]
    assert result.steps == 50 and not result.interrupted
    assert last < 0.8 * first, f"loss went from {first:.3f} to {last:.3f} in 50 steps"

    halves = Trainer.new(family, tone_set, sections=sections(family), device="cpu")
    run_training(halves, tmp_path / "halves.safetensors", 23, log_path=None)
    resumed = Trainer.resume(tmp_path / "halves.safetensors", tone_set, family=family, device="cpu")
    assert resumed.step_count == 23
    run_training(resumed, tmp_path / "halves.safetensors", 50, log_path=None)
    for name, value in straight.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[name]), f"{name} differs after resuming"

    loaded = checkpoints.load(tmp_path / "straight.safetensors")
    assert loaded.meta["steps"] == 50
    mel = torch.from_numpy(straight.dataset.recordings[0].mel[None, :, :6])
    assert torch.equal(generated(loaded.model, mel, seed=3), generated(straight.model, mel, seed=3))


def test_ctrl_c_saves_after_the_step_in_progress(tone_set, tmp_path):
    trainer = Trainer.new("wavernn", tone_set, sections=sections("wavernn"), device="cpu")

    def press_ctrl_c_at_step_7():
        if trainer.step_count == 7:
            signal.raise_signal(signal.SIGINT)
        return False

    out = tmp_path / "interrupted.safetensors"
    handler_before = signal.getsignal(signal.SIGINT)
    result = run_training(trainer, out, 50, log_path=None, should_stop=press_ctrl_c_at_step_7)
    assert result.interrupted and result.steps == 7
    assert checkpoints.load(out).meta["steps"] == 7
    assert signal.getsignal(signal.SIGINT) is handler_before


def test_checkpoint_records_config_data_licence_and_steps(tone_set, tmp_path):
    (tone_set / "manifest.json").write_text(
        json.dumps({"source": "tones", "speaker": "none", "licence": "CC0-1.0", "attribution": "made in the test"})
    )
    try:
        trainer = Trainer.new("wavenet", tone_set, sections=sections("wavenet"), device="cpu")
        run_training(trainer, tmp_path / "m.safetensors", 3, log_path=None)
    finally:
        (tone_set / "manifest.json").unlink()
    meta = checkpoints.load(tmp_path / "m.safetensors").meta
    assert meta["steps"] == 3
    assert meta["licence"].startswith("CC0-1.0")
    assert meta["training_note"].startswith("tones") and "3 files" in meta["training_note"]
    assert meta["training"]["config"]["batch_size"] == 4
    assert meta["model"]["residual_channels"] == 8 and meta["mel"]["n_mels"] == 80


def test_segments_are_aligned_to_hops_and_mels_are_cached(tmp_path, warm_librosa):
    audio = np.random.default_rng(0).uniform(-0.5, 0.5, 37 * HOP + 77).astype(np.float32)
    soundfile.write(str(tmp_path / "noise.wav"), audio, RATE, subtype="FLOAT")
    dataset = SegmentDataset(tmp_path, MelConfig(), frames=6)
    full_mel = mel_spectrogram(audio[: 37 * HOP], MelConfig())
    mels, audios = dataset.sample(np.random.default_rng(1), batch_size=5)
    assert mels.shape == (5, 80, 6) and audios.shape == (5, 6 * HOP)
    for mel, segment in zip(mels.numpy(), audios.numpy()):
        start = int(np.flatnonzero(audio == segment[0])[0])
        assert start % HOP == 0
        np.testing.assert_array_equal(segment, audio[start : start + 6 * HOP])
        np.testing.assert_allclose(mel, full_mel[:, start // HOP : start // HOP + 6], atol=1e-5)
    cached = list((tmp_path / ".vocoscope-cache").rglob("noise.wav.npz"))
    assert len(cached) == 1
    again = SegmentDataset(tmp_path, MelConfig(), frames=6)
    np.testing.assert_array_equal(again.recordings[0].mel, dataset.recordings[0].mel)


def test_train_command_writes_a_checkpoint_and_refuses_to_overwrite_it(tone_set, tmp_path, capsys):
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps({"model": TINY_MODELS["wavernn"], "train": TINY_TRAINING}))
    out = tmp_path / "cli.safetensors"
    args = ["train", "--data", str(tone_set), "--model", "wavernn", "--config", str(config), "--out", str(out)]
    assert main(args + ["--steps", "5"]) == 0
    assert checkpoints.load(out).meta["steps"] == 5
    assert [row.split(",")[0] for row in (tmp_path / "cli.csv").read_text().splitlines()] == ["step", "5"]
    assert main(args + ["--steps", "10"]) == 2
    assert "--resume" in capsys.readouterr().err
    assert (
        main(["train", "--data", str(tone_set), "--model", "wavernn", "--out", str(out), "--steps", "10", "--resume"])
        == 0
    )
    assert checkpoints.load(out).meta["steps"] == 10


def test_minutes_stops_and_saves_and_each_command_records_where_and_how_long_it_trained(tone_set, tmp_path, capsys):
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps({"model": TINY_MODELS["wavernn"], "train": TINY_TRAINING}))
    out = tmp_path / "lent.safetensors"
    args = ["train", "--data", str(tone_set), "--model", "wavernn", "--out", str(out), "--steps", "100000"]
    # 6 ms: loading the data takes longer, so the first step's check stops the run
    assert main(args + ["--config", str(config), "--minutes", "0.0001"]) == 0
    assert "--minutes 0.0001 used at step 1; saved" in capsys.readouterr().err
    first = checkpoints.load(out).meta["training"]
    assert first["resume"] and checkpoints.load(out).meta["steps"] == 1
    assert (
        main(["train", "--data", str(tone_set), "--model", "wavernn", "--out", str(out), "--steps", "4", "--resume"])
        == 0
    )
    parts = checkpoints.load(out).meta["training"]["parts"]
    assert [part["steps"] for part in parts] == [[0, 1], [1, 4]]
    assert parts[0]["command"].endswith("--steps 100000 --config " + str(config))
    assert parts[1]["command"].endswith("--resume")
    for part in parts:
        assert re.fullmatch(r".+, cpu: \d+ torch thread\(s\) of \d+ core\(s\), torch .+", part["where"])
        assert part["seconds"] > 0
    assert sum(part["seconds"] for part in parts) == pytest.approx(
        checkpoints.load(out).meta["training"]["seconds_trained"], abs=0.2
    )
    assert main(args + ["--minutes", "0", "--resume"]) == 2
    assert "--minutes: found 0; expected a positive number of minutes" in capsys.readouterr().err


def test_init_starts_a_new_run_from_another_checkpoints_weights_where_they_fit(tone_set, tmp_path, capsys):
    """Fine-tuning a WaveNet into one with linear prediction: every weight but the new input layer is copied."""
    source = Trainer.new("wavenet", tone_set, sections=sections("wavenet"), device="cpu")
    run_training(source, tmp_path / "plain.safetensors", 5, log_path=None)
    with_lpc = sections("wavenet")
    with_lpc["model"] = {**with_lpc["model"], "lpc_order": 8}
    config = tmp_path / "lpc.json"
    config.write_text(json.dumps(with_lpc))
    out = tmp_path / "lpc.safetensors"
    args = ["train", "--data", str(tone_set), "--model", "wavenet", "--config", str(config), "--out", str(out)]
    assert main(args + ["--steps", "1", "--init", str(tmp_path / "plain.safetensors")]) == 0
    assert "2 fresh: lpc_input.weight, lpc_input.bias" in capsys.readouterr().err
    record = checkpoints.load(out).meta["training"]["initialised_from"]
    assert record["steps"] == 5 and record["fresh"] == ["lpc_input.weight", "lpc_input.bias"]
    assert len(record["copied"]) == len(source.model.state_dict())
    listed = load_model(out)[1]
    assert listed.steps == 1 + 5, "the model list counts the steps of the run it started from"
    assert listed.training_data == f"{tone_set} (unknown (no manifest.json beside the data))"

    fine_tuned = Trainer.new("wavenet", tone_set, sections=with_lpc, device="cpu", init=tmp_path / "plain.safetensors")
    for name, value in source.model.state_dict().items():
        assert torch.equal(fine_tuned.model.state_dict()[name], value), f"{name} was not copied"

    assert main(args + ["--steps", "2", "--resume", "--init", str(tmp_path / "plain.safetensors")]) == 2
    assert "--init together with --resume" in capsys.readouterr().err
    other_mel = {**with_lpc, "mel": {"n_mels": 40}}
    config.write_text(json.dumps(other_mel))
    assert main(args[:-1] + [str(tmp_path / "m40.safetensors"), "--init", str(tmp_path / "plain.safetensors")]) == 2
    message = capsys.readouterr().err
    assert "plain.safetensors" in message and "'n_mels': 80" in message and "'n_mels': 40" in message


def test_init_grows_a_wavenet_by_a_block_that_first_changes_nothing_and_then_learns(tone_set, tmp_path, capsys):
    """More blocks from a trained WaveNet: the old layers keep their conditioning rows and skip columns, the added
    ones start with zero skip columns and residual convolutions, so the grown model computes what the source did."""
    small = sections("wavenet")
    small["model"] = {**small["model"], "lpc_order": 8}
    source = Trainer.new("wavenet", tone_set, sections=small, device="cpu")
    run_training(source, tmp_path / "small.safetensors", 5, log_path=None)
    deeper = copy.deepcopy(small)
    deeper["model"]["blocks"] = 2
    grown = Trainer.new("wavenet", tone_set, sections=deeper, device="cpu", init=tmp_path / "small.safetensors")
    added = [f"layers.{layer}.residual.{kind}" for layer in range(4, 8) for kind in ("bias", "weight")]
    assert grown.initialised_from["grown"] == sorted(["condition.bias", "condition.weight", "skip.weight", *added])
    assert grown.initialised_from["fresh"] == [
        f"layers.{layer}.filter_gate.{kind}" for layer in range(4, 8) for kind in ("weight", "bias")
    ]

    mel, audio = source.dataset.sample(np.random.default_rng(0), 3)
    with torch.no_grad():
        expected = source.model.eval()(mel, audio)
        assert torch.allclose(grown.model.eval()(mel, audio), expected, atol=1e-5)
    grown.model.train()
    grown.step()
    columns = grown.model.skip.weight.detach().squeeze(-1).abs().reshape(16, 8, 8).amax(dim=(0, 2))  # per layer
    assert torch.all(columns[4:] > 0), "the first step opens the added layers' skip path"
    grown.step()
    feeding = [f"layers.{layer}.residual.weight" for layer in range(4, 7)]  # the last layer's feeds nothing
    assert all(grown.model.state_dict()[name].abs().max() > 0 for name in feeding), "then their residual path"

    config = tmp_path / "deeper.json"
    config.write_text(json.dumps(deeper))
    out = tmp_path / "deeper.safetensors"
    assert (
        main(
            [
                "train",
                "--data",
                str(tone_set),
                "--model",
                "wavenet",
                "--config",
                str(config),
                "--out",
                str(out),
                "--steps",
                "1",
                "--init",
                str(tmp_path / "small.safetensors"),
            ]
        )
        == 0
    )
    assert "11 grown (added layers or inputs start by changing nothing), 8 fresh" in capsys.readouterr().err


def test_train_command_names_a_folder_without_audio(tmp_path, capsys):
    assert main(["train", "--data", str(tmp_path), "--model", "wavenet", "--out", str(tmp_path / "m.safetensors")]) == 2
    message = capsys.readouterr().err
    assert str(tmp_path) in message and "no audio files" in message and "vocoscope trainset" in message


def test_trainset_holds_recordings_out_of_training(tmp_path):
    pytest.importorskip("G722", reason="the g722 decoder (pip install g722) builds the speech set")
    from engine.trainset import SOURCES, build_trainset

    if not SOURCES["asterisk-en"].folder.is_dir():
        pytest.skip("apt-get install asterisk-core-sounds-en-g722 to build the speech set")
    manifest = build_trainset(tmp_path)
    train, held_out = set(manifest["files"]["train"]), set(manifest["files"]["heldout"])
    assert len(held_out) >= 8 and len(train) > 500 and not train & held_out
    assert manifest["licence"] == "CC-BY-SA-3.0"
    assert sorted(p.name for p in (tmp_path / "heldout").iterdir()) == sorted(held_out)
    info = soundfile.info(str(tmp_path / "heldout" / sorted(held_out)[0]))
    assert info.samplerate == 16000 and 2.5 <= info.duration <= 8.0


def with_validation(family, **train):
    values = sections(family)
    values["train"].update(train)
    return values


def test_validation_loss_is_the_eval_mode_loss_on_fixed_held_out_segments(tone_set, held_out_set, tmp_path):
    """6 of the 16 held-out segments, in batches of 4 and 2: the reported loss is each segment's loss, averaged."""
    trainer = Trainer.new(
        "wavernn",
        tone_set,
        sections=with_validation("wavernn", valid_every=3, valid_segments=6),
        device="cpu",
        valid_root=held_out_set,
    )
    result = run_training(trainer, tmp_path / "m.safetensors", 7, log_path=None)
    assert [step for step, _ in result.valid_losses] == [3, 6, 7]
    assert all(module.training for module in trainer.model.modules())

    held_out = SegmentDataset(held_out_set, trainer.model.mel_config, frames=5)
    mel, audio = held_out.fixed_segments(6, VALIDATION_SEED)
    assert mel.shape == (6, 80, 5) and audio.shape == (6, 5 * HOP)
    every_one, _ = held_out.fixed_segments(100, VALIDATION_SEED)
    assert every_one.shape[0] == 16 and len({m.numpy().tobytes() for m in every_one}) == 16

    def segment_loss(model, index):
        one_mel, one_audio = mel[index : index + 1], audio[index : index + 1]
        output, target = model(one_mel, one_audio), model.training_target(one_mel, one_audio)
        return float(model.loss(output[..., HOP:-HOP], target[:, HOP:-HOP]))  # context_frames = 1

    with torch.no_grad():
        expected = np.mean([segment_loss(trainer.model.eval(), index) for index in range(6)])
        in_train_mode = np.mean([segment_loss(copy.deepcopy(trainer.model).train(), index) for index in range(6)])
    assert result.valid_losses[-1][1] == pytest.approx(expected, abs=1e-6)
    assert abs(in_train_mode - expected) > 1e-4, "BatchNorm's batch statistics should give another loss"


def test_validation_leaves_training_bit_for_bit_unchanged(tone_set, held_out_set, tmp_path):
    plain = Trainer.new("wavenet", tone_set, sections=with_validation("wavenet", valid_every=2), device="cpu")
    run_training(plain, tmp_path / "plain.safetensors", 6, log_path=None)
    validated = Trainer.new(
        "wavenet", tone_set, sections=with_validation("wavenet", valid_every=2), device="cpu", valid_root=held_out_set
    )
    result = run_training(validated, tmp_path / "validated.safetensors", 6, log_path=None)
    assert [step for step, _ in result.valid_losses] == [2, 4, 6]

    state = validated.model.state_dict()
    assert any(name.endswith("running_mean") for name in state)
    for name, value in plain.model.state_dict().items():
        assert torch.equal(value, state[name]), f"{name} differs when validating"
    assert plain.batch_rng.bit_generator.state == validated.batch_rng.bit_generator.state
    plain_adam, validated_adam = plain.optimizer.state_dict()["state"], validated.optimizer.state_dict()["state"]
    for index, values in plain_adam.items():
        for name, value in values.items():
            assert torch.equal(value, validated_adam[index][name]), f"Adam's {name} of parameter {index} differs"


def test_validation_log_has_a_row_every_valid_every_steps_and_at_the_end_and_resume_appends(
    tone_set, held_out_set, tmp_path, capsys
):
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps(with_validation("wavernn", valid_every=2, valid_segments=6)))
    out = tmp_path / "v.safetensors"
    common = ["train", "--data", str(tone_set), "--model", "wavernn", "--out", str(out), "--valid", str(held_out_set)]
    assert main(common + ["--config", str(config), "--steps", "5"]) == 0
    reported = re.findall(r"step (\d+): validation loss ([\d.]+) \((\d+) segments from (.+)\)", capsys.readouterr().err)
    with (tmp_path / "v.valid.csv").open() as log:
        rows = list(csv.reader(log))
    assert rows[0] == ["step", "valid_loss", "seconds_trained"]
    assert [row[0] for row in rows[1:]] == ["2", "4", "5"]
    assert [(step, segments, folder) for step, _, segments, folder in reported] == [
        (step, "6", str(held_out_set)) for step in ("2", "4", "5")
    ]
    for (_, printed, _, _), row in zip(reported, rows[1:]):
        assert float(printed) == pytest.approx(float(row[1]), abs=1e-4)
    record = checkpoints.load(out).meta["training"]["valid"]
    assert record["step"] == 5 and record["segments"] == 6 and f"{record['loss']:.5f}" == rows[-1][1]
    assert record["data"]["part"] == held_out_set.name

    assert main(common + ["--steps", "8", "--resume"]) == 0
    with (tmp_path / "v.valid.csv").open() as log:
        resumed_rows = list(csv.reader(log))
    assert resumed_rows[:4] == rows
    assert [row[0] for row in resumed_rows[4:]] == ["6", "8"]
    record = checkpoints.load(out).meta["training"]["valid"]
    assert record["step"] == 8 and f"{record['loss']:.5f}" == resumed_rows[-1][1]


def test_train_command_refuses_a_validation_folder_that_is_missing_too_short_or_not_held_out(
    tone_set, tmp_path, capsys
):
    empty = tmp_path / "empty"
    empty.mkdir()
    short = tmp_path / "short"
    short.mkdir()
    soundfile.write(str(short / "click.wav"), np.full(6 * HOP, 0.1), RATE)  # 6 frames; a segment is 8 here
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "copy-of-tone1.wav").symlink_to(tone_set / "tone1.wav")
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps(with_validation("wavernn", segment_frames=8)))
    out = tmp_path / "m.safetensors"
    cases = [
        (tmp_path / "missing", "no such folder; expected a folder of audio files. Check --valid"),
        (empty, "no audio files"),
        (short, "recordings of at most 6 mel frames"),
        (tone_set, "the training folder --data"),
        (tone_set / "heldout", "a folder inside the training folder --data"),
        (shared, "1 recording(s) that are also under --data"),
    ]
    for folder, found in cases:
        args = [
            "train",
            "--data",
            str(tone_set),
            "--model",
            "wavernn",
            "--config",
            str(config),
            "--out",
            str(out),
            "--steps",
            "2",
            "--valid",
            str(folder),
        ]
        assert main(args) == 2, folder
        message = capsys.readouterr().err
        assert message.startswith(f"vocoscope: {folder}: found ") and found in message, message
        assert "Traceback" not in message and not out.exists()
        if folder in (tone_set, tone_set / "heldout", shared):
            assert "Hold those recordings out" in message

    config.write_text(json.dumps(with_validation("wavernn", valid_every=0)))
    assert main(args[:-1] + [str(empty.parent / "missing")]) == 2
    assert "valid_every and valid_segments must be 1 or more" in capsys.readouterr().err


def test_the_learning_rate_halves_every_lr_halving_steps_and_a_resumed_run_follows_the_same_curve(tone_set, tmp_path):
    scheduled = with_validation("wavernn", lr_halving_steps=4)
    straight = Trainer.new("wavernn", tone_set, sections=scheduled, device="cpu")
    used = []
    for _ in range(8):
        straight.step()
        used.append(straight.optimizer.param_groups[0]["lr"])
    np.testing.assert_allclose(used, [0.01 * 0.5 ** (k / 4) for k in range(8)], rtol=1e-12)

    halves = Trainer.new("wavernn", tone_set, sections=scheduled, device="cpu")
    run_training(halves, tmp_path / "halves.safetensors", 3, log_path=None)
    resumed = Trainer.resume(tmp_path / "halves.safetensors", tone_set, device="cpu")
    run_training(resumed, tmp_path / "halves.safetensors", 8, log_path=None)
    for name, value in straight.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[name]), f"{name} differs after the resume"

    lowered = Trainer.resume(
        tmp_path / "halves.safetensors", tone_set, device="cpu", train_overrides={"learning_rate": 0.001}
    )
    lowered.step()
    assert lowered.optimizer.param_groups[0]["lr"] == pytest.approx(0.001 * 0.5 ** (8 / 4))
    with pytest.raises(ConfigError, match="lr_halving_steps=-1"):
        Trainer.new("wavernn", tone_set, sections=with_validation("wavernn", lr_halving_steps=-1), device="cpu")


def with_prediction(family, **train):
    values = with_validation(family, **train)
    values["model"] = {**TINY_MODELS[family], "lpc_order": 16}
    return values


@pytest.mark.parametrize("family", ["wavernn", "wavenet"])
def test_noise_injection_trains_on_a_noisy_past_lowers_the_loss_and_resumes_exactly(family, tone_set, tmp_path):
    noisy = Trainer.new(family, tone_set, sections=with_prediction(family, input_noise=3.0), device="cpu")
    result = run_training(noisy, tmp_path / "noisy.safetensors", 50, log_path=None)
    first, last = result.losses[0][1], result.losses[-1][1]
    assert last < 0.8 * first, f"loss went from {first:.3f} to {last:.3f} in 50 steps"

    clean = Trainer.new(family, tone_set, sections=with_prediction(family), device="cpu")
    clean.step()
    once = Trainer.new(family, tone_set, sections=with_prediction(family, input_noise=3.0), device="cpu")
    once.step()
    assert any(
        not torch.equal(value, clean.model.state_dict()[name]) for name, value in once.model.state_dict().items()
    ), "the noise changed nothing"

    halves = Trainer.new(family, tone_set, sections=with_prediction(family, input_noise=3.0), device="cpu")
    run_training(halves, tmp_path / "halves.safetensors", 21, log_path=None)
    resumed = Trainer.resume(tmp_path / "halves.safetensors", tone_set, device="cpu")
    assert resumed.config.input_noise == 3.0
    run_training(resumed, tmp_path / "halves.safetensors", 50, log_path=None)
    for name, value in noisy.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[name]), f"{name} differs after the resume"


def test_noise_injection_is_refused_without_linear_prediction_or_below_zero(tone_set):
    with pytest.raises(ConfigError, match="input_noise=2.0 needs a model with linear prediction; this wavernn has"):
        Trainer.new("wavernn", tone_set, sections=with_validation("wavernn", input_noise=2.0), device="cpu")
    with pytest.raises(ConfigError, match="input_noise=-1.0; it must be 0"):
        Trainer.new("wavenet", tone_set, sections=with_prediction("wavenet", input_noise=-1.0), device="cpu")


def test_with_ema_decay_the_checkpoint_generates_from_the_weight_average_and_resumes_both_exactly(
    tone_set, held_out_set, tmp_path
):
    averaged = with_validation("wavenet", ema_decay=0.8, valid_every=100, valid_segments=6)
    trainer = Trainer.new("wavenet", tone_set, sections=averaged, device="cpu", valid_root=held_out_set)
    expected = {name: value.detach().clone() for name, value in trainer.model.named_parameters()}
    for _ in range(5):
        trainer.step()
        for name, value in trainer.model.named_parameters():
            expected[name] = 0.8 * expected[name] + 0.2 * value.detach()
    trained = {name: value.detach().clone() for name, value in trainer.model.named_parameters()}
    trainer.save(tmp_path / "m.safetensors")
    loaded = checkpoints.load(tmp_path / "m.safetensors").model
    for name, value in loaded.named_parameters():
        torch.testing.assert_close(value, expected[name], atol=1e-6, rtol=0)
        assert torch.equal(dict(trainer.model.named_parameters())[name], trained[name]), "saving changed the weights"
    assert max(float((trained[name] - expected[name]).abs().max()) for name in trained) > 1e-3

    # the validation loss is the average's: that of the saved model
    plain = Trainer.new(
        "wavenet",
        tone_set,
        sections=with_validation("wavenet", valid_segments=6),
        device="cpu",
        valid_root=held_out_set,
    )
    plain.model.load_state_dict(loaded.state_dict())
    assert trainer.validate() == pytest.approx(plain.validate(), abs=1e-6)

    straight = Trainer.new("wavenet", tone_set, sections=averaged, device="cpu")
    run_training(straight, tmp_path / "straight.safetensors", 8, log_path=None)
    halves = Trainer.new("wavenet", tone_set, sections=averaged, device="cpu")
    run_training(halves, tmp_path / "halves.safetensors", 5, log_path=None)
    resumed = Trainer.resume(tmp_path / "halves.safetensors", tone_set, device="cpu")
    run_training(resumed, tmp_path / "halves.safetensors", 8, log_path=None)
    for name, value in straight.model.named_parameters():
        assert torch.equal(value, dict(resumed.model.named_parameters())[name]), f"trained {name} differs"
        assert torch.equal(straight.average.values[name], resumed.average.values[name]), f"averaged {name} differs"
    with pytest.raises(ConfigError, match="ema_decay=1.0; it must be 0"):
        Trainer.new("wavenet", tone_set, sections=with_validation("wavenet", ema_decay=1.0), device="cpu")
