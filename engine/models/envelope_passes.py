"""The envelope post-filter's passes (engine/envelope.py) as a differentiable torch module, so that a waveform
WaveNet can be trained on what it will be heard as: its output after the passes generation applies
(`loss_envelope_passes` in WaveNetConfig). A pass, per STFT frame f of the mel's own analysis (n_fft, hop, window,
frames centred on f · hop, zeros outside the signal):

    X = STFT(x)_f,   M = basis · |X|,   gain_b = (target_b / M_b) limited to ±MAX_GAIN_DB,   target = mel frame f
    y = ISTFT(X · spread · gain), clamped to [-1, 1]

the same arithmetic as `envelope_postfilter` at strength 1 (tests/test_envelope_passes.py holds them equal), in the
dtype of the audio. Like the post-filter, a pass also computes the frames centred past the end whose windows reach
back into the signal (the signal is zero-padded by n_fft / 2 at the end for them, and cut back after), and frames
past the mel's last take its last frame.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from engine.envelope import MAX_GAIN_DB, band_spread
from engine.features import MelConfig, denormalise, mel_analysis


class EnvelopePasses(nn.Module):
    """`passes` envelope post-filter passes at strength 1. No trainable parameters."""

    def __init__(self, mel_config: MelConfig, passes: int):
        super().__init__()
        self.mel_config, self.passes = mel_config, passes
        analysis = mel_analysis(mel_config, np.float32)
        spread, covered = band_spread(analysis.basis)
        self.register_buffer("basis", torch.from_numpy(analysis.basis), persistent=False)
        self.register_buffer("spread", torch.from_numpy(spread.astype(np.float32)), persistent=False)
        self.register_buffer("covered", torch.from_numpy(covered), persistent=False)
        self.register_buffer("window", torch.from_numpy(analysis.window), persistent=False)
        # normalised mel value v → magnitude: 10^((a·v + b) / 20) for the dB normalisations
        probe = denormalise(np.array([[0.0, 1.0]]), mel_config)[0].astype(np.float64)
        self.db_of_normalised = (20.0 * np.log10(probe[1] / probe[0]), 20.0 * np.log10(probe[0]))

    def forward(self, audio: torch.Tensor, mel: torch.Tensor) -> torch.Tensor:
        """audio (N, T), its conditioning mel (N, n_mels, F) normalised → audio after the passes (N, T)."""
        reach = audio.shape[1] + self.mel_config.n_fft // 2  # the padded length a pass analyses
        target = self.target(mel, reach // self.mel_config.hop_length + 1)
        for _ in range(self.passes):
            audio = self.one_pass(audio, target)
        return audio

    def target(self, mel: torch.Tensor, frames: int) -> torch.Tensor:
        """The magnitudes the mel asks for in STFT frames [0, frames): (N, n_mels, frames)."""
        if self.mel_config.normalisation == "log10_meanvar":
            magnitude = torch.from_numpy(denormalise(mel.detach().cpu().numpy(), self.mel_config)).to(mel)
        else:
            slope, offset = self.db_of_normalised
            magnitude = torch.pow(10.0, (mel.detach() * slope + offset) / 20.0)
        at = torch.clamp(torch.arange(frames, device=mel.device), max=mel.shape[-1] - 1)
        return magnitude[..., at].clamp_min(1e-8)

    def one_pass(self, audio: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """One pass: audio (N, T), target (N, n_mels, (T + n_fft / 2) // hop + 1) → (N, T)."""
        config = self.mel_config
        length = audio.shape[1]
        spectra = torch.stft(
            F.pad(audio, (0, config.n_fft // 2)),
            config.n_fft,
            config.hop_length,
            window=self.window.to(audio.dtype),
            center=True,
            pad_mode="constant",
            return_complex=True,
        )  # (N, bins, frames)
        made = torch.matmul(self.basis.to(audio.dtype), spectra.abs())  # (N, n_mels, frames)
        gain_db = (20.0 * torch.log10(target.to(audio.dtype) / made.clamp_min(1e-8))).clamp(-MAX_GAIN_DB, MAX_GAIN_DB)
        gains = torch.matmul(self.spread.to(audio.dtype), torch.pow(10.0, gain_db / 20.0))  # (N, bins, frames)
        gains = torch.where(self.covered[:, None], gains, torch.ones_like(gains))
        shaped = torch.istft(
            spectra * gains,
            config.n_fft,
            config.hop_length,
            window=self.window.to(audio.dtype),
            center=True,
            length=length + config.n_fft // 2,
        )
        return shaped[:, :length].clamp(-1.0, 1.0)
