"""Fast WaveNet generation in mu-law mode, one block at a time, compiled with numba for the CPU.

`IncrementalGeneration._step` (stream.py) runs every layer as a few torch ops per sample; on a CPU most of a step's
time is the dispatch of those small ops. Here one compiled function runs a whole block: the same queues, the same
equations (see model.py), the same uniforms and inverse-CDF draw, in float32, and with linear prediction the same
float64 prediction, without the GIL, on the weights and queues stream.py prepares.

Shapes (L steps, N batch rows, layers, R residual channels, S skip channels, P post channels, C classes, k taps,
p the prediction order):
    cond          (L, layers, N, 2R) the conditioning's share of each layer's filter and gate, biases folded in
    uniforms      (L, N) in [0, 1); classes are drawn from softmax(logits / temperature)
    teacher       (L, N) int64 classes fed back instead of the draws, or (0, 0); with linear prediction also
                  taught (L, N) float32, the teacher's samples, else (0, 0)
    lpc_weights   (L, N, p) float64, each step's prediction weights over the last p samples, or (0, 0, 0)
    weights       as (out, in): embed (C, R), a row per class; filter_gate (layers, 2R, k·R), columns of tap j
                  for the input at t − (k − 1 − j)·d; residual (layers, R, R) and its bias (layers, R);
                  skip (S, layers·R); post (P, S); out (C, P); with linear prediction lpc_input (2, R), a column per
                  input, and its bias (R,), else (0, 0) each
    queues        ring (slots, N, R): layer l's (k − 1)·d_l slots start at offsets[l]; step (1,) int64;
                  previous (N,) int64 input classes; history (N, p) float64 the last p samples, oldest first;
                  excitation (N,) float32 e_{t−1} compressed (p = 0: (N, 0) and (0,)): all updated in place
    out           samples (L, N) float32; logits (L, N, C) when asked for, else (0, 0, 0)
"""

from __future__ import annotations

import math

import numba
import numpy as np

from engine.models.compiled_ops import (
    add_columns,
    affine,
    draw_class,
    excited_sample,
    mulaw_class,
    mulaw_compress,
    mulaw_expand,
    predict,
    push,
    sigmoid,
    tanh,
)

SQRT_HALF = math.sqrt(0.5)  # the residual scale, as in model.py


@numba.njit(cache=True, fastmath=True, nogil=True)
def run_block(
    cond,
    uniforms,
    teacher,
    taught,
    lpc_weights,
    bits,
    temperature,
    embed,
    filter_gate,
    residual,
    residual_bias,
    skip,
    skip_bias,
    post,
    post_bias,
    out_w,
    out_bias,
    dilations,
    offsets,
    lpc_input,
    lpc_input_bias,
    ring,
    step,
    previous,
    history,
    excitation,
    samples,
    logits,
) -> None:
    """Run L steps for N rows; the shapes are in the module docstring."""
    steps, layers, rows, two_r = cond.shape
    r = two_r // 2
    taps = filter_gate.shape[2] // r
    n_classes = out_bias.shape[0]
    mu = float(2**bits - 1)
    teach = teacher.shape[0] > 0
    lpc = lpc_weights.shape[0] > 0
    keep_logits = logits.shape[0] > 0
    x = np.empty((rows, r), np.float32)
    features, prediction = np.empty((rows, 2), np.float32), np.empty(rows)
    stacked = np.empty((rows, taps * r), np.float32)
    filt_gate = np.empty((rows, two_r), np.float32)
    z = np.empty((rows, r), np.float32)
    gated = np.empty((rows, layers * r), np.float32)
    residual_out = np.empty((rows, r), np.float32)
    hidden_skip = np.empty((rows, skip_bias.shape[0]), np.float32)
    hidden_post = np.empty((rows, post_bias.shape[0]), np.float32)
    out = np.empty((rows, n_classes), np.float32)
    for i in range(steps):
        t = step[0]
        if lpc:  # x = W [e_{t−1}, p_t] + b + the embedding
            for n in range(rows):
                prediction[n] = predict(history[n], lpc_weights[i, n])
                features[n, 0] = excitation[n]
                features[n, 1] = mulaw_compress(prediction[n], mu)
            add_columns(features, lpc_input, lpc_input_bias, x)
            for n in range(rows):
                x[n] += embed[previous[n]]
        else:
            for n in range(rows):
                x[n] = embed[previous[n]]
        for layer in range(layers):
            d = dilations[layer]
            size = (taps - 1) * d
            base = offsets[layer]
            # [input at t − (k − 1)·d, …, t − d, t]: the queue's taps, then x
            for j in range(taps - 1):
                slot = base + (t - (taps - 1 - j) * d) % size
                for n in range(rows):
                    stacked[n, j * r : (j + 1) * r] = ring[slot, n]
            for n in range(rows):
                stacked[n, (taps - 1) * r :] = x[n]
            affine(stacked, filter_gate[layer], cond[i, layer], filt_gate)
            for n in range(rows):
                for c in range(r):
                    z[n, c] = tanh(filt_gate[n, c]) * sigmoid(filt_gate[n, r + c])
                    gated[n, layer * r + c] = z[n, c]
            ring[base + t % size] = x
            if layer != layers - 1:  # the last layer's residual output feeds nothing
                affine(z, residual[layer], residual_bias[layer], residual_out)
                for n in range(rows):
                    for c in range(r):
                        x[n, c] = SQRT_HALF * (residual_out[n, c] + x[n, c])
        affine(gated, skip, skip_bias, hidden_skip, True)
        affine(hidden_skip, post, post_bias, hidden_post, True)
        affine(hidden_post, out_w, out_bias, out)
        if keep_logits:
            logits[i] = out
        for n in range(rows):
            drawn = draw_class(out[n], uniforms[i, n], 1.0 / temperature)
            if lpc:  # x_t = p_t + e_t as the float32 sample it is output as; the teacher's x_t is fed instead
                samples[i, n] = excited_sample(prediction[n], drawn, mu)
                sample = float(taught[i, n] if teach else samples[i, n])
                previous[n] = teacher[i, n] if teach else mulaw_class(sample, mu)
                excitation[n] = mulaw_compress(sample - prediction[n], mu)
                push(history[n], sample)
            else:
                samples[i, n] = mulaw_expand(drawn, mu)
                previous[n] = teacher[i, n] if teach else drawn
        step[0] = t + 1
