"""Copy a training run's checkpoint to a default model's place, with the sampling temperature, post-filters and
(for a WaveRNN) mel-guided candidates it is to ship with.

    python packaging/bundle_model.py data/runs/wavenet-lpc/wavenet-lpc.safetensors \\
        resources/models/wavenet.safetensors --temperature 0.6 --pitch-postfilter 0.8 --envelope-postfilter 1 --force

The copy keeps the weights, Adam's state and the run's whole record (it can be resumed like the run); only the
model config's temperature, post-filters and candidates change. Choose them on training recordings first (benchmarks/quality.py
--temperatures, --postfilters, --envelopes; see resources/README.md). Replacing an existing file takes --force.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine import checkpoints  # noqa: E402
from engine.errors import InputError, VocoscopeError  # noqa: E402
from engine.models.base import POSTFILTERS  # noqa: E402


def bundle(run: str | Path, out: str | Path, temperature: float, *, pitch_postfilter: float | None = None,
           envelope_postfilter: float | None = None, candidates: int | None = None, force: bool = False) -> int:
    """Write `run`'s checkpoint to `out` with the model drawing at `temperature` (and post-filtered at
    `pitch_postfilter`, `envelope_postfilter`, choosing among `candidates` draws, each unless None); returns the steps
    it was trained."""
    out = Path(out)
    if out.exists() and not force:
        raise InputError(out, "an existing file", "a new file, or --force to replace it",
                         "Add --force to replace the bundled model.")
    loaded = checkpoints.load(run)
    config = loaded.model.config
    loaded.model.check_temperature(temperature)
    config.temperature = float(temperature)
    strengths = {name: strength for name, strength in zip(POSTFILTERS, (pitch_postfilter, envelope_postfilter))
                 if strength is not None}
    for name in strengths:
        if not hasattr(config, name):
            option = "--" + name.replace("_", "-")
            raise InputError(run, f"a {loaded.model.family} checkpoint", f"a checkpoint of a family that has it, for "
                             f"{option}", f"Leave out {option}: a {loaded.model.family} has no {POSTFILTERS[name][0]}.")
    if candidates is not None and (not hasattr(config, "candidates") or candidates < 1):
        raise InputError(run, f"a {loaded.model.family} checkpoint and {candidates} candidates",
                         "a WaveRNN checkpoint and 1 or more candidates", "Leave out --candidates, or give 1 or more.")
    loaded.model.draws_at(None, pitch_postfilter, envelope_postfilter)  # refuses a strength out of range
    if candidates is not None:
        config.candidates = candidates
    for name, strength in strengths.items():
        setattr(config, name, float(strength))
    meta = {key: value for key, value in loaded.meta.items() if key not in checkpoints.RESERVED_KEYS}
    checkpoints.save(loaded.model, out, meta=meta, extra_tensors=loaded.extra_tensors)
    return loaded.meta.get("steps", 0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", help="the training run's checkpoint (.safetensors)")
    parser.add_argument("out", help="where the default model goes, e.g. resources/models/wavenet.safetensors")
    parser.add_argument("--temperature", type=float, required=True, help="the sampling temperature it ships with")
    parser.add_argument("--pitch-postfilter", type=float, metavar="S",
                        help="the pitch post-filter's strength it ships with (0: none; default: the run's)")
    parser.add_argument("--envelope-postfilter", type=float, metavar="S",
                        help="the envelope post-filter's strength it ships with (up to 1; 0: none; default: the run's)")
    parser.add_argument("--candidates", type=int, metavar="K",
                        help="how many draws mel-guided sampling chooses among (WaveRNN; 1: none; default: the run's)")
    parser.add_argument("--force", action="store_true", help="replace OUT if it exists")
    args = parser.parse_args(argv)
    try:
        steps = bundle(args.run, args.out, args.temperature, pitch_postfilter=args.pitch_postfilter,
                       envelope_postfilter=args.envelope_postfilter, candidates=args.candidates, force=args.force)
    except VocoscopeError as error:
        print(f"bundle_model: {error}", file=sys.stderr)
        return 2
    filtered = f", pitch post-filter {args.pitch_postfilter:g}" if args.pitch_postfilter else ""
    filtered += f", envelope post-filter {args.envelope_postfilter:g}" if args.envelope_postfilter else ""
    filtered += f", best of {args.candidates} by the mel" if args.candidates and args.candidates > 1 else ""
    print(f"wrote {args.out}: {steps} steps, T {args.temperature:g}{filtered}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
