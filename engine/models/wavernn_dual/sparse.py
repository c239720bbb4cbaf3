"""Streaming a pruned dual-softmax WaveRNN (pruning.py): its matrices in block-sparse form for the compiled loop
(sparse_kernel.py), and a stream that feeds that loop.

The checkpoint holds each pruned matrix as its weight (zero in the masked blocks) and its block mask; the
block-sparse form is built from them when a stream starts. A matrix that is not pruned runs through the same
products with every block kept.

The stream's conditioning is the model's (model.py, `projected_conditioning`), computed in fewer operations: the mel
frames projected to 3H before they are upsampled (the upsampling is linear and alike for every band, so it commutes
with the projection), the aux features once per frame (the upsampling network holds them for the frame's hop
samples), the projection's rows already in the loop's half-major order. At H 896 that is about 3 µs a sample
instead of 50 (docs/speed.md); the sums are the same, rounded in another order.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from engine.models.wavernn_dual import sparse_kernel
from engine.models.wavernn_dual.pruning import BLOCK
from engine.models.wavernn_dual.stream import DualSoftmaxStream, half_major_rows, kernel_weights
from engine.sampling import Sampling


class BlockSparse(NamedTuple):
    """A matrix W (M, K) by rows of 16×1 blocks, as sparse_kernel.py takes it (see its docstring)."""

    starts: np.ndarray  # (M / 16 + 1,) int64
    columns: np.ndarray  # (blocks,) int32
    values: np.ndarray  # (blocks, 16) float32

    @classmethod
    def from_dense(cls, weight: torch.Tensor, mask: torch.Tensor | None = None) -> BlockSparse:
        """weight (M, K), mask (M / 16, K), nonzero for a kept block (None: every block) → the kept blocks, each row block's padded with
        zero blocks of column 0 to a multiple of sparse_kernel.UNROLL."""
        weight = weight.detach().float().cpu()
        row_blocks, inputs = weight.shape[0] // BLOCK, weight.shape[1]
        kept = torch.ones(row_blocks, inputs, dtype=torch.bool) if mask is None else mask.cpu().bool()
        blocks = weight.view(row_blocks, BLOCK, inputs).transpose(1, 2)  # (row blocks, K, 16)
        counts = kept.sum(dim=1)
        padded = (counts + sparse_kernel.UNROLL - 1) // sparse_kernel.UNROLL * sparse_kernel.UNROLL
        starts = torch.zeros(row_blocks + 1, dtype=torch.int64)
        starts[1:] = torch.cumsum(padded, 0)
        columns = torch.zeros(int(starts[-1]), dtype=torch.int32)
        values = torch.zeros(int(starts[-1]), BLOCK)
        for row in range(row_blocks):
            where = kept[row].nonzero().flatten()
            first = int(starts[row])
            columns[first : first + len(where)] = where.int()
            values[first : first + len(where)] = blocks[row, where]
        return cls(starts.numpy(), columns.numpy(), np.ascontiguousarray(values.numpy()))

    def dense(self, shape: tuple[int, int]) -> np.ndarray:
        """The matrix W (M, K) again, zero outside the kept blocks."""
        weight = np.zeros(shape, np.float32)
        for row in range(len(self.starts) - 1):
            for index in range(self.starts[row], self.starts[row + 1]):
                weight[row * BLOCK : (row + 1) * BLOCK, self.columns[index]] += self.values[index]
        return weight


def sparse_kernel_weights(model) -> tuple:
    """`sparse_kernel.run_block`'s weights from a pruned DualSoftmaxWaveRNN on the CPU: kernel_weights' with R and
    O1–O4 block-sparse (R's rows half-major, as the loop computes them)."""
    byte_inputs, _, I_prev, I_c_t, *dense_outputs = kernel_weights(model)

    def matrix(name: str, rows: torch.Tensor | None = None) -> BlockSparse:
        layer = getattr(model, name)
        mask = getattr(layer, "block_mask", None)
        if rows is None:
            return BlockSparse.from_dense(layer.weight, mask)
        block_rows = rows.view(-1, BLOCK)[:, 0] // BLOCK  # whole blocks move: each gate's half is a multiple of 16
        return BlockSparse.from_dense(layer.weight[rows], None if mask is None else mask[block_rows])

    biases = dense_outputs[1::2]
    outputs = [part for name, bias in zip(("O1", "O2", "O3", "O4"), biases) for part in (matrix(name), bias)]
    return (byte_inputs, matrix("R", half_major_rows(model)), I_prev, I_c_t, *outputs)


class SparseStream(DualSoftmaxStream):
    """One generation of a pruned DualSoftmaxWaveRNN: `DualSoftmaxStream` with the conditioning computed as the
    module docstring says and, on the CPU, the block-sparse compiled loop."""

    def __init__(self, model, mel: torch.Tensor, repeats: int = 1, sampling: Sampling | None = None):
        super().__init__(model, mel, repeats, sampling)
        rows = half_major_rows(model)
        n_mels = model.mel_config.n_mels
        weight = model.conditioning.weight.detach()[rows]  # (3H, n_mels + aux), half-major
        self.mel_projection_t = weight[:, :n_mels].t().contiguous()
        self.aux_projection_t = weight[:, n_mels:].t().contiguous()
        self.input_bias = torch.cat([model.I_coarse.bias, model.I_fine.bias]).detach()
        self.spreads: dict[int, torch.Tensor] = {}

    def spread(self, window_frames: int) -> torch.Tensor:
        """The upsampling stages as one matrix (L, window_frames): sample t of a window's mel_up is
        Σ_f spread[t, f] · frame f, since each stage repeats and smooths every band alike (upsample.py). Computed
        once per window length, by running the stages on the unit frames."""
        if window_frames not in self.spreads:
            upsample = self.model.upsample
            units = torch.eye(window_frames, device=self.padded.device).unsqueeze(0)  # bands = the unit frames
            for stage in upsample.stages:
                units = stage(units)
            indent = upsample.pad * upsample.hop_length
            self.spreads[window_frames] = units[0, :, indent:-indent].t().contiguous()
        return self.spreads[window_frames]

    @torch.inference_mode()
    def block_inputs(self, start: int, stop: int) -> tuple[torch.Tensor]:
        """The conditioning's share of I*·x_t with I*'s biases, for frames [start, stop): ((L, N, 3H) half-major,).
        The model's sum W·[mel_up; aux], as W_mel·(spread · frames) + W_aux·aux per frame, projected first."""
        upsample, hop = self.model.upsample, self.model.hop_length
        window = self.padded[:, :, start : stop + 2 * upsample.pad]  # (N, n_mels, frames + 2·pad)
        aux = upsample.resnet(window).transpose(1, 2)  # (N, frames, aux): one value per frame
        per_frame = torch.matmul(aux, self.aux_projection_t) + self.input_bias  # (N, frames, 3H)
        projected = torch.matmul(window.transpose(1, 2), self.mel_projection_t)  # (N, frames + 2·pad, 3H)
        conditioning = torch.matmul(self.spread(window.shape[-1]), projected)  # (N, L, 3H)
        N, L = conditioning.shape[:2]
        conditioning.view(N, L // hop, hop, -1).add_(per_frame.unsqueeze(2))
        return (conditioning.transpose(0, 1).contiguous(),)

    def _compiled_loop(
        self,
        I_cond: torch.Tensor,
        uniforms: torch.Tensor,
        fed: torch.Tensor | None,
        return_logits: bool,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.kernel_weights is None:
            self.kernel_weights = sparse_kernel_weights(self.model)
        return self.run_compiled(sparse_kernel.run_block, I_cond, uniforms, fed, return_logits)
