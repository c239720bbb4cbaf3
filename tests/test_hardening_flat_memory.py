"""Generation's own memory does not grow with the take (issue 22, item 9), and fold mode gives its spans out in order
as soon as they are final.

Between the model and the caller, generation holds only what the next samples need: the post-filters (the pitch
post-filter, the envelope post-filter reading the conditioning mel a few frames at a time) keep tens of milliseconds,
the reordering (`engine.fold.InOrder`) only spans that came before their turn, the output guard a few counters.
Measured as the process's peak resident memory (Linux) on a streaming stand-in model that holds nothing itself, with
both post-filters on: 3 minutes must cost what 1 minute costs. Before, the envelope's float64 copy of the mel and the
post-filters' whole-take buffers (5 bytes a sample) made 3 minutes cost 3 times as much as 1 (41 MB against 14)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.features import Conditioning, MelConfig
from engine.fold import Fold, InOrder, fold_layout
from engine.generate import generate
from engine.models.base import StreamBlock, Vocoder, block_ranges
from tests.helpers import EchoConfig, MelEcho

CONFIG = MelConfig()


@dataclass
class HumConfig:
    pitch_postfilter: float = 0.8
    envelope_postfilter: float = 1.0


class StreamingHum(Vocoder):
    """A stand-in vocoder that streams like the real ones and holds nothing that grows with the mel: each block is a
    110 Hz hum whose level follows the block's own mel frames."""

    family = "test-hum"

    def __init__(self):
        super().__init__(HumConfig(), CONFIG)

    @property
    def receptive_field(self) -> int:
        return 1

    @property
    def min_frames(self) -> int:
        return 1

    def forward(self, mel, audio):
        raise NotImplementedError

    def loss(self, output, target):
        raise NotImplementedError

    def stream(self, mel, *, block_frames=2, teacher=None, return_logits=False, generator=None, sampling=None):
        hop, rate = self.hop_length, self.mel_config.sample_rate
        for start, stop in block_ranges(mel.shape[-1], block_frames):
            t = np.arange(start * hop, stop * hop)
            level = np.repeat(mel[0, :, start:stop].mean(0).numpy(), hop)
            samples = (0.1 + 0.3 * level) * np.sin(2 * np.pi * 110.0 * t / rate)
            yield StreamBlock(samples=torch.from_numpy(samples.astype(np.float32)[None]))


def _status_bytes(key: str) -> int:
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise LookupError(key)


def peak_while_generating(minutes: float) -> tuple[int, int]:
    """(the most resident memory generation added at once, in bytes, beyond what was there with its input built;
    samples made) for a take of `minutes`. The kernel's high-water mark is reset first (/proc/self/clear_refs)."""
    model = StreamingHum()
    samples = int(minutes * 60 * CONFIG.sample_rate)
    frames = CONFIG.frames_for(samples)
    mel = (0.5 + 0.3 * np.sin(np.arange(frames) / 40.0)).astype(np.float32) * np.ones((CONFIG.n_mels, 1), np.float32)
    conditioning = Conditioning(mel=mel, mel_config=CONFIG, length=samples)
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")  # VmHWM := VmRSS
    base = _status_bytes("VmRSS")
    made = sum(len(chunk.samples) for chunk in generate(model, conditioning, device="cpu", seed=0))
    return _status_bytes("VmHWM") - base, made


@pytest.mark.slow
def test_generation_with_both_post_filters_holds_as_much_for_3_minutes_as_for_1():
    peak_while_generating(0.05)  # first calls: numba's compiled post-filter, the mel filters, torch's first tensors
    short, made_short = peak_while_generating(1.0)
    long, made_long = peak_while_generating(3.0)
    assert (made_short, made_long) == (960_000, 2_880_000)
    # before, 1 minute took 14 MB and 3 minutes 41 MB: the envelope's float64 mel and the whole-take buffers
    assert long < 1.2 * short + 2e6, f"3 min added {long / 1e6:.1f} MB at its peak, 1 min {short / 1e6:.1f} MB"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, 40), min_size=1, max_size=30), st.randoms(use_true_random=False))
