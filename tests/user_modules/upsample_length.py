"""A user's vocoder whose upsampling factors multiply to 160 while its hop is 200: the upsampled mel and the
audio disagree in length where they are joined (seed 1, frames × hop against the upsampled length)."""

import torch
from torch import nn


class Upsampler(nn.Module):
    def __init__(self, scales):
        super().__init__()
        self.scales = scales

    def forward(self, mels):
        """(N, n_mels, F) → (N, F × prod(scales), n_mels)."""
        for scale in self.scales:
            mels = mels.repeat_interleave(scale, dim=-1)
        return mels.transpose(1, 2)


class SampleCell(nn.Module):
    def __init__(self, n_mels: int, hidden: int):
        super().__init__()
        self.rnn = nn.GRU(n_mels + 1, hidden, batch_first=True)

    def forward(self, x, cond):
        h, _ = self.rnn(torch.cat([x.unsqueeze(-1), cond], dim=-1))
        return h


class UpsampleLengthVocoder(nn.Module):
    def __init__(self, n_mels: int = 80, hidden: int = 32, hop_length: int = 200, upsample_scales=(4, 5, 8)):
        super().__init__()
        self.upsample = Upsampler(upsample_scales)
        self.cell = SampleCell(n_mels, hidden)
        self.out = nn.Linear(hidden, 256)

    def forward(self, x, mels):
        return self.out(self.cell(x, self.upsample(mels)))
