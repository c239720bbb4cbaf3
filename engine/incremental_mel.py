"""The mel spectrogram of a signal that grows, each frame computed once, as soon as its window is complete.

The samples stay where they are, in a `RingBuffer` (engine/ringbuffer.py): `update(ring, n)` computes the frames
that the first n samples complete, reading them in place; only the frames whose window reaches past either end of
the signal read a small padded copy. Centred frames padded as `engine.features.mel_spectrogram` pads them
(reflected, or zeros for a signal of at most n_fft // 2 samples), analysed by `engine.features.mel_analysis` for the
model's `MelConfig` in float32, so once `finish` has padded the end the result equals `mel_spectrogram` of the whole
signal (frame t centred on t·hop).
"""

from __future__ import annotations

import numpy as np

from engine.features import MelConfig, mel_analysis, normalise
from engine.ringbuffer import RingBuffer


class IncrementalMel:
    """The normalised mel (n_mels, 1 + n // hop) float32 of the first n samples of a ring, made frame by frame.

    expected_samples: the signal's length if known, so the image is allocated once.
    """

    def __init__(self, config: MelConfig, expected_samples: int = 0):
        self.config = config
        self.pad = config.n_fft // 2
        self.analysis = mel_analysis(config, np.float32)
        self.frames_done = 0
        self.finished = False
        self._mel = np.zeros((config.n_mels, config.frames_for(max(expected_samples, 0))), dtype=np.float32)

    @property
    def mel(self) -> np.ndarray:
        """(n_mels, frames_done) normalised mel of the frames computed so far (a view, not a copy)."""
        return self._mel[:, : self.frames_done]

    @property
    def buffer(self) -> np.ndarray:
        """(n_mels, capacity) preallocated image: computed frames, then zeros (the lowest level)."""
        return self._mel

    def update(self, ring: RingBuffer, num_samples: int) -> int:
        """Compute the frames that samples [0, num_samples) of `ring` complete. Returns how many were added."""
        if num_samples <= self.pad:  # the reflection at the start needs pad + 1 samples
            return 0
        complete = (self.pad + num_samples - self.config.n_fft) // self.config.hop_length + 1
        return self._compute(ring, num_samples, min(complete, self.config.frames_for(num_samples)))

    def finish(self, ring: RingBuffer, num_samples: int) -> int:
        """The signal is samples [0, num_samples) of `ring`, all of it: pad its end and compute the last frames."""
        self.finished = True
        return self._compute(ring, num_samples, self.config.frames_for(num_samples))

    def _compute(self, ring: RingBuffer, num_samples: int, frames_wanted: int) -> int:
        first = self.frames_done
        if frames_wanted <= first:
            return 0
        hop, n_fft = self.config.hop_length, self.config.n_fft
        if self._mel.shape[1] < frames_wanted:
            grown = np.zeros((self._mel.shape[0], max(frames_wanted, 2 * self._mel.shape[1])), dtype=np.float32)
            grown[:, :first] = self._mel[:, :first]
            self._mel = grown
        origin = first * hop - self.pad
        span = self._samples(ring, num_samples, origin, (frames_wanted - 1) * hop - self.pad + n_fft)
        magnitudes = self.analysis.magnitudes(self.analysis.frames(span, origin, first, frames_wanted))
        self._mel[:, first:frames_wanted] = normalise(self.analysis.mel_of(magnitudes), self.config)
        self.frames_done = frames_wanted
        return frames_wanted - first

    def _samples(self, ring: RingBuffer, num_samples: int, low: int, high: int) -> np.ndarray:
        """Samples [low, high) of the signal [0, num_samples) padded by `pad` at each end as `mel_spectrogram` pads
        it: a view of the ring where no padding falls in the range, else a padded copy of the samples it needs
        (a reflection at an end reads pad + 1 samples there)."""
        if low >= 0 and high <= num_samples:
            return ring.view(low, high - low)
        pad = self.pad
        before, after = (pad if low < 0 else 0), (pad if high > num_samples else 0)
        source_low = 0 if before else max(0, min(low, num_samples - pad - 1))
        source_high = num_samples if after else min(num_samples, max(high, pad + 1))
        source = ring.view(source_low, source_high - source_low)
        padded = np.pad(source, (before, after), mode="reflect" if num_samples > pad else "constant")
        origin = source_low - before  # the sample padded[0] stands for
        return padded[low - origin : high - origin]
