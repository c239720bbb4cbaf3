"""The window keeps the file it was asked to open when the model it remembers is gone or junk (issue 22, item 7): the
default model takes over before the file is read, with a warning; a junk model named on the command line is refused
before the window opens."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.models import DEFAULT_MODEL
from tests.test_window_fixtures import write_tone

ROOT = Path(__file__).resolve().parents[1]


def settings_remembering(folder: Path, model: str) -> Path:
    path = folder / "settings.ini"
    path.write_text(f"[General]\nmodel={model}\nfirst_run=false\n")
    return path


def run_app(*args) -> subprocess.CompletedProcess:
    environment = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    return subprocess.run(
        [sys.executable, "-m", "app", *map(str, args)],
        cwd=ROOT,
        env=environment,
        check=False,
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.mark.slow
def test_a_file_opened_at_start_up_is_read_with_the_default_when_the_remembered_model_is_gone(tmp_path):
    model = tmp_path / "gone.safetensors"
    audio = tmp_path / "take.wav"
    write_tone(audio, 0.5, rate=16000)
    done = run_app(audio, "--exit-when-done", "--settings", settings_remembering(tmp_path, str(model)))
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and str(model) not in done.stderr


def test_the_window_starts_with_the_default_and_says_why(qtbot, tmp_path):
    from app.main_window import MainWindow
    from app.settings import Settings

    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00[1, 2] ")
    window = MainWindow(Settings.from_file(settings_remembering(tmp_path, str(junk))))
    qtbot.addWidget(window)
    assert window.model == DEFAULT_MODEL
    warnings = [message.text for message in window.messages.messages if message.level == "warning"]
    assert any(
        text.startswith(f"The model remembered from last time cannot be used: {junk} is not a checkpoint")
        and text.endswith(f"Using {DEFAULT_MODEL}.")
        for text in warnings
    ), warnings
    window.close()


@pytest.mark.slow
def test_a_junk_model_named_on_the_command_line_exits_2_before_the_window(tmp_path):
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a checkpoint")
    audio = tmp_path / "take.wav"
    write_tone(audio, 0.5, rate=16000)
    done = run_app(audio, "--model", junk, "--exit-when-done", "--settings", tmp_path / "settings.ini")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and f"argument --model: found {junk} is not a checkpoint Vocoscope can read" in lines[0]
