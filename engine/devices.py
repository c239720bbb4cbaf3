"""The compute devices generation can run on: the CPU and each CUDA device torch finds (torch is imported only
when they are listed, so that `cpu_cores` costs nothing)."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class ComputeDevice:
    """name: what `engine.generate.choose_device` takes ("cpu", "cuda:0", ...); label: what a person reads."""

    name: str
    label: str


def cpu_cores() -> int:
    """The CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def compute_devices() -> list[ComputeDevice]:
    """CPU first, then every visible CUDA device with its name and memory."""
    import torch

    devices = [ComputeDevice("cpu", "CPU")]
    for index in range(torch.cuda.device_count() if torch.cuda.is_available() else 0):
        properties = torch.cuda.get_device_properties(index)
        devices.append(
            ComputeDevice(
                f"cuda:{index}", f"CUDA {index}: {properties.name} ({properties.total_memory / 2**30:.0f} GiB)"
            )
        )
    return devices
