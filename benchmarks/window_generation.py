"""Samples per second of generation in the window against the same generation without it, for each bundled model.

    python3 benchmarks/window_generation.py [--runs 3] [--threads 1] [INPUT]

The reference is `engine.generate.generate` on the same input in the same process, with no window: the rate the
engine makes alone. The window row is the same model generating in the real window (Qt's offscreen platform
unless QT_QPA_PLATFORM says otherwise) while it paints the growing waveform and spectrogram, the status bar and
the shape inspector on its GUI thread; the GUI column is that thread's CPU seconds per run. Their ratio is what
the painting costs the generation (both share the GIL, and on a small machine the cores). The best of `--runs`
runs is printed, after one warm-up run of each. INPUT defaults to the first bundled example recording.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent


def engine_rate(model_name: str, input_path: Path) -> float:
    """Samples per wall second of `generate` alone, the window's own generation path."""
    from engine.features import load_input
    from engine.generate import generate
    from engine.models.loading import load_model

    model, _ = load_model(model_name)
    model.eval()
    conditioning = load_input(input_path, model.mel_config)
    list(generate(model, conditioning, device="cpu", num_samples=2000))  # warm-up
    began = time.perf_counter()
    produced = sum(len(chunk.samples) for chunk in generate(model, conditioning, device="cpu"))
    return produced / (time.perf_counter() - began)


def window_rates(model_name: str, input_path: Path, runs: int) -> list[tuple[float, float]]:
    """(samples/s by the engine's clock, GUI thread CPU seconds) of each run in a real window after a warm-up."""
    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow
    from app.settings import Settings

    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory() as scratch:
        settings = Settings.from_file(str(Path(scratch) / "settings.ini"))
        settings.model = model_name
        window = MainWindow(settings)
        window.resize(1440, 900)
        window.show()
        results: list[tuple[float, float]] = []
        began = {}

        def start(*_) -> None:
            began["gui"] = time.thread_time()
            window.generate()

        def done(event) -> None:
            results.append((window.generation.stats.samples_per_second, time.thread_time() - began["gui"]))
            if len(results) <= runs:
                start()
            else:
                app.exit(0)

        window.input_ready.connect(start)
        window.generation_done.connect(done)
        window.open_file(str(input_path))
        app.exec()
        window.close()
    return results[1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", nargs="?", type=Path, default=sorted((ROOT / "resources" / "examples").glob("*.*"))[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    torch.set_num_threads(args.threads)
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
        f"{args.threads} torch thread(s), input {args.input.name}"
    )
    print(f"{'model':<10} {'engine alone':>14} {'in the window':>15} {'ratio':>6} {'GUI CPU s':>10}")
    for name in ("wavernn", "wavenet"):
        alone = max(engine_rate(name, args.input) for _ in range(args.runs))
        rate, gui = max(window_rates(name, args.input, args.runs))
        print(f"{name:<10} {alone:>14,.0f} {rate:>15,.0f} {rate / alone:>6.2f} {gui:>10.2f}", flush=True)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
