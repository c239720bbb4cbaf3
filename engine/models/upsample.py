"""The conditioning network shared by the WaveRNN and WaveNet families.

Stretches mel frames to the sample rate in two paths (as in fatchord's WaveRNN):
- the mel itself, stretched by each factor in turn (nearest) and smoothed by a (2·s + 1)-tap moving average,
  so it keeps the mel's meaning at every sample;
- features from a residual network over a few frames of context (`MelResNet`), stretched to samples.

The mel is reflect-padded by `pad` frames inside the network, so F frames give exactly F · hop samples and
any frame range can be upsampled on its own with the same result as the whole mel (used for streaming).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from engine.errors import ConfigError


@dataclass
class UpsampleConfig:
    """factors: multiply to the hop length. pad: frames of context on each side (the resnet's kernel is 2·pad + 1).
    pad_mode: how those frames are made at the ends of a mel: "reflect", "zeros" (fatchord's generation pads with
    zero frames) or "edge" (copies of the end frames, as r9y9's synthesis pads).
    network: "resnet" (this network), or "conv_in" (r9y9's, engine/models/conv_in_upsample.py: pad is its input
    convolution's reach, and the resnet's settings are unused)."""

    factors: tuple[int, ...] = (5, 5, 8)
    pad: int = 2
    resnet_blocks: int = 4
    resnet_channels: int = 128
    aux_channels: int = 128
    pad_mode: str = "reflect"
    network: str = "resnet"


PAD_MODES = {"reflect": "reflect", "zeros": "constant", "edge": "replicate"}  # pad_mode → torch's name


def check_factors(factors: tuple[int, ...] | list[int], hop_length: int) -> None:
    """Raise `ConfigError` unless the upsampling factors multiply to the hop length."""
    product = math.prod(factors)
    if product != hop_length:
        raise ConfigError(
            f"upsampling factors {tuple(factors)} multiply to {product}, but the hop length is {hop_length}: "
            f"every mel frame must become exactly hop_length samples. Choose factors whose product is {hop_length}."
        )


class ResBlock(nn.Module):
    """1×1 conv → BN → ReLU → 1×1 conv → BN, added to the input. x: (N, C, F) → (N, C, F)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv1d(channels, channels, 1, bias=False)
        self.conv2 = nn.Conv1d(channels, channels, 1, bias=False)
        self.batch_norm1 = nn.BatchNorm1d(channels)
        self.batch_norm2 = nn.BatchNorm1d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.batch_norm1(self.conv1(x)))
        return x + self.batch_norm2(self.conv2(y))


class MelResNet(nn.Module):
    """mel (N, n_mels, F + 2·pad) → features (N, aux_channels, F): a valid (unpadded) conv, then res blocks."""

    def __init__(self, n_mels: int, config: UpsampleConfig):
        super().__init__()
        self.conv_in = nn.Conv1d(n_mels, config.resnet_channels, 2 * config.pad + 1, bias=False)
        self.batch_norm = nn.BatchNorm1d(config.resnet_channels)
        self.blocks = nn.ModuleList(ResBlock(config.resnet_channels) for _ in range(config.resnet_blocks))
        self.conv_out = nn.Conv1d(config.resnet_channels, config.aux_channels, 1)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.batch_norm(self.conv_in(mel)))
        for block in self.blocks:
            x = block(x)
        return self.conv_out(x)


class StretchSmooth(nn.Module):
    """x (N, C, L) → (N, C, L · scale): repeat each step `scale` times, then a (2·scale + 1)-tap average.

    The average starts as a box filter (weights 1 / (2·scale + 1)) and is learnt, shared across channels.
    """

    def __init__(self, scale: int):
        super().__init__()
        self.scale = scale
        taps = 2 * scale + 1
        self.smooth = nn.Conv2d(1, 1, (1, taps), padding=(0, scale), bias=False)
        nn.init.constant_(self.smooth.weight, 1.0 / taps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        stretched = x.repeat_interleave(self.scale, dim=-1)
        return self.smooth(stretched.unsqueeze(1)).squeeze(1)


class UpsampleNetwork(nn.Module):
    """mel frames → per-sample conditioning.

    forward: mel (N, n_mels, F) → (mel_up (N, F · hop, n_mels), aux (N, F · hop, aux_channels)).
    """

    def __init__(self, n_mels: int, hop_length: int, config: UpsampleConfig):
        super().__init__()
        check_factors(config.factors, hop_length)
        if config.network != "resnet":
            raise ConfigError(f'the upsampling network is {config.network!r}; this family builds only "resnet".')
        if config.pad < 2:
            raise ConfigError(
                f"the upsampling network's pad is {config.pad} frames, but the smoothing filters reach up to 2 frames: "
                "set pad to 2 or more."
            )
        if config.pad_mode not in PAD_MODES:
            raise ConfigError(
                f"the upsampling network's pad_mode is {config.pad_mode!r}; it must be one of {', '.join(PAD_MODES)}."
            )
        self.pad = config.pad
        self.pad_mode = PAD_MODES[config.pad_mode]
        self.hop_length = hop_length
        self.resnet = MelResNet(n_mels, config)
        self.stages = nn.ModuleList(StretchSmooth(s) for s in config.factors)

    @property
    def min_frames(self) -> int:
        """Reflect padding by `pad` frames needs more than `pad` frames; zero padding needs one."""
        return self.pad + 1 if self.pad_mode == "reflect" else 1

    def pad_mel(self, mel: torch.Tensor) -> torch.Tensor:
        """(N, n_mels, F) → (N, n_mels, F + 2·pad), padded at both ends as `pad_mode` says (reflected by default)."""
        return F.pad(mel, (self.pad, self.pad), mode=self.pad_mode)

    def unpadded(self, padded_mel: torch.Tensor, start: int, stop: int) -> torch.Tensor:
        """Frames [start, stop) of the mel that `pad_mel` padded, as they were before padding: (N, n_mels, stop − start)."""
        return padded_mel[:, :, start + self.pad : stop + self.pad]

    def upsample_range(self, padded_mel: torch.Tensor, start: int, stop: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Conditioning for frames [start, stop) of the mel that `pad_mel` padded.

        Equal to the matching slice of `forward`, computed from `stop − start + 2·pad` frames only.
        Returns (mel_up (N, (stop − start) · hop, n_mels), aux (N, (stop − start) · hop, aux_channels)).
        """
        window = padded_mel[:, :, start : stop + 2 * self.pad]
        aux = self.resnet(window).repeat_interleave(self.hop_length, dim=-1)
        mel_up = window
        for stage in self.stages:
            mel_up = stage(mel_up)
        indent = self.pad * self.hop_length
        mel_up = mel_up[:, :, indent:-indent]
        return mel_up.transpose(1, 2), aux.transpose(1, 2)

    def forward(self, mel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.upsample_range(self.pad_mel(mel), 0, mel.shape[-1])