def test_in_order_gives_out_every_span_once_as_soon_as_everything_before_it_came(lengths, random):
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    spans = [(int(start), np.arange(start, start + n, dtype=np.float32)) for start, n in zip(starts, lengths)]
    random.shuffle(spans)
    in_order, given_out, came = InOrder(), [], set()
    for start, samples in spans:
        came.add(start)
        given_out.extend(in_order.add(start, samples))
        # everything before the first span still missing is out, nothing after it
        missing = [s for s in starts if s not in came]
        expected_end = missing[0] if missing else sum(lengths)
        assert in_order.next == sum(len(part) for part in given_out) == expected_end
        assert in_order.held == sum(lengths[i] for i, s in enumerate(starts) if s in came and s >= expected_end)
    np.testing.assert_array_equal(np.concatenate(given_out), np.arange(sum(lengths), dtype=np.float32))


class ThreadedEcho(MelEcho):
    """MelEcho as if its loop were compiled: fold mode streams its segments side by side in threads."""

    def compiled_on(self, device) -> bool:
        return True


def folded_in_order(model, frames: int, fold: Fold) -> tuple[InOrder, list[tuple[int, int]], np.ndarray]:
    """Fold-mode chunks through InOrder, as `vocode --fold` writes them: (the InOrder, (start, samples given out so
    far) per chunk in arrival order, the take)."""
    mel = np.random.default_rng(0).uniform(0, 1, (CONFIG.n_mels, frames)).astype(np.float32)
    in_order, arrivals, take = InOrder(), [], []
    for chunk in generate(model, Conditioning(mel=mel, mel_config=CONFIG), device="cpu", seed=0, fold=fold):
        take.extend(in_order.add(chunk.start, chunk.samples))
        arrivals.append((chunk.start, in_order.next))
    return in_order, arrivals, np.concatenate(take)


def test_fold_segments_made_side_by_side_are_given_out_in_order_while_the_rest_is_made():
    """Threads take the segments in order: what waits for its turn is about one segment per thread, and the take
    flows out while later segments are made, the same samples as a run in order with the same crossfades."""
    fold = Fold(target_samples=1600, overlap_samples=200, threads=2)
    frames = 160
    segments, target, overlap = fold_layout(frames, fold, CONFIG.hop_length, 1)
    segment_samples = (target + overlap) * CONFIG.hop_length
    in_order, arrivals, take = folded_in_order(ThreadedEcho(EchoConfig(seconds_per_frame=0.002)), frames, fold)
    assert segments == 20 and len(take) == frames * CONFIG.hop_length
    assert in_order.held == 0 and in_order.most_held <= fold.threads * segment_samples
    last_segment_start = (segments - 1) * target * CONFIG.hop_length
    first_of_last = next(i for i, (start, _) in enumerate(arrivals) if start >= last_segment_start)
    assert arrivals[first_of_last][1] >= (segments - 1 - fold.threads) * target * CONFIG.hop_length
    mel = np.random.default_rng(0).uniform(0, 1, (1, CONFIG.n_mels, frames)).astype(np.float32)  # folded_in_order's
    expected = MelEcho(EchoConfig()).expected(torch.from_numpy(mel))[0].detach().numpy()
    np.testing.assert_allclose(take, expected, atol=1e-6)  # the segments of an echo crossfade into themselves


def test_fold_segments_made_as_one_batch_are_in_order_only_at_the_end():
    """Why fold mode cannot always give its take out as it is made: as one batch, every segment reaches its end at
    the batch's last step, so everything after segment 0's own samples waits for that step."""
    fold = Fold(target_samples=1600, overlap_samples=200)
    frames = 160
    segments, target, overlap = fold_layout(frames, fold, CONFIG.hop_length, 1)
    own = target * CONFIG.hop_length
    in_order, arrivals, take = folded_in_order(MelEcho(EchoConfig()), frames, fold)
    total = frames * CONFIG.hop_length
    assert len(take) == total and in_order.held == 0
    # before the batch's last block, nothing past segment 0's own samples was given out
    last_block = [i for i, (start, _) in enumerate(arrivals) if start < own][-1]
    assert max(out for _, out in arrivals[:last_block]) <= own
    assert in_order.most_held >= total - own - segments * overlap * CONFIG.hop_length
