"""Session-wide test set-up: offscreen Qt, a quiet single-threaded torch, librosa warmed once."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def warm_librosa():
    """librosa compiles its mel path with numba on first use (about 14 s); pay that once per session."""
    from engine.features import MelConfig, mel_spectrogram

    mel_spectrogram(np.zeros(4096, dtype=np.float32), MelConfig())
    return True


# One real PulseAudio daemon with the null sink "vsink" for the whole session.
from tests.sound_server import sound_server  # noqa: E402,F401  (a fixture: importing it here shares one daemon)
