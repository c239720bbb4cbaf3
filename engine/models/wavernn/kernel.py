"""The single-output WaveRNN's per-sample loop in mu-law mode, compiled with numba for the CPU.

`WaveRNNStream.block` (stream.py) runs the same recurrence as a few dozen torch ops per sample; on a CPU most of
each step's time is the dispatch of those small ops, not arithmetic. Here one compiled function runs a whole block:
the same equations (see model.py), the same uniforms, the same inverse-CDF draw, in float32, and with linear
prediction the same float64 prediction. It releases the GIL while it runs, so the window's thread is never held up
by it, and `run_rows_in_threads` runs a batch's rows on several cores at once (each row's arithmetic is its own, so
the samples are the same on any number of cores).

benchmarks/wavernn_stream.py measures both loops, at the default model's size among others.

Shapes (L steps, N batch rows, H = rnn_dims, F = fc_dims, C = 2^bits classes, K = 1 sample input, or 3 with
linear prediction of order p):
    conditioning  input_gi1 (L, N, 4H) = [x_in | gi1_rz | gi1_n] without the sample inputs,
                  gi2_rz (L, N, 2H), gi2_n (L, N, H), fc1 (L, N, F), fc2 (L, N, F)
    uniforms      (L, N) in [0, 1); classes are drawn from softmax(logits / temperature)
    fed           (L, N) the teacher's samples (step t + 1 is fed fed[t]): compressed, or as they are with linear
                  prediction; or (0, 0) to feed back draws
    lpc_weights   (L, N, p) float64, each step's prediction weights over the last p samples, or (0, 0, 0)
    state         previous (N, K − 1 or 1): the last step's sample inputs; history (N, p) float64 the last p
                  samples, oldest first (N, 0 without prediction); h1 (N, H), h2 (N, H): updated in place
    out           samples (L, N) float32; logits (L, N, C) when asked for, else (0, 0, 0)
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

from engine.models.compiled_ops import (
    add_columns,
    affine,
    draw_class,
    excited_sample,
    mulaw_compress,
    mulaw_expand,
    predict,
    push,
    sigmoid,
    tanh,
)


@numba.njit(cache=True, fastmath=True, nogil=True)
def _gru_update(gi_rz, gi_n, gh_rz, gh_n, h) -> None:
    """h (N, H) ← GRU update from the input's and the state's gate pre-activations (gh_n includes b_hn)."""
    hidden = h.shape[1]
    for n in range(h.shape[0]):
        for i in range(hidden):
            r = sigmoid(gi_rz[n, i] + gh_rz[n, i])
            z = sigmoid(gi_rz[n, hidden + i] + gh_rz[n, hidden + i])
            candidate = tanh(gi_n[n, i] + r * gh_n[n, i])
            h[n, i] = candidate + z * (h[n, i] - candidate)


@numba.njit(cache=True, fastmath=True, nogil=True)
def run_block(
    input_gi1,
    gi2_rz,
    gi2_n,
    fc1,
    fc2,
    uniforms,
    fed,
    lpc_weights,
    bits,
    temperature,
    previous_weights,
    w_hh1_rz,
    w_hh1_n,
    b_hh1_n,
    w_ih2_rz,
    w_ih2_n,
    w_hh2_rz,
    w_hh2_n,
    b_hh2_n,
    fc1_w,
    fc2_w,
    fc3_w,
    fc3_b,
    previous,
    history,
    h1,
    h2,
    samples,
    logits,
) -> None:
    """Run L steps for N rows; the shapes are in the module docstring. Weights are (out, in), contiguous, but
    previous_weights: (K, 4H), a column per sample input."""
    steps, rows, four_h = input_gi1.shape
    hidden = four_h // 4
    n_classes = fc3_b.shape[0]
    mu = float(2**bits - 1)
    teach = fed.shape[0] > 0
    lpc = lpc_weights.shape[0] > 0
    keep_logits = logits.shape[0] > 0
    level_step = 2.0 / (n_classes - 1)  # class k is fed back as its compressed value 2k / (C − 1) − 1
    inputs = np.zeros((rows, previous_weights.shape[0]), np.float32)
    prediction = np.zeros(rows)
    x = np.empty((rows, four_h), np.float32)
    gh_rz, gh_n = np.empty((rows, 2 * hidden), np.float32), np.empty((rows, hidden), np.float32)
    gi_rz, gi_n = np.empty((rows, 2 * hidden), np.float32), np.empty((rows, hidden), np.float32)
    z1, z2 = np.empty((rows, hidden), np.float32), np.empty((rows, hidden), np.float32)
    y1, y2 = np.empty((rows, fc1.shape[2]), np.float32), np.empty((rows, fc2.shape[2]), np.float32)
    out = np.empty((rows, n_classes), np.float32)
    for t in range(steps):
        # x_in and GRU₁'s input gates: the conditioning's share plus the sample inputs' columns
        for n in range(rows):
            inputs[n, : previous.shape[1]] = previous[n]
            if lpc:
                prediction[n] = predict(history[n], lpc_weights[t, n])
                inputs[n, 2] = mulaw_compress(prediction[n], mu)
        add_columns(inputs, previous_weights, input_gi1[t], x)
        affine(h1, w_hh1_rz, 0.0, gh_rz)
        affine(h1, w_hh1_n, b_hh1_n, gh_n)
        _gru_update(x[:, hidden : 3 * hidden], x[:, 3 * hidden :], gh_rz, gh_n, h1)
        for n in range(rows):
            for i in range(hidden):
                z1[n, i] = x[n, i] + h1[n, i]
        affine(z1, w_ih2_rz, gi2_rz[t], gi_rz)
        affine(z1, w_ih2_n, gi2_n[t], gi_n)
        affine(h2, w_hh2_rz, 0.0, gh_rz)
        affine(h2, w_hh2_n, b_hh2_n, gh_n)
        _gru_update(gi_rz, gi_n, gh_rz, gh_n, h2)
        for n in range(rows):
            for i in range(hidden):
                z2[n, i] = z1[n, i] + h2[n, i]
        affine(z2, fc1_w, fc1[t], y1, True)
        affine(y1, fc2_w, fc2[t], y2, True)
        affine(y2, fc3_w, fc3_b, out)
        if keep_logits:
            logits[t] = out
        for n in range(rows):
            drawn = draw_class(out[n], uniforms[t, n], 1.0 / temperature)
            if lpc:  # x_t = p_t + e_t as the float32 sample it is output as; the teacher's x_t is fed instead
                samples[t, n] = excited_sample(prediction[n], drawn, mu)
                sample = float(fed[t, n] if teach else samples[t, n])
                previous[n, 0] = mulaw_compress(sample, mu)
                previous[n, 1] = mulaw_compress(sample - prediction[n], mu)
                push(history[n], sample)
            else:
                previous[n, 0] = fed[t, n] if teach else drawn * level_step - 1.0
                samples[t, n] = mulaw_expand(drawn, mu)


_POOL = ThreadPoolExecutor(thread_name_prefix="vocoscope-rows")  # its threads start at the first use


def run_rows_in_threads(
    threads: int,
    input_gi1,
    gi2_rz,
    gi2_n,
    fc1,
    fc2,
    uniforms,
    fed,
    lpc_weights,
    bits,
    temperature,
    weights,
    previous,
    history,
    h1,
    h2,
    samples,
    logits,
) -> None:
    """`run_block` with the N rows cut into `threads` runs of rows, each in a thread of a shared pool (weights: the
    13 of `stream.kernel_weights`). The state and outputs are updated in place as one call would update them."""
    parts = min(threads, samples.shape[1])
    if parts <= 1:
        run_block(
            input_gi1,
            gi2_rz,
            gi2_n,
            fc1,
            fc2,
            uniforms,
            fed,
            lpc_weights,
            bits,
            temperature,
            *weights,
            previous,
            history,
            h1,
            h2,
            samples,
            logits,
        )
        return

    def run(first: int, last: int) -> None:
        def steps(array):  # (L, N, …) → rows [first, last)
            return np.ascontiguousarray(array[:, first:last])

        def own(array):  # (N, …) → rows [first, last)
            return np.ascontiguousarray(array[first:last])

        state = [own(part) for part in (previous, history, h1, h2)]
        out = [steps(part) for part in (samples, logits)]
        run_block(
            *(steps(part) for part in (input_gi1, gi2_rz, gi2_n, fc1, fc2, uniforms, fed, lpc_weights)),
            bits,
            temperature,
            *weights,
            *state,
            *out,
        )
        previous[first:last], history[first:last], h1[first:last], h2[first:last] = state
        samples[:, first:last], logits[:, first:last] = out

    bounds = np.linspace(0, samples.shape[1], parts + 1).astype(int)
    for done in [_POOL.submit(run, first, last) for first, last in zip(bounds[:-1], bounds[1:])]:
        done.result()
