"""Training speed on 1 and on N ranks of this machine: audio samples (and segments) trained on per second.

    python3 benchmarks/train_step.py [--ranks 1 2] [--steps 10] [--threads N] [--device cpu|cuda] [--config FILE]
                                     [--json]

Each row starts its ranks afresh (torch.multiprocessing, one process per rank; one rank is the one-process path,
with no process group), builds the same model from the same seed on 8 s of synthetic audio (written with soundfile,
its mels cached once beforehand), takes 2 warm-up steps, then times --steps steps of the global batch (batch_size,
split evenly over the ranks: the same work per step on every row). Each rank gets --threads torch threads on the
CPU (default cores / ranks, as `vocoscope train --nproc-per-node` gives it), or the GPU of its local rank (CUDA: one
GPU per rank). The first row is the reference the others' speed-up is measured against, in the same run. On a loaded
machine give --threads 1: torch's threads wait on each other at every operation when the cores are busy
(engine/threads.py), which would charge one rank of several threads for other people's work.

The model is a WaveNet (2 × 10 layers, 32 residual / 64 skip channels) trained on batches of 8 segments of 8 frames,
as the pitch-conditioned WaveNet of the README is trained; --config FILE takes train's JSON ({"model", "mel",
"train"}) instead.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import socket
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile
import torch
import torch.multiprocessing

from engine import distributed
from engine.devices import cpu_cores
from engine.distributed import World
from engine.generate import choose_device
from engine.train import Trainer

SECTIONS = {
    "model": {"blocks": 2, "layers": 10, "residual_channels": 32, "skip_channels": 64},
    "mel": {},
    "train": {"batch_size": 8, "segment_frames": 8, "context_frames": 1, "seed": 1234},
}
WARM_UP_STEPS = 2


def write_audio(folder: Path, rate: int = 16000) -> Path:
    """Four 2 s recordings: gliding tones in noise, so the batches differ from step to step."""
    rng = np.random.default_rng(0)
    t = np.arange(2 * rate) / rate
    for index in range(4):
        glide = 2 * np.pi * (150 + 40 * index) * (t + 0.3 * t**2)
        soundfile.write(
            str(folder / f"take{index}.wav"), 0.4 * np.sin(glide) + 0.02 * rng.standard_normal(t.size), rate
        )
    return folder


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def time_steps(
    rank: int, size: int, port: int, data: str, sections: dict, device_name: str, steps: int, threads: int, result: str
) -> None:
    """One rank of a row: warm up, time `steps` steps; rank 0 writes {"seconds", "device", ...} to `result`."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(threads)
    world = World(rank, size, rank, size)
    joined = (
        distributed.joined(world, device_name)
        if world.distributed
        else contextlib.nullcontext(choose_device(device_name))
    )
    with joined as device:
        trainer = Trainer.new("wavenet", data, sections=sections, device=device, world=world)
        for _ in range(WARM_UP_STEPS):
            trainer.step()
        started = time.perf_counter()
        for _ in range(steps):
            trainer.step()  # its loss is read back: each step has finished (and synchronised the ranks)
        seconds = time.perf_counter() - started
        if world.main:
            config = trainer.config
            Path(result).write_text(
                json.dumps(
                    {
                        "seconds": seconds,
                        "device": str(device),
                        "parameters": trainer.model.parameter_count(),
                        "segment_samples": config.segment_frames * trainer.model.hop_length,
                        "batch_size": config.batch_size,
                        "backend": distributed.backend(),
                    }
                )
            )


def measure(size: int, data: Path, sections: dict, device: str, steps: int, threads: int | None) -> dict:
    """One row: `size` ranks timing `steps` steps, each with `threads` torch threads (default cores / size)."""
    threads = threads or (max(1, cpu_cores() // size) if device == "cpu" else 1)
    with tempfile.TemporaryDirectory() as folder:
        result = Path(folder) / "result.json"
        torch.multiprocessing.spawn(
            time_steps, nprocs=size, args=(size, free_port(), str(data), sections, device, steps, threads, str(result))
        )
        measured = json.loads(result.read_text())
    samples = measured["batch_size"] * measured["segment_samples"] * steps
    return {
        "ranks": size,
        "threads_per_rank": threads,
        "device": measured["device"],
        "backend": measured["backend"],
        "steps": steps,
        "seconds_per_step": measured["seconds"] / steps,
        "segments_per_second": measured["batch_size"] * steps / measured["seconds"],
        "samples_per_second": samples / measured["seconds"],
        "parameters": measured["parameters"],
        "batch_size": measured["batch_size"],
        "segment_samples": measured["segment_samples"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2], help="rank counts to time (1 2)")
    parser.add_argument("--steps", type=int, default=10, help="steps timed per row, after 2 warm-up steps (10)")
    parser.add_argument("--threads", type=int, help="torch threads per rank (default: cores / ranks)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--config", type=Path, help="train's JSON config instead of the built-in WaveNet")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = parser.parse_args()
    sections = json.loads(args.config.read_text()) if args.config else SECTIONS
    sections = {key: sections.get(key, {}) for key in ("model", "mel", "train")}
    machine = (
        f"{platform.processor() or platform.machine()}, {cpu_cores()} cores (load average "
        f"{os.getloadavg()[0]:.1f}), torch {torch.__version__}"
        + (f", {torch.cuda.device_count()} × {torch.cuda.get_device_name(0)}" if args.device == "cuda" else "")
    )
    with tempfile.TemporaryDirectory() as folder:
        data = write_audio(Path(folder))
        Trainer.new("wavenet", data, sections=sections, device="cpu")  # caches the mels once
        rows = [measure(size, data, sections, args.device, args.steps, args.threads) for size in args.ranks]
    reference = rows[0]["samples_per_second"]
    for row in rows:
        row["speed_up"] = row["samples_per_second"] / reference
    if args.json:
        print(json.dumps({"machine": machine, "sections": sections, "rows": rows}, indent=1))
        return
    first = rows[0]
    print(f"machine: {machine}")
    print(
        f"model: WaveNet, {first['parameters']:,} parameters; global batch {first['batch_size']} segments of "
        f"{first['segment_samples']} samples; {args.steps} steps timed after {WARM_UP_STEPS} warm-up steps"
    )
    print(
        f"{'ranks':>5} {'threads/rank':>12} {'device':>8} {'s/step':>8} {'segments/s':>11} {'samples/s':>10} "
        f"{'speed-up':>9}"
    )
    for row in rows:
        print(
            f"{row['ranks']:>5} {row['threads_per_rank']:>12} {row['device']:>8} {row['seconds_per_step']:>8.3f} "
            f"{row['segments_per_second']:>11.2f} {row['samples_per_second']:>10.0f} {row['speed_up']:>8.2f}x"
        )


if __name__ == "__main__":
    main()
