"""Samples per second of WaveRNN streaming (generation, no teacher) on the CPU, one torch thread.

    python3 benchmarks/wavernn_stream.py [--seconds 1.0] [--threads 1]

Prints one row per (model, size, sampling loop, batch N): samples/s per batch row, all rows together, and the
real-time factor at 16 kHz (audio seconds per wall second, per row), and samples per CPU second per row (the
number to compare across a loaded machine). Each model's N = 1 row is the reference for its N = 8 row. The
mu-law WaveRNN and the dual-softmax WaveRNN sample on the CPU in compiled loops (engine/models/wavernn/kernel.py,
wavernn_dual/kernel.py); their "torch" rows run the torch loop (the one CUDA runs) on the same model, the reference
for the "compiled" rows. The first two models are the size of the bundled default WaveRNN, without and with linear
prediction of order 16 (8-bit excitation); the dual-softmax WaveRNN runs at its default size (H 256), at H 512
and at the paper's (H 896).
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import torch

from engine.features import MelConfig
from engine.models.wavernn.model import WaveRNN, WaveRNNConfig
from engine.models.wavernn_dual.model import PAPER_HIDDEN_SIZE, DualSoftmaxConfig, DualSoftmaxWaveRNN


def measure(model: torch.nn.Module, batch: int, seconds: float) -> tuple[float, float]:
    """Samples per wall second and per CPU second, per batch row, streaming about `seconds` of 16 kHz audio
    after a warm-up block. On a shared machine the CPU-second rate is the one that does not depend on the load."""
    hop = model.hop_length
    frames = max(model.min_frames, int(seconds * model.mel_config.sample_rate / hop))
    mel = torch.rand(batch, model.mel_config.n_mels, frames)
    generator = torch.Generator().manual_seed(0)
    next(iter(model.stream(mel[:, :, : model.min_frames], generator=generator)))
    begin, begin_cpu = time.perf_counter(), time.process_time()
    produced = sum(block.samples.shape[1] for block in model.stream(mel, generator=generator))
    return produced / (time.perf_counter() - begin), produced / (time.process_time() - begin_cpu)


def has_compiled_loop(model: torch.nn.Module) -> bool:
    """Whether the model samples on the CPU in a compiled loop: the dual-softmax WaveRNN and the mu-law WaveRNN do,
    the mixture-of-logistics WaveRNN has the torch loop only."""
    return isinstance(model, DualSoftmaxWaveRNN) or model.config.mode == "mulaw"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    mel_config = MelConfig()
    models = [
        ("wavernn mulaw", "rnn 96", WaveRNN(WaveRNNConfig(rnn_dims=96, fc_dims=96), mel_config)),
        ("wavernn lpc16", "rnn 96", WaveRNN(WaveRNNConfig(rnn_dims=96, fc_dims=96, bits=8, lpc_order=16), mel_config)),
        ("wavernn mulaw", "rnn 256", WaveRNN(WaveRNNConfig(rnn_dims=256, fc_dims=256), mel_config)),
        ("wavernn mulaw", "rnn 384", WaveRNN(WaveRNNConfig(rnn_dims=384, fc_dims=384), mel_config)),
        ("wavernn mol", "rnn 384", WaveRNN(WaveRNNConfig(rnn_dims=384, fc_dims=384, mode="mol"), mel_config)),
        ("wavernn-dual", "H 256", DualSoftmaxWaveRNN(DualSoftmaxConfig(hidden_size=256), mel_config)),
        ("wavernn-dual", "H 512", DualSoftmaxWaveRNN(DualSoftmaxConfig(hidden_size=512), mel_config)),
        ("wavernn-dual", "H 896", DualSoftmaxWaveRNN(DualSoftmaxConfig(hidden_size=PAPER_HIDDEN_SIZE), mel_config)),
    ]
    print(f"{platform.processor() or platform.machine()}, torch {torch.__version__}, {args.threads} thread(s)")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(
        f"{'model':<14} {'size':<8} {'loop':<9} {'N':>2} {'MB':>5} {'samples/s/row':>14} {'samples/s all':>14} "
        f"{'RTF/row':>8} {'per CPU s/row':>14}"
    )
    for name, size, model in models:
        model.eval()
        megabytes = model.parameter_count() * 4 / 1e6
        compiled = has_compiled_loop(model)
        for loop in ("torch", "compiled") if compiled else ("torch",):
            if compiled:
                model.compiled_cpu_loop = loop == "compiled"
            for batch in (1, 8):
                rate, cpu_rate = measure(model, batch, args.seconds)
                print(
                    f"{name:<14} {size:<8} {loop:<9} {batch:>2} {megabytes:>5.1f} {rate:>14.0f} {rate * batch:>14.0f} "
                    f"{rate / mel_config.sample_rate:>8.2f} {cpu_rate:>14.0f}"
                )


if __name__ == "__main__":
    main()
