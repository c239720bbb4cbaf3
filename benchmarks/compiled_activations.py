"""The compiled sampling loops' activations and draw exponentials: engine/models/compiled_ops.py's arithmetic
(`tanh`, `sigmoid`: a rational fit; `exp_nonpositive`: a Taylor series and squarings) against the C library's
`math.tanh` and `math.exp` (the reference), compiled alike by numba, over one sampling step's worth of values.

- WaveNet gate, z = tanh(f) · σ(g): 20 layers × 32 channels, the bundled WaveNet's step.
- GRU gates, r = σ(·), u = σ(·), candidate tanh(·): 2 × 96 units per step, the bundled WaveRNN's two GRUs.
- softmax weights, exp(logit − max) over 256 classes: one draw.

Each row times `--steps` steps of random pre-activations in one compiled call (median of the repeats, the two
interleaved) and shows the largest difference from the reference over those values.

    python3 benchmarks/compiled_activations.py [--steps 20000] [--repeats 7]
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import time

import numba
import numpy as np

from engine.models.compiled_ops import exp_nonpositive, sigmoid, tanh


@numba.njit(fastmath=True, nogil=True)
def wavenet_gate_library(f, g, out) -> None:
    """f, g, out (steps, 640): z = tanh(f) · σ(g)."""
    for step in range(f.shape[0]):
        for i in range(f.shape[1]):
            out[step, i] = math.tanh(f[step, i]) / (1.0 + math.exp(-g[step, i]))


@numba.njit(fastmath=True, nogil=True)
def wavenet_gate_compiled(f, g, out) -> None:
    for step in range(f.shape[0]):
        for i in range(f.shape[1]):
            out[step, i] = tanh(f[step, i]) * sigmoid(g[step, i])


@numba.njit(fastmath=True, nogil=True)
def gru_gates_library(a, b, c, h) -> None:
    """a, b, c, h (steps, 192): r = σ(a), u = σ(b), h ← candidate + u · (h − candidate), candidate = tanh(r · c)."""
    for step in range(a.shape[0]):
        for i in range(a.shape[1]):
            r = 1.0 / (1.0 + math.exp(-a[step, i]))
            u = 1.0 / (1.0 + math.exp(-b[step, i]))
            candidate = math.tanh(c[step, i] * r)
            h[step, i] = candidate + u * (h[step, i] - candidate)


@numba.njit(fastmath=True, nogil=True)
def gru_gates_compiled(a, b, c, h) -> None:
    for step in range(a.shape[0]):
        for i in range(a.shape[1]):
            r = sigmoid(a[step, i])
            u = sigmoid(b[step, i])
            candidate = tanh(c[step, i] * r)
            h[step, i] = candidate + u * (h[step, i] - candidate)


@numba.njit(fastmath=True, nogil=True)
def softmax_weights_library(logits, out) -> None:
    """logits, out (steps, 256): exp(logit − the step's largest)."""
    for step in range(logits.shape[0]):
        top = logits[step].max()
        for i in range(logits.shape[1]):
            out[step, i] = math.exp(logits[step, i] - top)


@numba.njit(fastmath=True, nogil=True)
def softmax_weights_compiled(logits, out) -> None:
    for step in range(logits.shape[0]):
        top = logits[step].max()
        for i in range(logits.shape[1]):
            out[step, i] = exp_nonpositive(logits[step, i] - top)


def case(library, compiled, inputs: list[np.ndarray]):
    """Two callables over the same inputs, each writing its own output (the last argument), and the outputs."""
    outs = {name: np.zeros_like(inputs[0]) for name in ("library", "compiled")}
    return (lambda: library(*inputs, outs["library"])), (lambda: compiled(*inputs, outs["compiled"])), outs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    rng = np.random.default_rng(0)

    def values(width: int, scale: float) -> np.ndarray:  # scale 3: saturating pre-activations too
        return rng.normal(0.0, scale, (args.steps, width)).astype(np.float32)

    cases = {
        "WaveNet gate, 640 per step": case(
            wavenet_gate_library, wavenet_gate_compiled, [values(640, 3), values(640, 3)]
        ),
        "GRU gates, 192 units per step": case(
            gru_gates_library, gru_gates_compiled, [values(192, 3) for _ in range(3)]
        ),
        "softmax weights, 256 classes": case(softmax_weights_library, softmax_weights_compiled, [values(256, 6)]),
    }
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs (load average "
        f"{os.getloadavg()[0]:.1f}), numba {numba.__version__}, {args.steps} steps per timing, {args.repeats} repeats"
    )
    print(f"{'values':<31} {'library µs/step':>16} {'compiled µs/step':>17} {'speed-up':>9} {'max |difference|':>17}")
    for name, (library, compiled, outs) in cases.items():
        library(), compiled()  # compile both first
        times = {"library": [], "compiled": []}
        for _ in range(args.repeats):
            for key, run in (("library", library), ("compiled", compiled)):
                start = time.perf_counter()
                run()
                times[key].append((time.perf_counter() - start) / args.steps * 1e6)
        lib, comp = statistics.median(times["library"]), statistics.median(times["compiled"])
        difference = np.abs(outs["library"].astype(np.float64) - outs["compiled"]).max()
        print(f"{name:<31} {lib:16.2f} {comp:17.2f} {lib / comp:8.1f}× {difference:17.1e}")


if __name__ == "__main__":
    main()
