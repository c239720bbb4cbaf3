"""Training on several processes at once (ranks), as torchrun launches them: where a process stands among the ranks,
the few collective operations training needs, and the batch normalisation that makes N ranks train as one process.

torchrun (or `vocoscope train --nproc-per-node N`, engine/launcher.py) starts one process per rank with RANK,
WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR and MASTER_PORT in its environment. Each rank holds a whole copy
of the model wrapped in DistributedDataParallel: every step each rank runs its share of the batch forward and
backward, the gradients are averaged over the ranks as they come, and every rank takes the same Adam step, so the
copies stay identical. Backend: gloo on the CPU, NCCL on CUDA with one GPU per rank (cuda:LOCAL_RANK).

A run on N ranks trains what one process would with the same (global) batch:
- every rank draws the whole batch's segments from the same generator and cuts only its own rows (`World.rows`),
  so the generators advance alike on every rank and as they would in one process;
- BatchNorm's batch statistics are the global batch's (`GlobalBatchNorm`), not each rank's share's;
- the loss reported, and the one a step is skipped on, is the global batch's mean (`mean_over_ranks`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from engine.errors import ConfigError, VocoscopeError

# what torchrun sets for every rank; WORLD_SIZE alone says a process is one of several
ENVIRONMENT = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE")


@dataclass(frozen=True)
class World:
    """Where this process stands: `rank` of `size` ranks in all, `local_rank` of the `local_size` on its machine.
    The default is one process alone."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    local_size: int = 1

    @classmethod
    def from_environment(cls, environment: Mapping[str, str] = os.environ) -> World:
        """The world torchrun describes in `environment`; one process alone when it describes none."""
        if "WORLD_SIZE" not in environment:
            return cls()
        try:
            values = [
                int(environment.get(name, default))
                for name, default in zip(ENVIRONMENT, ("0", "1", "0", environment["WORLD_SIZE"]))
            ]
        except ValueError:
            found = ", ".join(f"{name}={environment.get(name)!r}" for name in ENVIRONMENT)
            raise VocoscopeError(
                f"the environment holds {found}; expected whole numbers, as torchrun sets them. "
                "Launch with torchrun or `vocoscope train --nproc-per-node N`."
            ) from None
        world = cls(*values)
        if not (0 <= world.rank < world.size and 0 <= world.local_rank < world.local_size <= world.size):
            raise VocoscopeError(
                f"the environment describes rank {world.rank} of {world.size} (local rank "
                f"{world.local_rank} of {world.local_size}); expected 0 <= RANK < WORLD_SIZE and "
                "0 <= LOCAL_RANK < LOCAL_WORLD_SIZE. Launch with torchrun."
            )
        return world

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @property
    def main(self) -> bool:
        """Rank 0: the one that writes checkpoints and logs, validates and reports."""
        return self.rank == 0

    @property
    def machines(self) -> int:
        return self.size // self.local_size

    def check_batch(self, batch_size: int, source: str = "train config") -> None:
        """Raise `ConfigError` unless a batch of `batch_size` segments splits evenly over the ranks."""
        if batch_size % self.size:
            lower, higher = batch_size // self.size * self.size, (batch_size // self.size + 1) * self.size
            such_as = " or ".join(str(n) for n in (lower, higher) if n > 0)
            raise ConfigError(
                f"{source}: batch_size={batch_size} does not split evenly over {self.size} ranks; make "
                f"it a multiple of {self.size} (such as {such_as}), or run on a number of ranks that "
                f"divides {batch_size}."
            )

    def rows(self, batch_size: int) -> slice:
        """This rank's share of a global batch of `batch_size` segments: rows [rank · B/W, (rank + 1) · B/W)."""
        share = batch_size // self.size
        return slice(self.rank * share, (self.rank + 1) * share)


ONE_PROCESS = World()


