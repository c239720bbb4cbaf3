"""A user's vocoder built for 80 mel bands: fed a 60-band mel, its first linear layer fails (seed 1, band count)."""

import torch
from torch import nn


class BandCountVocoder(nn.Module):
    def __init__(self, n_mels: int = 80, hidden: int = 32, hop_length: int = 200):
        super().__init__()
        self.hop_length = hop_length
        self.conditioning = nn.Linear(n_mels, hidden)
        self.rnn = nn.GRU(hidden + 1, hidden, batch_first=True)
        self.out = nn.Linear(hidden, 256)

    def forward(self, x, mels):
        """x: (N, T) samples; mels: (N, n_mels, F) with T = F × hop. Returns logits (N, T, 256)."""
        cond = self.conditioning(mels.transpose(1, 2))
        cond = cond.repeat_interleave(self.hop_length, dim=1)
        h, _ = self.rnn(torch.cat([x.unsqueeze(-1), cond], dim=-1))
        return self.out(h)
