"""De-emphasis: undoing the pre-emphasis a model was trained on, as a post-filter of generation.

Some projects (Real-Time-Voice-Cloning, r9y9's WaveNet recipes) train their vocoder on pre-emphasised audio,
x'[t] = x[t] − k·x[t − 1], which tilts the spectrum up so that the sampling noise is heard less in the highs. Their
generation then de-emphasises what the model made: y[t] = x'[t] + k·y[t − 1]. A model imported from one of them
keeps k in its MelConfig (`output_preemphasis`); `engine.generate.generate` runs this filter first.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter


class DeEmphasis:
    """y[t] = x[t] + k·y[t − 1] over pushed pieces, the filter's state carried between them; clipped to [-1, 1].

    Same interface as the post-filters (engine/postfilter.py): `push` returns as many samples as it was given, so
    `finish` has none left.
    """

    def __init__(self, coefficient: float):
        self.coefficient = float(coefficient)
        self._state = np.zeros(1)

    def push(self, samples: np.ndarray) -> np.ndarray:
        """samples (n,) → de-emphasised samples (n,) float32."""
        out, self._state = lfilter(
            [1.0], [1.0, -self.coefficient], np.asarray(samples, dtype=np.float64), zi=self._state
        )
        return np.clip(out, -1.0, 1.0).astype(np.float32)

    def finish(self) -> np.ndarray:
        return np.zeros(0, dtype=np.float32)
