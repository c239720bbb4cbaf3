"""`vocoscope vocode` against the window's generation, in the same run, with other work on the machine, for each
bundled model.

    python3 benchmarks/vocode_vs_window.py [--runs 3] [--burners 1] [INPUT]

`--burners` CPU-bound processes (a busy loop each) run beside the whole measurement, as a build or a browser would
on a user's machine. Each round runs `vocoscope vocode INPUT` as the user does (a fresh process: `python -m
engine.cli`, the code of the console script's headless commands) and then generates the same input in the real window (Qt's offscreen
platform unless QT_QPA_PLATFORM says otherwise; benchmarks/window_generation.py, one run after a warm-up). Both
rates are samples per second by the engine's own clock (what `vocode` prints as "x real time", and what the
window's status bar shows), so the ratio compares the generation and not the start-ups; the vocode command's wall
time, start-up and reading included, is printed beside it. The best of `--runs` rounds is printed for each.
INPUT defaults to the first bundled example recording.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REAL_TIME = re.compile(r"([0-9.]+)x real time")
BUSY_LOOP = "while True: pass"


def vocode_rate(model_name: str, sample_rate: int, input_path: Path, output: Path) -> tuple[float, float]:
    """(samples/s by the engine's clock, wall seconds of the whole command) of one `vocoscope vocode` run."""
    began = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "engine.cli",
            "vocode",
            str(input_path),
            "-o",
            str(output),
            "--model",
            model_name,
            "--seed",
            "1",
            "--force",
        ],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
        check=True,
    )
    wall = time.perf_counter() - began
    found = REAL_TIME.search(done.stdout)
    if found is None:
        raise RuntimeError(f"vocode printed no speed: {done.stdout!r}")
    return float(found.group(1)) * sample_rate, wall


def main() -> None:
    from benchmarks.window_generation import window_rates
    from engine.catalog import EXAMPLES
    from engine.models.loading import list_builtins

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", nargs="?", type=Path, default=min(EXAMPLES.glob("*.*")))
    parser.add_argument("--runs", type=int, default=3, help="rounds per model; the best is printed (3)")
    parser.add_argument("--burners", type=int, default=1, help="CPU-bound processes beside the measurement (1)")
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import torch

    rates = {info.name: info.sample_rate for info in list_builtins() if info.path is not None}  # the bundled ones
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
        f"input {args.input.name}, {args.burners} busy loop(s) beside it, load average {os.getloadavg()[0]:.2f}, "
        f"best of {args.runs} rounds"
    )
    print(
        f"{'model':<10} {'vocode':>10} {'x RT':>6} {'vocode wall s':>14} {'window':>10} {'x RT':>6} "
        f"{'vocode/window':>14}"
    )
    burners = [subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) for _ in range(args.burners)]
    try:
        with tempfile.TemporaryDirectory() as scratch:
            output = Path(scratch) / "take.wav"
            for name, rate in rates.items():
                vocode_rate(name, rate, args.input, output)  # warm-up: numba's caches, the model list
                vocoded, windowed = [], []
                for _ in range(args.runs):
                    vocoded.append(vocode_rate(name, rate, args.input, output))
                    windowed.append(window_rates(name, args.input, 1)[0][0])
                best, wall = max(speed for speed, _ in vocoded), min(wall for _, wall in vocoded)
                window = max(windowed)
                print(
                    f"{name:<10} {best:>10,.0f} {best / rate:>6.2f} {wall:>14.1f} "
                    f"{window:>10,.0f} {window / rate:>6.2f} {best / window:>14.2f}",
                    flush=True,
                )
    finally:
        for burner in burners:
            burner.terminate()
            burner.wait()


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
