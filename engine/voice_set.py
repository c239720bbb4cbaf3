"""A speech set of many voices, split by speaker: whole voices for training, others for choosing settings, others
never used for anything but the held-out benchmark (`benchmarks/voices.py`).

`vocoscope trainset --source voices --out DIR` writes
    DIR/train/<voice>/*.wav     every recording of the training voices, each also shifted in pitch and formants
                                (resampled by PITCH_SHIFTS) and at a random gain, so fundamentals of 70-400 Hz occur
    DIR/valid/<voice>/*.wav     a fixed selection of the validation voices: choose temperatures, strengths and
                                checkpoints on these
    DIR/heldout/<voice>/*.wav   a fixed selection of the held-out voices: measure, never choose
and DIR/manifest.json (every voice's role, language, sex, source package, licence and files).
All audio is 16-bit WAV at 16 kHz, decoded from Debian packages at build time and never committed.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile

from engine.errors import InputError
from engine.features import load_audio, resample
from engine.prompt_audio import NOT_SPEECH, NOT_SPEECH_FOLDERS, SAMPLE_RATE, decode_g722

ASTERISK = Path("/usr/share/asterisk/sounds")
FILLETS = Path("/usr/share/games/fillets-ng/sound")

ASTERISK_LICENCE = "CC-BY-SA-3.0"
FILLETS_LICENCE = "GPL-2"
FILLETS_ATTRIBUTION = (
    "Fish Fillets - Next Generation game data (ALTAR interactive and the fillets-ng authors), "
    "voice acting; GPL-2 (Debian package {package})"
)

# Resampling factors of the training copies: F0 and formants × factor (0.72: 200 Hz → 144 Hz, 110 Hz → 79 Hz;
# 1.25: 285 Hz → 356 Hz), so the set covers the 70-400 Hz of adult voices that its few speakers alone do not.
PITCH_SHIFTS = (0.72, 1.25)
GAIN_DB = (-12.0, 0.0)  # each training file's random gain, drawn from its name
SELECTION_SECONDS = (2.5, 8.0)  # recordings picked for the validation and held-out selections
SELECTION_COUNT = 8


@dataclass(frozen=True)
class Voice:
    """One speaker from one package: where the recordings are, and what the set does with them.

    role: "train", "valid" or "heldout". sex: as the source names it, or as its measured F0 shows (then said so).
    """

    name: str
    role: str
    language: str
    sex: str
    speaker: str
    package: str
    folder: Path
    pattern: str
    licence: str
    attribution: str

    def files(self) -> list[Path]:
        """The voice's spoken recordings, sorted by path."""
        if not self.folder.is_dir():
            raise InputError(
                self.folder,
                "no such folder",
                f"the recordings of the Debian package {self.package}",
                f"Install it: apt-get install --no-install-recommends {self.package}",
            )
        found = [
            path
            for path in sorted(self.folder.glob(self.pattern))
            if path.stem not in NOT_SPEECH and not NOT_SPEECH_FOLDERS & set(path.relative_to(self.folder).parts[:-1])
        ]
        if not found:
            raise InputError(
                self.folder,
                f"no recordings matching {self.pattern}",
                f"the voice {self.name}",
                f"Reinstall it: apt-get install --reinstall {self.package}",
            )
        return found

    def read(self, path: Path) -> np.ndarray:
        """One recording → float32 mono samples at 16 kHz, (num_samples,); empty for a file with no sound (the
        packages hold a few)."""
        if path.suffix == ".g722":
            return decode_g722(path).astype(np.float32) / 32768.0
        try:
            return load_audio(path, SAMPLE_RATE)[0]
        except InputError:
            return np.zeros(0, dtype=np.float32)


def _asterisk(name: str, role: str, language: str, sex: str, folder: str, speaker: str) -> Voice:
    package = f"asterisk-core-sounds-{language}-g722"
    return Voice(
        name,
        role,
        language,
        sex,
        speaker,
        package,
        ASTERISK / folder,
        "**/*.g722",
        ASTERISK_LICENCE,
        f"Asterisk core sounds ({speaker}), financial contributions by Digium, Inc.; CC-BY-SA-3.0 "
        f"(Debian package {package})",
    )


def _fillets(name: str, role: str, language: str, sex: str, character: str, speaker: str) -> Voice:
    package = f"fillets-ng-data-{language}"
    return Voice(
        name,
        role,
        language,
        sex,
        speaker,
        package,
        FILLETS,
        f"*/{language}/*-{character}-*.ogg",
        FILLETS_LICENCE,
        FILLETS_ATTRIBUTION.format(package=package),
    )


