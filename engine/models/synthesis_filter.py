"""The synthesis filter of a WaveNet with output "waveform": the network's output is an excitation, and each mel
frame's spectral envelope shapes it into the voice, as in source-filter vocoders and LPCNet.

Frame f's envelope is either the all-pole filter g_f / A_f(z) of engine/models/linear_prediction.py (order p > 0: the
same coefficients a₁..a_p from the mel, a smooth fit of the envelope), or (order 0) the mel's own magnitudes spread
over the STFT's bins, made a minimum-phase filter (through the real cepstrum: log-magnitude → cepstrum, folded onto
the positive quefrencies → exp of its spectrum), which keeps every detail the mel holds, the harmonic ripple of its
low bands too. Either way its gain g_f is set so that white noise of unit variance comes out at the frame's power,
and its impulse response, cut to `taps` samples (TAPS for the all-pole filter, MEL_TAPS for the mel's own), is
h_f (N, F, taps). Each excitation sample excites the filter of the frame it lies in (samples [f · hop, (f + 1) · hop)
are frame f's, as everywhere else):

    x_t = Σ_{k=0..taps−1} h_{frame(t−k)}[k] · e_{t−k}

a sum over the past only, so column t still sees nothing after t. Frame by frame this is a convolution of hop
samples with h_f, the results overlapping by taps − 1 samples and added; a stream keeps the part that reaches into
the next block (`Synthesis.block`).

The network is left with what the mel does not say: the excitation's harmonics and noise at the pitch. Where it
outputs the source's tone, the output already has the mel's envelope and level. On the validation voices the
no-network source through the mel's own envelope scored PESQ 2.09 (256 taps) and 2.14 (512), through the
all-pole fit of order 16 1.63 (docs/benchmarks.md).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from engine.features import MelConfig
from engine.models.linear_prediction import LinearPredictor

TAPS = 256  # samples of the all-pole filter's impulse response (16 ms at 16 kHz): it has fallen some 40 dB by then
MEL_TAPS = 512  # of the mel's own envelope: its harmonic ripple rings longer (32 ms)
SPECTRUM_SIZE = 2048  # the impulse response is computed as irfft(1 / A) at this size; what it folds back is negligible


class SynthesisFilter(nn.Module):
    """Each frame's impulse response from the mel (`forward`, so the shape inspector sees it), and the filtering.
    No trainable parameters."""

    def __init__(self, mel_config: MelConfig, order: int):
        """order p > 0: the all-pole fit of order p; 0: the mel's own envelope, minimum phase."""
        super().__init__()
        self.hop = mel_config.hop_length
        self.predictor = LinearPredictor(mel_config, order)
        self.taps = TAPS if order else MEL_TAPS
        self.fft_size = 1 << (self.hop + self.taps - 2).bit_length()  # the first power of 2 ≥ hop + taps − 1

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """mel (N, n_mels, F) normalised → each frame's impulse response h_f (N, F, taps) float32."""
        magnitude = self.predictor.magnitude(mel)  # (N, bins, F)
        coefficients, power = self.predictor.envelope_of(magnitude)
        if self.predictor.order:
            polynomial = F.pad(coefficients, (1, 0), value=1.0)  # A_f: 1, a₁..a_p
            response = torch.fft.irfft(1.0 / torch.fft.rfft(polynomial, n=SPECTRUM_SIZE), n=SPECTRUM_SIZE)
        else:
            response = minimum_phase(magnitude.transpose(1, 2))
        response = response[..., : self.taps]
        gain = torch.sqrt(power / response.square().sum(-1))
        return (response * gain[..., None]).float()

    def filtered(self, excitation: torch.Tensor, responses: torch.Tensor) -> torch.Tensor:
        """excitation (N, F · hop), responses (N, F, taps) → every frame's filtered samples added where they overlap
        (N, F · hop + taps − 1): the first F · hop are the output, the rest reach past the last frame."""
        batch, frames = responses.shape[:2]
        size = self.fft_size
        spectra = torch.fft.rfft(excitation.reshape(batch, frames, self.hop), n=size) * torch.fft.rfft(
            responses, n=size
        )
        reach = self.hop + self.taps - 1
        pieces = torch.fft.irfft(spectra, n=size)[..., :reach]  # (N, F, hop + taps − 1)
        length = frames * self.hop + self.taps - 1
        added = F.fold(pieces.transpose(1, 2), output_size=(1, length), kernel_size=(1, reach), stride=(1, self.hop))
        return added.reshape(batch, length)

    def synthesised(self, excitation: torch.Tensor, mel: torch.Tensor) -> torch.Tensor:
        """A whole take: excitation (N, F · hop), mel (N, n_mels, F) → the output x (N, F · hop)."""
        return self.filtered(excitation, self(mel))[:, : excitation.shape[1]]


def minimum_phase(magnitude: torch.Tensor) -> torch.Tensor:
    """Magnitudes on the bins of an rfft of size n, (..., n / 2 + 1), positive → the impulse response (..., n) of the
    minimum-phase filter with those magnitudes: the real cepstrum of log |H|, its negative quefrencies folded onto
    the positive ones, back through exp."""
    size = 2 * (magnitude.shape[-1] - 1)
    cepstrum = torch.fft.irfft(torch.log(magnitude.clamp_min(1e-12)), n=size)
    fold = torch.zeros_like(cepstrum)
    fold[..., 0], fold[..., size // 2] = cepstrum[..., 0], cepstrum[..., size // 2]
    fold[..., 1 : size // 2] = 2.0 * cepstrum[..., 1 : size // 2]
    return torch.fft.irfft(torch.exp(torch.fft.rfft(fold)), n=size)


class Synthesis:
    """The filter over a stream of blocks: each block's filtered samples, plus what the blocks before it reach into
    it, so that the blocks together give `SynthesisFilter.synthesised` over the whole take."""

    def __init__(self, synthesis_filter: SynthesisFilter, batch: int, device: torch.device):
        self.filter = synthesis_filter
        self.tail = torch.zeros(batch, synthesis_filter.taps - 1, device=device)  # (N, taps − 1): past the last block

    def block(self, excitation: torch.Tensor, mel: torch.Tensor) -> torch.Tensor:
        """excitation (N, n · hop) and the block's mel (N, n_mels, n) → its output (N, n · hop)."""
        added = self.filter.filtered(excitation, self.filter(mel))
        added[:, : self.filter.taps - 1] += self.tail
        samples = excitation.shape[1]
        self.tail = added[:, samples:]
        return added[:, :samples]
