"""The `vocoscope` command: every built-in model through the real CLI, awkward but valid inputs, outputs,
the model and device lists, and --play with and without a sound server."""

import json
import os
import re
import subprocess
import sys
import threading

import numpy as np
import pytest
import soundfile
import torch

from engine import checkpoints
from app.__main__ import main
from engine.cli import default_output
from engine.features import Conditioning, MelConfig
from engine.models import DEFAULT_MODEL
from engine.catalog import BUILTINS
from engine.models.loading import load_model
from engine.sampling import Sampling
from tests.helpers import NUMBA_CACHE, REPO, MelEcho, run_cli, tone, write_wav

FRAMES = 4
# Two takes of the waveform WaveNet from one seed, one of them read back from a 16-bit file: apart by that file's step
# (a sample at 1.0 is written as 32767) and one more, since the blocks it is streamed in follow the clock
# (engine/generate.py's BlockPacer) and a convolution over another block length rounds another way (seen on a loaded
# machine: 8 of 1,000 samples a step apart).
WAVENET_ROUNDING = 2.1 / 32768


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    np.save(folder / "mel.npy", np.random.default_rng(0).random((80, FRAMES), dtype=np.float32))
    write_wav(folder / "speech.wav", tone(0.06, 22050), 22050)  # 1323 samples → 960 at 16 kHz
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("model", list(BUILTINS))
def test_vocode_mel_gives_frames_times_hop_samples_at_the_model_rate(model, inputs):
    output = inputs / f"mel-{model}.wav"
    result = run_cli("vocode", str(inputs / "mel.npy"), "-o", str(output), "--model", model, "--seed", "1")
    assert result.returncode == 0, result.stderr
    audio, rate = soundfile.read(output, dtype="float32")
    assert rate == 16000 and audio.shape == (FRAMES * 200,)
    assert f"wrote {output}" in result.stdout


@pytest.mark.slow
@pytest.mark.parametrize("model", list(BUILTINS))
def test_vocode_audio_keeps_the_resampled_length(model, inputs):
    output = inputs / f"speech-{model}.flac"
    result = run_cli("vocode", str(inputs / "speech.wav"), "-o", str(output), "--model", model, "--device", "cpu")
    assert result.returncode == 0, result.stderr
    info = soundfile.info(str(output))
    assert info.format == "FLAC" and info.samplerate == 16000
    assert abs(info.frames - 960) <= 200


@pytest.mark.slow
def test_models_json_lists_every_builtin():
    result = run_cli("models", "--json")
    assert result.returncode == 0, result.stderr
    models = {m["name"]: m for m in json.loads(result.stdout)}
    assert set(models) == set(BUILTINS)
    for info in models.values():
        assert info["sample_rate"] == 16000 and info["hop_length"] == 200 and info["n_mels"] == 80
        assert info["parameters"] > 0 and info["trained"] in (True, False) and info["receptive_field"] >= 0
    assert models["wavenet"]["receptive_field"] > 1 and models["wavernn"]["receptive_field"] == 0
    assert models["wavernn-dual"]["draws"] == "16-bit sample as coarse and fine bytes"
    assert "-bit mu-law" in models["wavernn"]["draws"]
    assert models["wavenet"]["draws"].startswith(
        "waveform from the pitch's source and noise, through the mel's envelope"
    )
    assert models["wavernn-dual"]["sampling"]["temperature"] is None
    assert (models["wavernn-dual"]["steps"], models["wavernn-dual"]["training_data"]) == (0, "")
    for name in ("wavernn", "wavenet"):  # what the bundled checkpoints record
        meta = checkpoints.load(models[name]["path"]).meta
        started_from = (meta["training"].get("initialised_from") or {}).get("steps", 0)
        assert models[name]["steps"] == meta["steps"] + started_from > 0
        data = meta["training"]["data"]
        assert models[name]["training_data"] == f"{data['source']} ({data['licence']})"
    assert models["wavernn"]["training_data"] == "asterisk-en (CC-BY-SA-3.0)"
    assert models["wavenet"]["training_data"] == "voices (CC-BY-SA-3.0, GPL-2)"
    assert models["wavernn"]["sampling"]["temperature"] > 0 and models["wavenet"]["sampling"]["temperature"] is None
    assert [name for name, info in models.items() if info["default"]] == [DEFAULT_MODEL]
    assert models[DEFAULT_MODEL]["trained"], "the default model has no bundled weights in resources/models"


# --- in-process runs of the same entry point (fast): awkward inputs, outputs, messages ----------------------


