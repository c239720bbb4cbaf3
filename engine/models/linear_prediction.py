"""Linear prediction from the mel: the spectral envelope as an all-pole filter, as in LPCNet (Valin and Skoglund,
2019), so that a small network has only the excitation left to model.

Each mel frame gives `order` coefficients a₁..a_p (a₀ = 1): the normalised mel is turned back into magnitudes,
spread over the STFT's frequency bins (each band's mean magnitude at its centre, linear in between), squared
into a power spectrum, inverse-transformed into an autocorrelation (lag-windowed, with a little white noise
added), and solved by Levinson-Durbin. Frame f's coefficients serve samples [f · hop, (f + 1) · hop), the
samples that frame conditions everywhere else. The prediction of sample t from the samples before it is

    p_t = −Σ_{k=1..p} a_k · s_{t−k},      and the excitation is e_t = s_t − p_t.

A vocoder that draws e_t and outputs s_t = p_t + e_t passes its sampling noise through the synthesis filter
1 / A(z): the noise takes the shape of the speech's own spectral envelope, where the speech masks it. On the
held-out prompts of `vocoscope trainset` the prediction removes 21 dB of the signal's power (order 16).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from engine.features import MelConfig, mel_analysis
from engine.models.coding import mulaw_expand

LAG_WINDOW_HZ = 60.0  # Gaussian lag window: widens the envelope's peaks by about this much, for stable filters
WHITE_NOISE = 1e-4  # added to the autocorrelation at lag 0, as a fraction of it (a −40 dB noise floor)


def _levinson(autocorrelation: torch.Tensor) -> torch.Tensor:
    """autocorrelation (B, p + 1) → coefficients (B, p): a₁..a_p of the minimum-phase A(z) that whitens it."""
    order = autocorrelation.shape[1] - 1
    a = torch.zeros_like(autocorrelation)
    a[:, 0] = 1.0
    error = autocorrelation[:, 0]
    for i in range(1, order + 1):
        reflection = -(autocorrelation[:, i] + (a[:, 1:i] * autocorrelation[:, 1:i].flip(1)).sum(1)) / error
        a[:, 1 : i + 1] = a[:, 1 : i + 1] + reflection[:, None] * a[:, :i].flip(1)
        error = error * (1.0 - reflection * reflection)
    return a[:, 1:]


def next_prediction(history: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """A torch sampling loop's step: history (N, p) float64, oldest first, and the step's weights (N, p) from
    `LinearPredictor.step_weights` → p_t (N, 1) float64."""
    return (history * weights).sum(1, keepdim=True)


def excited_sample(prediction: torch.Tensor, classes: torch.Tensor, bits: int) -> torch.Tensor:
    """p_t (N, 1) float64 and drawn excitation classes (N, 1) → x_t = p_t + e_t (N, 1) float32, clipped to [-1, 1]:
    the float32 sample it is output as (the compiled loops add the same numbers, `compiled_ops.excited_sample`)."""
    return (prediction + mulaw_expand(classes, bits)).clamp(-1, 1).float()


def pushed(history: torch.Tensor, sample: torch.Tensor) -> torch.Tensor:
    """history (N, p) oldest first, sample (N, 1) → the last p − 1 of history, then the sample, in float64."""
    return torch.cat([history[:, 1:], sample.double()], 1)


class LinearPredictor(nn.Module):
    """Coefficients from the mel (`forward`, so the shape inspector sees them), and the predictions they make.
    No trainable parameters."""

    def __init__(self, mel_config: MelConfig, order: int):
        super().__init__()
        self.mel_config, self.order = mel_config, order
        filters = mel_analysis(mel_config, np.float32).basis  # (n_mels, bins)
        bins = np.arange(filters.shape[1])
        centres = (filters * bins).sum(1) / filters.sum(1)
        # band mean magnitude (n_mels,) → bin magnitude (n_bins,): linear interpolation as a matrix, constant
        # beyond the first and last centre
        spread = np.stack([np.interp(bins, centres, column) for column in np.eye(len(centres))], 1)
        self.register_buffer("spread", torch.from_numpy(spread / filters.sum(1)), persistent=False)
        lags = np.arange(order + 1) * 2.0 * np.pi * LAG_WINDOW_HZ / mel_config.sample_rate
        self.register_buffer("lag_window", torch.from_numpy(np.exp(-0.5 * lags**2)), persistent=False)
        self.window_energy = float(np.square(mel_analysis(mel_config, np.float64).window).sum())

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """The coefficients: mel (N, n_mels, F) normalised → a₁..a_p per frame (N, F, p) float32; computed in float64."""
        return self.envelope(mel)[0].float()

    def magnitude(self, mel: torch.Tensor) -> torch.Tensor:
        """mel (N, n_mels, F) normalised → its magnitudes spread over the STFT's bins (N, n_fft / 2 + 1, F) float64."""
        config = self.mel_config
        db = mel.double() * -config.min_db + config.min_db + config.ref_db
        return self.spread @ torch.pow(10.0, db / 20.0)

    def envelope(self, mel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """mel (N, n_mels, F) normalised → (a₁..a_p per frame (N, F, p), the frame's power per sample (N, F): its
        autocorrelation at lag 0 over the window's energy), both float64."""
        return self.envelope_of(self.magnitude(mel))

    def envelope_of(self, magnitude: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`envelope` from the mel's `magnitude` (N, n_fft / 2 + 1, F), for a caller that needs both."""
        autocorrelation = torch.fft.irfft(magnitude.square(), n=self.mel_config.n_fft, dim=1)[:, : self.order + 1]
        autocorrelation = (autocorrelation * self.lag_window[:, None]).transpose(1, 2)  # (N, F, p + 1)
        power = autocorrelation[..., 0] / self.window_energy
        autocorrelation[..., 0] *= 1.0 + WHITE_NOISE
        batch, frames = autocorrelation.shape[:2]
        coefficients = _levinson(autocorrelation.reshape(batch * frames, -1)).reshape(batch, frames, -1)
        return coefficients, power

    def split(
        self, mel: torch.Tensor, audio: torch.Tensor, fed: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """mel (N, n_mels, F), audio (N, F · hop) → (predictions p_t, excitation e_t = x_t − p_t), (N, F · hop) float64.
        With `fed` (N, F · hop), the signal a noise-injected training run feeds (engine/models/noise_injection.py),
        the predictions are made from it instead, and e_t is what would bring each back to the audio."""
        prediction = self.predict(audio if fed is None else fed, self(mel))
        return prediction, audio.double() - prediction

    def step_weights(self, mel: torch.Tensor) -> torch.Tensor:
        """mel (N, n_mels, F) → each of its F · hop samples' prediction weights (F · hop, N, p) float64, for a
        sampling loop that keeps the last p samples oldest first: p_t = Σ_j history_j · weights_j, so the weights
        are −(a_p, …, a₁)."""
        weights = -self(mel).flip(2).double()
        return weights.repeat_interleave(self.mel_config.hop_length, dim=1).transpose(0, 1)

    def predict(self, audio: torch.Tensor, coefficients: torch.Tensor) -> torch.Tensor:
        """audio (N, F · hop), coefficients (N, F, p) → predictions p_t (N, F · hop) float64 from the samples
        before t (silence before the first)."""
        past = F.pad(audio.double(), (self.order, 0)).unfold(1, self.order, 1)[:, : audio.shape[1]]  # s_{t−p}..s_{t−1}
        per_sample = coefficients.double().repeat_interleave(self.mel_config.hop_length, dim=1)  # (N, T, p): a₁..a_p
        return -(past.flip(2) * per_sample).sum(2)
