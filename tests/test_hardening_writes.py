"""Late failures and lost files (issue 22, items 3, 4, 5, 6 and 8): outputs are checked before the work, write errors
name the file and the cause, inputs are never overwritten before they are read, replacing keeps a file's mode, no
file that appears during a write is replaced without --force, a killed write's temporary file is cleaned by the next
one, and the command line's mistakes exit 2 with one line.

A read-only folder and a full disk are real: a small tmpfs mounted for the test where this process may mount (root
in a container), else a folder without write permission and the kernel's /dev/full."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import soundfile

from engine.atomic_write import TEMPORARY, atomic_path, write_error
from app.__main__ import main
from engine.errors import InputError, OutputError
from engine.export import write_audio
from tests.helpers import REPO


@contextmanager
def tmpfs(folder: Path, options: str):
    """`folder` with a tmpfs mounted on it (yields True), or False where this process cannot mount one."""
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        yield False
        return
    mounted = (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], check=False, capture_output=True
        ).returncode
        == 0
    )
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(folder)], check=False, capture_output=True)


@pytest.fixture
def read_only(tmp_path):
    """A folder nothing may be written in, even by root."""
    folder = tmp_path / "read-only"
    with tmpfs(folder, "ro,size=64k") as mounted:
        if not mounted:
            if os.geteuid() == 0:
                pytest.skip("root without mount: no folder is read-only to it")
            folder.chmod(0o555)
        yield folder
        if not mounted:
            folder.chmod(0o755)


def mel_file(folder: Path, frames: int = 3, name: str = "m.npy") -> Path:
    path = folder / name
    np.save(path, np.random.default_rng(frames).random((80, frames), dtype=np.float32))
    return path


def one_line(capsys) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


# --- item 3: unwritable outputs are found before the work, write errors say why ---------------------------


def test_vocode_into_a_read_only_folder_fails_before_loading_the_model(tmp_path, read_only, capsys):
    # The model named does not exist: an error about the output proves the output was checked first.
    output = read_only / "out.wav"
    status = main(["vocode", str(mel_file(tmp_path)), "-o", str(output), "--model", str(tmp_path / "none.safetensors")])
    assert status == 2
    line = one_line(capsys)
    assert line.startswith(f"vocoscope: {output}: found ") and ("read-only" in line or "no permission" in line)
    assert not any(read_only.iterdir())


def test_several_inputs_into_a_folder_that_cannot_be_made_exit_2(tmp_path, read_only, capsys):
    inputs = [str(mel_file(tmp_path, 3, "a.npy")), str(mel_file(tmp_path, 4, "b.npy"))]
    assert main(["vocode", *inputs, "-o", str(read_only / "takes")]) == 2
    assert str(read_only / "takes") in one_line(capsys)


def test_a_full_disk_is_named_with_the_file_before_the_work_and_while_writing(tmp_path, capsys):
    folder = tmp_path / "small-disk"
    with tmpfs(folder, "size=64k") as mounted:
        if not mounted:
            with open("/dev/full", "wb") as full, pytest.raises(OSError) as raised:
                full.write(b"\0" * 4096)
                full.flush()
            message = str(write_error(folder / "out.wav", raised.value))
            assert message.startswith(f"{folder / 'out.wav'}: found no space left on the device")
            return
        output = folder / "out.wav"
        # 40 frames of 200 samples need 16 kB: fine. 400 need 160 kB: refused before generating.
        assert main(["vocode", str(mel_file(tmp_path, 400)), "-o", str(output)]) == 2
        line = one_line(capsys)
        assert line.startswith(f"vocoscope: {output}: found ")
        assert "free on its disk; expected room for about 164" in line
        with pytest.raises(OutputError, match=r"out.wav: found no space left on the device \(\d+ bytes free\)"):
            write_audio(output, np.zeros(200_000, np.float32), 16000)
        assert list(folder.iterdir()) == [], "neither the file nor a temporary one is left"


# --- item 4: an input is never overwritten before it is read ---------------------------------------------


def test_an_output_that_is_another_input_is_refused_before_anything_is_written(tmp_path, capsys):
    first = mel_file(tmp_path, 3, "a.npy")
    # a.npy's output is a.vocoded.wav: make it the second input, as `vocode a.wav a.vocoded.wav --force` does
    victim = tmp_path / "a.vocoded.wav"
    soundfile.write(victim, np.full(1000, 0.25, np.float32), 16000)
    victim_bytes = victim.read_bytes()
    assert main(["vocode", str(first), str(victim), "--force"]) == 2
    line = one_line(capsys)
    assert line.startswith(f"vocoscope: {victim}: found the output of {first}, which is also input 2 ({victim})")
    assert victim.read_bytes() == victim_bytes
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npy", "a.vocoded.wav"]


# --- item 5: replacing keeps the permissions --------------------------------------------------------------


def test_force_keeps_the_replaced_files_mode(tmp_path):
    output = tmp_path / "private.wav"
    write_audio(output, np.zeros(100, np.float32), 16000)
    output.chmod(0o600)
    assert main(["vocode", str(mel_file(tmp_path)), "-o", str(output), "--force", "--seed", "1"]) == 0
    assert output.stat().st_mode & 0o777 == 0o600
    assert soundfile.info(output).frames == 600


# --- item 8: no clobber at the rename; a killed write's temporary file is cleaned -------------------------


def test_a_file_that_appears_during_the_write_is_not_replaced(tmp_path):
    path = tmp_path / "take.wav"
    refused = pytest.raises(OutputError, match="take.wav: found an existing file \\(it appeared while")
    with refused, atomic_path(path, overwrite=False) as temporary:
        temporary.write_bytes(b"ours")
        path.write_bytes(b"theirs")  # another program, between the check and the rename
    assert path.read_bytes() == b"theirs" and sorted(p.name for p in tmp_path.iterdir()) == ["take.wav"]


KILLED_WRITER = r"""
import sys, time
from pathlib import Path
from engine.atomic_write import atomic_path
with atomic_path(Path(sys.argv[1])) as temporary:
    temporary.write_bytes(b"half a take")
    print(temporary, flush=True)
    time.sleep(60)
