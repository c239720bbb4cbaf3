"""Writing a file so that nothing is lost: a temporary file beside the target, then a rename.

A crash or a full disk leaves the old file (or nothing), never half a file. The temporary file is named
``.<name>.<pid>.<random>.tmp<suffix>``; one whose process is gone (killed while writing) is removed by the next
process that writes into the same folder. Without `overwrite`, the target is created by a hard link from the temporary file,
which fails when a file of that name exists, so a file that appeared after the last check is never replaced.
Replacing a file keeps its permissions; a new file gets those of any new file (0666 less the umask).
"""

from __future__ import annotations

import errno
import os
import re
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from engine.errors import OutputError

TEMPORARY = re.compile(r"\..+\.(?P<pid>\d+)\.[a-z0-9_]{8}\.tmp(\.[^.]*)?")
LOW_SPACE_BYTES = 1 << 20  # a write that failed with less than this free failed for want of space
_cleaned: set[str] = set()  # folders this process has already rid of stale temporary files
_EXISTS_FIX = "Choose another name (-o), or confirm that it may be replaced (--force on the command line)."


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: Path, *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside `path` to write; when the block ends without an error it becomes `path`.

    overwrite: replace an existing `path` (keeping its permissions); False raises `OutputError` if `path` exists when
    the block ends, and leaves that file as it was. Creating the temporary file and renaming it raise `OutputError`
    naming `path` and the cause (disk full, permission, read-only); what the block raises passes through as it is.
    """
    path = Path(path)
    if str(path.parent) not in _cleaned:  # once per folder and process: a cache folder may hold many files
        remove_stale_temporaries(path.parent)
        _cleaned.add(str(path.parent))
    try:
        handle, name = tempfile.mkstemp(
            prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp" + path.suffix, dir=path.parent
        )
    except OSError as error:
        raise write_error(path, error) from None
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        _commit(temporary, path, overwrite)
    finally:
        temporary.unlink(missing_ok=True)


def _commit(temporary: Path, path: Path, overwrite: bool) -> None:
    try:
        os.chmod(temporary, _mode_for(path))
        if overwrite:
            os.replace(temporary, path)
        else:
            _link_new(temporary, path)
    except OutputError:
        raise
    except OSError as error:
        raise write_error(path, error) from None


def _mode_for(path: Path) -> int:
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return 0o666 & ~_umask()


def _link_new(temporary: Path, path: Path) -> None:
    """Make `temporary` appear as `path` only if no file of that name exists at this instant."""
    try:
        os.link(temporary, path)
        return
    except FileExistsError:
        raise OutputError(
            path,
            "an existing file (it appeared while this one was being written)",
            "a new file name, or permission to replace the file",
            _EXISTS_FIX,
        ) from None
    except OSError as error:
        if error.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise
    # A file system without hard links (FAT, some network shares): claim the name exclusively, then replace it.
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        raise OutputError(
            path,
            "an existing file (it appeared while this one was being written)",
            "a new file name, or permission to replace the file",
            _EXISTS_FIX,
        ) from None
    os.replace(temporary, path)


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Remove this program's temporary files in `folder` whose writing process no longer runs; returns them."""
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        match = TEMPORARY.fullmatch(name)
        if match is None or _running(int(match["pid"])):
            continue
        try:
            (folder / name).unlink()
            removed.append(folder / name)
        except OSError:
            pass
    return removed


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return pid > 0
    return True


def check_writable(path: Path) -> None:
    """Raise `OutputError` unless a file can be created in the folder of `path` now (tried, then removed) and `path`
    itself is not a folder."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(
            path, "a folder", "a file name for the output", f"Name a file inside it (for example {path / 'out.wav'})."
        )
    if not path.parent.is_dir():
        raise OutputError(
            path,
            f"no folder {path.parent}",
            "an existing folder for the output",
            "Create the folder or choose another output path.",
        )
    try:
        handle, name = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
    except OSError as error:
        raise write_error(path, error) from None
    os.close(handle)
    os.unlink(name)


def check_space(path: Path, needed: int) -> None:
    """Raise `OutputError` when the disk of `path`'s folder has less than `needed` bytes free."""
    free = _free_bytes(path.parent)
    if free is not None and free < needed:
        raise OutputError(
            path,
            f"{_size(free)} free on its disk",
            f"room for about {_size(needed)}",
            "Free some space, or choose a folder on another disk (-o).",
        )


def write_error(path: Path, error: BaseException) -> OutputError:
    """The `OutputError` for a write to `path` that failed with `error` (an OSError, or libsndfile's "System error",
    which says nothing more: the disk's free space then tells)."""
    code = getattr(error, "errno", None)
    free = _free_bytes(path.parent)
    if code in (errno.ENOSPC, errno.EDQUOT) or (code is None and free is not None and free < LOW_SPACE_BYTES):
        return OutputError(
            path,
            f"no space left on the device ({_size(free or 0)} free)",
            "room for the file",
            "Free some space, or choose a folder on another disk (-o).",
        )
    if code in (errno.EACCES, errno.EPERM):
        return OutputError(
            path,
            f"no permission to write in {path.parent}",
            "a folder you may write to",
            "Choose another folder (-o), or change the folder's permissions.",
        )
    if code == errno.EROFS:
        return OutputError(
            path,
            f"a read-only file system at {path.parent}",
            "a folder you may write to",
            "Choose a folder on a writable disk (-o).",
        )
    if code in (errno.ENOENT, errno.ENOTDIR):
        return OutputError(
            path,
            f"no folder {path.parent}",
            "an existing folder for the output",
            "Create the folder or choose another output path.",
        )
    text = os.strerror(code) if code else (str(error).strip() or type(error).__name__)
    return OutputError(
        path,
        f"a write that failed ({text})",
        "a file that can be written",
        "Check the disk and the folder, or choose another output path (-o).",
    )


def _free_bytes(folder: Path) -> int | None:
    try:
        info = os.statvfs(folder)
    except (OSError, AttributeError):
        return None
    return info.f_bavail * info.f_frsize


def _size(count: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} bytes"


def same_file(first: Path, second: Path) -> bool:
    """Whether two paths name one file that exists (through links, `..` or a different spelling)."""
    try:
        return os.path.samefile(first, second)
    except OSError:
        return False