def awkward_inputs(folder):
    """name → (path, samples expected at 16 kHz)."""
    stereo = np.stack([tone(0.03, 96000, 300), tone(0.03, 96000, 500)], axis=1)
    rng = np.random.default_rng(1)
    return {
        "stereo 96 kHz FLAC": (write_wav(folder / "stereo96k.flac", stereo, 96000), 480),
        "8-bit unsigned WAV": (write_wav(folder / "u8.wav", tone(0.03, 8000), 8000, "PCM_U8"), 480),
        "24-bit 48 kHz WAV": (write_wav(folder / "pcm24.wav", tone(0.03, 48000), 48000, "PCM_24"), 480),
        "Ogg Vorbis": (write_wav(folder / "clip.ogg", tone(0.05, 16000), 16000), 800),
        "float64 mel": (np.save(folder / "mel64.npy", rng.random((80, 3))) or folder / "mel64.npy", 600),
        "time-major mel": (
            np.save(folder / "melT.npy", rng.random((3, 80), dtype=np.float32)) or folder / "melT.npy",
            600,
        ),
    }


@pytest.mark.parametrize(
    "kind",
    ["stereo 96 kHz FLAC", "8-bit unsigned WAV", "24-bit 48 kHz WAV", "Ogg Vorbis", "float64 mel", "time-major mel"],
)
def test_awkward_but_valid_inputs_are_vocoded(kind, tmp_path, capsys, warm_librosa):
    path, expected = awkward_inputs(tmp_path)[kind]
    output = tmp_path / "out.wav"
    assert main(["vocode", str(path), "-o", str(output), "--device", "cpu"]) == 0, capsys.readouterr().err
    audio, rate = soundfile.read(output)
    assert rate == 16000 and abs(len(audio) - expected) <= 2


def test_default_output_sits_beside_the_input_and_is_never_overwritten(tmp_path, capsys):
    mel = tmp_path / "take1.npy"
    np.save(mel, np.random.default_rng(2).random((80, 3), dtype=np.float32))
    assert default_output(mel) == tmp_path / "take1.vocoded.wav"
    assert main(["vocode", str(mel)]) == 0
    first = (tmp_path / "take1.vocoded.wav").read_bytes()
    assert main(["vocode", str(mel), "--seed", "5"]) == 2
    error = capsys.readouterr().err
    assert "take1.vocoded.wav" in error and "--force" in error and "Traceback" not in error
    assert (tmp_path / "take1.vocoded.wav").read_bytes() == first
    assert main(["vocode", str(mel), "--seed", "5", "--force"]) == 0
    assert (tmp_path / "take1.vocoded.wav").read_bytes() != first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["take1.npy", "take1.vocoded.wav"], "no temporary files left"


def test_unknown_model_and_output_format_exit_2(tmp_path, capsys):
    mel = tmp_path / "m.npy"
    np.save(mel, np.zeros((80, 3), np.float32))
    assert main(["vocode", str(mel), "--model", "melgan"]) == 2
    assert "melgan" in capsys.readouterr().err
    assert main(["vocode", str(mel), "-o", str(tmp_path / "out.mp3")]) == 2
    assert ".wav or .flac" in capsys.readouterr().err
    assert main(["vocode", str(mel), "--device", "tpu"]) == 2
    assert "tpu" in capsys.readouterr().err


def test_same_seed_writes_the_same_file(tmp_path):
    mel = tmp_path / "m.npy"
    np.save(mel, np.random.default_rng(3).random((80, 3), dtype=np.float32))
    assert main(["vocode", str(mel), "-o", str(tmp_path / "a.wav"), "--seed", "9", "--fold"]) == 0
    assert main(["vocode", str(mel), "-o", str(tmp_path / "b.wav"), "--seed", "9", "--fold"]) == 0
    assert (tmp_path / "a.wav").read_bytes() == (tmp_path / "b.wav").read_bytes()


def test_vocode_takes_out_as_train_and_trainset_spell_it(tmp_path, capsys):
    """--out was ambiguous (--output, --output-device) and stopped with a usage error."""
    mel = tmp_path / "m.npy"
    np.save(mel, np.random.default_rng(3).random((80, 3), dtype=np.float32))
    assert main(["vocode", str(mel), "--out", str(tmp_path / "a.wav"), "--seed", "9"]) == 0, capsys.readouterr().err
    assert soundfile.info(str(tmp_path / "a.wav")).frames == 3 * load_model("wavernn")[0].hop_length


