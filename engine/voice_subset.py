"""A voice set cut to a size, for a machine that takes a limited upload (a lent GPU takes 64 MiB with the code).

`vocoscope trainset --subset DIR --mib N --out OUT` reads a voice set (engine/voice_set.py: DIR/train/<voice>/,
DIR/valid/<voice>/, DIR/manifest.json) and writes
    OUT/train/<voice>/*.flac   training recordings, taken in turn from each training voice (each voice's in a fixed
                               shuffled order, so its pitch-shifted copies and gains are spread too) until the
                               next file would pass N MiB for the whole of OUT
    OUT/valid/<voice>/*.flac   every validation recording (counted first)
    OUT/manifest.json          DIR's, with each voice's files and seconds in OUT, the held-out voices left out
                               (they are never trained or chosen on), and "subset_of": DIR
FLAC, 16-bit, keeps the samples of DIR's 16-bit WAV exactly in about half the bytes.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import soundfile

from engine.errors import InputError

ROLES = ("valid", "train")  # the validation voices are copied whole, first


def _order(voice: str, files: list[str]) -> list[str]:
    """A voice's files in a fixed shuffled order (the same on every run)."""
    rng = np.random.default_rng(zlib.crc32(voice.encode()))
    return [files[index] for index in rng.permutation(len(files))]


def _copy(source: Path, target: Path) -> tuple[int, float]:
    """One recording as 16-bit FLAC → (bytes written, seconds)."""
    samples, rate = soundfile.read(str(source), dtype="int16")
    target.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(target), samples, rate, subtype="PCM_16", format="FLAC")
    return target.stat().st_size, len(samples) / rate


def copy_subset(source: Path, out: Path, mib: float) -> dict:
    """Write the subset of the voice set at `source` under `out` (see the module's docstring); return its manifest."""
    manifest_path = source / "manifest.json"
    if not manifest_path.is_file() or "voices" not in json.loads(manifest_path.read_text()):
        raise InputError(
            source,
            "a folder without a voice set's manifest.json",
            "a voice set made by `vocoscope trainset --source voices --out DIR`",
            "Build one first, and give its folder (the one holding train/, valid/ and manifest.json).",
        )
    manifest = json.loads(manifest_path.read_text())
    budget, used = mib * 2**20, 0
    files: dict[str, list[str]] = {role: [] for role in ROLES}
    voices = {name: voice for name, voice in manifest["voices"].items() if voice["role"] in ROLES}
    seconds = dict.fromkeys(voices, 0.0)
    for role in ROLES:
        queues = {
            name: _order(name, [f for f in manifest["files"][role] if f.startswith(name + "/")])
            for name, voice in voices.items()
            if voice["role"] == role
        }
        full = False
        while not full and any(queues.values()):
            for name, queue in queues.items():
                if not queue:
                    continue
                wav = queue.pop(0)
                target = out / role / Path(wav).with_suffix(".flac")
                size, length = _copy(source / role / wav, target)
                if role == "train" and used + size > budget:
                    target.unlink()
                    full = True
                    break
                used += size
                seconds[name] += length
                files[role].append(str(Path(wav).with_suffix(".flac")))
    for name, voice in voices.items():
        voice["files"] = sum(f.startswith(name + "/") for f in files[voice["role"]])
        voice["seconds"] = round(seconds[name], 2)
    subset = {**manifest, "voices": voices, "files": files, "subset_of": str(source), "mib": round(used / 2**20, 2)}
    (out / "manifest.json").write_text(json.dumps(subset, indent=2) + "\n")
    return subset
