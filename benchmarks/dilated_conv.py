"""Which causal dilated convolution trains faster: nn.Conv1d(dilation=d) or folding time into the batch?

Times forward + backward (i) of one layer's convolution for each dilation of the built-in WaveNet, and
(ii) of the whole built-in WaveNet's training step, with the same weights under both implementations.
The faster one is WaveNetConfig.dilated_conv's default.

    python3 benchmarks/dilated_conv.py [--batch 4] [--samples 4000] [--repeats 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import platform
import time

import torch

from engine.features import MelConfig
from engine.models.dilated import CausalConv1d, FoldedCausalConv1d
from engine.models.wavenet.model import WaveNet, WaveNetConfig


def best_time(step, repeats: int) -> float:
    """Best wall time of `repeats` calls of step() after one warm-up call: the least disturbed by other work."""
    step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return min(times)


def conv_step(conv: torch.nn.Module, x: torch.Tensor):
    def step():
        conv.zero_grad(set_to_none=True)
        conv(x).square().mean().backward()

    return step


def model_step(model: WaveNet, mel: torch.Tensor, audio: torch.Tensor):
    def step():
        model.zero_grad(set_to_none=True)
        model.loss(model(mel, audio), audio).backward()

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--samples", type=int, default=4000, help="training clip length in samples")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    config = WaveNetConfig()
    mel_config = MelConfig()
    channels, k = config.residual_channels, config.kernel_size
    print(f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, {args.threads} thread(s)")
    print(
        f"config: residual {channels} → {2 * channels} channels, k={k}, batch {args.batch} × {args.samples} samples, "
        f"best of {args.repeats}, forward + backward"
    )
    print()
    print(f"{'dilation':>10} {'conv1d ms':>10} {'fold ms':>10} {'fold/conv1d':>12}")
    x = torch.randn(args.batch, channels, args.samples, requires_grad=True)
    totals = {"conv1d": 0.0, "fold": 0.0}
    for d in sorted(set(config.dilations)):
        conv = CausalConv1d(channels, 2 * channels, k, d)
        folded = FoldedCausalConv1d(channels, 2 * channels, k, d)
        folded.load_state_dict(conv.state_dict())
        t_conv = best_time(conv_step(conv, x), args.repeats)
        t_fold = best_time(conv_step(folded, x), args.repeats)
        totals["conv1d"] += t_conv * config.dilations.count(d)
        totals["fold"] += t_fold * config.dilations.count(d)
        print(f"{d:>10} {t_conv * 1e3:>10.2f} {t_fold * 1e3:>10.2f} {t_fold / t_conv:>12.2f}")
    print(
        f"{'all layers':>10} {totals['conv1d'] * 1e3:>10.2f} {totals['fold'] * 1e3:>10.2f} "
        f"{totals['fold'] / totals['conv1d']:>12.2f}"
    )

    frames = args.samples // mel_config.hop_length
    mel = torch.rand(args.batch, mel_config.n_mels, frames)
    audio = torch.rand(args.batch, frames * mel_config.hop_length) * 2 - 1
    reference = WaveNet(WaveNetConfig(dilated_conv="conv1d"), mel_config)
    model_times = {}
    for implementation in ("conv1d", "fold"):
        model = WaveNet(WaveNetConfig(dilated_conv=implementation), mel_config)
        model.load_state_dict(reference.state_dict())
        model_times[implementation] = best_time(model_step(model, mel, audio), args.repeats)
    print(
        f"{'model':>10} {model_times['conv1d'] * 1e3:>10.2f} {model_times['fold'] * 1e3:>10.2f} "
        f"{model_times['fold'] / model_times['conv1d']:>12.2f}   (whole WaveNet training step)"
    )
    print()
    print(f"faster for training (all layers' dilated convolutions, forward + backward): {min(totals, key=totals.get)}")
    print(f"faster whole training step: {min(model_times, key=model_times.get)}")


if __name__ == "__main__":
    main()
