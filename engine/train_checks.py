"""What `vocoscope train` checks before it computes anything, so that a mistake costs a second, not a night of
training: the numbers are in range, every place it will write (the checkpoint's folder, the loss log, the mel cache)
exists or can be made and takes a file, and --resume, --init and --out agree with what is on disk.

A folder is judged writable by writing to it (a probe file, removed at once): permissions alone do not tell, for
root, on a read-only file system, or with an immutable folder.
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
from pathlib import Path

from engine.distributed import World
from engine.errors import InputError


def check_train_arguments(args: argparse.Namespace, world: World) -> None:
    """Raise `InputError` (exit 2) for the first of `args` (train's) that cannot work. Rank 0 alone checks the
    outputs it alone writes; every rank checks what it reads or caches."""
    _check_count(
        "--steps",
        args.steps,
        1,
        "a positive number of steps (train until N steps in all)",
        "Give --steps 1 or more, such as --steps 10000.",
    )
    _check_count(
        "--threads",
        args.threads,
        0,
        "0 (torch's own choice) or a positive number of CPU threads",
        "Give --threads 0, or the number of cores to use, such as --threads 4.",
    )
    if args.minutes is not None and not (math.isfinite(args.minutes) and args.minutes > 0):
        raise InputError(
            "--minutes",
            f"{args.minutes:g}",
            "a positive number of minutes to train for",
            "Give --minutes 8 to stop and save after 8 minutes, or leave it out to train until --steps.",
        )
    if args.nproc_per_node is not None:
        _check_count(
            "--nproc-per-node",
            args.nproc_per_node,
            1,
            "a positive number of ranks to start",
            "Give --nproc-per-node 2 or more to train on several processes, or leave it out.",
        )
        if world.distributed:
            raise InputError(
                "--nproc-per-node",
                f"it given to rank {world.rank} of {world.size}, already started by torchrun",
                "it only when vocoscope starts the ranks itself",
                "Leave it out under torchrun: torchrun's own --nproc-per-node says how many ranks run.",
            )
    out = Path(args.out)
    if world.main:
        if out.is_dir():
            raise InputError(
                out,
                "a folder",
                "a checkpoint file name such as runs/wavenet.safetensors",
                "Give --out the file to write, inside that folder.",
            )
        check_writable_folder(out.parent, "--out", out)
        log = Path(args.log) if args.log else out.with_suffix(".csv")
        option = "--log" if args.log else "the loss log beside --out"
        check_writable_folder(log.parent, option, log)
        if log.is_dir():
            raise InputError(
                log,
                f"a folder (for {option})",
                "a CSV file name such as runs/wavenet.csv",
                "Give --log the file to write.",
            )
    if args.cache:
        check_cache_folder(Path(args.cache))
    _check_run_files(args, out)


def check_writable_folder(folder: Path, option: str, target: Path) -> None:
    """Raise `InputError` unless `folder`, where `option` writes `target`, exists and takes a new file."""
    if not folder.exists():
        raise InputError(
            folder,
            f"no such folder (for {option} {target})",
            "an existing folder to write in",
            f"Create it (mkdir -p {folder}), or choose another {option}.",
        )
    if not folder.is_dir():
        raise InputError(
            folder, f"a file where a folder should be (for {option} {target})", "a folder", f"Choose another {option}."
        )
    try:
        handle, probe = tempfile.mkstemp(prefix=".vocoscope-write-check-", dir=folder)
    except OSError as error:
        raise InputError(
            folder,
            f"a folder that cannot be written ({error.strerror}; for {option} {target})",
            "a folder this user can write to",
            f"Choose another {option}, or make {folder} writable.",
        ) from None
    os.close(handle)
    os.unlink(probe)


def check_cache_folder(cache: Path) -> None:
    """Raise `InputError` unless the mel cache `cache` is a writable folder, or can be made in one."""
    if cache.exists() and not cache.is_dir():
        raise InputError(
            cache,
            "a file (for --cache)",
            "a folder for the mel cache",
            "Give --cache a folder (it is made if missing).",
        )
    existing = next(folder for folder in (cache, *cache.absolute().parents) if folder.exists())
    check_writable_folder(existing, "--cache", cache)


def _check_count(option: str, value: int, least: int, expected: str, fix: str) -> None:
    if value < least:
        raise InputError(option, str(value), expected, fix)


def _check_run_files(args: argparse.Namespace, out: Path) -> None:
    """--resume needs the checkpoint in --out, a new run needs --out free, and --init starts a new run only."""
    if args.resume and args.init:
        raise InputError(
            args.init,
            "--init together with --resume",
            "one of them",
            "--resume continues the run in --out; --init starts a new run from another checkpoint.",
        )
    if args.resume and not out.exists():
        raise InputError(
            out,
            "no such checkpoint to resume",
            "a checkpoint written by an earlier run",
            "Leave out --resume to start a new run.",
        )
    if not args.resume and out.exists():
        raise InputError(
            out,
            "a checkpoint that already exists",
            "a new file, or --resume",
            "Add --resume to continue that run, or choose another --out.",
        )
