"""CPU seconds the `vocoscope` command takes to answer, each in a fresh process, against the interpreter's own start
and an `import torch` measured in the same run.

    python3 benchmarks/cli_start.py [--runs 5]

Each row runs `python -m app ARGS` (the console script's own code) --runs times and prints the median user +
system CPU seconds of the child and its wall time. `models` is measured with the model list's cache filled (the
usual case after install.sh) and once with an empty one (engine/catalog.py: it then builds the models with torch).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = [("--version",), ("--help",), ("models",), ("models", "--json"), ("devices",)]


def child_seconds(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one run of `argv`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    subprocess.run(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, wall


def row(label: str, argv: list[str], runs: int, env: dict[str, str]) -> None:
    times = [child_seconds(argv, env) for _ in range(runs)]
    cpu, wall = statistics.median(t[0] for t in times), statistics.median(t[1] for t in times)
    print(f"{label:<34} {cpu:>8.2f} {wall:>8.2f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per row; the median is printed (5)")
    args = parser.parse_args()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    python = [sys.executable]
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"median of {args.runs} runs, load average {os.getloadavg()[0]:.2f}"
    )
    print(f"{'command':<34} {'CPU s':>8} {'wall s':>8}")
    row("python -c pass (reference)", [*python, "-c", "pass"], args.runs, env)
    row("python -c 'import torch' (ref.)", [*python, "-c", "import torch"], args.runs, env)
    cli = [*python, "-m", "app"]
    child_seconds([*cli, "models"], env)  # fills the model list's cache
    for command in COMMANDS:
        row("vocoscope " + " ".join(command), [*cli, *command], args.runs, env)
    with tempfile.TemporaryDirectory() as empty:
        row("vocoscope models (empty cache)", [*cli, "models"], 1, dict(env, XDG_CACHE_HOME=empty))


if __name__ == "__main__":
    main()
