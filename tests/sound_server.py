"""A real PulseAudio daemon for the audio tests: a null sink "vsink" whose monitor is recorded.

The `sound_server` session fixture starts `pulseaudio` in a private temporary directory (its own socket, no
autospawn, anonymous access), makes "vsink" the default sink, points this process and its subprocesses at it
through PULSE_SERVER, and records `vsink.monitor` with `parec` for the whole session. A test takes a
`mark()` before it plays and `since(mark)` after: the samples the sink played in between, at 48 kHz mono.
The daemon runs in the foreground of a child process (not `-D`), so the fixture holds its pid and ends it at
the end of the session. As root, pulseaudio only warns that it is not meant to run as root.

tests/conftest.py imports the fixture so every test file shares one daemon.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

MONITOR_RATE = 48000
# parec delivers the monitor about 0.3 s (up to 1.5 s on a busy machine) after the sink plays it.
_RECORDING_LAG_SECONDS = 0.5


class MonitorRecording:
    """`parec` writing the sink's monitor as float32 mono to a file, read back by offsets."""

    def __init__(self, path: Path, env: dict[str, str]):
        self.path = path
        self._process = subprocess.Popen(
            [
                "parec",
                "-d",
                "vsink.monitor",
                "--format=float32le",
                f"--rate={MONITOR_RATE}",
                "--channels=1",
                "--latency-msec=20",
                "--raw",
                str(path),
            ],
            env=env,
            stderr=subprocess.DEVNULL,
        )
        self._wait_for_frames(1, timeout=10.0)

    def frames(self) -> int:
        return self.path.stat().st_size // 4 if self.path.exists() else 0

    def _wait_for_frames(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.frames() < count:
            if time.monotonic() > deadline or self._process.poll() is not None:
                raise RuntimeError(f"parec recorded {self.frames()} frames of vsink.monitor, expected {count}")
            time.sleep(0.01)

    def mark(self) -> int:
        """The offset (frames) where what is played from now on will land, or later."""
        return self.frames()

    def so_far(self, mark: int) -> np.ndarray:
        """What has arrived from `mark` until now, without waiting for the recording to catch up."""
        with open(self.path, "rb") as recording:
            recording.seek(mark * 4)
            data = recording.read()
        return np.frombuffer(data[: len(data) - len(data) % 4], dtype=np.float32)

    def since(self, mark: int) -> np.ndarray:
        """Everything the sink played from `mark` until now, (n,) float32 at MONITOR_RATE."""
        self._wait_for_frames(self.frames() + int(_RECORDING_LAG_SECONDS * MONITOR_RATE), timeout=10.0)
        with open(self.path, "rb") as recording:
            recording.seek(mark * 4)
            return np.frombuffer(recording.read(), dtype=np.float32).copy()

    def close(self) -> None:
        self._process.terminate()
        self._process.wait(timeout=5)


class SoundServer:
    """A running daemon: `env` reaches it, `monitor` records what it plays."""

    def __init__(self, root: Path):
        self.root = root
        self.socket = root / "native"
        self.env = dict(os.environ, PULSE_SERVER=f"unix:{self.socket}")
        daemon_env = dict(self.env, HOME=str(root), XDG_RUNTIME_DIR=str(root), PULSE_RUNTIME_PATH=str(root))
        daemon_env.pop("PULSE_SERVER")
        self._daemon = subprocess.Popen(
            # soxr-hq: the same resampler the tests use to bring a 16 kHz reference to the sink's 48 kHz, so a
            # comparison measures the playback path, not two resamplers' different treatment of the top octave.
            [
                "pulseaudio",
                "-n",
                "--daemonize=no",
                "--use-pid-file=no",
                "--exit-idle-time=-1",
                "--disallow-exit",
                "--log-target=stderr",
                "--resample-method=soxr-hq",
                f"--load=module-native-protocol-unix auth-anonymous=1 socket={self.socket}",
                f"--load=module-null-sink sink_name=vsink rate={MONITOR_RATE} channels=2",
            ],
            env=daemon_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._wait_until_up(timeout=15.0)
        subprocess.run(["pactl", "set-default-sink", "vsink"], env=self.env, check=True)
        self.monitor = MonitorRecording(root / "monitor.f32", self.env)

    def _wait_until_up(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while subprocess.run(["pactl", "info"], env=self.env, capture_output=True).returncode != 0:
            if self._daemon.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError("pulseaudio did not start: run it by hand with the flags above to see why")
            time.sleep(0.05)

    def close(self) -> None:
        if hasattr(self, "monitor"):
            self.monitor.close()
        self._daemon.terminate()
        self._daemon.wait(timeout=5)


@pytest.fixture(scope="session")
def sound_server():
    """One PulseAudio daemon with the null sink "vsink" for the session; this process and its children use it."""
    if shutil.which("pulseaudio") is None or shutil.which("parec") is None:
        missing = "pulseaudio and pulseaudio-utils are not installed (.ci/run installs them)"
        if os.environ.get("CI"):  # CI must hear the audio tests, never skip them quietly
            pytest.fail(missing)
        pytest.skip(missing)
    from engine.playback import rescan_devices

    root = Path(tempfile.mkdtemp(prefix="vocoscope-pulse-"))
    server = SoundServer(root)
    previous = os.environ.get("PULSE_SERVER")
    os.environ["PULSE_SERVER"] = server.env["PULSE_SERVER"]
    rescan_devices()  # PortAudio lists devices once; it may have been loaded before the server ran
    try:
        yield server
    finally:
        server.close()
        if previous is None:
            os.environ.pop("PULSE_SERVER", None)
        else:
            os.environ["PULSE_SERVER"] = previous
        rescan_devices()
        shutil.rmtree(root, ignore_errors=True)
