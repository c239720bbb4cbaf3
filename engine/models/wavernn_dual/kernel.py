"""The dual-softmax WaveRNN's per-sample loop, compiled with numba for the CPU.

`DualSoftmaxStream.block` (stream.py) runs each step as a couple of dozen small torch ops; on a CPU most of a step's
time is their dispatch, not arithmetic. Here one compiled function runs a whole block: the same equations (see
model.py): R·h_{t−1} once, the coarse half's gates, c_t drawn, the fine half's gates with c_t, f_t drawn; the same
uniforms and inverse-CDF draw (at temperature 1, as the model samples), in float32, without the GIL.

benchmarks/wavernn_stream.py measures both loops, at the default model's size and the paper's.

Shapes (L steps, N batch rows, H the state, K = H/2 a half's, B = 256 byte values). Every 3H vector is half-major,
[u_c r_c e_c | u_f r_f e_f]:
    conditioning  (L, N, 3H) the conditioning's share of I*·x_t, with I*'s biases
    uniforms      (2, L, N) in [0, 1): [0] draws c_t, [1] draws f_t
    fed           (L, N, 2) int64 the teacher's (coarse, fine) bytes (step t + 1 is fed fed[t], and the fine half
                  of step t is fed the coarse byte fed[t, :, 0]); or (0, 0, 0) to feed back draws
    weights       byte_inputs (B,) each byte's input value; R_t (H, 3H); I_prev (2, 3H) the columns of
                  [c_{t−1}, f_{t−1}]; I_c_t (3K,) the fine half's column of c_t; O1 (K, K), O2 (K, B), O3 (K, K),
                  O4 (K, B) as (in, out), each with its bias (stream.kernel_weights)
    state         h (N, H) h_{t−1}; x_prev (N, 2) [c_{t−1}, f_{t−1}] as inputs: updated in place
    out           drawn (L, N, 2) int64 (coarse, fine) bytes; logits (L, N, 2B) [coarse | fine] when asked for,
                  else (0, 0, 0)
"""

from __future__ import annotations

import numba
import numpy as np

from engine.models.compiled_ops import add_columns, draw_class, sigmoid, tanh


@numba.njit(cache=True, fastmath=True, nogil=True)
def _gates(R_h, I_x, h) -> None:
    """h (N, K) ← h_t of one half, from R·h_{t−1} and I*·x_t (+ conditioning), each (N, 3K) as [u | r | e]."""
    half = h.shape[1]
    for n in range(h.shape[0]):
        for i in range(half):
            u_t = sigmoid(R_h[n, i] + I_x[n, i])
            r_t = sigmoid(R_h[n, half + i] + I_x[n, half + i])
            e_t = tanh(I_x[n, 2 * half + i] + r_t * R_h[n, 2 * half + i])
            h[n, i] = e_t + u_t * (h[n, i] - e_t)  # u_t ∘ h_{t−1} + (1 − u_t) ∘ e_t


@numba.njit(cache=True, fastmath=True, nogil=True)
def run_block(
    conditioning,
    uniforms,
    fed,
    byte_inputs,
    R_t,
    I_prev,
    I_c_t,
    O1,
    b1,
    O2,
    b2,
    O3,
    b3,
    O4,
    b4,
    h,
    x_prev,
    drawn,
    logits,
) -> None:
    """Run L steps for N rows; the shapes are in the module docstring. Weights are (in, out), contiguous."""
    steps, rows, three_h = conditioning.shape
    half = three_h // 6
    n_bytes = byte_inputs.shape[0]
    teach = fed.shape[0] > 0
    keep_logits = logits.shape[0] > 0
    R_h, I_x = np.empty((rows, three_h), np.float32), np.empty((rows, three_h), np.float32)
    hidden = np.empty((rows, half), np.float32)
    P_c, P_f = np.empty((rows, n_bytes), np.float32), np.empty((rows, n_bytes), np.float32)
    y_c, y_f = h[:, :half], h[:, half:]
    for t in range(steps):
        add_columns(h, R_t, 0.0, R_h)
        add_columns(x_prev, I_prev, conditioning[t], I_x)
        _gates(R_h[:, : 3 * half], I_x[:, : 3 * half], y_c)
        add_columns(y_c, O1, b1, hidden, True)
        add_columns(hidden, O2, b2, P_c)
        if keep_logits:
            logits[t, :, :n_bytes] = P_c
        for n in range(rows):
            drawn[t, n, 0] = draw_class(P_c[n], uniforms[0, t, n], 1.0)
            c_t = byte_inputs[fed[t, n, 0] if teach else drawn[t, n, 0]]
            for j in range(3 * half):
                I_x[n, 3 * half + j] += c_t * I_c_t[j]
        _gates(R_h[:, 3 * half :], I_x[:, 3 * half :], y_f)
        add_columns(y_f, O3, b3, hidden, True)
        add_columns(hidden, O4, b4, P_f)
        if keep_logits:
            logits[t, :, n_bytes:] = P_f
        for n in range(rows):
            drawn[t, n, 1] = draw_class(P_f[n], uniforms[1, t, n], 1.0)
            fed_bytes = fed[t, n] if teach else drawn[t, n]
            x_prev[n, 0] = byte_inputs[fed_bytes[0]]
            x_prev[n, 1] = byte_inputs[fed_bytes[1]]
