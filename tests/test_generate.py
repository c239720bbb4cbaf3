"""Streaming generation: chunk sizes and starts, trimming, seeds, cancellation, devices and fold mode."""

import threading
import time

import numpy as np
import pytest
import torch

from engine.errors import VocoscopeError
from engine.features import Conditioning, MelConfig
from engine.fold import Fold, crossfade, fold_layout
from engine.generate import choose_device, generate
from engine.sampling import Sampling
from tests.helpers import EchoConfig, MelEcho

RATE, HOP = 16000, 200


def random_mel(frames: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-2, 2, (80, frames)).astype(np.float32)


def mel_conditioning(frames: int, seed: int = 0) -> Conditioning:
    return Conditioning(mel=random_mel(frames, seed), mel_config=MelConfig())


def assemble(chunks, total: int) -> np.ndarray:
    """Place chunks at their starts; fails if any sample is written twice or left out."""
    audio = np.zeros(total, np.float32)
    written = np.zeros(total, np.int64)
    for chunk in chunks:
        audio[chunk.start : chunk.start + len(chunk.samples)] = chunk.samples
        written[chunk.start : chunk.start + len(chunk.samples)] += 1
    assert np.array_equal(written, np.ones(total, np.int64)), "every sample exactly once"
    return audio


class CompiledEcho(MelEcho):
    """MelEcho as if it sampled in a compiled loop: fold mode streams its segments side by side in threads."""

    def compiled_on(self, device):
        return True


def test_chunks_are_contiguous_20_to_50_ms_and_trimmed_to_the_source_length():
    conditioning = mel_conditioning(21)
    conditioning.audio = np.zeros(21 * HOP - 150, np.float32)  # an audio source: its length rules
    chunks = list(generate(MelEcho(), conditioning, device="cpu"))
    starts = [c.start for c in chunks]
    lengths = [len(c.samples) for c in chunks]
    assert starts == list(np.cumsum([0] + lengths[:-1]))
    assert sum(lengths) == 21 * HOP - 150
    assert all(0.020 * RATE <= n <= 0.050 * RATE and n >= HOP for n in lengths[:-1])
    assert all(c.samples.dtype == np.float32 for c in chunks)
    last = chunks[-1].stats
    assert last.samples_done == last.total_samples == sum(lengths) and last.eta_seconds == 0.0
    assert last.real_time_factor == pytest.approx(last.samples_per_second / RATE)


def test_output_is_the_models_samples_clipped_to_unit_range():
    conditioning = mel_conditioning(9)
    audio = assemble(generate(MelEcho(), conditioning, device="cpu"), 9 * HOP)
    expected = MelEcho().expected(torch.from_numpy(conditioning.mel)[None])[0].detach().numpy()
    np.testing.assert_array_equal(audio, expected)


def test_num_samples_limits_the_output():
    chunks = list(generate(MelEcho(), mel_conditioning(30), num_samples=1234, device="cpu"))
    assert sum(len(c.samples) for c in chunks) == 1234


def test_same_seed_same_audio_other_seed_other_audio():
    from engine.models.loading import load_model

    model, _ = load_model("wavernn")
    conditioning = Conditioning(
        mel=np.random.default_rng(1).random((80, 3), dtype=np.float32), mel_config=model.mel_config
    )

    def run(seed):
        return np.concatenate([c.samples for c in generate(model, conditioning, device="cpu", seed=seed)])

    first, again, other = run(7), run(7), run(8)
    assert len(first) == 3 * HOP
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    assert np.abs(first).max() <= 1.0


@pytest.mark.parametrize("fold", [None, Fold(threads=2)], ids=["in order", "fold in threads"])
def test_cancel_stops_the_generator_within_100_ms_and_leaves_no_thread(fold):
    cancel = threading.Event()
    model = CompiledEcho(EchoConfig(seconds_per_frame=0.005))  # 1 s of wall time for 200 frames
    chunks = generate(model, mel_conditioning(200), device="cpu", cancel=cancel, fold=fold)
    next(chunks)
    cancel.set()
    began = time.perf_counter()
    remaining = list(chunks)
    assert time.perf_counter() - began < 0.1
    assert len(remaining) <= 1
    assert not [t for t in threading.enumerate() if t.name.startswith("vocoscope-fold")]


def test_a_fast_model_streams_whole_chunks_and_a_slow_one_a_hop_at_a_time():
    fast, slow = MelEcho(), MelEcho(EchoConfig(seconds_per_frame=0.06))  # a hop takes longer than BLOCK_SECONDS
    fast_chunks = list(generate(fast, mel_conditioning(21), device="cpu"))
    slow_chunks = list(generate(slow, mel_conditioning(9), device="cpu"))
    # 45 ms at hop 200 and 16 kHz is 3.6 frames: chunks of 4 frames. Unless the machine stalls, the fast model's
    # blocks are [1, 3, 4, 4, 4, 4, 1]; any blocks must end on every chunk's end.
    ends = np.cumsum(fast.blocks)
    assert fast.blocks[0] == 1 and 4 in fast.blocks and ends[-1] == 21
    assert set(range(4, 21, 4)) <= set(ends.tolist())
    assert slow.blocks == [1] * 9
    assert [len(c.samples) for c in fast_chunks] == [800] * 5 + [200]
    assert [len(c.samples) for c in slow_chunks] == [800, 800, 200]


