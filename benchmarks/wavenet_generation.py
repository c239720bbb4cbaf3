"""Fast WaveNet generation against naive generation, and memory while generating a long input.

1. Speed, one model, one run: samples/s of incremental generation (`WaveNet.stream`: ring buffers, O(layers)
   per sample; on the CPU in the compiled loop of engine/models/wavenet/kernel.py, and in the torch loop that
   CUDA runs) and of naive generation (each sample recomputes the whole network over its receptive field).
   The naive loop gets the conditioning precomputed for the whole mel, so only the network is timed; it starts
   after a teacher-forced history of one receptive field, so every step pays the full window. Its logits are
   checked against the incremental ones on the same samples, so both compute the same thing.
2. Memory: peak growth of the process's resident set size (RSS, sampled from /proc/self/statm every 10 ms by a
   thread) while streaming 60 s of audio from a 60 s mel, above the RSS once the model and the mel exist.
   RSS, not tracemalloc: tracemalloc sees only Python's allocator, not torch's tensor memory. The samples are
   consumed block by block (counted, not kept), as a player would. The run uses a small model (few layers and
   channels) so 60 s take minutes on a shared CPU; the memory a generation holds does not grow with length for
   any size: one ring buffer per layer and one block of conditioning at a time.

    python3 benchmarks/wavenet_generation.py [--threads 1] [--incremental-samples 4000] [--naive-samples 60]
                                             [--memory-seconds 60]
"""

from __future__ import annotations

import argparse
import os
import platform
import threading
import time

import numpy as np
import torch

from engine.features import MelConfig, mulaw_decode
from engine.models.coding import sample_classes
from engine.models.upsample import UpsampleConfig
from engine.models.wavenet.model import WaveNet, WaveNetConfig, previous_classes

MEMORY_MODEL = WaveNetConfig(
    blocks=1,
    layers=4,
    residual_channels=16,
    skip_channels=32,
    upsample=UpsampleConfig(resnet_blocks=2, resnet_channels=32, aux_channels=16),
)


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class RssSampler:
    """Samples the RSS every `interval` seconds on a thread; `peak` is the largest seen."""

    def __init__(self, interval: float = 0.01):
        self.interval = interval
        self.peak = rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, rss_bytes())

    def __enter__(self) -> "RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())