def test_devices_lists_the_cpu(capsys):
    assert main(["devices"]) == 0
    out = capsys.readouterr().out
    assert "compute devices:" in out and "cpu" in out and "sound outputs:" in out


def test_help_names_the_default_output(capsys):
    assert main(["vocode", "--help"]) == 0
    assert ".vocoded.wav" in capsys.readouterr().out


# --- --play ------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_play_without_a_sound_server_still_writes_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("PULSE_SERVER", f"unix:{tmp_path}/no-such-socket")
    mel = tmp_path / "m.npy"
    np.save(mel, np.zeros((80, 3), np.float32))
    result = run_cli("vocode", str(mel), "--play")
    assert result.returncode == 0, result.stderr
    assert "no sound output" in result.stderr and "Traceback" not in result.stderr
    assert soundfile.info(str(tmp_path / "m.vocoded.wav")).frames == 600


@pytest.mark.slow
def test_play_plays_while_generating_and_reports_underruns(tmp_path, sound_server):  # noqa: F811
    mel = tmp_path / "m.npy"
    np.save(mel, np.random.default_rng(4).random((80, 8), dtype=np.float32))
    result = run_cli("vocode", str(mel), "--play", "--seed", "2")
    assert result.returncode == 0, result.stderr
    summary = result.stdout.strip().splitlines()[-1]
    assert summary.startswith("played ") and "start delay" in summary and "underruns" in summary
    seconds = float(summary.split()[1])
    assert seconds == pytest.approx(8 * 200 / 16000, abs=0.02)
    assert soundfile.info(str(tmp_path / "m.vocoded.wav")).frames == 1600


WINDOW_ARGVS = [[], ["song.wav"], ["song.wav", "--generate", "--exit-when-done", "--size", "800x600"]]


@pytest.mark.parametrize("argv", WINDOW_ARGVS)
def test_no_subcommand_opens_the_window_with_the_parsed_arguments(argv, tmp_path, monkeypatch):
    import app.__main__

    monkeypatch.chdir(tmp_path)
    write_wav(tmp_path / "song.wav", tone(0.1, 16000), 16000)
    opened = []
    monkeypatch.setattr(app.__main__, "open_window", lambda args: opened.append(args) or 0)
    assert main(argv) == 0 and len(opened) == 1
    args = opened[0]
    assert args.file == (argv[0] if argv else None) and args.generate == ("--generate" in argv)
    assert args.size == ((800, 600) if "--size" in argv else None)


def test_progress_line_shows_percent_audio_made_speed_and_eta():
    from engine.cli import _progress_line
    from engine.generate import Stats

    line = _progress_line(Stats(8000, 73800, 2.0, 4000.0, 0.25, 76.5), 16000)
    assert line.startswith("\r") and " 10.8%" in line and "0.50 s of 4.61 s" in line
    assert "0.25x real time" in line and "ETA 1:16" in line
    assert "ETA --:--" in _progress_line(Stats(0, 100, 0.0, 0.0, 0.0, float("inf")), 16000)


