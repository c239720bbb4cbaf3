"""Keeping Python's cyclic garbage collector off the GUI thread's back.

A full (generation 2) collection walks every tracked object, and once torch, librosa, numba and Qt are loaded
that is hundreds of thousands of them: 100–300 ms with the GIL held, on whichever thread it falls, so the GUI
thread stalls as long. Freezing moves what is alive into a generation the collector never walks; full
collections then cost only what was made since.
"""

from __future__ import annotations

import gc


def freeze_survivors() -> None:
    """Freeze what is alive now. The young generations are collected first (a few ms), so recent garbage cycles are
    freed rather than frozen with it; older garbage (rare) stays frozen, as it would until the next full collection."""
    gc.collect(1)
    gc.freeze()
