"""The discretized mixture of logistics (PixelCNN++; r9y9's WaveNet), shared by WaveRNN and WaveNet.

A model's output column holds C = 3·M parameters: M mixture logits, then M means, then M log scales.
Audio in [-1, 1] lies on a grid of 2^bits levels; each logistic is integrated over a sample's bin.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from engine.models.coding import sample_classes

LOG_SCALE_MIN = -7.0  # PixelCNN++'s floor on the log scales: it keeps 1 / scale, and so the loss, bounded


def mixture_log_prob(
    params: torch.Tensor, audio: torch.Tensor, bits: int, log_scale_min: float = LOG_SCALE_MIN
) -> torch.Tensor:
    """params (N, 3·M, T), audio (N, T) → log-probability of each sample's bin (N, T).

    Over the 2^bits levels the probabilities sum to 1: the lowest and highest levels take the tails, and where
    a bin's mass underflows float32 the density at its centre times the bin width stands in for it.
    """
    logit_weights, means, log_scales = params.chunk(3, dim=1)
    log_scales = log_scales.clamp(min=log_scale_min)
    centred = audio.unsqueeze(1) - means
    inverse_scale = torch.exp(-log_scales)
    half_bin = 1.0 / (2**bits - 1)
    plus_in = inverse_scale * (centred + half_bin)
    minus_in = inverse_scale * (centred - half_bin)
    bin_mass = torch.sigmoid(plus_in) - torch.sigmoid(minus_in)
    log_cdf_plus = plus_in - F.softplus(plus_in)  # log P(x ≤ −1 + bin): the lowest level's left tail
    log_one_minus_cdf_minus = -F.softplus(minus_in)  # the highest level's right tail
    mid_in = inverse_scale * centred
    log_pdf_mid = mid_in - log_scales - 2.0 * F.softplus(mid_in) - math.log((2**bits - 1) / 2)
    log_bin = torch.where(bin_mass > 1e-5, torch.log(bin_mass.clamp(min=1e-12)), log_pdf_mid)
    x = audio.unsqueeze(1)
    log_prob = torch.where(x < -0.999, log_cdf_plus, torch.where(x > 0.999, log_one_minus_cdf_minus, log_bin))
    return torch.logsumexp(log_prob + F.log_softmax(logit_weights, dim=1), dim=1)


class MixtureSampler:
    """Draws a sample per step: a component by `sample_classes` on the mixture logits, then a logistic value."""

    def __init__(self, log_scale_min: float = LOG_SCALE_MIN):
        self.log_scale_min = log_scale_min

    def noise(
        self, length: int, batch: int, generator: torch.Generator | None, device: torch.device
    ) -> tuple[torch.Tensor, ...]:
        """One (2, N, 1) tensor per step: [uniforms for the component, standard logistic noise for the value]."""
        uniform = torch.rand(length, 2, batch, 1, generator=generator, device=device)
        value_uniform = uniform[:, 1].clamp(1e-5, 1.0 - 1e-5)
        logistic = torch.log(value_uniform) - torch.log1p(-value_uniform)
        return torch.stack([uniform[:, 0], logistic], dim=1).unbind(0)

    def draw(self, params: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """params (N, 3·M), noise (2, N, 1) → samples (N, 1) in [-1, 1]."""
        m = params.shape[1] // 3
        component = sample_classes(params[:, :m], noise[0])
        mean = params[:, m : 2 * m].gather(1, component)
        log_scale = params[:, 2 * m :].gather(1, component).clamp_(min=self.log_scale_min)
        return torch.addcmul(mean, torch.exp(log_scale), noise[1]).clamp_(-1.0, 1.0)

    def to_audio(self, drawn: torch.Tensor) -> torch.Tensor:
        """Samples (N, L) → the same samples: the draws are already audio."""
        return drawn