def choose_rank_device(world: World, name: str) -> torch.device:
    """The device of this rank: cuda:LOCAL_RANK ("auto" when CUDA has a GPU for every local rank) or the CPU."""
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if name == "auto":
        name = "cuda" if count >= world.local_size else "cpu"
    if name == "cpu":
        return torch.device("cpu")
    if name != "cuda":
        raise VocoscopeError(
            f"--device {name}: with several ranks each takes the GPU of its local rank "
            f"(cuda:LOCAL_RANK); expected --device cuda, cpu or auto. Give --device cuda."
        )
    if count <= world.local_rank:
        raise VocoscopeError(
            f"rank {world.rank} needs cuda:{world.local_rank}, but this machine has {count} CUDA "
            f"GPU(s) for {world.local_size} ranks; run --nproc-per-node {count} (one rank per GPU), "
            "or use --device cpu."
        )
    return torch.device("cuda", world.local_rank)


@contextlib.contextmanager
def joined(world: World, device_name: str) -> Iterator[torch.device]:
    """Inside: this rank has joined the process group (NCCL on a GPU, gloo on the CPU) and computes on the device
    yielded. The group is left when the block ends normally, by every rank together; after an error the process is
    about to end anyway, and a group whose peers are gone can block on leaving."""
    device = choose_rank_device(world, device_name)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(
        "nccl" if device.type == "cuda" else "gloo",
        rank=world.rank,
        world_size=world.size,
        device_id=device if device.type == "cuda" else None,
    )
    yield device
    dist.barrier()  # every rank done with the group before any leaves it: gloo aborts a rank whose peer left early
    dist.destroy_process_group()


def backend() -> str:
    return dist.get_backend() if dist.is_initialized() else "none"


def _device() -> torch.device:
    """Where collectives' tensors live: the current GPU for NCCL, else the CPU."""
    return torch.device("cuda", torch.cuda.current_device()) if backend() == "nccl" else torch.device("cpu")


def any_rank(world: World, flag: bool) -> bool:
    """True on every rank when `flag` is true on any (one small all-reduce; none for one process)."""
    if not world.distributed:
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=_device())
    dist.all_reduce(value)
    return bool(value.item() > 0)


def mean_over_ranks(world: World, value: torch.Tensor) -> torch.Tensor:
    """A scalar's mean over the ranks (the value itself for one process). With equal shares of a batch, the mean
    of the ranks' batch means is the global batch's mean."""
    if not world.distributed:
        return value
    total = value.detach().reshape(1).clone()
    dist.all_reduce(total)
    return total[0] / world.size


def gather(world: World, value: Any) -> list[Any]:
    """Every rank's `value` (picklable), in rank order, on every rank."""
    if not world.distributed:
        return [value]
    values: list[Any] = [None] * world.size
    dist.all_gather_object(values, value)
    return values


@contextlib.contextmanager
def local_main_first(world: World) -> Iterator[None]:
    """Run the block on local rank 0 of each machine first, the other ranks after it (a barrier between): what it
    caches on disk (the mels) is then computed once per machine and read by the others."""
    if not world.distributed:
        yield
        return
    if world.local_rank != 0:
        dist.barrier()
    yield
    if world.local_rank == 0:
        dist.barrier()


