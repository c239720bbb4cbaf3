"""The conditioning network of r9y9's WaveNet (wavenet_vocoder/upsample.py `ConvInUpsampleNetwork`), and the choice
between it and ours (`UpsampleConfig.network`).

    mel (N, n_mels, F) ─ padded by `pad` frames, copies of the first and last (pad_mode "edge", as r9y9's synthesis
    pads) ─ conv_in: a valid (2·pad + 1)-tap convolution, n_mels → n_mels, no bias ─ F frames
    ─ per factor s: each step repeated s times, then a (2·s + 1)-tap smoothing (1 × (2s + 1) Conv2d, no bias)
    whose input is zero beyond the utterance ─ c (N, F · hop, n_mels)

Unlike `UpsampleNetwork` it has no residual network and so no aux features (aux_channels 0): the upsampled c is the
whole conditioning. The smoothing pads with zeros at the utterance's ends, not with more frames, so a range of frames
is computed from `CONTEXT`-extended conv_in frames with those beyond the utterance held at zero at every stage: any
range gives what the whole mel gives (streaming relies on it).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from engine.errors import ConfigError
from engine.models.upsample import PAD_MODES, UpsampleConfig, UpsampleNetwork, check_factors

NETWORKS = ("resnet", "conv_in")


def upsample_network(n_mels: int, hop_length: int, config: UpsampleConfig) -> nn.Module:
    """The upsampling network `config.network` names: ours ("resnet") or r9y9's ("conv_in")."""
    if config.network not in NETWORKS:
        raise ConfigError(f"the upsampling network is {config.network!r}; it must be one of {', '.join(NETWORKS)}.")
    if config.network == "conv_in":
        return ConvInUpsampleNetwork(n_mels, hop_length, config)
    return UpsampleNetwork(n_mels, hop_length, config)


class ConvInUpsampleNetwork(nn.Module):
    """mel frames → per-sample conditioning, r9y9's way (see the module's docstring).

    forward: mel (N, n_mels, F) → (c (N, F · hop, n_mels), aux (N, F · hop, 0)).
    """

    def __init__(self, n_mels: int, hop_length: int, config: UpsampleConfig):
        super().__init__()
        check_factors(config.factors, hop_length)
        if config.aux_channels != 0 or config.pad < 0 or config.pad_mode not in PAD_MODES:
            raise ConfigError(
                f"the conv_in upsampling network has aux_channels {config.aux_channels}, pad {config.pad} "
                f"and pad_mode {config.pad_mode!r}; it needs aux_channels 0 (it makes no aux features), "
                f"pad 0 or more and pad_mode one of {', '.join(PAD_MODES)}."
            )
        self.pad = config.pad
        self.pad_mode = PAD_MODES[config.pad_mode]
        self.hop_length = hop_length
        self.factors = tuple(config.factors)
        self.conv_in = nn.Conv1d(n_mels, n_mels, 2 * config.pad + 1, bias=False)
        self.smooth = nn.ModuleList(nn.Conv2d(1, 1, (1, 2 * s + 1), padding=(0, s), bias=False) for s in self.factors)
        # frames of conv_in output either side of a range that the smoothing stages reach: stage i reaches s_i of its
        # samples, s_1 ··· s_i to a frame
        self.context = math.ceil(sum(s / math.prod(self.factors[: i + 1]) for i, s in enumerate(self.factors)))

    @property
    def min_frames(self) -> int:
        return 1 if self.pad_mode != "reflect" else self.pad + 1

    def pad_mel(self, mel: torch.Tensor) -> torch.Tensor:
        """(N, n_mels, F) → (N, n_mels, F + 2·pad), padded at both ends as `pad_mode` says."""
        return F.pad(mel, (self.pad, self.pad), mode=self.pad_mode) if self.pad else mel

    def unpadded(self, padded_mel: torch.Tensor, start: int, stop: int) -> torch.Tensor:
        """Frames [start, stop) of the mel that `pad_mel` padded, as they were: (N, n_mels, stop − start)."""
        return padded_mel[:, :, start + self.pad : stop + self.pad]

    def upsample_range(self, padded_mel: torch.Tensor, start: int, stop: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Conditioning for frames [start, stop) of the mel that `pad_mel` padded, equal to that slice of `forward`.

        Returns (c (N, (stop − start) · hop, n_mels), aux (N, (stop − start) · hop, 0)).
        """
        frames = padded_mel.shape[-1] - 2 * self.pad
        low, high = max(start - self.context, 0), min(stop + self.context, frames)
        inner = self.conv_in(padded_mel[:, :, low : high + 2 * self.pad])  # conv_in frames [low, high)
        first = start - self.context  # the frame at which `c` starts: conv_in frames, zero beyond the utterance
        c = F.pad(inner, (low - first, stop + self.context - high))
        rate = 1
        for s, smooth in zip(self.factors, self.smooth):
            rate *= s
            c = smooth(c.repeat_interleave(s, dim=-1).unsqueeze(1)).squeeze(1)
            inside = torch.arange(c.shape[-1], device=c.device) + first * rate
            c = c * ((inside >= 0) & (inside < frames * rate)).to(c.dtype)  # the next stage's zero padding
        indent = self.context * self.hop_length
        c = c[:, :, indent : c.shape[-1] - indent].transpose(1, 2)
        return c, c.new_zeros(c.shape[0], c.shape[1], 0)

    def forward(self, mel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.upsample_range(self.pad_mel(mel), 0, mel.shape[-1])
