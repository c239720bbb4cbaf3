"""A multi-resolution STFT loss, or a log-mel one, for a network that outputs the waveform itself (a WaveNet with
output "waveform").

At each of several frame sizes (short ones see the pitch pulses, long ones resolve the harmonics), with magnitudes
|X| of the output and |Y| of the recording:
    L = mean over sizes of ( ‖ |Y| − |X| ‖_F / ‖ |Y| ‖_F  +  mean |log |Y| − log |X|| )
the spectral convergence and the log-magnitude distance of Parallel WaveGAN (Yamamoto et al. 2020) and of neural
source-filter models. Neither looks at the phase, which the ear hardly hears within a frame; the network is free to
choose it.

Or (`MelLoss`) the log-mel distance of HiFi-GAN's mel loss (Kong et al. 2020), in the vocoder's own mel bands:
    L = mean |log M_Y − log M_X|,   M = basis · |STFT| (the MelConfig's n_fft and window, hop n_fft / 4)
Its bands are as wide as the ear's: where they are wider than the pitch, a harmonic a few hertz off the recording's
costs nothing, where the fine bins of the long STFT sizes above count it as energy in the wrong place (and a network
that cannot know the exact pitch learns to fill the gaps between harmonics with noise).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from engine.features import MelConfig, mel_analysis

FFT_SIZES = (256, 512, 1024, 2048)  # samples; at 16 kHz 16 to 128 ms, hop a quarter of each
FLOOR = 1e-3  # magnitudes below it count as it in the log (about 100 dB below a full-scale tone)


def magnitudes(audio: torch.Tensor, fft_size: int) -> torch.Tensor:
    """audio (N, T) → |STFT| (N, fft_size / 2 + 1, frames), Hann window of fft_size, hop fft_size / 4."""
    window = torch.hann_window(fft_size, device=audio.device, dtype=audio.dtype)
    spectrum = torch.stft(
        audio, fft_size, fft_size // 4, window=window, center=True, pad_mode="reflect", return_complex=True
    )
    return spectrum.abs().clamp_min(FLOOR)


def spectral_loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """output, target (N, T), T > 128 → the loss above, a scalar (0 when they are equal); the sizes whose half
    is T or more are left out."""
    total = output.new_zeros(())
    sizes = [size for size in FFT_SIZES if size // 2 < target.shape[-1]]  # reflect padding needs T > fft_size / 2
    for size in sizes:
        made, heard = magnitudes(output, size), magnitudes(target, size)
        convergence = torch.linalg.norm(heard - made) / torch.linalg.norm(heard).clamp_min(FLOOR)
        total = total + convergence + (heard.log() - made.log()).abs().mean()
    return total / len(sizes)


class MelLoss(nn.Module):
    """output, target (N, T) → the log-mel distance above, a scalar (0 when they are equal)."""

    def __init__(self, config: MelConfig):
        super().__init__()
        analysis = mel_analysis(config, np.float32)
        self.n_fft = config.n_fft
        self.register_buffer("basis", torch.from_numpy(analysis.basis), persistent=False)  # (n_mels, bins)
        self.register_buffer("window", torch.from_numpy(analysis.window), persistent=False)  # (n_fft,)

    def mel(self, audio: torch.Tensor) -> torch.Tensor:
        """audio (N, T) → log mel magnitudes (N, n_mels, frames)."""
        pad = min(self.n_fft // 2, audio.shape[-1] - 1)  # reflect padding needs fewer samples than T
        spectrum = torch.stft(
            torch.nn.functional.pad(audio[:, None], (pad, pad), mode="reflect")[:, 0],
            self.n_fft,
            self.n_fft // 4,
            window=self.window.to(audio.dtype),
            center=False,
            return_complex=True,
        )
        return (self.basis.to(audio.dtype) @ spectrum.abs()).clamp_min(FLOOR).log()

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return (self.mel(target) - self.mel(output)).abs().mean()