@pytest.mark.parametrize("family", ["wavernn", "wavenet"])
def test_paced_blocks_make_the_audio_that_one_hop_blocks_make(family):
    from engine.models.registry import build

    model = build(family, {"lpc_order": 4}).eval()
    conditioning = mel_conditioning(11, seed=2)
    paced = np.concatenate([c.samples for c in generate(model, conditioning, device="cpu", seed=3)])
    mel = torch.from_numpy(conditioning.mel)[None]
    by_hops = torch.cat(
        [block.samples[0] for block in model.stream(mel, block_frames=1, generator=torch.Generator().manual_seed(3))]
    ).numpy()
    np.testing.assert_array_equal(paced, np.clip(by_hops, -1.0, 1.0))


def test_choose_device():
    assert choose_device("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    assert choose_device("cpu") == torch.device("cpu")
    with pytest.raises(VocoscopeError, match="expected auto, cpu or cuda"):
        choose_device("tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_asking_for_cuda_without_one_says_so():
    with pytest.raises(VocoscopeError, match="no usable CUDA GPU.*--device cpu"):
        list(generate(MelEcho(), mel_conditioning(3), device="cuda"))


# --- fold mode ---------------------------------------------------------------------------------------------


def test_crossfade_has_unity_gain():
    signal = np.random.default_rng(3).uniform(-1, 1, 400).astype(np.float32)
    faded = crossfade(signal, signal, np.arange(400), 400)
    np.testing.assert_allclose(faded, signal, rtol=0, atol=1e-7)
    ones = crossfade(np.ones(400, np.float32), np.zeros(400, np.float32), np.arange(400), 400)
    assert ones[0] > 0.99 and ones[-1] < 0.01 and np.all(np.diff(ones) < 0), "fades out the outgoing side"


def test_fold_layout_covers_the_mel_with_little_padding():
    segments, target, overlap = fold_layout(1000, Fold(target_samples=16000, overlap_samples=800), HOP, 3)
    assert overlap == 4 and target <= 80 and segments == 13
    assert 1000 <= segments * target + overlap < 1000 + segments
    assert fold_layout(50, Fold(), HOP, 3) == (1, 50, 0)


def test_fold_is_one_batch_and_equals_the_unfolded_output_when_segments_agree():
    calls = []
    model = MelEcho()
    stream = model.stream
    model.stream = lambda mel, **kw: calls.append(mel.shape) or stream(mel, **kw)
    conditioning = mel_conditioning(60)
    fold = Fold(target_samples=10 * HOP, overlap_samples=3 * HOP)
    folded = assemble(generate(model, conditioning, device="cpu", fold=fold), 60 * HOP)
    unfolded = assemble(generate(MelEcho(), conditioning, device="cpu"), 60 * HOP)
    assert calls == [(6, 80, 10 + 3)], "six segments of 10 + 3 frames in one batch"
    np.testing.assert_allclose(folded, unfolded, rtol=0, atol=1e-7)


@pytest.mark.parametrize("echo", [MelEcho, CompiledEcho], ids=["one batch", "segments in threads"])
def test_fold_reconstructs_outside_overlaps_exactly_and_crossfades_inside(echo):
    """Every segment starts cold (a 2-hop fade-in); that start lies in the overlap and is faded in."""
    warmup, overlap_frames, target_frames, frames = 2 * HOP, 3, 10, 57
    model = echo(EchoConfig(warmup_samples=warmup))
    conditioning = mel_conditioning(frames)
    fold = Fold(target_samples=target_frames * HOP, overlap_samples=overlap_frames * HOP, threads=3)
    chunks = list(generate(model, conditioning, device="cpu", fold=fold))
    folded = assemble(chunks, frames * HOP)
    segments, target, overlap = fold_layout(frames, Fold(target_frames * HOP, overlap_frames * HOP), HOP, 1)
    mel = torch.from_numpy(conditioning.mel)[None]
    steady = MelEcho().expected(mel)[0].detach().numpy()  # what a warm model makes: the unfolded output past the start
    unfolded = model.expected(mel)[0].detach().numpy()
    own, shared = target * HOP, overlap * HOP
    inside = np.zeros(frames * HOP, bool)
    for i in range(1, segments):
        inside[i * own : i * own + shared] = True
    np.testing.assert_array_equal(folded[~inside], unfolded[~inside])
    for i in range(1, segments):
        span = slice(i * own, i * own + shared)
        head = steady[span] * np.minimum(1.0, (np.arange(shared) + 1) / warmup)
        np.testing.assert_allclose(folded[span], crossfade(steady[span], head, np.arange(shared), shared), atol=1e-6)
    if echo is MelEcho:  # one batch: the segments go on together (in threads, in whatever order they run)
        assert chunks[0].start == 0 and sorted(c.start for c in chunks) != [c.start for c in chunks], (
            "fold emits spans as they become final, out of order, with absolute starts"
        )


@pytest.mark.slow
@pytest.mark.parametrize("family", ["wavernn", "wavenet"])
def test_a_compiled_fold_streams_each_segment_alone_and_makes_the_same_audio_on_any_number_of_threads(family):
    from engine.fold import fold_mel
    from engine.models.registry import build

    model = build(family, {"lpc_order": 4}).eval()
    conditioning, frames = mel_conditioning(40, seed=4), 40
    fold = Fold(target_samples=10 * HOP, overlap_samples=3 * HOP)
    segments, target, overlap = fold_layout(frames, fold, HOP, model.min_frames)

    def folded(threads):
        chunks = generate(model, conditioning, device="cpu", seed=9, fold=Fold(10 * HOP, 3 * HOP, threads))
        return assemble(chunks, frames * HOP)

    one, three = folded(1), folded(3)
    np.testing.assert_array_equal(one, three)
    # segment i is its own stream, drawn from the i-th of `segments` seeds that the run's generator gives
    seeds = torch.randint(0, 2**62, (segments,), generator=torch.Generator().manual_seed(9)).tolist()
    batch = fold_mel(torch.from_numpy(conditioning.mel), segments, target, overlap)
    own, shared = target * HOP, overlap * HOP
    for i in range(segments):
        alone = torch.cat(
            [
                block.samples[0]
                for block in model.stream(batch[i : i + 1], generator=torch.Generator().manual_seed(seeds[i]))
            ]
        ).numpy()
        mine = slice(shared if i else 0, own if i + 1 < segments else frames * HOP - i * own)
        np.testing.assert_array_equal(one[i * own + mine.start : i * own + mine.stop], np.clip(alone[mine], -1, 1))


class OutOfMemory(MelEcho):
    def stream(self, mel, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
        yield


def test_running_out_of_gpu_memory_is_a_plain_error():
    with pytest.raises(VocoscopeError, match="ran out of memory.*--device cpu.*turn fold mode off"):
        list(generate(OutOfMemory(), mel_conditioning(30), device="cpu", fold=True))


def test_conform_remakes_the_mel_the_models_way(warm_librosa):
    from engine.errors import InputError
    from engine.features import mel_spectrogram
    from engine.generate import conform
    from tests.helpers import tone

    other = MelConfig(sample_rate=22050, hop_length=256, n_mels=80, fmax=11025)
    audio = tone(0.1, 22050)
    conditioning = Conditioning(mel=mel_spectrogram(audio, other), mel_config=other, audio=audio, source_rate=22050)
    conformed = conform(conditioning, MelEcho())
    assert conformed.mel_config == MelConfig() and conformed.num_samples == 1600
    assert conformed.mel.shape == (80, 1 + 1600 // 200)
    assert conform(mel_conditioning(4), MelEcho()).mel.shape == (80, 4)
    with pytest.raises(InputError, match="64"):
        conform(Conditioning(mel=np.zeros((64, 5), np.float32), mel_config=MelConfig(n_mels=64)), MelEcho())


@pytest.mark.parametrize("family", ["wavernn", "wavenet"])
def test_a_temperature_for_one_generation_draws_as_the_model_with_it_would(family):
    from engine.models.registry import build

    model, hot = build(family, {"lpc_order": 4}).eval(), build(family, {"lpc_order": 4}).eval()
    hot.load_state_dict(model.state_dict())
    hot.config.temperature = 0.4
    conditioning = mel_conditioning(6, seed=2)

    def run(vocoder, **kwargs):
        return np.concatenate([c.samples for c in generate(vocoder, conditioning, device="cpu", seed=5, **kwargs)])

    own, at_04 = run(model), run(model, sampling=Sampling(temperature=0.4))
    np.testing.assert_array_equal(at_04, run(hot))
    assert not np.array_equal(own, at_04)
    np.testing.assert_array_equal(run(model), own)
    suspended = generate(model, conditioning, device="cpu", seed=5, sampling=Sampling(temperature=0.4))
    next(suspended)
    assert model.config.temperature == 1.0, "no config changes for a generation, even while one is suspended"
    np.testing.assert_array_equal(run(model), own)
    suspended.close()


def test_a_temperature_is_refused_where_it_does_not_apply():
    from engine.errors import ConfigError
    from engine.models.registry import build

    conditioning = mel_conditioning(6)
    mixture = build("wavernn", {"mode": "mol"})
    assert mixture.own_sampling.temperature is None and build("wavernn-dual").own_sampling.temperature is None
    with pytest.raises(ConfigError, match="mu-law models only"):
        next(generate(mixture, conditioning, device="cpu", sampling=Sampling(temperature=0.5)))
    for bad in (0.0, -1.0, float("nan"), "hot"):
        with pytest.raises(ConfigError, match="it must be a number from 0.001 to 100"):
            Sampling(temperature=bad)
