"""A pitch post-filter for generated speech: it strengthens each voiced frame's periodicity and so the noise
between the harmonics, which a sampled excitation leaves and the ear hears as roughness, is lowered.

Every 10 ms frame looks for the lag L (2.5–16 ms, pitch 62.5–400 Hz) at which the signal is most like itself: the
normalised correlation c of the frame x[s, s + frame) with x[s − L, s − L + frame). Where c exceeds
VOICING_THRESHOLD (voiced speech), the frame becomes

    y_t = (x_t + g/2 · (x_{t−L} + x_{t+L})) / (1 + g),      g = strength · c,

a comb centred on the sample (one period back and one ahead, so it shifts no phase), its gain normalised for a
periodic signal; unvoiced frames (g = 0), and the first 16 ms, pass unchanged. Over the first quarter of each
frame the output fades from the last frame's filter to this one's: switched at once, the filters left a step at
every frame edge, a faint 100 Hz buzz. A frame is decided and filtered from the input alone, never from its own
output, so streaming (`PitchPostFilter`, 26 ms behind its input at 16 kHz) and the whole signal at once
(`pitch_postfilter`) give the same samples.

Speech codecs enhance the pitch this way (the long-term post-filters of G.729 and AMR). At strength 0.8, the
bundled WaveNet's, it raised that model's PESQ by 0.19–0.23 on training recordings and on the held-out ones, at
the same STOI within 0.002 (resources/README.md).
"""

from __future__ import annotations

import numba
import numpy as np

FRAME_SECONDS = 0.010
SHORTEST_PERIOD_SECONDS = 1 / 400
LONGEST_PERIOD_SECONDS = 1 / 62.5
VOICING_THRESHOLD = 0.4


@numba.njit(cache=True, nogil=True)
def _filter_frames(
    x: np.ndarray,
    out: np.ndarray,
    first: int,
    frames: int,
    frame: int,
    shortest: int,
    longest: int,
    strength: float,
    previous: np.ndarray,
) -> None:
    """Filter `frames` frames of x (T,) float64 from x[first] on (first ≥ longest; each frame's x must reach
    `longest` samples past its end) into out (T,). previous: the last frame's (lag, g), (2,) float64, read for the
    crossfade and updated."""
    fade = frame // 4
    for start in range(first, first + frames * frame, frame):
        here = x[start : start + frame]
        energy = np.sum(here * here) + 1e-9
        best, lag = -1.0, shortest
        for candidate in range(shortest, longest + 1):
            past = x[start - candidate : start - candidate + frame]
            correlation = np.sum(here * past) / np.sqrt(energy * (np.sum(past * past) + 1e-9))
            if correlation > best:
                best, lag = correlation, candidate
        g = strength * best if best > VOICING_THRESHOLD else 0.0
        last_lag, last_g = int(previous[0]), previous[1]
        for t in range(start, start + frame):
            y = (x[t] + 0.5 * g * (x[t - lag] + x[t + lag])) / (1.0 + g)
            if t - start < fade and (last_g > 0.0 or g > 0.0):  # from the last frame's filter to this one's
                a = (t - start + 1) / (fade + 1)
                y = a * y + (1.0 - a) * (x[t] + 0.5 * last_g * (x[t - last_lag] + x[t + last_lag])) / (1.0 + last_g)
            out[t] = y
        previous[0], previous[1] = lag, g


def _frames_before(end: int, first: int, frame: int, longest: int) -> int:
    """How many frames from `first` on are decided when the input ends at `end`: those whose start s has
    s + frame + longest < end (a frame reads `longest` samples past its end)."""
    return max(0, (end - 1 - frame - longest - first) // frame + 1)


def pitch_postfilter(audio: np.ndarray, sample_rate: int, strength: float) -> np.ndarray:
    """The whole signal at once: audio (T,) → filtered (T,) float32."""
    x = np.asarray(audio, dtype=np.float64)
    stream = PitchPostFilter(sample_rate, strength)
    out = x.copy()
    _filter_frames(
        x,
        out,
        stream.longest,
        _frames_before(len(x), stream.longest, stream.frame, stream.longest),
        stream.frame,
        stream.shortest,
        stream.longest,
        stream.strength,
        stream._previous,
    )
    return out.astype(np.float32)


class PitchPostFilter:
    """Streaming: `push` takes the next samples (n,) and returns those now final, float32; `finish` returns the
    rest. Together they return as many samples as were pushed, the same as `pitch_postfilter` of them all."""

    def __init__(self, sample_rate: int, strength: float):
        self.strength = float(strength)
        self.frame = round(FRAME_SECONDS * sample_rate)
        self.shortest = round(SHORTEST_PERIOD_SECONDS * sample_rate)
        self.longest = round(LONGEST_PERIOD_SECONDS * sample_rate)
        self._x = np.zeros(0)  # the input from absolute sample `_base` on
        self._base = 0
        self._next = self.longest  # the next frame's absolute start (the first `longest` samples pass unchanged)
        self._done = 0  # samples returned so far
        self._previous = np.array([self.shortest, 0.0])  # the last decided frame's (lag, g): none yet

    def push(self, samples: np.ndarray) -> np.ndarray:
        self._x = np.concatenate([self._x, np.asarray(samples, dtype=np.float64)])
        end = self._base + len(self._x)
        frames = _frames_before(end, self._next, self.frame, self.longest)
        out = self._x.copy()
        _filter_frames(
            self._x,
            out,
            self._next - self._base,
            frames,
            self.frame,
            self.shortest,
            self.longest,
            self.strength,
            self._previous,
        )
        self._next += frames * self.frame
        final = min(self._next, end)  # before the first frame is decided, what came so far is final unchanged
        ready = out[self._done - self._base : final - self._base]
        self._done = final
        keep_from = max(self._base, min(self._done, self._next - self.longest))  # the next frame looks back
        self._x = self._x[keep_from - self._base :]
        self._base = keep_from
        return ready.astype(np.float32)

    def finish(self) -> np.ndarray:
        """The samples after the last decided frame, unchanged (no frame after it can be decided)."""
        rest = self._x[self._done - self._base :]
        self._done += len(rest)
        self._base, self._x = self._done, np.zeros(0)
        return rest.astype(np.float32)