def incremental_rate(model: WaveNet, mel: torch.Tensor, samples: int) -> float:
    """Samples/s of free-running `stream` (sampling its own output) over the first `samples` samples."""
    generator = torch.Generator().manual_seed(0)
    frames = -(-samples // model.hop_length)
    start = time.perf_counter()
    done = sum(block.samples.shape[1] for block in model.stream(mel[:, :, :frames], generator=generator))
    return done / (time.perf_counter() - start)


def naive_generation(
    model: WaveNet, mel: torch.Tensor, history: torch.Tensor, samples: int
) -> tuple[float, torch.Tensor, torch.Tensor]:
    """Naive generation after a teacher-forced `history` (1, ≥ RF): each step runs the network on its last RF inputs.

    Returns (samples/s, the full audio (1, len(history) + samples), the naive logits (1, C, samples)).
    """
    rf = model.receptive_field
    bits = model.config.bits
    generator = torch.Generator().manual_seed(0)
    with torch.inference_mode():
        mel_up, aux = model.upsample(mel)
        cond = model.conditioning(mel_up, aux, None)
        audio = torch.cat([history, torch.zeros(1, samples)], dim=1)
        inputs = previous_classes(audio, bits)
        decode = torch.from_numpy(mulaw_decode(np.arange(2**bits), bits))
        logits = []
        first = history.shape[1]
        start = time.perf_counter()
        for t in range(first, first + samples):
            column = model.stack(inputs[:, t - rf + 1 : t + 1], cond[:, :, t - rf + 1 : t + 1])[:, :, -1]
            drawn = sample_classes(column, torch.rand(1, 1, generator=generator))
            audio[:, t] = decode[drawn]
            if t + 1 < inputs.shape[1]:
                inputs[:, t + 1] = drawn
            logits.append(column)
        rate = samples / (time.perf_counter() - start)
    return rate, audio, torch.stack(logits, dim=-1)


def memory_growth(model: WaveNet, seconds: float, block_frames: int) -> tuple[int, int, list[tuple[float, float]]]:
    """Stream `seconds` of audio; returns (peak RSS growth in bytes, samples made, [(audio s, RSS growth MB)])."""
    hop, rate = model.hop_length, model.mel_config.sample_rate
    frames = int(seconds * rate) // hop
    mel = torch.rand(1, model.mel_config.n_mels, frames, generator=torch.Generator().manual_seed(3))
    generator = torch.Generator().manual_seed(0)
    checkpoints = []
    baseline = rss_bytes()
    done = 0
    next_report = 0.0
    with RssSampler() as sampler:
        for block in model.stream(mel, block_frames=block_frames, generator=generator):
            done += block.samples.shape[1]
            if done / rate >= next_report:
                checkpoints.append((done / rate, (rss_bytes() - baseline) / 2**20))
                next_report += seconds / 6
    checkpoints.append((done / rate, (rss_bytes() - baseline) / 2**20))
    return sampler.peak - baseline, done, checkpoints


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--incremental-samples", type=int, default=4000)
    parser.add_argument("--naive-samples", type=int, default=60)
    parser.add_argument("--memory-seconds", type=float, default=60.0)
    parser.add_argument("--block-frames", type=int, default=4)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    mel_config = MelConfig()
    torch.manual_seed(0)
    model = WaveNet(WaveNetConfig(), mel_config).eval()
    config, rf = model.config, model.receptive_field
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs (load average {os.getloadavg()[0]:.1f}), "
        f"torch {torch.__version__}, {args.threads} thread(s)"
    )
    print(
        f"model: WaveNet {config.blocks} blocks × {config.layers} layers, k={config.kernel_size}, "
        f"{config.residual_channels} residual / {config.skip_channels} skip channels, output {config.output}, "
        f"receptive field {rf}, {model.parameter_count() / 1e6:.2f} M parameters, hop {mel_config.hop_length}"
    )

    total = max(args.incremental_samples, rf + args.naive_samples)
    mel = torch.rand(
        1, mel_config.n_mels, -(-total // mel_config.hop_length), generator=torch.Generator().manual_seed(1)
    )
    fast = incremental_rate(model, mel, args.incremental_samples)
    model.compiled_cpu_loop = False
    fast_torch = incremental_rate(model, mel, args.incremental_samples)
    model.compiled_cpu_loop = True
    history = torch.rand(1, rf, generator=torch.Generator().manual_seed(2)) * 1.6 - 0.8
    # the naive run and its check share one mel: the upsampler's reflect padding makes the last frames of a
    # shorter mel condition differently
    naive_mel = mel[:, :, : -(-(rf + args.naive_samples) // mel_config.hop_length)]
    naive, audio, naive_logits = naive_generation(model, naive_mel, history, args.naive_samples)
    teacher = torch.cat([audio, torch.zeros(1, naive_mel.shape[-1] * mel_config.hop_length - audio.shape[1])], dim=1)
    streamed = torch.cat([b.logits for b in model.stream(naive_mel, teacher=teacher, return_logits=True)], dim=-1)
    mismatch = (streamed[:, :, rf : rf + args.naive_samples] - naive_logits).abs().max().item()

    print()
    print(f"{'generation':<34} {'samples/s':>10} {'samples timed':>14}")
    print(f"{'incremental, compiled loop':<34} {fast:>10.1f} {args.incremental_samples:>14}")
    print(f"{'incremental, torch loop':<34} {fast_torch:>10.1f} {args.incremental_samples:>14}")
    print(f"{'naive (recompute RF per sample)':<34} {naive:>10.1f} {args.naive_samples:>14}")
    print(
        f"speed-up: {fast / naive:.1f}× compiled, {fast_torch / naive:.1f}× torch loop   (incremental vs naive logits "
        f"on the same samples: max |Δ| = {mismatch:.1e})"
    )

    small = WaveNet(MEMORY_MODEL, mel_config).eval()
    c = small.config
    print()
    print(
        f"memory model: {c.blocks} block × {c.layers} layers, k={c.kernel_size}, {c.residual_channels} residual / "
        f"{c.skip_channels} skip channels, {small.parameter_count() / 1e3:.0f} k parameters; "
        f"{args.memory_seconds:.0f} s of audio at {mel_config.sample_rate} Hz, block of {args.block_frames} frames"
    )
    start = time.perf_counter()
    peak, done, checkpoints = memory_growth(small, args.memory_seconds, args.block_frames)
    elapsed = time.perf_counter() - start
    print(f"{'audio generated (s)':>20} {'RSS growth (MB)':>16}")
    for audio_seconds, growth in checkpoints:
        print(f"{audio_seconds:>20.1f} {growth:>16.1f}")
    print(
        f"peak RSS growth: {peak / 2**20:.1f} MB over {done} samples ({done / mel_config.sample_rate:.1f} s of audio) "
        f"in {elapsed:.0f} s ({done / elapsed:.0f} samples/s); limit 200 MB"
    )


if __name__ == "__main__":
    main()
