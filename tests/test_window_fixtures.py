"""Shared set-up for the window tests: a tiny WaveRNN checkpoint, short inputs, a window with its own settings.

The model is small (about 10 k parameters, 8 kHz, hop 40) so a generation takes about a second and a Stop
lands within one hop-sized block; the window, the engine thread and the files are all real.
"""

import threading

import numpy as np
import pytest
import soundfile

from engine.features import MelConfig

TINY_MEL = MelConfig(sample_rate=8000, n_fft=256, hop_length=40, win_length=160, n_mels=20, fmin=40.0, fmax=4000.0)
TINY_WAVERNN = {
    "rnn_dims": 16,
    "fc_dims": 16,
    "bits": 8,
    "upsample": {"factors": (2, 4, 5), "resnet_blocks": 1, "resnet_channels": 8, "aux_channels": 8},
}


def write_tone(path, seconds: float, rate: int = 8000, frequency: float = 300.0):
    """A decaying tone (n,) float32 written as 16-bit WAV; returns the samples as the file holds them."""
    t = np.arange(int(seconds * rate)) / rate
    tone = (0.5 * np.sin(2 * np.pi * frequency * t) * np.exp(-t)).astype(np.float32)
    soundfile.write(str(path), tone, rate, subtype="PCM_16")
    return soundfile.read(str(path), dtype="float32")[0]


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    import torch

    from engine import checkpoints
    from engine.models.registry import build

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = build("wavernn", TINY_WAVERNN, TINY_MEL)
    path = tmp_path_factory.mktemp("models") / "tiny.safetensors"
    checkpoints.save(model, path)
    return path


@pytest.fixture(scope="session")
def inputs(tmp_path_factory):
    """Short and long tones and a corrupt file, in one folder."""
    folder = tmp_path_factory.mktemp("inputs")
    files = {"short": folder / "short.wav", "long": folder / "long.wav", "corrupt": folder / "corrupt.wav"}
    write_tone(files["short"], 0.5)
    write_tone(files["long"], 6.0)
    files["corrupt"].write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(200)))
    return files


@pytest.fixture
def make_window(qtbot, tmp_path, tiny_checkpoint):
    """make_window() → a shown MainWindow using the tiny model, with settings in tmp_path; closed at the end."""
    from app.main_window import MainWindow
    from app.settings import Settings

    windows = []

    def make(settings_file=None):
        settings = Settings.from_file(settings_file or tmp_path / "settings.ini")
        if settings.model is None:
            settings.model = str(tiny_checkpoint)
            settings.device = "cpu"
        window = MainWindow(settings)
        qtbot.addWidget(window)
        window.show()
        qtbot.waitExposed(window)
        windows.append(window)
        return window

    threads_before = set(threading.enumerate())
    yield make
    for window in windows:
        window.close()
    # The compiled WaveRNN's row pool (engine/models/wavernn/kernel.py) starts its threads at its first use and keeps
    # them for the process, by design; any other thread left behind is the window's.
    assert {t for t in threading.enumerate() if not t.name.startswith("vocoscope-rows")} <= threads_before


def generate_until_first_chunk(qtbot, window, timeout=30000):
    """Start a generation; return once the window has seen its progress (read from the bridge on the frame clock)."""
    window.generate()
    qtbot.waitUntil(lambda: window.generation.stats is not None, timeout=timeout)


def open_and_wait(qtbot, window, path, timeout=20000):
    with qtbot.waitSignal(window.input_ready, timeout=timeout) as blocker:
        window.open_file(path)
    return blocker.args[0]
