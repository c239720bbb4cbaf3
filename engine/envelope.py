"""A mel-envelope post-filter: it brings each mel band of the generated audio to the level the conditioning mel
asks for, keeping the audio's own phase and fine (harmonic) structure.

A small vocoder draws the right excitation but misjudges the loudness of bands (its mel lies 4–5 dB from the
conditioning mel on average, Griffin-Lim's 1.2 dB). The mel says what those levels should be. Per STFT frame f of
the output (the mel's own n_fft, hop and window, centred at f · hop like the mel's frames):

    X = rfft(window · x[f · hop − n_fft/2, f · hop + n_fft/2)),   M = basis · |X|   (the output's mel, n_mels)
    gain_b = (target_b / M_b) ^ strength, limited to ±MAX_GAIN_DB,     target = the conditioning mel's frame f
    Y_k = X_k · Σ_b spread_kb gain_b   (each bin takes the mean gain of the bands it belongs to, by their weights)

and the frames are overlap-added with the window again, divided by the summed squared window (exact resynthesis
when every gain is 1), and limited to [-1, 1] as every generated sample is. Bins outside the mel's fmin–fmax keep
their level. The signal is zero outside [0, T).

A frame reads n_fft/2 samples past its centre, and a sample is final once no later frame reaches it: streaming
(`EnvelopePostFilter`) is n_fft samples behind its input (64 ms at 16 kHz, n_fft 1024) and gives the same samples
as the whole signal at once (`envelope_postfilter`). On the bundled WaveNet's output it lifted PESQ on training
recordings from 1.75–1.80 to 2.72–2.74 and STOI from 0.904 to 0.964; on white noise it gives no speech (PESQ 1.2):
the excitation is the network's (resources/README.md).
"""

from __future__ import annotations

import numpy as np

from engine.features import MelConfig, denormalise, mel_analysis
from engine.mel_frames import FrameSource, frame_source

MAX_GAIN_DB = 24.0


def band_spread(basis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mel filters (n_mels, bins) → (spread (bins, n_mels): each bin's weights over the bands it belongs to, summing
    to 1, so spread · gains gives a bin the mean gain of its bands; covered (bins,) bool: the bins some band holds)."""
    weights = basis.sum(axis=0)  # (bins,)
    covered = weights > 0
    return basis.T / np.where(covered, weights, 1.0)[:, None], covered


class EnvelopePostFilter:
    """Streaming: `push` takes the next samples (n,) and returns those now final, float32; `finish` returns the
    rest. Together they return as many samples as were pushed. mel: the conditioning (n_mels, F), normalised, or a
    FrameSource of one row (engine/mel_frames.py: a long input's); frames past F take its last frame. It is kept as
    it is (no copy) and read a few frames at a time, so that what the filter holds does not grow with the length of
    the take."""

    def __init__(self, mel: np.ndarray | FrameSource, config: MelConfig, strength: float):
        self.strength = float(strength)
        self.n_fft, self.hop = config.n_fft, config.hop_length
        self.half = config.n_fft // 2
        self.mel, self.config = frame_source(mel), config
        self.analysis = mel_analysis(config)
        self.spread, self.covered = band_spread(self.analysis.basis)
        self.squared_window = self.analysis.window**2
        self._x = np.zeros(self.half)  # the input from absolute sample `_x_base` on (zeros before the start)
        self._x_base = -self.half
        self._sum = np.zeros(0)  # overlap-added frames from absolute sample `_done` on, and their squared windows
        self._norm = np.zeros(0)
        self._next = 0  # the next frame to compute
        self._done = 0  # samples returned so far

    def push(self, samples: np.ndarray) -> np.ndarray:
        self._x = np.concatenate([self._x, np.asarray(samples, dtype=np.float64)])
        end = self._x_base + len(self._x)  # the input's length so far
        self._frames(max(0, (end - self.half) // self.hop + 1))  # frames whose last sample has come
        return self._release(max(0, self._next * self.hop - self.half))

    def finish(self) -> np.ndarray:
        """The rest: the frames that reach past the input's end read zeros there."""
        end = self._x_base + len(self._x)
        last = (end - 1 + self.half) // self.hop  # the last frame that starts inside the input
        self._x = np.concatenate([self._x, np.zeros(max(0, last * self.hop + self.half - end))])
        self._frames(last + 1)
        return self._release(end)

    def _frames(self, stop: int) -> None:
        """Compute frames [_next, stop) and overlap-add them."""
        if stop <= self._next:
            return
        spectra = self.analysis.spectra(self.analysis.frames(self._x, self._x_base, self._next, stop))  # (k, bins)
        made = self.analysis.mel_of(np.abs(spectra)).T  # (k, n_mels)
        target = self._target(self._next, stop)
        gain_db = np.clip(20.0 * np.log10(target / np.maximum(made, 1e-8)) * self.strength, -MAX_GAIN_DB, MAX_GAIN_DB)
        gains = np.power(10.0, gain_db / 20.0) @ self.spread.T  # (k, bins)
        gains[:, ~self.covered] = 1.0
        shaped = np.fft.irfft(spectra * gains, n=self.n_fft, axis=1) * self.analysis.window  # (k, n_fft)
        reach = stop * self.hop - self.half + self.n_fft - self._done  # the accumulators must reach the last frame
        if len(self._sum) < reach:
            self._sum = np.concatenate([self._sum, np.zeros(reach - len(self._sum))])
            self._norm = np.concatenate([self._norm, np.zeros(reach - len(self._norm))])
        for f, frame in zip(range(self._next, stop), shaped):
            first = f * self.hop - self.half  # absolute; before 0 the signal does not exist
            skip = max(0, -first)
            at = first + skip - self._done
            self._sum[at : at + self.n_fft - skip] += frame[skip:]
            self._norm[at : at + self.n_fft - skip] += self.squared_window[skip:]
        self._next = stop

    def _target(self, start: int, stop: int) -> np.ndarray:
        """The magnitudes the conditioning mel asks for in frames [start, stop): (k, n_mels) float64."""
        at = np.minimum(np.arange(start, stop), self.mel.frames - 1)
        window = self.mel.window(int(at[0]), int(at[-1]) + 1)[0].cpu().numpy()
        return np.maximum(denormalise(window[:, at - at[0]], self.config).astype(np.float64), 1e-8).T

    def _release(self, final: int) -> np.ndarray:
        """Return samples [_done, final) and drop what no later frame reads."""
        count = max(0, final - self._done)
        out = np.clip(self._sum[:count] / np.maximum(self._norm[:count], 1e-10), -1.0, 1.0)
        self._sum, self._norm = self._sum[count:], self._norm[count:]
        self._done += count
        keep_from = self._next * self.hop - self.half  # the next frame's first sample
        if keep_from > self._x_base:
            self._x = self._x[keep_from - self._x_base :]
            self._x_base = keep_from
        return out.astype(np.float32)


def envelope_postfilter(audio: np.ndarray, mel: np.ndarray, config: MelConfig, strength: float) -> np.ndarray:
    """The whole signal at once: audio (T,), its conditioning mel (n_mels, F) or FrameSource → filtered (T,) float32."""
    stream = EnvelopePostFilter(mel, config, strength)
    return np.concatenate([stream.push(audio), stream.finish()])
