"""A learned reading of the pitch from the mel, which engine/pitch.py combines with its templates.

The templates' scores alone cannot tell a low voice's weak ripple from hiss, nor always its F0 from a subharmonic;
a small network that sees a third of a second of the mel around each frame can. Per frame it gives a distribution
over the template candidates (engine/pitch.py's grid, GRID_CENTS apart) and one more class, "unvoiced":

    logits = PitchReader(mel (N, n_mels, T), template scores (N, K, T)) → (N, K + 1, T)

a 1×1 convolution of the mel and the scores to `width` channels, then residual dilated convolutions (kernel 3,
dilations DILATIONS, ReLU), then a 1×1 convolution to K + 1. It sees ±16 frames (the dilations' sum). `read` turns the
logits into log p(candidate | voiced) (T, K) and p(voiced) (T,).

It is trained (engine/pitch_reader_training.py, `vocoscope train-pitch`) on pyin's reading of training recordings
and on synthetic tones of known F0 across the whole grid, and ships as resources/models/pitch-reader.safetensors for
the default MelConfig. For another MelConfig there is no reader and engine/pitch.py reads with its templates alone.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from engine.features import MelConfig

DILATIONS = (1, 2, 4, 8, 1)
WIDTH = 128
READER_NAME = "pitch-reader"  # resources/models/<READER_NAME>.safetensors


class PitchReader(nn.Module):
    """mel (N, n_mels, T) normalised, template scores (N, K, T) → logits (N, K + 1, T); class K is "unvoiced"."""

    def __init__(self, n_mels: int, candidates: int, width: int = WIDTH):
        super().__init__()
        self.candidates = candidates
        self.inputs = nn.Conv1d(n_mels + candidates, width, 1)
        self.layers = nn.ModuleList(nn.Conv1d(width, width, 3, padding=d, dilation=d) for d in DILATIONS)
        self.out = nn.Conv1d(width, candidates + 1, 1)

    def forward(self, mel: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.inputs(torch.cat([mel, scores], dim=1)))
        for layer in self.layers:
            x = x + F.relu(layer(x))
        return self.out(x)

    def read(self, mel: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One mel (n_mels, T) and its template scores (T, K) → (log p(candidate | voiced) (T, K), p(voiced) (T,)),
        float64."""
        with torch.inference_mode():
            logits = self(torch.from_numpy(mel).float()[None], torch.from_numpy(scores.T).float()[None])[0]
        logits = logits.double()
        log_prior = torch.log_softmax(logits[: self.candidates], dim=0).T
        voiced = 1.0 - torch.softmax(logits, dim=0)[self.candidates]
        return log_prior.numpy(), voiced.numpy()


def save_reader(reader: PitchReader, path: Path, config: MelConfig, training: dict) -> None:
    """Write the reader's weights with its MelConfig, its size and how it was trained (safetensors metadata)."""
    from safetensors.torch import save_file

    from engine.atomic_write import atomic_path

    metadata = {
        "vocoscope": json.dumps(
            {"kind": READER_NAME, "mel": config.to_dict(), "candidates": reader.candidates, "training": training}
        )
    }
    weights = {name: value.detach().cpu().contiguous() for name, value in reader.state_dict().items()}
    with atomic_path(Path(path)) as temporary:
        save_file(weights, str(temporary), metadata=metadata)


def load_reader(path: Path) -> tuple[PitchReader, MelConfig, dict]:
    """A file written by `save_reader` → (the reader in eval mode, its MelConfig, its metadata); torch's random
    state is left as it was, so that a training run draws the same whether or not it is the first to read pitch."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(path), "pt") as opened:
        metadata = json.loads(opened.metadata()["vocoscope"])
    config = MelConfig.from_dict(metadata["mel"])
    with torch.device("meta"):  # no weights drawn: loading leaves torch's random state as it was
        reader = PitchReader(config.n_mels, metadata["candidates"])
    reader.load_state_dict(load_file(str(path)), assign=True)
    return reader.eval(), config, metadata


@lru_cache(maxsize=4)
def bundled_reader(config: MelConfig, candidates: int) -> PitchReader | None:
    """The shipped reader when it was trained for this MelConfig and this many candidates, else None."""
    from engine.catalog import RESOURCES

    path = RESOURCES / f"{READER_NAME}.safetensors"
    if not path.exists():
        return None
    reader, trained_for, _ = load_reader(path)
    return reader if trained_for == config and reader.candidates == candidates else None
