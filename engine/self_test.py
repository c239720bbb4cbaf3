"""`vocoscope --self-test`: is this installation whole? One line per check, as each ends.

Each built-in model is loaded and vocodes the first half second of the bundled example recording (finite samples in
[-1, 1], not silence); each compute device runs a small product against the CPU's; the sound outputs are listed;
and, added by `vocoscope --self-test` (app/__main__.py), Qt starts on the display (or offscreen). A machine without a sound output or a display is a machine, not a fault:
those checks say so and are skipped. Exit status 0 when nothing failed, 1 otherwise.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from pathlib import Path

from engine import __version__
from engine.catalog import BUILTINS, EXAMPLES

SECONDS = 0.5
PASSED, SKIPPED, FAILED = "ok", "skip", "FAIL"


class Skipped(Exception):
    """A check that cannot run on this machine; its message says why."""


def run_self_test(more: list[tuple[str, Callable[[], str]]] = ()) -> int:
    """Run every check and the `more` (title, check) the caller adds (the app: the window), print the report on
    stdout; 0 when none failed, else 1. A check returns its note, or raises `Skipped`."""
    import torch

    from engine.threads import use_engine_threads

    use_engine_threads()
    cuda = f"CUDA {torch.version.cuda}" if torch.version.cuda else "CPU only"
    print(
        f"vocoscope {__version__} self-test: Python {platform.python_version()}, torch {torch.__version__} "
        f"({cuda}), {platform.system()} {platform.machine()}",
        flush=True,
    )
    results = []
    example = _example()
    for name in BUILTINS:
        results.append(_check(f"model {name}", lambda name=name: _vocode(name, example)))
    from engine.devices import compute_devices

    for device in compute_devices():
        results.append(_check(f"compute {device.name}", lambda device=device: _compute(device.name, device.label)))
    results.append(_check("sound", _sound))
    results.extend(_check(title, check) for title, check in more)
    counts = {status: results.count(status) for status in (PASSED, SKIPPED, FAILED)}
    verdict = "failed" if counts[FAILED] else "passed"
    print(f"self-test {verdict}: {counts[PASSED]} ok, {counts[SKIPPED]} skipped, {counts[FAILED]} failed")
    return 1 if counts[FAILED] else 0


def _check(title: str, check: Callable[[], str]) -> str:
    """Run one check and print its line: ok, skip (with why) or FAIL (with the error); returns the status."""
    try:
        status, note = PASSED, check()
    except Skipped as reason:
        status, note = SKIPPED, str(reason)
    except Exception as error:  # a self-test reports every failure and goes on to the next check
        status, note = FAILED, f"{type(error).__name__}: {(str(error).strip().splitlines() or [''])[0]}"
    print(f"  {status:<5} {title}: {note}", flush=True)
    return status


def _example() -> Path | None:
    from engine.features import AUDIO_SUFFIXES

    found = sorted(path for path in EXAMPLES.glob("*") if path.suffix.lower() in AUDIO_SUFFIXES)
    return found[0] if found else None


def _vocode(name: str, example: Path | None) -> str:
    """Load the built-in `name` and vocode SECONDS of `example`; raises when the audio is not what it must be."""
    import numpy as np

    from engine.features import load_input
    from engine.generate import generate
    from engine.models.loading import load_model

    if example is None:
        raise FileNotFoundError(f"no example recording in {EXAMPLES}; expected the bundled one (reinstall)")
    began = time.perf_counter()
    model, info = load_model(name, device="cpu")
    conditioning = load_input(example, model.mel_config, model.min_frames)
    wanted = min(int(SECONDS * model.mel_config.sample_rate), conditioning.num_samples)
    chunks = list(generate(model, conditioning, device="cpu", seed=1, num_samples=wanted))
    audio = np.concatenate([chunk.samples for chunk in chunks]) if chunks else np.zeros(0, np.float32)
    seconds = time.perf_counter() - began
    peak = float(np.max(np.abs(audio))) if len(audio) else 0.0
    if len(audio) != wanted or not np.all(np.isfinite(audio)) or peak > 1.0 or peak < 1e-4:
        raise ValueError(
            f"made {len(audio)} samples with peak {peak:.3g}; expected {wanted} finite samples in [-1, 1], not silence"
        )
    untrained = "" if info.trained else " (random weights: not trained)"
    return (
        f"{len(audio) / model.mel_config.sample_rate:.2f} s of {example.name} in {seconds:.1f} s, "
        f"peak {peak:.2f}{untrained}"
    )


def _compute(device: str, label: str) -> str:
    """A 64x64 product on `device` against the CPU's."""
    import torch

    values = torch.linspace(-1, 1, 64 * 64).reshape(64, 64)
    expected = values @ values
    found = (values.to(device) @ values.to(device)).cpu()
    if not torch.allclose(found, expected, atol=1e-3):
        raise ArithmeticError(f"a 64x64 product differs from the CPU's by {float((found - expected).abs().max()):.3g}")
    return label


def _sound() -> str:
    from engine.errors import AudioDeviceError
    from engine.playback import list_output_devices

    try:
        outputs = list_output_devices()
    except AudioDeviceError as error:
        raise Skipped(f"{error}; generation and export work without it") from None
    if not outputs:
        raise Skipped("no sound output (no sound server, or it has none); generation and export work without it")
    default = next((output.name for output in outputs if output.is_default), outputs[0].name)
    return f"{len(outputs)} output(s), default {default}"
