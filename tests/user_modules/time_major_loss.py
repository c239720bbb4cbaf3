"""A user's WaveNet-like model whose forward returns its training loss: its logits are time-major (N, T, C) when
they reach cross_entropy, which wants (N, C, T) (seed 2, (N, T, C) logits handed to cross_entropy)."""

import torch
from torch import nn


class TimeMajorLossWaveNet(nn.Module):
    def __init__(self, n_mels: int = 80, channels: int = 16, hop_length: int = 200, classes: int = 256):
        super().__init__()
        self.hop_length, self.classes = hop_length, classes
        self.embed = nn.Embedding(classes, channels)
        self.conditioning = nn.Conv1d(n_mels, channels, kernel_size=1)
        self.dilated = nn.Conv1d(channels, 2 * channels, kernel_size=2, dilation=2, padding=2)
        self.head = nn.Conv1d(channels, classes, kernel_size=1)
        self.criterion = nn.CrossEntropyLoss()

    def forward(self, audio, mel):
        """audio: (N, T) samples in [-1, 1]; mel: (N, n_mels, F). Returns the loss of predicting each next class."""
        target = ((audio + 1) / 2 * (self.classes - 1)).round().long()
        x = self.embed(target).transpose(1, 2)
        x = x + self.conditioning(mel).repeat_interleave(self.hop_length, dim=-1)
        filt, gate = self.dilated(x)[..., : x.shape[-1]].chunk(2, dim=1)
        logits = self.head(torch.tanh(filt) * torch.sigmoid(gate)).transpose(1, 2)  # (N, T, C)
        return self.criterion(logits, target)
