"""One step of a family's cell as the shape inspector shows it (`Vocoder.trace_step`): each quantity's symbol,
shape, dtype and meaning, and the step's output, which equals the teacher-forced forward pass's column t."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class StepRecord:
    """One quantity of one step of the cell: its symbol, shape, dtype and what it is."""

    symbol: str
    shape: tuple[int, ...]
    dtype: str
    meaning: str


@dataclass
class StepView:
    """title: which cell at which t; steps: its quantities in the order they are computed; output (N, C): out_t."""

    title: str
    steps: list[StepRecord]
    output: torch.Tensor


def step_record(symbol: str, tensor: torch.Tensor, meaning: str) -> StepRecord:
    return StepRecord(symbol, tuple(tensor.shape), str(tensor.dtype).replace("torch.", ""), meaning)
