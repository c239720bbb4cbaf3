"""Build a training set of real speech from audio that installs offline (Debian's Asterisk prompt packages).

`vocoscope trainset --out DIR` decodes every spoken prompt of one voice to 16-bit WAV at 16 kHz and splits
the files into DIR/train/ and DIR/heldout/ (recordings never trained on, for `benchmarks/quality.py` and
for the example recording in resources/). DIR/manifest.json records the source, its licence and the split.
The audio is generated at build time and never committed.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import soundfile

from engine.errors import InputError
from engine.prompt_audio import NOT_SPEECH, NOT_SPEECH_FOLDERS, SAMPLE_RATE, decode_g722


@dataclass(frozen=True)
class SpeechSource:
    """One voice shipped as G.722-coded prompts in a Debian package."""

    package: str
    folder: Path
    speaker: str
    licence: str
    attribution: str


SOURCES = {
    "asterisk-en": SpeechSource(
        package="asterisk-core-sounds-en-g722",
        folder=Path("/usr/share/asterisk/sounds/en_US_f_Allison"),
        speaker="Allison Smith (en-US, female), studio IVR prompts",
        licence="CC-BY-SA-3.0",
        attribution="Asterisk core sounds, recorded by Allison Smith (http://www.theivrvoice.com), "
        "financial contributions by Digium, Inc.; CC-BY-SA-3.0 (Debian package asterisk-core-sounds-en-g722)",
    ),
}

# Held-out recordings: every `HELD_OUT_EVERY`-th prompt (by name) of HELD_OUT_SECONDS, so the test set is
# fixed, spread over the whole package and long enough for PESQ and STOI.
HELD_OUT_EVERY = 12
HELD_OUT_SECONDS = (2.5, 8.0)


def speech_files(source: SpeechSource) -> list[Path]:
    """The source's spoken prompts, sorted by their path inside the package."""
    if not source.folder.is_dir():
        raise InputError(
            source.folder,
            "no such folder",
            f"the prompts of the Debian package {source.package}",
            f"Install it: apt-get install --no-install-recommends {source.package}",
        )
    files = [
        path
        for path in sorted(source.folder.rglob("*.g722"))
        if path.stem not in NOT_SPEECH and not NOT_SPEECH_FOLDERS & set(path.relative_to(source.folder).parts[:-1])
    ]
    if not files:
        raise InputError(
            source.folder,
            "no .g722 prompts",
            f"the prompts of {source.package}",
            f"Reinstall it: apt-get install --reinstall {source.package}",
        )
    return files


def split_held_out(durations: list[float]) -> list[bool]:
    """For each recording (in name order), whether it is held out of training."""
    held_out, candidates = [], 0
    for seconds in durations:
        is_candidate = HELD_OUT_SECONDS[0] <= seconds <= HELD_OUT_SECONDS[1]
        held_out.append(is_candidate and candidates % HELD_OUT_EVERY == HELD_OUT_EVERY // 2)
        candidates += is_candidate
    return held_out


def build_trainset(out: Path, source_name: str = "asterisk-en") -> dict:
    """Decode the source into out/train/*.wav and out/heldout/*.wav; write and return out/manifest.json's content."""
    source = SOURCES[source_name]
    files = speech_files(source)
    recordings = [(path, decode_g722(path)) for path in files]
    held_out = split_held_out([len(samples) / SAMPLE_RATE for _, samples in recordings])
    split: dict[str, list[str]] = {"train": [], "heldout": []}
    seconds = {"train": 0.0, "heldout": 0.0}
    for (path, samples), is_held_out in zip(recordings, held_out):
        part = "heldout" if is_held_out else "train"
        name = "_".join(path.relative_to(source.folder).with_suffix(".wav").parts)
        (out / part).mkdir(parents=True, exist_ok=True)
        soundfile.write(str(out / part / name), samples, SAMPLE_RATE, subtype="PCM_16")
        split[part].append(name)
        seconds[part] += len(samples) / SAMPLE_RATE
    manifest = {
        "source": source_name,
        "package": source.package,
        "speaker": source.speaker,
        "licence": source.licence,
        "attribution": source.attribution,
        "sample_rate": SAMPLE_RATE,
        "seconds": {part: round(value, 2) for part, value in seconds.items()},
        "files": split,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def run(args: argparse.Namespace) -> int:
    if args.subset is not None:
        from engine.voice_subset import copy_subset

        manifest = copy_subset(Path(args.subset), Path(args.out), args.mib)
        for name, voice in manifest["voices"].items():
            print(f"{voice['role']:8s} {name:14s} {voice['files']:5d} files  {voice['seconds'] / 60:6.2f} min")
        print(f"{manifest['mib']:.1f} MiB of FLAC in {args.out}, from {args.subset}")
        return 0
    if args.source == "voices":
        from engine.voice_set import build_voice_set

        manifest = build_voice_set(Path(args.out))
        for name, voice in manifest["voices"].items():
            print(
                f"{voice['role']:8s} {name:14s} {voice['language']}  {voice['files']:5d} files  "
                f"{voice['seconds'] / 60:6.2f} min  {voice['licence']}"
            )
        print(
            f"licences of the training voices: {', '.join(manifest['licences'])} (each voice's attribution in "
            f"{Path(args.out) / 'manifest.json'})"
        )
        return 0
    manifest = build_trainset(Path(args.out), args.source)
    for part in ("train", "heldout"):
        print(
            f"{part:8s} {len(manifest['files'][part]):4d} files  {manifest['seconds'][part] / 60:6.2f} min  "
            f"→ {Path(args.out) / part}"
        )
    print(f"licence  {manifest['licence']}: {manifest['attribution']}")
    return 0


def add_cli(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "trainset",
        help="build a speech training set from offline sources",
        description="Decode the spoken prompts of a Debian voice package into DIR/train and DIR/heldout; with "
        "--source voices, many voices from several packages, split by speaker into DIR/train, DIR/valid "
        "and DIR/heldout (see engine/voice_set.py); with --subset SET, a voice set cut to a size.",
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="folder to write (created if missing)")
    parser.add_argument("--source", choices=sorted(SOURCES) + ["voices"], default="asterisk-en")
    parser.add_argument(
        "--subset",
        metavar="DIR",
        help="instead, copy the voice set in DIR cut to --mib MiB of FLAC: its validation voices "
        "whole, its training voices in turn (for a machine that takes a limited upload; engine/voice_subset.py)",
    )
    parser.add_argument("--mib", type=float, default=40.0, metavar="N", help="the size --subset keeps to (40)")
    parser.set_defaults(run=run)
