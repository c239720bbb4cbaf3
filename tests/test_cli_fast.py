"""The `vocoscope` command answers at once and checks its arguments: --version, --help and `models` import neither
torch, numba nor Qt (each run in a process of its own, as a person runs it); --help lists the window's options with
the commands; every bad argument ends in one line and exit 2; the model list read from the cache is the one the
models give; an untrained built-in chosen on the command line is named as such."""

import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import engine
from engine import catalog, checkpoints
from app.__main__ import main
from engine.cli import build_command_parser, command_helps
from engine.models import loading, registry
from tests.helpers import NUMBA_CACHE, REPO
from tests.test_window_fixtures import TINY_MEL, TINY_WAVERNN

HEAVY = ("torch", "numba", "PySide6")
# Runs the console script's entry point, then says on stderr's last line which heavy modules it imported.
PROBE = f"""import sys
from app.__main__ import main
status = main(sys.argv[1:])
sys.stdout.flush()
print("imported:", *[name for name in {HEAVY!r} if name in sys.modules], file=sys.stderr)
sys.exit(status)
"""
EXAMPLE = REPO / "resources" / "examples" / "allison-auth-incorrect.flac"


def run(*args: str, cache) -> subprocess.CompletedProcess:
    """`vocoscope ARGS` through PROBE, with the model list's cache in `cache`."""
    env = dict(os.environ, PYTHONPATH=str(REPO), XDG_CACHE_HOME=str(cache), NUMBA_CACHE_DIR=str(NUMBA_CACHE))
    return subprocess.run(
        [sys.executable, "-c", PROBE, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=240
    )


@pytest.fixture(scope="module")
def model_cache(tmp_path_factory):
    """A cache folder holding the model list, as install.sh leaves it (the first `models` builds the models)."""
    folder = tmp_path_factory.mktemp("cache")
    first = run("models", cache=folder)
    assert first.returncode == 0, first.stderr
    assert "torch" in first.stderr.splitlines()[-1], "an empty cache is filled by building the models"
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("args", [("--version",), ("--help",), ("models",), ("models", "--json"), ("vocode", "--help")])
def test_version_help_and_models_answer_without_torch_numba_or_qt(args, model_cache):
    result = run(*args, cache=model_cache)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[-1] == "imported:"


@pytest.mark.slow
def test_version_names_the_installed_version(model_cache):
    assert run("--version", cache=model_cache).stdout == f"vocoscope {engine.__version__}\n"


@pytest.mark.slow
def test_help_lists_the_windows_options_and_every_command(model_cache):
    out = run("--help", cache=model_cache).stdout
    for word in (
        "FILE",
        "--generate",
        "--screenshot",
        "--exit-when-done",
        "--size",
        "--settings",
        "--model",
        "--device",
        "--version",
        "--self-test",
    ):
        assert word in out, word
    listed = out.split("commands:")[1].split()
    assert all(
        command in listed for command in ("vocode", "inspect", "models", "devices", "train", "trainset", "train-pitch")
    )


@pytest.mark.slow
def test_models_json_from_the_cache_is_what_the_models_say(model_cache):
    cached = json.loads(run("models", "--json", cache=model_cache).stdout)
    built = [{**info.to_dict(), "default": info.name == "wavenet"} for info in loading.list_models()]
    assert cached == built


BAD_ARGUMENTS = [
    (["--size", "1440"], "'1440'"),
    (["--size", "abc"], "WIDTHxHEIGHT"),
    (["--size", "10x10"], "from 320"),
    (["no-such-file.wav"], "'no-such-file.wav', which does not exist"),
    (["vocod"], "neither a command nor a file"),
    (["--device", "gpu"], "'gpu'"),
    (["--model", "no-such-model"], "wavernn, wavernn-dual, wavenet"),
    (["--generate"], "need a FILE"),
    (["--screenshot", "shot.jpg", str(EXAMPLE)], ".png"),
    (["--self-test", "--size", "800x600"], "--self-test runs alone"),
    (["--bogus"], "--bogus"),
    (["vocode"], "INPUT"),
    (["vocode", str(EXAMPLE), "--seed", "abc"], "'abc'"),
]


@pytest.mark.slow
@pytest.mark.parametrize("argv, names", BAD_ARGUMENTS, ids=[" ".join(argv) for argv, _ in BAD_ARGUMENTS])
def test_a_bad_argument_ends_in_one_line_and_exit_2(argv, names, model_cache):
    result = run(*argv, cache=model_cache)
    lines = result.stderr.splitlines()[:-1]  # the probe's own line last
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and lines[0].startswith("vocoscope") and names in lines[0], result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert result.stderr.splitlines()[-1] == "imported:", "arguments are checked before torch is imported"


def test_the_training_commands_are_listed_with_their_modules_own_help():
    listed, loaded = command_helps(build_command_parser()), command_helps(build_command_parser("train"))
    assert list(listed.items()) == list(loaded.items())


def test_train_help_still_shows_its_options(capsys):
    assert main(["train", "--help"]) == 0
    assert "--data" in capsys.readouterr().out


def test_an_untrained_builtin_for_vocode_is_named_with_what_to_use_instead(tmp_path, capsys):
    mel = tmp_path / "m.npy"
    np.save(mel, np.random.default_rng(0).random((80, 3), dtype=np.float32))
    assert main(["vocode", str(mel), "--model", "wavernn-dual", "--seed", "1"]) == 0
    err = capsys.readouterr().err
    assert err.count("warning:") == 1
    assert "wavernn-dual has random weights (not trained)" in err and "Use wavenet (the default) or wavernn" in err
    assert main(["vocode", str(mel), "--seed", "1", "--force"]) == 0
    assert "warning" not in capsys.readouterr().err


def test_an_untrained_builtin_for_the_window_is_named_before_it_opens(monkeypatch, capsys):
    import app.__main__

    opened = []
    monkeypatch.setattr(app.__main__, "open_window", lambda args: opened.append(args.model) or 0)
    assert main(["--model", "wavernn-dual"]) == 0 and opened == ["wavernn-dual"]
    assert "warning: wavernn-dual has random weights" in capsys.readouterr().err
    assert main(["--model", "wavenet"]) == 0 and "warning" not in capsys.readouterr().err


def test_the_model_list_cache_follows_a_changed_checkpoint(tmp_path, monkeypatch):
    """The cache is keyed by the checkpoint's header: a retrained file is listed as it is now, not as it was."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for module in (catalog, loading):
        monkeypatch.setattr(module, "RESOURCES", tmp_path / "models")
    listed = []
    for steps, rnn_dims in ((5, 16), (7, 24)):
        model = registry.build("wavernn", {**TINY_WAVERNN, "rnn_dims": rnn_dims, "mode": "mulaw"}, TINY_MEL)
        checkpoints.save(model, tmp_path / "models" / "wavernn.safetensors", meta={"steps": steps})
        first, second = loading.list_builtins(), loading.list_builtins()
        assert [dataclasses.asdict(info) for info in first] == [dataclasses.asdict(info) for info in second]
        assert [info.to_dict() for info in first] == [info.to_dict() for info in loading.list_models()]
        listed.append(first[0])
    assert [(info.steps, info.sample_rate, info.trained) for info in listed] == [(5, 8000, True), (7, 8000, True)]
    assert listed[0].parameters < listed[1].parameters


def test_a_damaged_bundled_checkpoint_is_named_in_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(catalog, "RESOURCES", tmp_path)
    (tmp_path / "wavenet.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all!")
    assert main(["models"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(tmp_path / "wavenet.safetensors") in err and "safetensors" in err