def weights_digest(module: nn.Module) -> str:
    """A hash of every parameter's and buffer's bytes: equal on two ranks exactly when their weights are."""
    digest = hashlib.sha256()
    for name, value in module.state_dict().items():
        digest.update(name.encode())
        digest.update(value.detach().cpu().reshape(-1).contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def parallel(model: nn.Module, device: torch.device) -> nn.Module:
    """`model` (its BatchNorms already global, see `use_global_batch_norm`) wrapped to average its gradients over
    the ranks as backward produces them; the wrapper's forward is the model's."""
    from torch.nn.parallel import DistributedDataParallel

    # static graph: every step uses the same parameters, and some never (a WaveNet's last residual convolution feeds
    # nothing), which the wrapper would otherwise wait for
    return DistributedDataParallel(
        model, device_ids=[device.index] if device.type == "cuda" else None, static_graph=True
    )


def is_lost_rank(error: BaseException) -> bool:
    """Whether `error`, raised by a collective, means another rank has gone (died, killed, or its connection cut)."""
    if isinstance(error, dist.DistError):
        return True
    text = str(error).lower()
    return isinstance(error, RuntimeError) and any(
        sign in text
        for sign in (
            "connection closed by peer",
            "connection reset by peer",
            "broken pipe",
            "gloo",
            "nccl",
            "timed out",
        )
    )


def lost_rank_cause(error: BaseException) -> str:
    """The first sentence of a collective's error, without the source location gloo and NCCL put before it:
    "Read error [127.0.0.1]:48528: Connection reset by peer"."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return re.sub(r"^\[[^\]]*\]\s*", "", text).split(". ")[0][:200]


# --- batch normalisation over the global batch ----------------------------------------------------------------


class _SumOverRanks(torch.autograd.Function):
    """A tensor's sum over the ranks; the gradient of each rank's share is the sum of the ranks' gradients."""

    @staticmethod
    def forward(context: Any, value: torch.Tensor) -> torch.Tensor:
        total = value.clone()
        dist.all_reduce(total)
        return total

    @staticmethod
    def backward(context: Any, gradient: torch.Tensor) -> torch.Tensor:
        total = gradient.clone()
        dist.all_reduce(total)
        return total


class GlobalBatchNorm(nn.BatchNorm1d):
    """nn.BatchNorm1d whose batch statistics, in training, are those of the global batch over all the ranks.

    x: (N, C, L) or (N, C), each rank's share. Each rank sums x and x² over its share (in float64); one all-reduce,
    which gradients flow back through, adds the sums up, so every rank normalises with, and keeps as running
    statistics, the mean and variance one process would compute on the whole batch:
        μ = Σx / n,   σ² = Σx² / n − μ²,   y = (x − μ) / √(σ² + ε) · γ + β,
        running_mean ← (1 − m) · running_mean + m · μ,   running_var ← (1 − m) · running_var + m · σ² · n / (n − 1).
    In eval mode, or outside a process group, it is BatchNorm1d.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_initialized()):
            return super().forward(x)
        self._check_input_dim(x)
        channels = x.shape[1]
        dims = [0, *range(2, x.dim())]
        count = torch.tensor([x.numel() // channels], dtype=torch.float64, device=x.device)
        sums = _SumOverRanks.apply(torch.cat([x.sum(dims, dtype=torch.float64), x.double().square().sum(dims), count]))
        n = sums[-1]
        mean = sums[:channels] / n
        variance = sums[channels : 2 * channels] / n - mean.square()
        shape = [1, channels] + [1] * (x.dim() - 2)
        y = (x - mean.to(x.dtype).view(shape)) * torch.rsqrt(variance + self.eps).to(x.dtype).view(shape)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                momentum = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
                self.running_mean.lerp_(mean.to(self.running_mean.dtype), momentum)
                self.running_var.lerp_((variance * n / (n - 1)).to(self.running_var.dtype), momentum)
        return y


def use_global_batch_norm(module: nn.Module) -> nn.Module:
    """Make every nn.BatchNorm1d under `module` a `GlobalBatchNorm` holding the same parameters and buffers (the
    same tensors, in the same order: an optimizer's state and a checkpoint's names stay valid). Returns `module`."""
    for name, child in module.named_children():
        if type(child) is nn.BatchNorm1d:
            replacement = GlobalBatchNorm(
                child.num_features, child.eps, child.momentum, child.affine, child.track_running_stats
            )
            replacement._parameters = child._parameters
            replacement._buffers = child._buffers
            replacement.train(child.training)
            setattr(module, name, replacement)
        else:
            use_global_batch_norm(child)
    return module
