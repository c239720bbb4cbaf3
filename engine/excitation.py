"""A source signal built from a pitch track, as neural source-filter models and LPCNet's pitch features make one:
a band-limited harmonic tone at the track's F0 (harmonics up to Nyquist) where the frame is voiced, white noise
where it is not, crossfaded as the voicing changes between frames. F0, voicing and phase come from the same
helpers as a pitch-conditioned network's source features (engine/pitch_source.py). `benchmarks/voices.py` puts it
through the post-filters as the control that has no network at all.
"""

from __future__ import annotations

import numpy as np
import torch

from engine.pitch import PitchTrack
from engine.pitch_source import per_sample, pitch_rows, running_phase, tone

LEVEL = 0.1  # RMS of the source, voiced and unvoiced alike (about speech's level: -20 dB full scale)
VOICED_NOISE = 0.03  # noise beside the tone in voiced frames, relative to LEVEL (breath, as in speech)


def excitation(track: PitchTrack, hop_length: int, sample_rate: int, num_samples: int, seed: int = 0) -> np.ndarray:
    """A pitch track of F frames → the source signal (num_samples,) float32, RMS about LEVEL (F · hop samples made,
    cut or padded with the last value's noise to num_samples)."""
    rows = torch.from_numpy(pitch_rows(track)).double()[None]
    f0, voicing = per_sample(rows[:, 0], hop_length), per_sample(rows[:, 1], hop_length)
    voiced = tone(f0, running_phase(f0, sample_rate), sample_rate / 2.0)[0].numpy()
    voicing = np.pad(voicing[0].numpy(), (0, max(0, num_samples - voicing.shape[1])), mode="edge")[:num_samples]
    voiced = np.pad(voiced, (0, max(0, num_samples - len(voiced))))[:num_samples]
    noise = np.random.default_rng(seed).standard_normal(num_samples)
    source = LEVEL * (
        voicing * (voiced + VOICED_NOISE * noise) / np.sqrt(1.0 + VOICED_NOISE**2) + (1.0 - voicing) * noise
    )
    return source.astype(np.float32)
