"""The mel spectrogram of audio that arrives in chunks, computed only for the new samples.

Each `append` computes the STFT columns whose window is now complete; the `n_fft` samples before them stay in
the buffer. Centred frames with reflect padding and the model's `MelConfig`, so once `finish` has padded the
end the result equals `engine.features.mel_spectrogram` of the whole signal (frame t centred on t·hop).
"""

from __future__ import annotations

import numpy as np

from engine.features import MelConfig, normalise


class IncrementalMel:
    """Accumulates samples (n,) float32 and the normalised mel (n_mels, 1 + n // hop) float32 made from them."""

    def __init__(self, config: MelConfig, expected_samples: int = 0):
        import librosa  # both imported here, not with the window: together 1–2 s of start-up, which
        import scipy.signal  # features.warm_mel pays on the listing thread before the first run needs them

        self.config = config
        self.pad = config.n_fft // 2
        self.mel_basis = librosa.filters.mel(sr=config.sample_rate, n_fft=config.n_fft, n_mels=config.n_mels,
                                             fmin=config.fmin, fmax=config.fmax).astype(np.float32)
        window = scipy.signal.get_window(config.window, config.win_length, fftbins=True)
        left = (config.n_fft - config.win_length) // 2
        self.window = np.zeros(config.n_fft, dtype=np.float32)
        self.window[left:left + config.win_length] = window
        self.num_samples = 0
        self.frames_done = 0
        self.finished = False
        self._start_padded = False
        # padded[pad + i] is sample i; padded[:pad] is filled by reflection once pad + 1 samples have arrived.
        self._padded = np.zeros(max(expected_samples, config.n_fft) + 2 * self.pad, dtype=np.float32)
        self._mel = np.zeros((config.n_mels, config.frames_for(max(expected_samples, 0))), dtype=np.float32)

    @property
    def mel(self) -> np.ndarray:
        """(n_mels, frames_done) normalised mel of the frames computed so far (a view, not a copy)."""
        return self._mel[:, :self.frames_done]

    @property
    def buffer(self) -> np.ndarray:
        """(n_mels, capacity) preallocated image: computed frames, then zeros (the lowest level)."""
        return self._mel

    def append(self, samples: np.ndarray) -> int:
        """Add samples (n,) and compute the frames they complete. Returns how many frames were added."""
        n = len(samples)
        self._reserve(self.num_samples + n)
        start = self.pad + self.num_samples
        self._padded[start:start + n] = samples
        self.num_samples += n
        if not self._start_padded:
            if self.num_samples <= self.pad:
                return 0
            self._padded[:self.pad] = self._padded[2 * self.pad:self.pad:-1]
            self._start_padded = True
        complete = (self.pad + self.num_samples - self.config.n_fft) // self.config.hop_length + 1
        return self._compute(min(complete, self.config.frames_for(self.num_samples)))

    def finish(self) -> int:
        """Pad the end as librosa does and compute the last frames. Returns how many frames were added."""
        n, pad = self.num_samples, self.pad
        self._reserve(n)
        end = pad + n
        if n > pad:
            self._padded[end:end + pad] = self._padded[end - 2:end - 2 - pad:-1]
        else:
            # librosa pads short signals with zeros at both ends; frames already made from them are redone.
            self._padded[:pad] = 0.0
            self._padded[end:end + pad] = 0.0
            self.frames_done = 0
        self._start_padded = True
        self.finished = True
        return self._compute(self.config.frames_for(n))

    def _compute(self, frames_wanted: int) -> int:
        first = self.frames_done
        if frames_wanted <= first:
            return 0
        hop, n_fft = self.config.hop_length, self.config.n_fft
        if self._mel.shape[1] < frames_wanted:
            grown = np.zeros((self._mel.shape[0], max(frames_wanted, 2 * self._mel.shape[1])), dtype=np.float32)
            grown[:, :first] = self._mel[:, :first]
            self._mel = grown
        span = self._padded[first * hop:(frames_wanted - 1) * hop + n_fft]
        frames = np.lib.stride_tricks.sliding_window_view(span, n_fft)[::hop]
        magnitude = np.abs(np.fft.rfft(frames * self.window, axis=1)).astype(np.float32)
        self._mel[:, first:frames_wanted] = normalise(self.mel_basis @ magnitude.T, self.config)
        self.frames_done = frames_wanted
        return frames_wanted - first

    def _reserve(self, num_samples: int) -> None:
        needed = num_samples + 2 * self.pad
        if needed > len(self._padded):
            grown = np.zeros(max(needed, 2 * len(self._padded)), dtype=np.float32)
            grown[:self.pad + self.num_samples] = self._padded[:self.pad + self.num_samples]
            self._padded = grown
