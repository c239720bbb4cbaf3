"""Compile the numba code Vocoscope uses once, at install time: librosa's mel (about 14 s) and the sampling loops
of the WaveRNN, the dual-softmax WaveRNN and WaveNet (engine/models/<family>/kernel.py, by engine/models/warm.py:
5–15 s each), and the pitch post-filter (engine/postfilter.py). numba keeps the compiled code on disk, so the first input the app opens and the
first generation do not wait for it.

    python3 packaging/warm_caches.py
"""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.features import warm_mel  # noqa: E402
from engine.models import warm  # noqa: E402

started = time.perf_counter()
warm_mel()
warm.warm_all()
print(f"numba caches ready in {time.perf_counter() - started:.1f} s")
