"""How well the pitch read from the mel alone (engine/pitch.py) follows the pitch of the recording, per voice.

Every pitch-conditioned vocoder and the no-network control shape a source made from this reading, so its misses
bound their voicing and F0 error in `benchmarks/voices.py`. The reference is pyin on the recording itself (librosa,
60-500 Hz, as voices.py reads its outputs), frame for frame with the mel's frames. Per voice:
- recall: of pyin's voiced frames, the fraction read as voiced;
- false: of pyin's unvoiced frames, the fraction read as voiced (a buzz where speech hisses or pauses);
- F0 error: mean |difference| in cents over frames voiced in both, and the fraction off by more than 100 cents
  (octave and subharmonic errors).

    python benchmarks/pitch_reading.py [--data data/voices/valid] [--limit N] [--templates] [--json FILE]

--data is a folder of voices (one subfolder each); --limit takes each voice's first N recordings; --templates reads
with the templates alone, without the learned reader (engine/pitch_reader.py). Use the validation or training voices
to choose; the held-out voices only to report.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from voices import pyin_track  # noqa: E402

from engine.datasets import audio_files  # noqa: E402
from engine.features import MelConfig, load_audio, mel_spectrogram  # noqa: E402
from engine.pitch import estimate_pitch  # noqa: E402

GROSS_CENTS = 100.0


def compare(reference: tuple[np.ndarray, np.ndarray], f0: np.ndarray, voiced: np.ndarray) -> dict[str, np.ndarray]:
    """pyin's (f0 with NaN where unvoiced, voiced) and a reading's (f0, voiced), F frames each (the shorter one
    sets F) → the frame counts and the cents off where both are voiced."""
    count = min(len(reference[1]), len(voiced))
    truth, read = reference[1][:count].astype(bool), voiced[:count].astype(bool)
    both = truth & read
    return {
        "hits": np.array([(truth & read).sum(), (truth & ~read).sum(), (~truth & read).sum(), (~truth & ~read).sum()]),
        "cents": np.abs(1200.0 * np.log2(f0[:count][both] / reference[0][:count][both])),
    }


def figures(parts: list[dict[str, np.ndarray]]) -> dict[str, float]:
    """The comparisons of a voice's recordings → recall, false, F0 error and gross error fraction."""
    tp, fn, fp, tn = sum(part["hits"] for part in parts)
    cents = np.concatenate([part["cents"] for part in parts])
    return {
        "recall": float(tp / max(tp + fn, 1)),
        "false": float(fp / max(fp + tn, 1)),
        "f0_cents": float(cents.mean()) if len(cents) else float("nan"),
        "gross": float((cents > GROSS_CENTS).mean()) if len(cents) else float("nan"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("data/voices/valid"))
    parser.add_argument("--limit", type=int, default=0, metavar="N", help="each voice's first N recordings (0: all)")
    parser.add_argument("--templates", action="store_true", help="without the learned reader")
    parser.add_argument("--json", type=Path, metavar="FILE")
    args = parser.parse_args(argv)
    config = MelConfig()
    voices = sorted(path for path in args.data.iterdir() if path.is_dir() and not path.name.startswith("."))
    rows: dict[str, dict[str, float]] = {}
    print(f"{'voice':16s} {'recall':>7s} {'false':>7s} {'F0 cents':>9s} {'>100 c':>7s}")
    for voice in voices:
        files = audio_files(voice)[: args.limit or None]
        parts = []
        for path in files:
            audio = load_audio(path, config.sample_rate)[0]
            track = estimate_pitch(mel_spectrogram(audio, config), config, learned=not args.templates)
            parts.append(compare(pyin_track(audio, config.sample_rate, config.hop_length), track.f0, track.voiced))
        rows[voice.name] = figures(parts)
        row = rows[voice.name]
        print(f"{voice.name:16s} {row['recall']:7.3f} {row['false']:7.3f} {row['f0_cents']:9.1f} {row['gross']:7.3f}")
    if args.json:
        args.json.write_text(
            json.dumps({"data": str(args.data), "templates": args.templates, "voices": rows}, indent=2) + "\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