@pytest.mark.slow
def test_inspect_piped_into_a_reader_that_has_gone_exits_quietly(tmp_path):
    mel = tmp_path / "mel.npy"
    np.save(mel, np.random.default_rng(0).uniform(0, 1, (80, 20)).astype(np.float32))
    env = dict(os.environ, NUMBA_CACHE_DIR=str(NUMBA_CACHE), PYTHONPATH=str(REPO))
    # `true` exits long before Python has imported torch, so the report meets a closed pipe every time.
    shell = f"{sys.executable} -m engine.cli inspect {mel} --model wavenet | true; exit ${{PIPESTATUS[0]}}"
    result = subprocess.run(["bash", "-c", shell], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert (result.returncode, result.stderr) == (0, "")


def test_vocode_temperature_replaces_the_models_own(tmp_path, capsys):
    from engine.features import Conditioning
    from engine.generate import generate

    mel = tmp_path / "m.npy"
    np.save(mel, np.random.default_rng(5).random((80, 3), dtype=np.float32))
    temperature = ["--model", "wavernn", "--seed", "4", "--temperature", "0.3"]  # a mu-law model's
    assert main(["vocode", str(mel), "-o", str(tmp_path / "cold.wav"), *temperature]) == 0
    model, _ = load_model("wavernn")
    conditioning = Conditioning(mel=np.load(mel), mel_config=model.mel_config)
    expected = np.concatenate(
        [c.samples for c in generate(model, conditioning, seed=4, sampling=Sampling(temperature=0.3))]
    )
    written, _ = soundfile.read(tmp_path / "cold.wav", dtype="float32")
    np.testing.assert_allclose(written, expected, atol=1 / 32768)
    own = np.concatenate([c.samples for c in generate(model, conditioning, seed=4)])
    assert np.abs(written - own).max() > 1e-3
    assert main(["vocode", str(mel), "-o", str(tmp_path / "x.wav"), "--temperature", "0"]) != 0
    assert "it must be a number from 0.001 to 100" in capsys.readouterr().err
    assert (
        main(["vocode", str(mel), "-o", str(tmp_path / "y.wav"), "--model", "wavernn-dual", "--temperature", "0.5"])
        != 0
    )
    assert "mu-law models only" in capsys.readouterr().err
    assert not (tmp_path / "x.wav").exists() and not (tmp_path / "y.wav").exists()


def test_vocode_candidates_replace_the_models_own_and_1_keeps_every_draw(tmp_path, capsys):
    from engine.features import Conditioning
    from engine.generate import generate

    model, _ = load_model("wavernn")
    assert model.sampling().candidates == 1, "the bundled WaveRNN ships drawing once, in real time"
    mel = tmp_path / "m.npy"
    np.save(mel, np.random.default_rng(6).random((80, 12), dtype=np.float32))
    conditioning = Conditioning(mel=np.load(mel), mel_config=model.mel_config)
    for candidates in (1, 3):
        out = tmp_path / f"k{candidates}.wav"
        assert (
            main(
                [
                    "vocode",
                    str(mel),
                    "-o",
                    str(out),
                    "--model",
                    "wavernn",
                    "--seed",
                    "4",
                    "--candidates",
                    str(candidates),
                ]
            )
            == 0
        )
        expected = np.concatenate(
            [c.samples for c in generate(model, conditioning, seed=4, sampling=Sampling(candidates=candidates))]
        )
        written, _ = soundfile.read(out, dtype="float32")
        np.testing.assert_allclose(written, expected, atol=1 / 32768)
        with soundfile.SoundFile(str(out)) as tagged:
            assert ("best of 3 by the mel" in tagged.comment) == (candidates == 3)
    capsys.readouterr()
    assert main(["vocode", str(mel), "-o", str(tmp_path / "x.wav"), "--model", "wavernn", "--candidates", "0"]) == 2
    assert "number of candidates is 0; it must be a whole number from 1 to 64" in capsys.readouterr().err
    assert main(["vocode", str(mel), "-o", str(tmp_path / "y.wav"), "--model", "wavenet", "--candidates", "2"]) == 2
    assert "chooses among the mu-law draws of a WaveRNN" in capsys.readouterr().err
    assert not (tmp_path / "x.wav").exists() and not (tmp_path / "y.wav").exists()


def test_vocode_postfilters_replace_the_models_own_and_0_gives_the_raw_output(tmp_path, capsys):
    from engine.envelope import envelope_postfilter
    from engine.features import Conditioning
    from engine.generate import generate
    from engine.postfilter import pitch_postfilter

    model, _ = load_model("wavenet")
    own = model.sampling()
    assert own.pitch_postfilter > 0 and own.envelope_postfilter == 1, "the bundled WaveNet ships with both"
    mel = tmp_path / "m.npy"
    np.save(mel, np.random.default_rng(6).random((80, 12), dtype=np.float32))
    assert (
        main(
            [
                "vocode",
                str(mel),
                "-o",
                str(tmp_path / "raw.wav"),
                "--model",
                "wavenet",
                "--seed",
                "4",
                "--pitch-postfilter",
                "0",
                "--envelope-postfilter",
                "0",
            ]
        )
        == 0
    )
    conditioning = Conditioning(mel=np.load(mel), mel_config=model.mel_config)
    raw_sampling = Sampling(pitch_postfilter=0, envelope_postfilter=0)
    raw = np.concatenate([c.samples for c in generate(model, conditioning, seed=4, sampling=raw_sampling)])
    written, _ = soundfile.read(tmp_path / "raw.wav", dtype="float32")
    np.testing.assert_allclose(written, raw, atol=WAVENET_ROUNDING)
    with soundfile.SoundFile(str(tmp_path / "raw.wav")) as tagged:
        assert "post-filter" not in tagged.comment and "passes" not in tagged.comment
        assert tagged.comment.startswith("wavenet (waveform from the pitch's source")
    assert (
        main(
            [
                "vocode",
                str(mel),
                "-o",
                str(tmp_path / "strong.wav"),
                "--model",
                "wavenet",
                "--seed",
                "4",
                "--pitch-postfilter",
                "2",
            ]
        )
        == 0
    )
    strong, _ = soundfile.read(tmp_path / "strong.wav", dtype="float32")
    expected = pitch_postfilter(raw, 16000, 2.0)
    for _ in range(own.envelope_passes):
        expected = envelope_postfilter(expected, conditioning.mel, model.mel_config, 1.0)
    np.testing.assert_allclose(strong, expected, atol=WAVENET_ROUNDING)
    with soundfile.SoundFile(str(tmp_path / "strong.wav")) as tagged:
        assert (
            f", pitch post-filter 2, envelope post-filter 1, {own.envelope_passes} envelope passes)" in tagged.comment
        )
    capsys.readouterr()
    assert (
        main(["vocode", str(mel), "-o", str(tmp_path / "x.wav"), "--model", "wavernn-dual", "--pitch-postfilter", "1"])
        == 2
    )
    assert "this wavernn-dual has no pitch post-filter" in capsys.readouterr().err
    assert main(["vocode", str(mel), "-o", str(tmp_path / "y.wav"), "--pitch-postfilter", "-1"]) == 2
    assert "it must be a number from 0 to 4 (0: off)" in capsys.readouterr().err
    assert not (tmp_path / "x.wav").exists() and not (tmp_path / "y.wav").exists()


def test_vocode_without_a_seed_says_which_it_drew_and_tags_the_file_with_it(tmp_path, capsys):

    mel = tmp_path / "m.npy"
    np.save(mel, np.random.default_rng(8).random((80, 3), dtype=np.float32))
    mu_law = ["--model", "wavernn", "--temperature", "0.5"]
    assert main(["vocode", str(mel), "-o", str(tmp_path / "a.wav"), *mu_law]) == 0
    seed = int(re.search(r", seed (\d+)", capsys.readouterr().out).group(1))
    assert main(["vocode", str(mel), "-o", str(tmp_path / "b.wav"), *mu_law, "--seed", str(seed)]) == 0
    np.testing.assert_array_equal(soundfile.read(tmp_path / "a.wav")[0], soundfile.read(tmp_path / "b.wav")[0])
    model = load_model("wavernn")[0]
    draws = model.draws_with(model.sampling(Sampling(temperature=0.5)))
    assert ", T 0.5" in draws
    with soundfile.SoundFile(str(tmp_path / "a.wav")) as tagged:
        assert tagged.comment == f"wavernn ({draws}), seed {seed}, from m.npy"


def test_vocode_several_inputs_into_a_folder_writes_each_and_reports_a_bad_one(tmp_path, capsys):
    rng = np.random.default_rng(9)
    np.save(tmp_path / "one.npy", rng.random((80, 3), dtype=np.float32))
    np.save(tmp_path / "two.npy", rng.random((80, 5), dtype=np.float32))
    write_wav(tmp_path / "three.wav", tone(0.05, 16000), 16000)
    (tmp_path / "broken.wav").write_bytes(b"RIFF but not really")
    names = ["one.npy", "broken.wav", "two.npy", "three.wav"]
    status = main(["vocode", *(str(tmp_path / name) for name in names), "-o", str(tmp_path / "out"), "--seed", "3"])
    captured = capsys.readouterr()
    assert status == 2
    assert "broken.wav" in captured.err and "1 of 4 inputs failed" in captured.err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "one.vocoded.wav",
        "three.vocoded.wav",
        "two.vocoded.wav",
    ]
    assert captured.out.count("wrote ") == 3
    assert soundfile.info(str(tmp_path / "out" / "two.vocoded.wav")).frames == 5 * 200
    # each file is what vocoding it alone with the same seed writes (to WAVENET_ROUNDING)
    assert main(["vocode", str(tmp_path / "two.npy"), "-o", str(tmp_path / "alone.wav"), "--seed", "3"]) == 0
    together, alone = soundfile.read(tmp_path / "out" / "two.vocoded.wav")[0], soundfile.read(tmp_path / "alone.wav")[0]
    np.testing.assert_allclose(together, alone, rtol=0, atol=WAVENET_ROUNDING)
    assert np.abs(alone).max() > 0.1  # and there is sound to compare


