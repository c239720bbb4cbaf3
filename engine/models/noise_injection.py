"""Noise injection for training a linear-prediction vocoder, as in LPCNet (Valin and Skoglund, 2019, section 3.3).

Teacher forcing feeds the network the clean past; at generation time it is fed its own draws, which differ from
the truth by the sampling noise, so its errors compound. Noise injection trains it on a past that carries such
errors, and asks it to correct them: the fed signal s̃ is rebuilt sample by sample the way a sampling loop would,

    p̃_t = −Σ_{k=1..p} a_k · s̃_{t−k},   e_t = s_t − p̃_t,   s̃_t = clip(p̃_t + expand(class(e_t) + n_t), −1, 1),

with n_t a whole number of mu-law classes, and the target is the excitation e_t of the clean sample from the noisy
prediction, so the network learns to steer back towards the speech. With n = 0 the fed signal differs from the
audio only by the mu-law quantisation a sampling loop has too.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import torch

from engine.models.compiled_ops import excited_sample, mulaw_class


@numba.njit(cache=True, nogil=True)
def _resynthesise(audio: np.ndarray, coefficients: np.ndarray, noise: np.ndarray, hop: int, bits: int) -> np.ndarray:
    """audio (N, T), per-frame a₁..a_p (N, F, p), noise classes (N, T) int64 → the fed signal s̃ (N, T) float64;
    each sample made as the compiled sampling loops make it (engine/models/compiled_ops.py)."""
    mu = 2.0**bits - 1.0
    batch, length = audio.shape
    order = coefficients.shape[2]
    fed = np.zeros((batch, length))
    for n in range(batch):
        for t in range(length):
            a = coefficients[n, t // hop]
            prediction = 0.0
            for k in range(1, min(order, t) + 1):
                prediction -= a[k - 1] * fed[n, t - k]
            drawn = min(max(mulaw_class(audio[n, t] - prediction, mu) + noise[n, t], 0), int(mu))
            fed[n, t] = excited_sample(prediction, drawn, mu)
    return fed


def noise_classes(rng: np.random.Generator, batch: int, length: int, largest_std: float) -> np.ndarray:
    """Laplacian noise in whole mu-law classes (N, T) int64. Each segment's standard deviation is largest_std · u²,
    u uniform in [0, 1), as LPCNet draws it (largest 4): mostly small, so the network also sees nearly clean pasts."""
    std = largest_std * rng.uniform(0.0, 1.0, size=(batch, 1)) ** 2
    return np.rint(rng.laplace(0.0, std / math.sqrt(2.0), size=(batch, length))).astype(np.int64)


def noisy_past(audio: torch.Tensor, coefficients: torch.Tensor, noise: np.ndarray, hop: int, bits: int) -> torch.Tensor:
    """audio (N, F · hop), coefficients a₁..a_p (N, F, p) from `LinearPredictor`, noise classes (N, F · hop) → the
    fed signal s̃ (N, F · hop) float32, on the audio's device."""
    fed = _resynthesise(
        audio.detach().double().cpu().numpy(), coefficients.detach().double().cpu().numpy(), noise, hop, bits
    )
    return torch.from_numpy(fed).float().to(audio.device)
