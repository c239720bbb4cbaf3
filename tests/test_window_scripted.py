"""Scripted mode, as the docs and CI use it: `python -m app FILE --generate --screenshot OUT --exit-when-done`."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtGui import QImage

from tests.test_window_fixtures import inputs, tiny_checkpoint  # noqa: F401 (fixtures)

pytestmark = pytest.mark.slow  # runs the app in processes of its own

ROOT = Path(__file__).resolve().parents[1]


def run_app(*args, tmp_path):
    environment = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    return subprocess.run(
        [sys.executable, "-m", "app", *map(str, args), "--settings", tmp_path / "settings.ini"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_scripted_run_saves_screenshot_after_generation_and_exits_0(tmp_path, inputs, tiny_checkpoint):
    shot = tmp_path / "shots" / "window.png"
    done = run_app(
        inputs["short"],
        "--model",
        tiny_checkpoint,
        "--device",
        "cpu",
        "--generate",
        "--screenshot",
        shot,
        "--exit-when-done",
        "--size",
        "1200x800",
        tmp_path=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    image = QImage(str(shot))
    assert (image.width(), image.height()) == (1200, 800)
    # The generated waveform is drawn in the output colour (#f6a35c) somewhere in the lower half.
    lower = {image.pixelColor(x, y).name() for x in range(100, 900, 3) for y in range(420, 560, 2)}
    assert "#f6a35c" in lower


def test_scripted_run_with_a_corrupt_file_exits_2_with_the_message(tmp_path, inputs, tiny_checkpoint):
    shot = tmp_path / "window.png"
    done = run_app(
        inputs["corrupt"],
        "--model",
        tiny_checkpoint,
        "--generate",
        "--screenshot",
        shot,
        "--exit-when-done",
        tmp_path=tmp_path,
    )
    assert done.returncode == 2
    assert f"vocoscope: {inputs['corrupt']}: found data that is not a readable audio file" in done.stderr
    assert "Traceback" not in done.stderr
    assert not shot.exists()


SLOW_ENGINE = """
import importlib.abc, importlib.machinery, sys, time
from pathlib import Path


class SlowEngineImport(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    # runs engine.jobs 4 s late: torch's import, made long (find_spec holds every import up; exec_module does not)

    def find_spec(self, name, path, target=None):
        if name != "engine.jobs":
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        self.loader, spec.loader = spec.loader, self
        return spec

    def exec_module(self, module):
        time.sleep(4.0)
        self.loader.exec_module(module)


sys.meta_path.insert(0, SlowEngineImport())
from PySide6.QtWidgets import QApplication
app = QApplication([])
from app.main_window import MainWindow
from app.settings import Settings
began = time.perf_counter()
window = MainWindow(Settings.from_file(Path(sys.argv[1])))
window.show()
app.processEvents()
shown = time.perf_counter() - began
alive = window.bridge.engine.alive
print(shown, time.perf_counter() - began, alive)
window.close()
"""


def test_the_window_shows_without_waiting_for_the_engine_to_import_torch(tmp_path):
    """The engine (and with it torch, 1–3 s) starts on a thread of its own; the window is shown meanwhile."""
    environment = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    done = subprocess.run(
        [sys.executable, "-c", SLOW_ENGINE, str(tmp_path / "settings.ini")],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    shown, engine_ready, alive = done.stdout.split()[-3:]
    assert float(shown) < 3.5, f"the window took {shown} s to show: it waited for the engine"
    assert float(engine_ready) >= 4.0 and alive == "True"


AFTER_START_UP = """
import gc, sys, time
from pathlib import Path
from PySide6.QtWidgets import QApplication
app = QApplication([])
from app.main_window import MainWindow
from app.settings import Settings
window = MainWindow(Settings.from_file(Path(sys.argv[1])))
window.show()
loaded = []
window.bridge.input_loaded.connect(loaded.append)
window.open_file(sys.argv[2])
end = time.monotonic() + 100
while (window.model_chooser.count() < 2 or not loaded) and time.monotonic() < end:
    app.processEvents()
    time.sleep(0.01)
window.close()  # joins the engine, the loader and the lister: their work is over
print(len(loaded), len(gc.get_objects()), gc.get_freeze_count())
"""


def test_after_start_up_a_full_garbage_collection_has_little_to_walk(tmp_path, inputs):
    """Importing torch and librosa, listing the models and reading a file leave ~350k objects alive. A full
    collection walked them all (236 ms with the GIL held, a stall of the GUI thread) until what lives on was frozen."""
    environment = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    done = subprocess.run(
        [sys.executable, "-c", AFTER_START_UP, str(tmp_path / "settings.ini"), str(inputs["short"])],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    loaded, walked, frozen = map(int, done.stdout.split()[-3:])
    assert loaded == 1 and frozen > 100_000, (loaded, frozen)
    assert walked < 0.02 * frozen, f"a full collection would walk {walked} objects ({frozen} frozen)"