def test_vocode_several_inputs_refuses_one_output_file_play_and_clashing_names_before_any_work(tmp_path, capsys):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        np.save(tmp_path / folder / "take.npy", np.zeros((80, 3), np.float32))
    inputs = [str(tmp_path / "a" / "take.npy"), str(tmp_path / "b" / "take.npy")]
    assert main(["vocode", *inputs, "-o", str(tmp_path / "both.wav")]) == 2
    assert "one file name for 2 inputs" in capsys.readouterr().err
    assert main(["vocode", *inputs, "--play"]) == 2
    assert "2 inputs with --play" in capsys.readouterr().err
    assert main(["vocode", *inputs, "-o", str(tmp_path / "out")]) == 2
    assert "the same output name as" in capsys.readouterr().err
    (tmp_path / "a" / "take.vocoded.wav").write_bytes(b"keep me")
    np.save(tmp_path / "b" / "other.npy", np.zeros((80, 3), np.float32))
    assert main(["vocode", str(tmp_path / "b" / "other.npy"), inputs[0]]) == 2
    assert "an existing file" in capsys.readouterr().err
    assert not (tmp_path / "b" / "other.vocoded.wav").exists(), "nothing is made when one output is refused"
    assert (tmp_path / "a" / "take.vocoded.wav").read_bytes() == b"keep me"


