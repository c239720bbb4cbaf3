"""Atomic writes: the whole file or the old one, with the permissions of any new file, never overwritten unasked."""

import os

import numpy as np
import pytest
import soundfile

from engine.errors import InputError
from engine.export import atomic_path, write_audio


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.mark.parametrize("name", ["out.wav", "out.flac"])
def test_written_audio_round_trips_with_ordinary_permissions_and_no_temporary_left(tmp_path, name):
    audio = np.sin(np.arange(1600) / 7.0).astype(np.float32) * 0.5
    path = write_audio(tmp_path / name, audio, 16000)
    read, rate = soundfile.read(path, dtype="float32")
    assert rate == 16000 and np.abs(read - audio).max() < 1 / 32768 + 1e-7
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~current_umask()
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_existing_file_is_kept_unless_overwrite_is_given(tmp_path):
    path = tmp_path / "keep.wav"
    write_audio(path, np.zeros(100, np.float32), 16000)
    with pytest.raises(InputError, match="an existing file"):
        write_audio(path, np.ones(50, np.float32) * 0.1, 16000)
    assert soundfile.info(path).frames == 100
    write_audio(path, np.ones(50, np.float32) * 0.1, 16000, overwrite=True)
    assert soundfile.info(path).frames == 50


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_path(path) as temporary:
            temporary.write_bytes(b"half a fi")
            raise RuntimeError("disk full")
    assert path.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["model.bin"]


def test_wrong_suffix_is_refused_with_the_fix(tmp_path):
    with pytest.raises(InputError, match=r"out.mp3: found the file type '.mp3'.*\.wav or \.flac"):
        write_audio(tmp_path / "out.mp3", np.zeros(10, np.float32), 16000)
