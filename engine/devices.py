"""The compute devices generation can run on: the CPU and each CUDA device torch finds (torch is imported only
when they are listed, so that `cpu_cores` costs nothing)."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


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


def where_trained(device: torch.device, ranks: int = 1) -> str:
    """Where a training command runs, in words a checkpoint keeps: the host, the device (a GPU by name, the CPU by
    its torch threads and cores), the ranks when more than one, and torch's version."""
    import torch

    if device.type == "cuda":
        place = f"cuda: {torch.cuda.get_device_name(device)}"
    else:
        place = f"cpu: {torch.get_num_threads()} torch thread(s) of {cpu_cores()} core(s)"
    ranks_part = f", {ranks} ranks" if ranks > 1 else ""
    return f"{platform.node() or 'unknown host'}, {place}{ranks_part}, torch {torch.__version__}"
