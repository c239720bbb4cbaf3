"""The last look at generated audio before it is written or played: never a NaN, and a word when it is broken.

A model with broken weights, or fed a mel far outside what it was trained on, can make NaN samples (which a file
or a sound card turns into anything), or full-scale DC: a file of constant +1.0 that plays as a click and then
nothing, while every check before generation passed. `OutputGuard` replaces non-finite samples with silence as
they are made, and watches the output for the three ways it can be useless for longer than a moment:
- clipped: the samples sit at full scale (|x| ≥ 0.999) for over `MOMENT_SECONDS` in a row;
- constant: the same non-silent value (|x| ≥ 0.01, a DC offset) for over `MOMENT_SECONDS` in a row;
- silent: the whole output (longer than a moment) never rises above -60 dBFS.
`warning` says which, in words, with where and how long; the CLI prints it on stderr and generation puts it on every
chunk's stats (`engine.generate.Stats.warning`), so the window can show the last one.
"""

from __future__ import annotations

import math

import numpy as np

MOMENT_SECONDS = 0.05  # longer than any clipped peak or flat stretch that speech or a working vocoder makes
FULL_SCALE = 0.999
DC_LEVEL = 0.01  # below this a flat stretch is silence, which mu-law coding makes as a tiny constant
SILENCE_LEVEL = 1e-3  # -60 dBFS


class _Run:
    """The longest stretch in a row of samples for which a condition held, across chunks that follow each other."""

    def __init__(self) -> None:
        self.length = 0  # of the stretch that reaches the end of the last chunk
        self.longest = 0
        self.longest_start = 0

    def push(self, held: np.ndarray, start: int, continues: bool) -> None:
        """held: (n,) bool for samples from absolute `start`; `continues`: they follow the last chunk directly."""
        if not continues:
            self.length = 0
        if not len(held):
            return
        breaks = np.flatnonzero(~held)
        if not len(breaks):
            self._extend(start - self.length, self.length + len(held))
            self.length += len(held)
            return
        self._extend(start - self.length, self.length + int(breaks[0]))
        # the longest stretch of True strictly inside the chunk, between two breaks
        edges = np.concatenate([breaks, [len(held)]])
        gaps = np.diff(edges) - 1
        if len(gaps) and gaps.max() > 0:
            best = int(gaps.argmax())
            self._extend(start + int(edges[best]) + 1, int(gaps[best]))
        self.length = len(held) - int(breaks[-1]) - 1

    def _extend(self, start: int, length: int) -> None:
        if length > self.longest:
            self.longest, self.longest_start = length, start


class OutputGuard:
    """Cleans and watches the chunks of one generation at `sample_rate`, in order or not (fold mode: a stretch is
    followed across chunks only where one begins at the sample the one before ended)."""

    def __init__(self, sample_rate: int):
        self.sample_rate = sample_rate
        self.moment = max(1, round(MOMENT_SECONDS * sample_rate))
        self.non_finite = 0
        self.samples = 0
        self.peak = 0.0
        self.clipped = _Run()
        self.constant = _Run()
        self.constant_value = 0.0
        self._end = -1  # where the last chunk watched ended
        self._last = math.nan  # its last sample

    def clean(self, samples: np.ndarray) -> np.ndarray:
        """samples (n,) float → (n,) float32 in [-1, 1], each NaN or infinity replaced by 0 (silence) and counted."""
        samples = np.asarray(samples, dtype=np.float32)
        finite = np.isfinite(samples)
        if not finite.all():
            self.non_finite += int(samples.size - finite.sum())
            samples = np.where(finite, samples, np.float32(0.0))
        return np.clip(samples, -1.0, 1.0)

    def watch(self, samples: np.ndarray, start: int) -> None:
        """Take note of the final samples (n,) at absolute `start` (cleaned already)."""
        if not len(samples):
            return
        continues = start == self._end
        self.samples += len(samples)
        self.peak = max(self.peak, float(np.abs(samples).max()))
        self.clipped.push(np.abs(samples) >= FULL_SCALE, start, continues)
        previous = self._last if continues else math.nan
        # "same as the sample before": k flags in a row are a constant stretch of k + 1 samples
        same = np.empty(len(samples), dtype=bool)
        same[0] = samples[0] == previous
        same[1:] = samples[1:] == samples[:-1]
        longest = self.constant.longest
        self.constant.push(same & (np.abs(samples) >= DC_LEVEL), start, continues)
        if self.constant.longest > longest:
            offset = self.constant.longest_start - start
            self.constant_value = float(samples[max(offset, 0)])
        self._end, self._last = start + len(samples), float(samples[-1])

    @property
    def warning(self) -> str:
        """What is wrong with the output so far, in words ("" when nothing is)."""
        rate = self.sample_rate
        problems = []
        if self.non_finite:
            problems.append(
                f"{self.non_finite:,} NaN or infinite sample{'s' if self.non_finite != 1 else ''} "
                "(written as silence): the model's weights or its input are broken"
            )
        if self.clipped.longest > self.moment:
            problems.append(
                f"clipped at full scale for {self.clipped.longest / rate:.2f} s in a row "
                f"(from {self.clipped.longest_start / rate:.2f} s)"
            )
        elif self.constant.longest + 1 > self.moment:
            problems.append(
                f"stuck at the constant value {self.constant_value:+.3f} (DC) for "
                f"{(self.constant.longest + 1) / rate:.2f} s in a row "
                f"(from {(self.constant.longest_start - 1) / rate:.2f} s)"
            )
        if self.samples > self.moment and self.peak < SILENCE_LEVEL:
            problems.append(
                f"silent throughout (peak {20 * math.log10(max(self.peak, 1e-12)):.0f} dBFS): the input "
                "may be silent, or the model untrained"
            )
        if not problems:
            return ""
        return "the output is " + "; ".join(problems) + ". Check the model and the input (vocoscope inspect)."
