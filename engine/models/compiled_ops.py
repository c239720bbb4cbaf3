"""numba helpers shared by the compiled sampling loops (engine/models/wavernn_kernel.py, wavenet_kernel.py)."""

from __future__ import annotations

import math

import numba
import numpy as np


@numba.njit(cache=True, fastmath=True, nogil=True)
def add_matmul(x: np.ndarray, w: np.ndarray, out: np.ndarray) -> None:
    """out (N, M) += x (N, K) @ w (K, M); each row of w is read once for all N rows of x."""
    for k in range(w.shape[0]):
        for n in range(x.shape[0]):
            xk = x[n, k]
            for m in range(w.shape[1]):
                out[n, m] += xk * w[k, m]


@numba.njit(cache=True, fastmath=True, nogil=True)
def draw_class(logits: np.ndarray, uniform: float) -> int:
    """One class from softmax(logits (C,)) by inverting its CDF with `uniform` in [0, 1): the first class whose
    cumulative weight exceeds uniform · total, as `engine.models.coding.sample_classes` does. Overwrites logits."""
    top = logits.max()
    total = 0.0
    for c in range(logits.shape[0]):
        logits[c] = math.exp(logits[c] - top)
        total += logits[c]
    target = uniform * total
    cumulative = 0.0
    for c in range(logits.shape[0]):
        cumulative += logits[c]
        if cumulative > target:
            return c
    return logits.shape[0] - 1
