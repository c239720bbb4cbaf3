"""A multi-resolution STFT loss, for a network that outputs the waveform itself (a WaveNet with output "waveform").

At each of several frame sizes (short ones see the pitch pulses, long ones resolve the harmonics), with magnitudes
|X| of the output and |Y| of the recording:
    L = mean over sizes of ( ‖ |Y| − |X| ‖_F / ‖ |Y| ‖_F  +  mean |log |Y| − log |X|| )
the spectral convergence and the log-magnitude distance of Parallel WaveGAN (Yamamoto et al. 2020) and of neural
source-filter models. Neither looks at the phase, which the ear hardly hears within a frame; the network is free to
choose it.
"""

from __future__ import annotations

import torch

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