"""
NEXT_WRITE = r"""
import sys
import numpy as np
from engine.export import write_audio
write_audio(sys.argv[1], np.zeros(10, np.float32), 16000)
"""


def test_a_temporary_file_left_by_a_killed_write_is_removed_by_the_next_write(tmp_path):
    target = tmp_path / "take.wav"
    writer = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(target)], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    try:
        temporary = Path(writer.stdout.readline().strip())
        assert temporary.exists() and TEMPORARY.fullmatch(temporary.name)
        write_audio(tmp_path / "other.wav", np.zeros(10, np.float32), 16000)
        assert temporary.exists(), "a write in progress is left alone"
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    assert temporary.exists()
    next_run = subprocess.run(
        [sys.executable, "-c", NEXT_WRITE, str(tmp_path / "third.wav")],
        cwd=REPO,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert next_run.returncode == 0, next_run.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.wav", "third.wav"]


# --- item 6: the command line's mistakes exit 2 with one line naming the file -----------------------------


def test_one_existing_file_as_out_for_several_inputs_exits_2(tmp_path, capsys):
    notes = tmp_path / "notes.txt"
    notes.write_text("not a folder")
    inputs = [str(mel_file(tmp_path, 3, "a.npy")), str(mel_file(tmp_path, 4, "b.npy"))]
    assert main(["vocode", *inputs, "-o", str(notes)]) == 2
    assert one_line(capsys).startswith(f"vocoscope: {notes}: found one existing file for 2 inputs; expected a folder")
    assert notes.read_text() == "not a folder"


def test_an_existing_folder_as_out_with_force_exits_2(tmp_path, capsys):
    folder = tmp_path / "takes.wav"
    folder.mkdir()
    assert main(["vocode", str(mel_file(tmp_path)), "-o", str(folder), "--force"]) == 2
    assert one_line(capsys).startswith(f"vocoscope: {folder}: found a folder; expected a .wav or .flac file name")
    assert folder.is_dir() and not any(folder.iterdir())


def test_a_seed_beyond_64_bits_exits_2(tmp_path, capsys):
    assert main(["vocode", str(mel_file(tmp_path)), "--seed", str(2**70)]) == 2
    assert f"found '{2**70}'; expected a whole number from" in one_line(capsys)


def test_a_window_size_that_is_not_a_size_exits_2_without_a_traceback(capsys):
    assert main(["--size", "abc"]) == 2
    assert "argument --size: found 'abc'; expected WIDTHxHEIGHT" in one_line(capsys)


def test_an_unreadable_input_exits_2_naming_it(tmp_path, capsys):
    folder = Path(tempfile.mkdtemp(prefix="vocoscope-unreadable-"))  # under /tmp, reachable by any user
    try:
        folder.chmod(0o755)
        audio = folder / "locked.wav"
        soundfile.write(audio, np.zeros(4000, np.float32), 16000)
        audio.chmod(0)
        if os.geteuid() != 0:
            assert main(["vocode", str(audio), "-o", str(tmp_path / "x.wav")]) == 2
            line = one_line(capsys)
        else:  # root reads anything: read it as the user nobody, in a child process
            line = _read_as_nobody(audio)
        assert line.startswith(
            f"{'vocoscope: ' if os.geteuid() != 0 else ''}{audio}: found a file that cannot be "
            "read (Permission denied); expected a file you may read"
        )
    finally:
        shutil.rmtree(folder)


def _read_as_nobody(path: Path) -> str:
    """What reading `path` for the command line (engine.streamed_mel.stream_input) raises as the user nobody."""
    from engine.features import MelConfig
    from engine.streamed_mel import stream_input

    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover (the child's coverage is not collected)
        os.close(read)
        try:
            os.setgid(65534)
            os.setuid(65534)
            stream_input(path, MelConfig())
            message = "read without an error"
        except InputError as error:
            message = str(error)
        except BaseException as error:  # noqa: BLE001 (reported to the parent, which fails the test)
            message = f"{type(error).__name__}: {error}"
        os.write(write, message.encode())
        os._exit(0)
    os.close(write)
    deadline = time.monotonic() + 30
    chunks = []
    while time.monotonic() < deadline:
        chunk = os.read(read, 4096)
        if not chunk:
            break
        chunks.append(chunk)
    os.waitpid(child, 0)
    os.close(read)
    return b"".join(chunks).decode()
