"""`vocoscope vocode --play` and `vocoscope devices`, run as separate processes against a real PulseAudio daemon.

The model is `MelTone` (tests/tone_vocoder.py), a cheap real Vocoder saved as a checkpoint, slowed on purpose
to a known speed: twice real time (playback overlaps generation) or 0.4× real time (the adaptive start has to
hold playback back). The CLI cannot load a family it does not know, so these runs go through `engine.cli.main`
in a child process that first adds the test family to the registry.
"""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile

from engine import checkpoints
from tests.helpers import NUMBA_CACHE, REPO, run_cli
from tests.test_playback import at_monitor_rate, match
from tests.tone_vocoder import FAMILY, MelTone, ToneConfig, gliding_mel

pytestmark = pytest.mark.slow  # runs the CLI in processes of its own and plays sound in real time

RATE, HOP = 16000, 200
SUMMARY = re.compile(r"played (\d+\.\d+) s, start delay (\d+\.\d+) s, (\d+) underruns")

_MAIN_WITH_TONE_FAMILY = (
    "import sys\n"
    "from engine.models import registry\n"
    f"registry.register_family({FAMILY!r}, 'tests.tone_vocoder', 'MelTone', 'ToneConfig')\n"
    "from engine.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def run_cli_with_tone_family(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = dict(env or os.environ, NUMBA_CACHE_DIR=str(NUMBA_CACHE), PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    return subprocess.run(
        [sys.executable, "-c", _MAIN_WITH_TONE_FAMILY, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def mel_file(folder: Path, frames: int) -> Path:
    path = folder / "glide.npy"
    np.save(path, gliding_mel(frames).numpy())
    return path


@pytest.fixture
def tone_checkpoint(tmp_path) -> Path:
    """A MelTone twice as fast as real time, so generation and playback overlap."""
    path = tmp_path / "tone.safetensors"
    checkpoints.save(MelTone(ToneConfig(seconds_per_frame=0.5 * HOP / RATE)), path)
    return path


def test_vocode_play_plays_while_generating_and_the_recording_matches_the_file(sound_server, tmp_path, tone_checkpoint):
    source, output = mel_file(tmp_path, 120), tmp_path / "out.wav"
    mark = sound_server.monitor.mark()
    result = run_cli_with_tone_family(
        "vocode", str(source), "-o", str(output), "--model", str(tone_checkpoint), "--play"
    )
    recording = sound_server.monitor.since(mark)
    assert result.returncode == 0, result.stderr
    audio, rate = soundfile.read(output, dtype="float32")
    summary = SUMMARY.search(result.stdout)
    assert summary, result.stdout
    played, delay, underruns = float(summary[1]), float(summary[2]), int(summary[3])
    assert played == pytest.approx(len(audio) / rate, abs=0.01)
    assert underruns == 0
    generation_seconds = len(audio) / rate / float(re.search(r"(\d+\.\d+)x real time", result.stdout)[1])
    assert delay < generation_seconds, "playback starts before generation ends"
    ncc, duration_error = match(at_monitor_rate(audio, rate), recording)
    assert ncc >= 0.98
    assert abs(duration_error) <= 0.05


def test_vocode_play_with_a_model_slower_than_real_time_waits_then_plays_without_underruns(sound_server, tmp_path):
    slow = tmp_path / "slow-tone.safetensors"
    checkpoints.save(MelTone(ToneConfig(seconds_per_frame=HOP / RATE / 0.4)), slow)  # 0.4x real time
    source, output = mel_file(tmp_path, 40), tmp_path / "out.wav"
    mark = sound_server.monitor.mark()
    result = run_cli_with_tone_family("vocode", str(source), "-o", str(output), "--model", str(slow), "--play")
    recording = sound_server.monitor.since(mark)
    assert result.returncode == 0, result.stderr
    audio, rate = soundfile.read(output, dtype="float32")
    speed = float(re.search(r"(\d+\.\d+)x real time", result.stdout)[1])
    assert speed < 1.0, "this test needs a model slower than real time"
    summary = SUMMARY.search(result.stdout)
    assert summary, result.stdout
    assert int(summary[3]) == 0
    # Held back by about the generation time minus the play time (2.5 clips − 1 clip): longer than the clip.
    assert float(summary[2]) > len(audio) / rate
    ncc, duration_error = match(at_monitor_rate(audio, rate), recording)
    assert ncc >= 0.98
    assert abs(duration_error) <= 0.05


def test_interrupting_vocode_play_mid_playback_fades_out_and_exits(sound_server, tmp_path, tone_checkpoint):
    source, output = mel_file(tmp_path, 400), tmp_path / "out.wav"  # 5 s of tone
    mark = sound_server.monitor.mark()
    env = dict(os.environ, NUMBA_CACHE_DIR=str(NUMBA_CACHE), PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _MAIN_WITH_TONE_FAMILY,
            "vocode",
            str(source),
            "-o",
            str(output),
            "--model",
            str(tone_checkpoint),
            "--play",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while np.max(np.abs(sound_server.monitor.so_far(mark)), initial=0.0) < 0.1:
        assert process.poll() is None and time.monotonic() < deadline, "the tone never reached the sink"
        time.sleep(0.05)
    time.sleep(0.3)
    process.send_signal(signal.SIGINT)
    began = time.monotonic()
    _, stderr = process.communicate(timeout=10)
    assert time.monotonic() - began < 3.0
    assert process.returncode == 130, stderr
    recording = sound_server.monitor.since(mark)
    # The tone moves by at most 2π · 1650 Hz / 48 kHz · 0.4 ≈ 0.09 per sample; a cut would jump by up to 0.4.
    assert np.max(np.abs(np.diff(recording))) < 0.1
    loud = np.flatnonzero(np.abs(recording) > 1e-3)
    heard = (loud[-1] - loud[0]) / 48000
    assert 0.3 < heard < 4.0, "stopped mid-way, not at the end"
    # A 10 ms linear fade: the last 5 ms stay below about half of the level just before it.
    end = loud[-1] + 1
    assert np.max(np.abs(recording[end - 240 : end])) < 0.6 * np.max(np.abs(recording[end - 2400 : end - 480]))


def test_vocode_play_without_a_sound_server_says_so_and_still_writes_the_file(tmp_path, tone_checkpoint):
    source, output = mel_file(tmp_path, 40), tmp_path / "out.wav"
    env = dict(os.environ, PULSE_SERVER=f"unix:{tmp_path}/no-server-here")
    result = run_cli_with_tone_family(
        "vocode", str(source), "-o", str(output), "--model", str(tone_checkpoint), "--play", env=env
    )
    assert result.returncode == 0, result.stderr
    assert "no sound output: found no audio output device (no sound server is running" in result.stderr
    assert "Writing the file without playing it" in result.stderr
    assert "Traceback" not in result.stderr
    assert soundfile.info(output).frames == 40 * HOP
    assert "underruns" not in result.stdout


def test_devices_lists_sound_outputs_with_their_rate_or_says_there_is_no_server(sound_server, tmp_path):
    listed = run_cli("devices")
    assert listed.returncode == 0, listed.stderr
    outputs = listed.stdout.split("sound outputs:")[1]
    assert re.search(r"\*\s+\d+\s+default\s+\(\d+ Hz, \d+ ch\)", outputs), outputs

    without = subprocess.run(
        [sys.executable, "-m", "engine.cli", "devices"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, PULSE_SERVER=f"unix:{tmp_path}/no-server-here"),
    )
    assert without.returncode == 0, without.stderr
    assert "none: no sound server is running" in without.stdout.split("sound outputs:")[1]
