"""Generation speed of every model family, at the bundled sizes and at published ones, on every device present.

    taskset -c 0 python3 benchmarks/speed.py [--seconds 1.0] [--fold-seconds 3.0] [--threads 1] [--json]
                                             [--only NAME ...]

Each row streams a random mel (normalised range; the speed does not depend on what it says) through
`engine.generate.generate`, the path `vocode` and the window take, at a fixed seed:
- unbatched: in order, one stream. samples/s (wall and per CPU second: the second does not depend on the load of a
  shared machine), × real time at 16 kHz (audio seconds per wall second), and the time to first audio (from the
  call to the first chunk: the stream's start, the recurrent warm-up, the first block);
- folded: `generate(..., fold=True)` (engine/fold.py) over a longer mel: segments side by side, in threads for a
  compiled loop, as one batch for a torch loop;
- ops/sample: the aten operators the torch loop (the one CUDA runs) dispatches per generated sample, counted by
  torch.profiler over one frame after a warm-up: a proxy for kernel launches on a GPU. 0 where a compiled loop would
  run instead on the CPU is not meant: the count is always the torch loop's.

The models: the bundled checkpoints (resources/models/*.safetensors) and the dual-softmax built-in (untrained, its
default size); fatchord's WaveRNN size (rnn_dims 512, fc_dims 512, 9-bit mu-law, a 10-block resnet of 128
channels; our hop of 200 with factors 5·5·8 for its 5·5·11); r9y9's WaveNet size (24 layers in 4 stacks, residual
512, skip 256, a mixture of logistics); the paper's dual-softmax WaveRNN at H 896 dense (the reference of the rows
below it) and pruned to 90% and 96% of the 16×1 blocks of R and O1–O4, and to 96% of R's only (the paper's GRU
alone). Pruning here is one-shot by magnitude on random weights: the speed of a pruned model does not depend on how
its weights were learnt. Run on one core, with one torch thread (engine/threads.py's policy for generation).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from engine import checkpoints
from engine.features import Conditioning, MelConfig
from engine.generate import generate
from engine.models.base import Vocoder
from engine.models.upsample import UpsampleConfig
from engine.models.wavenet.model import WaveNet, WaveNetConfig
from engine.models.wavernn.model import WaveRNN, WaveRNNConfig
from engine.models.wavernn_dual.model import PAPER_HIDDEN_SIZE, DualSoftmaxConfig, DualSoftmaxWaveRNN
from engine.models.wavernn_dual.pruning import PRUNABLE, SparsityConfig

RESOURCES = Path(__file__).resolve().parents[1] / "resources" / "models"
REAL_TIME_RATE = 16000
SEED = 0


def bundled() -> list[tuple[str, str, Vocoder]]:
    """(name, size, model) of each bundled checkpoint, and the dual-softmax built-in."""
    from engine.models.loading import load_model

    rows = [(path.stem, "bundled", checkpoints.load(path).model) for path in sorted(RESOURCES.glob("*.safetensors"))]
    return rows + [("wavernn-dual", "built-in H 256", load_model("wavernn-dual")[0])]


def published() -> list[tuple[str, str, Vocoder]]:
    """(name, size, model) at the published sizes, random weights (module docstring)."""
    mel = MelConfig()
    fatchord = WaveRNNConfig(
        rnn_dims=512, fc_dims=512, mode="mulaw", bits=9, upsample=UpsampleConfig(factors=(5, 5, 8), resnet_blocks=10)
    )
    r9y9 = WaveNetConfig(blocks=4, layers=6, residual_channels=512, skip_channels=256, output="mol")
    rows = [("wavernn", "fatchord 512", WaveRNN(fatchord, mel)), ("wavenet", "r9y9 24x512", WaveNet(r9y9, mel))]
    for label, fraction, layers in (
        ("H 896 dense", 0.0, PRUNABLE),
        ("H 896 90% R,O", 0.9, PRUNABLE),
        ("H 896 96% R,O", 0.96, PRUNABLE),
        ("H 896 96% R", 0.96, ("R",)),
    ):
        sparsity = SparsityConfig(target=fraction, layers=layers)
        model = DualSoftmaxWaveRNN(DualSoftmaxConfig(hidden_size=PAPER_HIDDEN_SIZE, sparsity=sparsity), mel)
        if fraction:
            model.pruning.prune_to(fraction)
        rows.append(("wavernn-dual", label, model))
    return rows


@dataclass
class Row:
    name: str
    size: str
    device: str
    loop: str
    parameters: int
    sparsity: str
    samples_per_second: float = 0.0
    samples_per_cpu_second: float = 0.0
    real_time: float = 0.0
    first_audio_seconds: float = 0.0
    folded_samples_per_second: float = 0.0
    folded_real_time: float = 0.0
    ops_per_sample: float = 0.0


def random_mel(model: Vocoder, seconds: float) -> Conditioning:
    frames = max(model.min_frames, round(seconds * model.mel_config.sample_rate / model.hop_length))
    mel = np.random.default_rng(SEED).random((model.mel_config.n_mels, frames), dtype=np.float32)
    return Conditioning(mel=mel, mel_config=model.mel_config)


def timed_generation(
    model: Vocoder, conditioning: Conditioning, device: str, fold: bool
) -> tuple[float, float, float, int]:
    """(wall seconds, CPU seconds, seconds to the first chunk, samples) of one generation."""
    begin, begin_cpu = time.perf_counter(), time.process_time()
    first = None
    produced = 0
    for chunk in generate(model, conditioning, device=device, seed=SEED, fold=fold):
        if first is None:
            first = time.perf_counter() - begin
        produced += len(chunk.samples)
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - begin, time.process_time() - begin_cpu, first or 0.0, produced


def torch_loop_ops(model: Vocoder, device: str) -> float:
    """aten operators dispatched per sample by the torch loop, over one frame after the warm-up (module docstring)."""
    compiled = getattr(model, "compiled_cpu_loop", None)
    if compiled is not None:
        model.compiled_cpu_loop = False
    try:
        mel = torch.from_numpy(random_mel(model, 0.0).mel).unsqueeze(0).to(device)
        stream = model.stream(mel, block_frames=1, generator=torch.Generator(device=device).manual_seed(SEED))
        next(stream)  # the start and the warm-up, not counted
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profile:
            samples = next(stream).samples.shape[1]
        dispatched = sum(
            1
            for event in profile.events()
            if event.name.startswith("aten::")
            and (event.cpu_parent is None or not event.cpu_parent.name.startswith("aten::"))
        )
        return dispatched / samples
    finally:
        if compiled is not None:
            model.compiled_cpu_loop = compiled


def measure(name: str, size: str, model: Vocoder, device: str, seconds: float, fold_seconds: float) -> Row:
    model.eval().to(device)
    loop = "compiled" if model.compiled_on(torch.device(device)) else "torch"
    row = Row(name, size, device, loop, model.parameter_count(), getattr(model, "sparsity_note", ""))
    timed_generation(model, random_mel(model, 0.05), device, fold=False)  # compile or load the loop, warm caches
    wall, cpu, first, produced = timed_generation(model, random_mel(model, seconds), device, fold=False)
    row.samples_per_second, row.samples_per_cpu_second = produced / wall, produced / cpu
    row.real_time, row.first_audio_seconds = produced / wall / REAL_TIME_RATE, first
    if fold_seconds:
        wall, _, _, produced = timed_generation(model, random_mel(model, fold_seconds), device, fold=True)
        row.folded_samples_per_second, row.folded_real_time = produced / wall, produced / wall / REAL_TIME_RATE
    row.ops_per_sample = torch_loop_ops(model, device)
    return row


def devices() -> list[str]:
    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


HEADER = (
    f"{'model':<13}{'size':<16}{'device':<7}{'loop':<9}{'params':>10}  {'samples/s':>9}{'per CPU s':>10}"
    f"{'x RT':>6}{'first':>7}{'folded/s':>9}{'fold xRT':>9}{'ops/sample':>11}{'vs ref':>7}"
)


def table_line(row: Row, reference: float | None) -> str:
    """One row of the table; `reference`: the dense H 896 row's samples per CPU second on this device, if measured."""
    ratio = f"{row.samples_per_cpu_second / reference:.1f}x" if "%" in row.size and reference else ""
    return (
        f"{row.name:<13}{row.size:<16}{row.device:<7}{row.loop:<9}{row.parameters:>10,}  "
        f"{row.samples_per_second:>9.0f}{row.samples_per_cpu_second:>10.0f}{row.real_time:>6.2f}"
        f"{row.first_audio_seconds:>6.2f}s{row.folded_samples_per_second:>9.0f}{row.folded_real_time:>9.2f}"
        f"{row.ops_per_sample:>11.1f}{ratio:>7}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="audio per unbatched run (1.0)")
    parser.add_argument("--fold-seconds", type=float, default=3.0, help="audio per folded run; 0 skips them (3.0)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1)")
    parser.add_argument(
        "--only", nargs="*", default=None, metavar="NAME", help="rows whose model or size contains one of these words"
    )
    parser.add_argument("--json", action="store_true", help="print the rows as JSON instead of a table")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    affinity = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    machine = (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, running on {affinity}, "
        f"load average {os.getloadavg()[0]:.1f}; torch {torch.__version__}, {args.threads} thread(s); "
        f"{args.seconds:g} s unbatched, {args.fold_seconds:g} s folded"
    )
    if not args.json:
        print(machine)
        print(HEADER)
        print("-" * len(HEADER), flush=True)
    rows, reference = [], {}
    for name, size, model in bundled() + published():
        if args.only and not any(word in f"{name} {size}" for word in args.only):
            continue
        for device in devices():
            row = measure(name, size, model, device, args.seconds, args.fold_seconds)
            rows.append(row)
            if size.endswith("dense"):
                reference[device] = row.samples_per_cpu_second
            if not args.json:
                print(table_line(row, reference.get(device)), flush=True)
    if args.json:
        print(json.dumps({"machine": machine, "rows": [row.__dict__ for row in rows]}, indent=2))
    else:
        print(
            "x RT: audio seconds per wall second at 16 kHz; first: seconds to the first chunk; vs ref: per CPU "
            "second, against the dense H 896 row"
        )


if __name__ == "__main__":
    main()
