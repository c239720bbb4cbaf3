"""`vocoscope train --nproc-per-node N`: start N ranks of a training run on this machine through torchrun's own
launcher (torch.distributed's elastic agent, run in this process), and say in one line how the job ended.

The agent hosts the rendezvous on a free local port, starts `python -m engine.cli train ...` once per rank with
torchrun's environment (RANK, WORLD_SIZE, ...) and watches the ranks: when one fails it stops the others (SIGTERM,
then SIGKILL after 30 s); on Ctrl+C it passes the signal on to every rank, which stop after the same step and write
the checkpoint (engine/train.py). Each rank gets OMP_NUM_THREADS = cores / N unless it is set already.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import uuid
from pathlib import Path

from engine.devices import cpu_cores
from engine.errors import VocoscopeError

# exit statuses of a rank that has said itself what happened: a wrong input or argument, a stop asked for
SELF_EXPLAINED = ({2}, {130})


def launch(ranks: int, arguments: list[str], out: Path) -> int:
    """Run `vocoscope <arguments>` (train's, without --nproc-per-node) as `ranks` ranks; return the exit status:
    0 done, 2 a wrong input (the ranks said which), 130 stopped by Ctrl+C (saved), 1 a rank failed or was lost."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, cpu_cores() // ranks)))
    _quiet_agent()
    config = LaunchConfig(
        min_nodes=1,
        max_nodes=1,
        nproc_per_node=ranks,
        run_id=str(uuid.uuid4()),
        rdzv_backend="c10d",
        rdzv_endpoint="localhost:0",
        max_restarts=0,
    )
    try:
        elastic_launch(config, sys.executable)("-u", "-m", "engine.cli", *arguments)
    except SignalException:
        return 130  # every rank got the signal and has said where it stopped
    except ChildFailedError as error:
        statuses = {failure.exitcode for failure in error.failures.values()}
        for explained in SELF_EXPLAINED:
            if statuses <= explained:
                return next(iter(explained))
        print(
            f"vocoscope: {failed_ranks({rank: f.exitcode for rank, f in error.failures.items()}, ranks)}; every "
            f"rank has stopped. {last_checkpoint(out)}",
            file=sys.stderr,
        )
        return 1
    return 0


def failed_ranks(statuses: dict[int, int], ranks: int) -> str:
    """{rank: exit status (negative: killed by that signal)} → "rank 1 of 2 was killed by SIGKILL, rank 0 exited
    with status 1": the likeliest cause first (a signal from outside other than the agent's own SIGTERM, then a
    failure: an exit status, or SIGABRT, which a rank raises on itself, as gloo does when a peer has died)."""

    def how(status: int) -> str:
        if status < 0:
            try:
                return f"was killed by {signal.Signals(-status).name}"
            except ValueError:
                return f"was killed by signal {-status}"
        return f"exited with status {status}"

    def likelihood(rank: int) -> int:  # 0: killed by another signal, 1: failed itself, 2: stopped by the agent
        status = statuses[rank]
        return 2 if status == -signal.SIGTERM else int(status >= 0 or status == -signal.SIGABRT)

    order = sorted(statuses, key=lambda rank: (likelihood(rank), rank))
    return ", ".join(
        f"rank {rank}{f' of {ranks}' if index == 0 else ''} {how(statuses[rank])}" for index, rank in enumerate(order)
    )


def last_checkpoint(out: Path) -> str:
    """What is left to continue from: the step the checkpoint `out` holds, read from its header alone."""
    from engine.catalog import read_header

    if not out.is_file():
        return f"No checkpoint was written to {out}: start the run again."
    try:
        steps = json.loads(json.loads(read_header(out))["__metadata__"]["vocoscope"])["steps"]
    except (VocoscopeError, KeyError, TypeError, ValueError) as error:
        return f"The checkpoint {out} cannot be read ({error}): start the run again with another --out."
    return f"The last checkpoint, {out}, holds step {steps}: continue with the same command and --resume."


def _quiet_agent() -> None:
    """Keep the agent's reports (each signal it passes on, each rank it stops or finds failed) off the terminal:
    the ranks and this module say how the job ended, in a line each."""
    for name in list(logging.root.manager.loggerDict):
        if name.startswith("torch.distributed"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
