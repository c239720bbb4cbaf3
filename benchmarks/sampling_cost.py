"""Per-step cost of drawing a class from categorical logits, as the streaming loops do it.

`engine.models.coding.sample_classes` (CDF inversion, one uniform per draw, the uniforms drawn a block at a
time) against the Gumbel-max trick with its noise drawn a block at a time (the reference, which needs N·C noise
values per step where CDF inversion needs N), and against CDF inversion that rescales each uniform by the
CDF's last entry (two more small ops per step). Each row times whole blocks, noise included, per step.

    python3 benchmarks/sampling_cost.py [--threads 1] [--block 400] [--repeats 30]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from typing import Callable

import torch

from engine.models.coding import sample_classes


def cdf_inversion(steps: tuple[torch.Tensor, ...], generator: torch.Generator) -> None:
    """`sample_classes` over one block of logits, each (N, C)."""
    batch = steps[0].shape[0]
    for logits, uniform in zip(steps, torch.rand(len(steps), batch, 1, generator=generator).unbind(0)):
        sample_classes(logits, uniform)


def cdf_inversion_rescaled(steps: tuple[torch.Tensor, ...], generator: torch.Generator) -> None:
    """CDF inversion with the uniform scaled by the CDF's last entry instead of clamping the index."""
    batch, classes = steps[0].shape
    for logits, uniform in zip(steps, torch.rand(len(steps), batch, 1, generator=generator).unbind(0)):
        cdf = torch.softmax(logits, dim=1).cumsum_(dim=1)
        torch.searchsorted(cdf, uniform * cdf[:, -1:]).clamp_(max=classes - 1)


def gumbel_max(steps: tuple[torch.Tensor, ...], generator: torch.Generator) -> None:
    """argmax(logits + Gumbel noise), the noise for the whole block drawn first."""
    uniform = torch.rand(len(steps), *steps[0].shape, generator=generator).clamp_(1e-10, 1.0 - 1e-7)
    for logits, noise in zip(steps, uniform.log_().neg_().log_().neg_().unbind(0)):
        torch.argmax(logits + noise, dim=1, keepdim=True)


METHODS: dict[str, Callable[[tuple[torch.Tensor, ...], torch.Generator], None]] = {
    "CDF inversion (sample_classes)": cdf_inversion,
    "CDF inversion, rescaled uniform": cdf_inversion_rescaled,
    "Gumbel-max (reference)": gumbel_max,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--block", type=int, default=400, help="steps per block (2 frames of hop 200)")
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs (load average {os.getloadavg()[0]:.1f}), "
        f"torch {torch.__version__}, {args.threads} thread(s), blocks of {args.block} steps, inference mode"
    )
    print(f"{'logits':<10} {'method':<33} {'min µs/step':>12} {'median µs/step':>15}")
    generator = torch.Generator().manual_seed(0)
    with torch.inference_mode():
        for batch in (1, 8):
            steps = torch.randn(args.block, batch, 512, generator=generator).unbind(0)
            per_step: dict[str, list[float]] = {name: [] for name in METHODS}
            for repeat in range(args.repeats + 2):
                # Interleaved, so a burst of load on a shared machine hits every method alike.
                for name, method in METHODS.items():
                    start = time.perf_counter()
                    method(steps, generator)
                    if repeat >= 2:  # the first two rounds warm up
                        per_step[name].append((time.perf_counter() - start) / args.block * 1e6)
            for name, times in per_step.items():
                print(f"({batch}, 512)  {name:<33} {min(times):12.2f} {statistics.median(times):15.2f}")


if __name__ == "__main__":
    main()
