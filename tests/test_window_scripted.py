"""Scripted mode, as the docs and CI use it: `python -m app FILE --generate --screenshot OUT --exit-when-done`."""

import os
import subprocess
import sys
from pathlib import Path

from PySide6.QtGui import QImage

from tests.test_window_fixtures import inputs, tiny_checkpoint  # noqa: F401 (fixtures)

ROOT = Path(__file__).resolve().parents[1]


def run_app(*args, tmp_path):
    environment = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    return subprocess.run([sys.executable, "-m", "app", *map(str, args), "--settings", tmp_path / "settings.ini"],
                          cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120)


def test_scripted_run_saves_screenshot_after_generation_and_exits_0(tmp_path, inputs, tiny_checkpoint):
    shot = tmp_path / "shots" / "window.png"
    done = run_app(inputs["short"], "--model", tiny_checkpoint, "--device", "cpu", "--generate",
                   "--screenshot", shot, "--exit-when-done", "--size", "1200x800", tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    image = QImage(str(shot))
    assert (image.width(), image.height()) == (1200, 800)
    # The generated waveform is drawn in the output colour (#f6a35c) somewhere in the lower half.
    lower = {image.pixelColor(x, y).name() for x in range(100, 900, 3) for y in range(420, 560, 2)}
    assert "#f6a35c" in lower


def test_scripted_run_with_a_corrupt_file_exits_2_with_the_message(tmp_path, inputs, tiny_checkpoint):
    shot = tmp_path / "window.png"
    done = run_app(inputs["corrupt"], "--model", tiny_checkpoint, "--generate", "--screenshot", shot,
                   "--exit-when-done", tmp_path=tmp_path)
    assert done.returncode == 2
    assert f"vocoscope: {inputs['corrupt']}: found data that is not a readable audio file" in done.stderr
    assert "Traceback" not in done.stderr
    assert not shot.exists()
