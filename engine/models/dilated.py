"""Two ways to compute a causal dilated convolution, with the same parameters and the same result.

- `CausalConv1d`: `nn.Conv1d(dilation=d)` after (k − 1) · d zeros of left padding.
- `FoldedCausalConv1d`: "dilate by folding time into the batch" (seed write-up, section 3): reshape
  (N, C, L) → (N · d, C, L / d) so that every d-th sample sits next to its predecessor, run an ordinary
  (undilated) convolution, and fold back.

Both hold an `nn.Conv1d` weight (C_out, C_in, k) whose tap j multiplies the input at t − (k − 1 − j) · d, so a
state dict trained with one loads into the other. `benchmarks/dilated_conv.py` says which is faster for training.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from engine.errors import ConfigError

IMPLEMENTATIONS = ("conv1d", "fold")


def fold_time(x: torch.Tensor, dilation: int) -> torch.Tensor:
    """(N, C, L) with L divisible by d → (d · N, C, L / d); row p · N + n holds x[n, :, p::d].

    Example (seed write-up): [[0 1 2 3], [A B C D]] folded by 2 → rows [0 2], [A C], [1 3], [B D].
    """
    n, c, length = x.shape
    phases = x.reshape(n, c, length // dilation, dilation)
    return phases.permute(3, 0, 1, 2).reshape(dilation * n, c, length // dilation)


def unfold_time(x: torch.Tensor, dilation: int) -> torch.Tensor:
    """Inverse of `fold_time`: (d · N, C, L / d) → (N, C, L)."""
    rows, c, steps = x.shape
    phases = x.reshape(dilation, rows // dilation, c, steps)
    return phases.permute(1, 2, 3, 0).reshape(rows // dilation, c, steps * dilation)


class CausalConv1d(nn.Conv1d):
    """x (N, C_in, L) → (N, C_out, L); output t sees x[t − (k − 1) · d], …, x[t − d], x[t]."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dilation: int):
        super().__init__(in_channels, out_channels, kernel_size, dilation=dilation)
        self.left_pad = (kernel_size - 1) * dilation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.pad(x, (self.left_pad, 0)))

    def continued(self, x: torch.Tensor, past: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The convolution of a block that follows earlier ones: x (N, C_in, n), past (N, C_in, (k − 1) · d) the
        inputs before it (zeros before the first block) → (output (N, C_out, n), the past of the next block). Blocks
        run one after another compute what `forward` computes on their concatenation."""
        joined = torch.cat([past, x], dim=-1)
        return F.conv1d(joined, self.weight, self.bias, dilation=self.dilation), joined[
            ..., joined.shape[-1] - self.left_pad :
        ]


class FoldedCausalConv1d(CausalConv1d):
    """Same function as `CausalConv1d`, computed on the time-folded input with an undilated convolution.

    x (N, C_in, L) → (N, C_out, L). L need not be divisible by d: the right end is padded up to a multiple
    of d and trimmed off again (causal, so the padding never reaches the kept outputs).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = self.dilation[0]
        length = x.shape[-1]
        padded_length = self.left_pad + length
        right_pad = -padded_length % d
        folded = fold_time(F.pad(x, (self.left_pad, right_pad)), d)
        out = F.conv1d(folded, self.weight, self.bias)
        return unfold_time(out, d)[:, :, :length]


def make_causal_conv(
    implementation: str, in_channels: int, out_channels: int, kernel_size: int, dilation: int
) -> CausalConv1d:
    """The causal dilated convolution named by `implementation` ("conv1d" or "fold")."""
    if implementation == "conv1d":
        return CausalConv1d(in_channels, out_channels, kernel_size, dilation)
    if implementation == "fold":
        return FoldedCausalConv1d(in_channels, out_channels, kernel_size, dilation)
    raise ConfigError(f"dilated_conv is {implementation!r}; expected one of {IMPLEMENTATIONS}.")