# Median F0 (pyin over 6 recordings each) in the speaker notes; the Asterisk folders name the speaker's sex.
VOICES = (
    _asterisk("en-allison", "train", "en", "female", "en_US_f_Allison", "Allison Smith, en-US, F0 ~200 Hz"),
    _asterisk("es-allison", "train", "es", "female", "es_MX_f_Allison", "Allison Smith, es-MX (the same speaker)"),
    _fillets("nl-small-fish", "train", "nl", "unknown (F0 ~200 Hz)", "m", "the small fish, Dutch dub"),
    _fillets("nl-big-fish", "train", "nl", "male (F0 ~125 Hz)", "v", "the big fish, Dutch dub"),
    _fillets("cs-small-fish", "train", "cs", "unknown (F0 ~285 Hz)", "m", "the small fish, Czech original"),
    _fillets("cs-hs", "valid", "cs", "male (F0 ~145 Hz)", "hs", "a minor character (hs), Czech"),
    _fillets("cs-x", "valid", "cs", "unknown (F0 ~220 Hz)", "x", "a minor character (x), Czech"),
    _fillets("cs-r", "valid", "cs", "male (F0 ~105 Hz)", "r", "a minor character (r), Czech"),
    _asterisk("it-carlo", "heldout", "it", "male", "it_IT_m_Carlo", "Carlo, it-IT"),
    _fillets("cs-big-fish", "heldout", "cs", "male (F0 ~110 Hz)", "v", "the big fish, Czech original"),
    _asterisk("fr-june", "heldout", "fr", "female", "fr_CA_f_June", "June, fr-CA"),
    _asterisk("ru-female", "heldout", "ru", "female", "ru_RU_f_IvrvoiceRU", "the Asterisk Russian voice, ru-RU"),
)


def selection(durations: list[float], count: int = SELECTION_COUNT) -> list[int]:
    """Indices of up to `count` recordings of SELECTION_SECONDS, spread evenly over the voice's files in name order."""
    candidates = [i for i, seconds in enumerate(durations) if SELECTION_SECONDS[0] <= seconds <= SELECTION_SECONDS[1]]
    if len(candidates) <= count:
        return candidates
    return [candidates[int(k * len(candidates) / count + len(candidates) / (2 * count))] for k in range(count)]


def shifted(samples: np.ndarray, factor: float) -> np.ndarray:
    """The recording played `factor` times as fast (F0 and formants × factor, duration / factor), (num_samples,)."""
    return resample(samples, SAMPLE_RATE, round(SAMPLE_RATE / factor))


def file_gain(name: str) -> float:
    """A training file's gain factor, from GAIN_DB, the same for the same name on every build."""
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    return float(10.0 ** (rng.uniform(*GAIN_DB) / 20.0))


def _write(path: Path, samples: np.ndarray) -> float:
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), np.clip(samples, -1.0, 1.0), SAMPLE_RATE, subtype="PCM_16")
    return len(samples) / SAMPLE_RATE


def build_voice_set(out: Path, voices: tuple[Voice, ...] = VOICES) -> dict:
    """Write the set under `out` (see the module's docstring); write and return manifest.json's content."""
    manifest: dict = {
        "source": "voices",
        "sample_rate": SAMPLE_RATE,
        "pitch_shifts": list(PITCH_SHIFTS),
        "gain_db": list(GAIN_DB),
        "voices": {},
        "files": {"train": [], "valid": [], "heldout": []},
    }
    for voice in voices:
        paths = voice.files()
        written, seconds = [], 0.0
        if voice.role == "train":
            for path in paths:
                samples = voice.read(path)
                if len(samples) < SAMPLE_RATE // 4:
                    continue
                stem = "_".join(path.relative_to(voice.folder).with_suffix("").parts)
                for factor in (1.0, *PITCH_SHIFTS):
                    name = f"{voice.name}/{stem}" + ("" if factor == 1.0 else f".x{factor:g}") + ".wav"
                    seconds += _write(
                        out / "train" / name,
                        shifted(samples, factor) * file_gain(name) if factor != 1.0 else samples * file_gain(name),
                    )
                    written.append(name)
        else:
            recordings = [(path, voice.read(path)) for path in paths]
            for index in selection([len(samples) / SAMPLE_RATE for _, samples in recordings]):
                path, samples = recordings[index]
                name = f"{voice.name}/" + "_".join(path.relative_to(voice.folder).with_suffix(".wav").parts)
                seconds += _write(out / voice.role / name, samples)
                written.append(name)
        manifest["files"][voice.role] += written
        manifest["voices"][voice.name] = {
            "role": voice.role,
            "language": voice.language,
            "sex": voice.sex,
            "speaker": voice.speaker,
            "package": voice.package,
            "licence": voice.licence,
            "attribution": voice.attribution,
            "files": len(written),
            "seconds": round(seconds, 2),
        }
    manifest["licences"] = sorted({v["licence"] for v in manifest["voices"].values() if v["role"] == "train"})
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest
