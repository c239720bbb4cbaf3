"""The paper's weight pruning (Kalchbrenner et al., 2018, §4): magnitude pruning during training, in blocks.

Each pruned matrix W (out, in) keeps a binary mask of 16×1 blocks: 16 consecutive outputs of one input, so that a
kept block is one input times a 16-wide vector of weights (sparse_kernel.py). Every `every` steps from `start_step`
on, the blocks with the smallest mean magnitude are masked, as many as the schedule asks for by then,

    z(t) = Z · (1 − (1 − (t − t0) / S)³)    for t0 ≤ t ≤ t0 + S,    Z after it,

a fraction that grows fast at first and levels off at the target Z (t0 `start_step`, S `span`). After every
training step the masked weights are set to zero again, so the optimizer cannot bring them back; a masked block is
zero, so it stays among the smallest and the masks only grow. The paper prunes the GRU's recurrent weights R; at
H 896 the dense output layers O1–O4 alone take most of a 16 kHz sample's time on one CPU core
(docs/speed.md), so `layers` can name them too.

The masks are buffers of the model (`R.block_mask`, (out / 16, in) uint8, 1 for a kept block), saved in its checkpoint
with the weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.errors import ConfigError

BLOCK = 16  # outputs per block: 16×1 blocks (§4.2), two AVX registers of float32
PRUNABLE = ("R", "O1", "O2", "O3", "O4")


@dataclass
class SparsityConfig:
    """target: Z, the fraction of each pruned matrix's blocks masked at the end (0: a dense model, no masks).
    start_step, span: t0 and S of the schedule (the paper's 1,000 and 200,000). every: steps between two mask
    updates (the paper's 500). layers: the matrices pruned (R, the paper's; O1–O4 optionally)."""

    target: float = 0.0
    start_step: int = 1000
    span: int = 200_000
    every: int = 500
    layers: tuple[str, ...] = ("R",)

    def check(self, half: int) -> None:
        """Raise `ConfigError` unless the schedule holds together for a model whose half state is `half` units."""
        if not 0.0 <= self.target < 1.0:
            raise ConfigError(f"sparsity target is {self.target}; it must be 0 (dense) or more, and below 1.")
        if self.start_step < 0 or self.span < 1 or self.every < 1:
            raise ConfigError(
                f"sparsity start_step={self.start_step}, span={self.span}, every={self.every}: "
                "start_step must be 0 or more, span and every 1 or more."
            )
        unknown = sorted(set(self.layers) - set(PRUNABLE))
        if unknown or not self.layers:
            raise ConfigError(f"sparsity layers are {list(self.layers)}; name one or more of {', '.join(PRUNABLE)}.")
        if self.target and half % BLOCK:
            raise ConfigError(
                f"hidden_size is {2 * half}: pruning in blocks of {BLOCK} outputs needs each half "
                f"({half}) to be a multiple of {BLOCK}. Choose a hidden_size that is a multiple of "
                f"{2 * BLOCK}."
            )

    def fraction_at(self, step: int) -> float:
        """z(step): the fraction of blocks masked at training step `step` (0 before start_step, target after)."""
        progress = min(max((step - self.start_step) / self.span, 0.0), 1.0)
        return self.target * (1.0 - (1.0 - progress) ** 3)

    def updates_at(self, step: int) -> bool:
        """Whether the masks are recomputed after training step `step`: every `every` steps of the schedule."""
        offset = step - self.start_step
        return 0 <= offset <= self.span and offset % self.every == 0


def block_magnitudes(weight: torch.Tensor) -> torch.Tensor:
    """weight (out, in) → the mean |w| of each 16×1 block (out / 16, in)."""
    return weight.detach().abs().view(-1, BLOCK, weight.shape[1]).mean(dim=1)


def block_mask(weight: torch.Tensor, fraction: float) -> torch.Tensor:
    """weight (out, in) → mask (out / 16, in) bool, False for the round(fraction · blocks) blocks of the smallest mean
    magnitude (the first of equal ones, so zero blocks stay masked)."""
    magnitudes = block_magnitudes(weight).flatten()
    masked = round(fraction * magnitudes.numel())
    mask = torch.ones_like(magnitudes, dtype=torch.bool)
    mask[torch.argsort(magnitudes, stable=True)[:masked]] = False
    return mask.view(-1, weight.shape[1])


def expand(mask: torch.Tensor) -> torch.Tensor:
    """mask (out / 16, in) → (out, in), each block's value over its 16 outputs."""
    return mask.repeat_interleave(BLOCK, dim=0)


class BlockPruning:
    """The masks of a model's pruned layers: created all ones, recomputed by the schedule, applied to the weights.

    layers: {name: nn.Linear}; each gets a `block_mask` buffer (out / 16, in) uint8, 1 for a kept block (a checkpoint
    holds integers, not booleans).
    """

    def __init__(self, config: SparsityConfig, layers: dict[str, torch.nn.Linear]):
        self.config = config
        self.layers = layers
        for layer in layers.values():
            out_features, in_features = layer.weight.shape
            layer.register_buffer("block_mask", torch.ones(out_features // BLOCK, in_features, dtype=torch.uint8))

    @torch.no_grad()
    def prune_to(self, fraction: float) -> None:
        """Mask the `fraction` of each layer's blocks with the smallest magnitude, and zero them."""
        for layer in self.layers.values():
            layer.block_mask.copy_(block_mask(layer.weight, fraction))
        self.apply()

    @torch.no_grad()
    def apply(self) -> None:
        """Zero every masked block's weights (after an optimizer step, or after loading averaged weights)."""
        for layer in self.layers.values():
            if not bool(layer.block_mask.all()):
                layer.weight.mul_(expand(kept(layer)))

    def after_step(self, step: int) -> None:
        """Training step `step` is done: update the masks when the schedule says so, or when they are behind its
        end (a span that `every` does not divide, a skipped step), and keep the masked weights zero."""
        fraction = self.config.fraction_at(step)
        finished = step >= self.config.start_step + self.config.span
        if self.config.updates_at(step) or (finished and self.masked_blocks() < self.blocks_at(fraction)):
            self.prune_to(fraction)
        else:
            self.apply()

    def masked_blocks(self) -> int:
        return sum(int((layer.block_mask == 0).sum()) for layer in self.layers.values())

    def blocks_at(self, fraction: float) -> int:
        """How many blocks `prune_to(fraction)` masks in all."""
        return sum(round(fraction * layer.block_mask.numel()) for layer in self.layers.values())

    def sparsity(self) -> dict[str, float]:
        """{layer: fraction of its blocks masked}."""
        return {name: 1.0 - float(layer.block_mask.float().mean()) for name, layer in self.layers.items()}


def kept(layer: torch.nn.Linear) -> torch.Tensor:
    """A pruned layer's mask as booleans (out / 16, in), True for a kept block."""
    return layer.block_mask.bool()
