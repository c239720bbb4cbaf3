"""A pitch-conditioned model's generation does not grow with the take either (issue 22, item 9): its pitch is read a
minute of the mel at a time and its source features are made a minute at a time with the phase carried
(engine/pitch_source.py, `SourceBlocks`), and its mel is padded a window at a time (engine/models/frame_windows.py).

Measured as tests/test_hardening_flat_memory.py measures generation's own buffers, on a small WaveNet with output
"waveform" conditioned on the pitch (its blocks go through the network at once, and at 8 kHz with 20 mel bands
minutes take seconds), with the envelope post-filter on: 3 minutes must cost what 1 minute costs. Before, the pitch
of the whole take was read at the start (every frame's score of every candidate F0, the per-sample source features
of the whole take and their float64 temporaries): 1 minute added 39 MB and 3 minutes 117 MB; now each adds 39 MB.
It runs in a process of its own whose allocator gives freed arrays of 16 kB and more back at once
(MALLOC_MMAP_THRESHOLD_), so that what is measured is what generation holds, not how the heap happened to fragment
(which moved the same run by up to 30 MB from one process to the next)."""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from engine.features import Conditioning, MelConfig
from engine.generate import generate
from engine.models.upsample import UpsampleConfig
from engine.models.wavenet.model import WaveNet, WaveNetConfig
from tests.helpers import REPO
from tests.test_hardening_flat_memory import _status_bytes

CONFIG = MelConfig(sample_rate=8000, n_fft=512, hop_length=100, win_length=400, n_mels=20, fmax=4000.0)


def pitch_conditioned_wavenet() -> WaveNet:
    upsample = UpsampleConfig(factors=(4, 5, 5), resnet_blocks=1, resnet_channels=8, aux_channels=8)
    config = WaveNetConfig(
        blocks=1,
        layers=3,
        residual_channels=8,
        skip_channels=8,
        output="waveform",
        pitch_conditioning=True,
        envelope_postfilter=1.0,
        upsample=upsample,
    )
    return WaveNet(config, CONFIG).eval()


def peak_while_generating(model: WaveNet, minutes: float) -> tuple[int, int]:
    """(the most resident memory generating `minutes` added at once, beyond what was there with its input built, in
    bytes; samples made). The mel: a voice-like ripple in the low bands (so frames are voiced) whose level moves."""
    samples = int(minutes * 60 * CONFIG.sample_rate)
    frames = CONFIG.frames_for(samples)
    bands = np.arange(CONFIG.n_mels, dtype=np.float32)[:, None]
    level = 0.5 + 0.2 * np.sin(np.arange(frames, dtype=np.float32) / 40.0)
    mel = (level + 0.1 * np.cos(bands * 1.3) - bands / 100.0).astype(np.float32)
    conditioning = Conditioning(mel=mel, mel_config=CONFIG, length=samples)
    ctypes.CDLL("libc.so.6").malloc_trim(0)  # what earlier runs freed is given back, not counted as this run's room
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")  # VmHWM := VmRSS
    base = _status_bytes("VmRSS")
    made = sum(len(chunk.samples) for chunk in generate(model, conditioning, device="cpu", seed=0))
    return _status_bytes("VmHWM") - base, made


MEASURE = """
import json, torch
torch.set_num_threads(1)
from tests.test_hardening_flat_memory_pitch import peak_while_generating, pitch_conditioned_wavenet
model = pitch_conditioned_wavenet()
peak_while_generating(model, 0.05)  # first calls: the pitch's templates, the mel filters, torch's first tensors
print(json.dumps([peak_while_generating(model, minutes) for minutes in (1.0, 3.0)]))
"""


@pytest.mark.slow
def test_a_pitch_conditioned_model_holds_as_much_for_3_minutes_as_for_1():
    environment = dict(
        os.environ, MALLOC_MMAP_THRESHOLD_="16384", OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", PYTHONPATH=str(REPO)
    )
    process = subprocess.run(
        [sys.executable, "-c", MEASURE],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert process.returncode == 0, process.stderr[-2000:]
    (short, made_short), (long, made_long) = json.loads(process.stdout.strip().splitlines()[-1])
    assert (made_short, made_long) == (480_000, 1_440_000)
    assert long < 1.2 * short + 2e6, f"3 min added {long / 1e6:.1f} MB at its peak, 1 min {short / 1e6:.1f} MB"
