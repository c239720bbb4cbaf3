"""Copy a training run's checkpoint to a default model's place, with the sampling temperature, post-filters and
(for a WaveRNN) mel-guided candidates it is to ship with.

    python packaging/bundle_model.py data/runs/wavenet-lpc/wavenet-lpc.safetensors \\
        resources/models/wavenet.safetensors --temperature 0.6 --pitch-postfilter 0.8 --envelope-postfilter 1 --force

The copy keeps the weights, Adam's state and the run's whole record (it can be resumed like the run); only the
model config's sampling settings given change (engine/sampling.py). Choose them on recordings kept out of the
held-out benchmark (benchmarks/voices.py --postfilters on data/voices/valid, benchmarks/quality.py --temperatures;
see resources/README.md). Replacing an existing file takes --force.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine import checkpoints  # noqa: E402
from engine.errors import InputError, VocoscopeError  # noqa: E402
from engine.sampling import SETTINGS, Sampling  # noqa: E402


def bundle(run: str | Path, out: str | Path, sampling: Sampling, *, force: bool = False) -> int:
    """Write `run`'s checkpoint to `out` with the model's own sampling replaced by the settings `sampling` gives
    (engine/sampling.py); returns the steps it was trained. Raises `ConfigError` for a setting the model has not."""
    out = Path(out)
    if out.exists() and not force:
        raise InputError(
            out, "an existing file", "a new file, or --force to replace it", "Add --force to replace the bundled model."
        )
    loaded = checkpoints.load(run)
    loaded.model.sampling(sampling)  # refuses what the model cannot take
    for name, value in sampling.given().items():
        if hasattr(loaded.model.config, name):  # one it has not is off (checked above)
            setattr(loaded.model.config, name, value)
    meta = {key: value for key, value in loaded.meta.items() if key not in checkpoints.RESERVED_KEYS}
    checkpoints.save(loaded.model, out, meta=meta, extra_tensors=loaded.extra_tensors)
    return loaded.meta.get("steps", 0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", help="the training run's checkpoint (.safetensors)")
    parser.add_argument("out", help="where the default model goes, e.g. resources/models/wavenet.safetensors")
    for setting in SETTINGS:
        parser.add_argument(
            setting.flag,
            type=setting.kind,
            metavar=setting.metavar,
            help=f"the {setting.words} it ships with (default: the run's)",
        )
    parser.add_argument("--force", action="store_true", help="replace OUT if it exists")
    args = parser.parse_args(argv)
    try:
        sampling = Sampling(**{setting.name: getattr(args, setting.name) for setting in SETTINGS})
        steps = bundle(args.run, args.out, sampling, force=args.force)
    except VocoscopeError as error:
        print(f"bundle_model: {error}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}: {steps} steps{sampling.words()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
