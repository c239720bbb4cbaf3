"""An exponential moving average of a model's weights while it trains (Polyak averaging), the weights WaveNet
implementations generate from (r9y9's wavenet_vocoder; Parallel WaveNet).

The trained weights wander from step to step with each batch's noise; a sampled vocoder's quality wanders with
them. Their average over the last 1 / (1 − decay) steps or so lies nearer the middle of where they wander:

    average ← decay · average + (1 − decay) · weights,   after every update.

Only parameters are averaged; buffers (BatchNorm's running statistics, averages themselves) stay the model's.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch import nn


class WeightAverage:
    """The average of `model`'s parameters, starting from their values now."""

    def __init__(self, model: nn.Module, decay: float):
        self.decay = decay
        self.values = {name: parameter.detach().clone() for name, parameter in model.named_parameters()}

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Fold the model's current parameters into the average (after an optimizer step)."""
        for name, parameter in model.named_parameters():
            self.values[name].lerp_(parameter, 1.0 - self.decay)

    @contextlib.contextmanager
    def swapped_in(self, model: nn.Module) -> Iterator[dict[str, torch.Tensor]]:
        """Inside: the model holds the averaged parameters, and the block gets the trained ones by name. After: the
        trained parameters again, bit for bit."""
        parameters = dict(model.named_parameters())
        with torch.no_grad():
            trained = {name: parameter.detach().clone() for name, parameter in parameters.items()}
            for name, parameter in parameters.items():
                parameter.copy_(self.values[name])
        try:
            yield trained
        finally:
            with torch.no_grad():
                for name, parameter in parameters.items():
                    parameter.copy_(trained[name])
