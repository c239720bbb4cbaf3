"""The spoken prompts of Debian's voice packages as audio: what is speech in them, and the G.722 decoder they need.
Shared by the one-voice training set (engine/trainset.py) and the many-voice one (engine/voice_set.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.errors import InputError

SAMPLE_RATE = 16000

# Tones and silences in the prompt folder: not speech, so not vocoder training material.
NOT_SPEECH = {"ascending-2tone", "descending-2tone", "beep", "beeperr", "confbridge-join", "confbridge-leave"}
NOT_SPEECH_FOLDERS = {"silence"}


def decode_g722(path: Path) -> np.ndarray:
    """A raw G.722 file (64 kbit/s, 16 kHz) → int16 samples (num_samples,)."""
    try:
        import G722
    except ImportError:
        raise InputError(
            path, "no G.722 decoder installed", "the PyPI package g722", "Install it: pip install g722"
        ) from None
    return np.asarray(G722.G722(SAMPLE_RATE, 64000).decode(path.read_bytes()), dtype=np.int16)
