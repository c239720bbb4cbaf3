"""Every malformed input, through the real `vocoscope vocode` in its own process: exit 2, a short message that
names the file and what was expected, never a traceback, and no output file."""

import struct
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from tests.helpers import run_cli, tone, write_wav

pytestmark = pytest.mark.slow  # runs `vocoscope vocode` in processes of its own


def _wav_bytes(tmp_path, seconds=0.1):
    return write_wav(tmp_path / "source.wav", tone(seconds, 16000), 16000, "PCM_16").read_bytes()


def _lying_header(tmp_path):
    data = bytearray(_wav_bytes(tmp_path))
    offset = data.index(b"data")
    data[offset + 4 : offset + 8] = struct.pack("<I", 10_000_000)  # announces far more samples than it holds
    return bytes(data)


# name → (file name, writer(folder, path), a word the message must contain)
BAD_INPUTS = {
    "wrong band count": ("bands64.npy", lambda d, p: np.save(p, np.zeros((64, 10), np.float32)), "64"),
    "integer dtype": ("ints.npy", lambda d, p: np.save(p, np.zeros((80, 10), np.int16)), "int16"),
    "NaN": ("nan.npy", lambda d, p: np.save(p, np.full((80, 10), np.nan, np.float32)), "NaN"),
    "Inf": (
        "inf.npy",
        lambda d, p: np.save(p, np.where(np.eye(80, 10) > 0, np.inf, 0.5).astype(np.float32)),
        "infinite",
    ),
    "zero frames": ("empty-mel.npy", lambda d, p: np.save(p, np.zeros((80, 0), np.float32)), "0 frames"),
    "3-D array": ("batch.npy", lambda d, p: np.save(p, np.zeros((2, 80, 10), np.float32)), "3-D"),
    "scalar array": ("scalar.npy", lambda d, p: np.save(p, np.float32(0.5)), "0-D"),
    "empty file": ("empty.wav", lambda d, p: p.write_bytes(b""), "empty"),
    "text named .wav": (
        "notes.wav",
        lambda d, p: p.write_text("these are my notes, not audio\n"),
        "not a readable audio",
    ),
    "truncated WAV": ("cut.wav", lambda d, p: p.write_bytes(_wav_bytes(d)[:1000]), "truncated"),
    "lying WAV header": ("lying.wav", lambda d, p: p.write_bytes(_lying_header(d)), "announcing"),
    "random bytes .npy": (
        "noise.npy",
        lambda d, p: p.write_bytes(np.random.default_rng(0).bytes(2048)),
        "not a saved array",
    ),
    "WAV with no samples": ("silent.wav", lambda d, p: write_wav(p, np.zeros(0, np.float32), 16000), "no samples"),
    "random bytes .pt": (
        "noise.pt",
        lambda d, p: p.write_bytes(np.random.default_rng(1).bytes(2048)),
        "not a saved array",
    ),
}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """Run every bad input through the CLI, a few processes at a time: name → (path, finished process)."""
    folder = tmp_path_factory.mktemp("bad")
    paths = {}
    for name, (file_name, write, _) in BAD_INPUTS.items():
        paths[name] = folder / file_name
        write(folder, paths[name])
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {name: pool.submit(run_cli, "vocode", str(path), "--device", "cpu") for name, path in paths.items()}
        return {name: (paths[name], future.result()) for name, future in futures.items()}


@pytest.mark.parametrize("name", list(BAD_INPUTS))
def test_bad_input_exits_2_with_a_message_naming_the_file(name, results):
    path, result = results[name]
    message = result.stderr.strip()
    assert result.returncode == 2, f"exit {result.returncode}: {result.stderr}"
    assert "Traceback" not in result.stderr
    assert 1 <= len(message.splitlines()) <= 2, message
    assert str(path) in message and "found" in message and "expected" in message
    assert BAD_INPUTS[name][2] in message, message
    assert not path.with_name(path.stem + ".vocoded.wav").exists()
