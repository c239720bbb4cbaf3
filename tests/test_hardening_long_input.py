"""A long recording is read in blocks (issue 22, item 9): the command line's reader (engine.streamed_mel.stream_input)
makes the same mel as reading the file whole, computed a block at a time as it is asked for, and its memory does not
grow with the recording: not by the recording, its STFT or the mel. benchmarks/long_input_memory.py measures the
whole `vocode` at 1 minute against 2 hours."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile

from engine.features import MelConfig, load_input
from engine.streamed_mel import stream_input
from tests.helpers import REPO

CONFIG = MelConfig()


def noise_file(path, seconds: float, rate: int, channels: int):
    samples = 0.2 * np.random.default_rng(channels).standard_normal((int(seconds * rate), channels))
    soundfile.write(path, samples.astype(np.float32), rate, subtype="FLOAT")
    return path


def test_the_streamed_mel_is_the_whole_files_mel_at_the_models_rate(tmp_path, warm_librosa):
    path = noise_file(tmp_path / "take.wav", 3.01, 16000, 1)
    whole = load_input(path, CONFIG)
    streamed = stream_input(path, CONFIG, block_seconds=0.7)
    assert streamed.audio is None and streamed.num_samples == whole.num_samples == 48160
    assert streamed.frames == whole.frames
    np.testing.assert_allclose(streamed.mel.whole()[0], whole.mel, rtol=0, atol=3e-7)


def test_the_streamed_mel_of_a_resampled_stereo_file_is_the_whole_files_mel(tmp_path, warm_librosa):
    path = noise_file(tmp_path / "take.wav", 2.5, 44100, 2)
    whole = load_input(path, CONFIG)
    streamed = stream_input(path, CONFIG, block_seconds=0.3)
    assert streamed.num_samples == whole.num_samples and streamed.source_rate == 44100
    np.testing.assert_allclose(streamed.mel.whole()[0], whole.mel, rtol=0, atol=3e-7)


def test_a_recording_within_one_block_is_read_as_the_window_reads_it(tmp_path, warm_librosa):
    path = noise_file(tmp_path / "take.wav", 1.0, 16000, 1)
    np.testing.assert_array_equal(stream_input(path, CONFIG).mel, load_input(path, CONFIG).mel)


MEASURE = r"""
import json, resource, sys
import numpy as np, soundfile
from engine.features import MelConfig
from engine.streamed_mel import stream_input

def silence(path, minutes):
    with soundfile.SoundFile(path, "w", 16000, 1, subtype="PCM_16") as file:
        for _ in range(int(minutes)):
            file.write(np.zeros(16000 * 60, np.int16))

peaks = {}
for minutes in (1, 16):
    path = f"{sys.argv[1]}/silence{minutes}.wav"
    silence(path, minutes)
    mel = stream_input(path, MelConfig(), block_seconds=30).mel
    frames = mel.shape[-1]
    for start in range(0, frames, 2000):  # read through in order, as generation reads it
        mel.window(start, min(frames, start + 2000))
    peaks[minutes] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    del mel
print(json.dumps(peaks))
"""


@pytest.mark.slow
def test_reading_16_minutes_costs_neither_the_mel_nor_the_recording(tmp_path):
    process = subprocess.run(
        [sys.executable, "-c", MEASURE, str(tmp_path)],
        cwd=REPO,
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert process.returncode == 0, process.stderr[-2000:]
    peaks = {int(minutes): peak for minutes, peak in json.loads(process.stdout.strip().splitlines()[-1]).items()}
    mel_bytes = CONFIG.frames_for(16 * 60 * 16000) * CONFIG.n_mels * 4  # 24.6 MB
    whole_file_bytes = 16 * 60 * 16000 * 4 * 2  # the recording as float32, twice (read, then mono): 123 MB
    growth = peaks[16] - peaks[1]
    # before, the mel was made whole: 16 min took it and 40 MB of the reading's own more than 1 min
    assert growth < mel_bytes / 2, f"16 min took {growth / 1e6:.0f} MB more than 1 min"
    assert growth < whole_file_bytes
