"""Compile every compiled sampling loop (engine/models/<family>/kernel.py) and the pitch post-filter now, or load them
from numba's disk cache, rather than at a first generation: compiling takes 5–15 s each once per machine, loading the
cache a fraction of a second. Each loop is compiled by streaming a tiny model of its family, with and without linear
prediction where the family has it."""

from __future__ import annotations

import numpy as np
import torch

from engine import postfilter
from engine.features import MelConfig
from engine.models.base import Vocoder
from engine.models.wavenet.model import WaveNet, WaveNetConfig
from engine.models.wavernn.model import WaveRNN, WaveRNNConfig
from engine.models.wavernn_dual.model import DualSoftmaxConfig, DualSoftmaxWaveRNN
from engine.models.wavernn_dual.pruning import SparsityConfig


def tiny_models() -> list[Vocoder]:
    """One small model of each compiled loop's kinds, in eval mode."""
    mel = MelConfig()
    wavernns = [WaveRNN(WaveRNNConfig(rnn_dims=4, fc_dims=4, lpc_order=order), mel) for order in (0, 2)]
    wavenets = [
        WaveNet(WaveNetConfig(blocks=1, layers=2, residual_channels=4, skip_channels=4, lpc_order=order), mel)
        for order in (0, 2)
    ]
    duals = [
        DualSoftmaxWaveRNN(DualSoftmaxConfig(hidden_size=size, sparsity=SparsityConfig(target=target)), mel)
        for size, target in ((4, 0.0), (32, 0.5))
    ]  # dense, and pruned (the block-sparse loop)
    return [model.eval() for model in [*wavernns, *duals, *wavenets]]


def warm_all() -> None:
    """Compile (or load) the sampling loops and the pitch post-filter."""
    for model in tiny_models():
        for _ in model.stream(torch.zeros(1, model.mel_config.n_mels, model.min_frames)):
            pass
    postfilter.pitch_postfilter(np.zeros(2000, dtype=np.float32), 16000, 0.5)
