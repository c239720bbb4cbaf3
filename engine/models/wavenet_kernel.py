"""Fast WaveNet generation in mu-law mode, one block at a time, compiled with numba for the CPU.

`IncrementalGeneration._step` runs every layer as a few torch ops per sample; on a CPU most of a step's time is
the dispatch of those small ops. Here one compiled function runs a whole block: the same queues, the same
equations (see engine/models/wavenet.py), the same uniforms and inverse-CDF draw, in float32, without the GIL.

Shapes (L steps, N batch rows, layers, R residual channels, S skip channels, P post channels, C classes, k taps):
    cond          (L, layers, N, 2R) the conditioning's share of each layer's filter and gate, biases folded in
    uniforms      (L, N) in [0, 1);  teacher (L, N) int64 classes fed back instead of the draws, or (0, 0)
    weights       embed (C, R); filter_gate (layers, k·R, 2R), rows of tap j for the input at t − (k − 1 − j)·d;
                  residual (layers, R, R) and its bias (layers, R); skip (layers·R, S); post (S, P); out (P, C)
    queues        ring (slots, N, R): layer l's (k − 1)·d_l slots start at offsets[l]; step (1,) int64;
                  previous (N,) int64 input classes: all updated in place
    out           classes (L, N) int64; logits (L, N, C) when asked for, else (0, 0, 0)
"""

from __future__ import annotations

import math

import numba
import numpy as np

from engine.models.compiled_ops import affine, draw_class

SQRT_HALF = math.sqrt(0.5)


@numba.njit(cache=True, fastmath=True, nogil=True)
def run_block(cond, uniforms, teacher, embed, filter_gate, residual, residual_bias, skip, skip_bias, post, post_bias,
              out_w, out_bias, dilations, offsets, ring, step, previous, classes, logits) -> None:
    """Run L steps for N rows; the shapes are in the module docstring."""
    steps, layers, rows, two_r = cond.shape
    r = two_r // 2
    taps = filter_gate.shape[1] // r
    n_classes = out_bias.shape[0]
    teach = teacher.shape[0] > 0
    keep_logits = logits.shape[0] > 0
    x = np.empty((rows, r), np.float32)
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
                    stacked[n, j * r:(j + 1) * r] = ring[slot, n]
            for n in range(rows):
                stacked[n, (taps - 1) * r:] = x[n]
            affine(stacked, filter_gate[layer], cond[i, layer], filt_gate)
            for n in range(rows):
                for c in range(r):
                    z[n, c] = math.tanh(filt_gate[n, c]) / (1.0 + math.exp(-filt_gate[n, r + c]))
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
            drawn = draw_class(out[n], uniforms[i, n])
            classes[i, n] = drawn
            previous[n] = teacher[i, n] if teach else drawn
        step[0] = t + 1


def warm() -> None:
    """Compile `run_block` (or load it from numba's disk cache) now, on a tiny model, rather than at the first
    generation: compiling takes several seconds once per machine, loading the cache a fraction of a second."""
    import torch

    from engine.features import MelConfig
    from engine.models.wavenet import WaveNet, WaveNetConfig

    model = WaveNet(WaveNetConfig(blocks=1, layers=2, residual_channels=4, skip_channels=4), MelConfig()).eval()
    for _ in model.stream(torch.zeros(1, model.mel_config.n_mels, model.min_frames)):
        pass
