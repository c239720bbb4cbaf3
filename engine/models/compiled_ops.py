"""numba helpers shared by the compiled sampling loops (engine/models/<family>/kernel.py) and noise injection."""

from __future__ import annotations

import math

import numba
import numpy as np


@numba.njit(cache=True, fastmath=True, nogil=True, error_model="numpy")
def affine(x: np.ndarray, w: np.ndarray, start, out: np.ndarray, relu: bool = False) -> None:
    """out (N, M) ← start + x (N, K) @ w.T, w (M, K) in torch's (out, in) layout, then max(·, 0) when `relu`.
    start: a bias (M,), a per-row share (N, M) or a scalar. Each output is one dot product over a contiguous row of
    w, summed in a register: about twice as fast at N = 1 as adding each row of a transposed w into `out`."""
    for n in range(x.shape[0]):
        for m in range(w.shape[0]):
            total = np.float32(0.0)
            for k in range(w.shape[1]):
                total += x[n, k] * w[m, k]
            out[n, m] = total
    out += start
    if relu:
        np.maximum(out, 0.0, out)


@numba.njit(cache=True, fastmath=True, nogil=True, error_model="numpy")
def add_columns(x: np.ndarray, columns: np.ndarray, start, out: np.ndarray, relu: bool = False) -> None:
    """out (N, M) ← start + x (N, K) @ columns (K, M), then max(·, 0) when `relu`: each input's column is added along
    the whole output row in turn. Faster than `affine` where K is a few sample inputs, and where x is a strided view
    or the weights outgrow the cache (the dual-softmax WaveRNN's)."""
    out[:] = start
    for k in range(columns.shape[0]):
        for n in range(x.shape[0]):  # each column is read once for all N rows
            xk = x[n, k]
            for m in range(columns.shape[1]):
                out[n, m] += xk * columns[k, m]
    if relu:
        np.maximum(out, 0.0, out)


# tanh(x) = x · P(x²) / Q(x²) for |x| ≤ 9, a rational fit (least squares, reweighted towards the largest error) whose
# error is below 3.2e-8 everywhere: under half a float32 step at 1; beyond 9, tanh rounds to ±1 in float32 anyway.
# The library's tanh and exp run one value at a time; this is plain arithmetic that the compiler spreads over the
# vector lanes (with numpy's error model: Python's check for a division by zero would keep it scalar). Over one step's
# values it is 12 times as fast (benchmarks/compiled_activations.py).
TANH_P = (
    0.9999999938763772,
    0.13676329670939136,
    0.0038639117940755955,
    2.7922933679907187e-05,
    3.039984111150691e-08,
    -1.2082230565648105e-11,
)
TANH_Q = (1.0, 0.4700966034939685, 0.027229479800001746, 0.00039310088532684196, 1.2817029860419582e-06)
TANH_LIMIT = 9.0


@numba.njit(cache=True, fastmath=True, nogil=True, error_model="numpy")
def tanh(x: float) -> float:
    """tanh(x) to within 3.2e-8, in float64 arithmetic without a library call (the fit above)."""
    x = min(max(x, -TANH_LIMIT), TANH_LIMIT)
    s = x * x
    p = TANH_P[0] + s * (TANH_P[1] + s * (TANH_P[2] + s * (TANH_P[3] + s * (TANH_P[4] + s * TANH_P[5]))))
    q = TANH_Q[0] + s * (TANH_Q[1] + s * (TANH_Q[2] + s * (TANH_Q[3] + s * TANH_Q[4])))
    return x * p / q


@numba.njit(cache=True, fastmath=True, nogil=True, error_model="numpy")
def sigmoid(x: float) -> float:
    """σ(x) = (1 + tanh(x / 2)) / 2, to within 1.6e-8 (absolute)."""
    return 0.5 + 0.5 * tanh(0.5 * x)


@numba.njit(cache=True, fastmath=True, nogil=True, error_model="numpy")
def exp_nonpositive(y: float) -> float:
    """e^y for y ≤ 0 to a relative 2e-9 (and 0 below −87, where float32 has nothing left), without a library call:
    e^y = (e^(y/256))^256, the inner power by its Taylor series to the 9th term (|y/256| < 0.34), then 8 squarings."""
    z = max(y, -87.0) * (1.0 / 256.0)
    p = 1.0 + z * (
        1.0
        + z
        / 2
        * (1.0 + z / 3 * (1.0 + z / 4 * (1.0 + z / 5 * (1.0 + z / 6 * (1.0 + z / 7 * (1.0 + z / 8 * (1.0 + z / 9)))))))
    )
    for _ in range(8):
        p *= p
    return p if y > -87.0 else 0.0


@numba.njit(cache=True, fastmath=True, nogil=True)
def draw_class(logits: np.ndarray, uniform: float, inverse_temperature: float) -> int:
    """One class from softmax(logits (C,) · inverse_temperature) by inverting its CDF with `uniform` in [0, 1): the
    first class whose cumulative weight exceeds uniform · total, as `engine.models.coding.sample_classes` does.
    Overwrites logits."""
    top = logits.max()
    total = 0.0
    for c in range(logits.shape[0]):
        logits[c] = exp_nonpositive((logits[c] - top) * inverse_temperature)
        total += logits[c]
    target = uniform * total
    cumulative = 0.0
    for c in range(logits.shape[0]):
        cumulative += logits[c]
        if cumulative > target:
            return c
    return logits.shape[0] - 1


@numba.njit(cache=True, fastmath=True, nogil=True)
def mulaw_compress(x: float, mu: float) -> float:
    """A sample in [-1, 1] (clipped) → its mu-law compressed value, as `engine.models.coding.mulaw_compress`."""
    magnitude = min(abs(x), 1.0)
    return math.copysign(math.log1p(mu * magnitude) / math.log1p(mu), x) if magnitude > 0.0 else 0.0


@numba.njit(cache=True, fastmath=True, nogil=True)
def mulaw_expand(k: int, mu: float) -> float:
    """Class k of mu + 1 → its sample value, as `engine.models.coding.mulaw_expand` (in float64)."""
    compressed = 2.0 * k / mu - 1.0
    return math.copysign(math.expm1(abs(compressed) * math.log1p(mu)) / mu, compressed)


@numba.njit(cache=True, fastmath=True, nogil=True)
def mulaw_class(x: float, mu: float) -> int:
    """A sample → its mu-law class of mu + 1, as `engine.models.coding.mulaw_classes`."""
    return round((mulaw_compress(x, mu) + 1.0) / 2.0 * mu)


@numba.njit(cache=True, fastmath=True, nogil=True)
def predict(history: np.ndarray, weights: np.ndarray) -> float:
    """Linear prediction p_t = Σ_j history_j · weights_j over the last p samples (p,), oldest first, in float64."""
    predicted = 0.0
    for j in range(history.shape[0]):
        predicted += history[j] * weights[j]
    return predicted


@numba.njit(cache=True, fastmath=True, nogil=True)
def excited_sample(prediction: float, drawn: int, mu: float) -> float:
    """x_t = p_t + e_t for a drawn excitation class, clipped to [-1, 1]; e_t in float32, as
    `engine.models.coding.mulaw_expand` gives it, so that both sampling loops add the same numbers."""
    return min(max(prediction + float(np.float32(mulaw_expand(drawn, mu))), -1.0), 1.0)


@numba.njit(cache=True, fastmath=True, nogil=True)
def push(history: np.ndarray, sample: float) -> None:
    """history (p,), oldest first ← the last p − 1 of it, then `sample`."""
    for j in range(history.shape[0] - 1):
        history[j] = history[j + 1]
    history[history.shape[0] - 1] = sample