# --- one thread policy for the window and the command line (engine/threads.py) ------------------------------------


def test_vocode_runs_torch_on_the_policys_threads(tmp_path, capsys):
    from engine.threads import TORCH_THREADS

    mel = tmp_path / "m.npy"
    np.save(mel, np.random.default_rng(5).random((80, 3), dtype=np.float32))
    torch.set_num_threads(2)
    try:
        assert main(["vocode", str(mel), "--seed", "1"]) == 0, capsys.readouterr().err
        assert torch.get_num_threads() == TORCH_THREADS == 1
    finally:
        torch.set_num_threads(1)


def test_the_engine_worker_runs_torch_on_the_policys_threads():
    """The window's engine thread sets the count itself: a thread keeps the count it had at its first parallel op."""
    from engine.jobs import Engine, JobFinished

    seen, done = [], threading.Event()

    def on_event(event):
        seen.append(torch.get_num_threads())  # called on the worker thread
        if isinstance(event, JobFinished):
            done.set()

    torch.set_num_threads(2)
    try:
        engine = Engine(on_event)
        engine.submit_generate(MelEcho(), Conditioning(np.zeros((80, 2), np.float32), MelConfig()), device="cpu")
        assert done.wait(30)
        engine.shutdown()
    finally:
        torch.set_num_threads(1)
    assert seen and set(seen) == {1}


# --- vocoscope --self-test ----------------------------------------------------------------------------------------


@pytest.mark.slow
def test_self_test_offscreen_without_sound_passes_and_says_what_it_skipped(tmp_path):
    env = dict(
        os.environ,
        QT_QPA_PLATFORM="offscreen",
        PULSE_SERVER=f"unix:{tmp_path}/no-such-socket",
        NUMBA_CACHE_DIR=str(NUMBA_CACHE),
        PYTHONPATH=str(REPO),
    )
    result = subprocess.run(
        [sys.executable, "-m", "app", "--self-test"], cwd=REPO, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    for name in BUILTINS:
        line = next(line for line in lines if f"model {name}:" in line)
        assert line.split()[0] == "ok" and "0.50 s of allison-auth-incorrect.flac" in line, line
    assert "random weights" in next(line for line in lines if "model wavernn-dual:" in line)
    assert any(line.split()[:3] == ["ok", "compute", "cpu:"] for line in lines)
    sound = next(line for line in lines if " sound:" in line)
    assert sound.split()[0] in ("skip", "ok") and ("no sound output" in sound or sound.split()[0] == "ok")
    window = next(line for line in lines if " window:" in line)
    assert window.split()[0] == "ok" and "starts on offscreen" in window
    assert lines[-1].startswith("self-test passed:") and lines[-1].endswith(" 0 failed")


def test_self_test_fails_with_exit_1_and_names_what_failed(tmp_path, monkeypatch, capsys):
    from engine import self_test

    monkeypatch.setattr(self_test, "EXAMPLES", tmp_path)  # no example recording to vocode
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    assert main(["--self-test"]) == 1
    lines = capsys.readouterr().out.splitlines()
    failed = [line for line in lines if line.split()[0] == "FAIL"]
    assert [line.split()[2] for line in failed] == [f"{name}:" for name in BUILTINS]
    assert all(str(tmp_path) in line for line in failed)
    assert any(line.split()[:2] == ["skip", "window:"] and "no display" in line for line in lines)
    assert lines[-1].startswith("self-test failed:") and lines[-1].endswith(f" {len(BUILTINS)} failed")
