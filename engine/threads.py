"""The engine's thread policy, one for the window and the command line: torch's CPU operators run on one thread.

Generation is a loop of small steps (one sample, or one block of a few hundred, at a time), too small for torch to
share out among threads; what does run in parallel is the compiled sampling loops' own threads (one per core for
mel-guided candidates and fold segments, engine/devices.cpu_cores). With more torch threads than free cores, they
wait on each other at every small operation. Measured with `vocoscope vocode` on the bundled
example (4.6 s), 2 cores, three rounds each, a busy loop and other people's jobs beside it (load 7-10): the
default WaveNet made 0.41-0.53x real time with one torch thread against 0.11-0.12x with two, the 16-candidate
WaveRNN 0.05-0.10x against 0.04-0.06x (with a quarter less CPU time). On a quiet machine one thread was as fast
(1.63x against 1.52x). Training and the benchmarks choose their own (--threads).
"""

from __future__ import annotations

TORCH_THREADS = 1


def use_engine_threads() -> None:
    """Set torch's CPU operator threads to `TORCH_THREADS`. Call it on the thread that will generate, before it
    generates: a thread that has already run a parallel operator keeps the count it had then."""
    import torch

    if torch.get_num_threads() != TORCH_THREADS:
        torch.set_num_threads(TORCH_THREADS)
