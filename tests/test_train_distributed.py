"""Training on several ranks (torch.distributed, gloo on the CPU) trains what one process would with the same global
batch; every rank's random state resumes; a lost rank ends the job with one clear line and a checkpoint that loads.
Also: a checkpoint of the one-process layout resumes as it did, and train's arguments are checked before any step."""

import hashlib
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
import torch.distributed as dist
import torch.multiprocessing

from engine import checkpoints, distributed
from engine.cli import main
from engine.distributed import GlobalBatchNorm, World, choose_rank_device, joined
from engine.errors import ConfigError, VocoscopeError
from engine.launcher import failed_ranks
from engine.train import TRAINED_PREFIX, Trainer, run_training
from tests.helpers import NUMBA_CACHE, REPO

RATE = 16000
FIXTURE = Path(__file__).parent / "fixtures" / "train_one_process"
TINY = {
    "model": {
        "blocks": 1,
        "layers": 4,
        "residual_channels": 8,
        "skip_channels": 16,
        "bits": 6,
        "upsample": {"resnet_blocks": 1, "resnet_channels": 8, "aux_channels": 8},
    },
    "mel": {"n_mels": 20},
    "train": {
        "batch_size": 4,
        "segment_frames": 5,
        "context_frames": 1,
        "learning_rate": 0.01,
        "checkpoint_every": 2,
        "log_every": 1,
        "seed": 7,
    },
}


def write_tones(folder: Path) -> Path:
    """The three half-second tones of tests/test_train.py (220, 330 and 495 Hz) as WAV files in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    t = np.arange(RATE // 2) / RATE
    for index, (frequency, level) in enumerate([(220.0, 0.5), (330.0, 0.3), (495.0, 0.4)]):
        soundfile.write(str(folder / f"tone{index}.wav"), level * np.sin(2 * np.pi * frequency * t), RATE)
    return folder


@pytest.fixture(scope="module")
def tones(tmp_path_factory, warm_librosa):
    """The tones with their mels cached (so the ranks only read the cache)."""
    folder = write_tones(tmp_path_factory.mktemp("tones"))
    Trainer.new("wavenet", folder, sections=TINY, device="cpu")
    return folder


def digest(tensor: torch.Tensor) -> str:
    return hashlib.sha256(tensor.numpy().tobytes()).hexdigest()


# --- two ranks, in processes of their own -------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def train_as_rank(rank: int, size: int, port: int, data: str, folder: str) -> None:
    """One rank of the two-rank runs (started by torch.multiprocessing.spawn): an uninterrupted run of 4 steps, and
    a run stopped by Ctrl+C on rank 1 alone after step 2, resumed to step 4. Writes what the test reads to
    folder/rank<rank>.json and folder/weights-rank<rank>.pt."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    world = World(rank, size, rank, size)
    folder = Path(folder)
    record = {}
    with distributed.joined(world, "cpu") as device:
        with distributed.local_main_first(world):
            entered = time.time()
            time.sleep(0.3)
            record["first"] = [entered, time.time()]

        straight = Trainer.new("wavenet", data, sections=TINY, device=device, world=world)
        result = run_training(
            straight,
            folder / f"straight-rank{rank}.safetensors",
            4,
            log_path=folder / f"straight-rank{rank}.csv",
            stream=io.StringIO(),
        )
        record["straight"] = [loss for _, loss, _ in result.losses]
        torch.save(straight.model.state_dict(), folder / f"weights-rank{rank}.pt")

        halves = Trainer.new("wavenet", data, sections=TINY, device=device, world=world)

        def ctrl_c_on_rank_1_at_step_2() -> bool:
            if rank == 1 and halves.step_count == 2:
                signal.raise_signal(signal.SIGINT)
            return False

        stopped = run_training(
            halves, folder / "halves.safetensors", 4, stream=io.StringIO(), should_stop=ctrl_c_on_rank_1_at_step_2
        )
        record["stopped"] = [stopped.steps, stopped.interrupted, [loss for _, loss, _ in stopped.losses]]
        record["torch_rng_at_stop"] = digest(torch.get_rng_state())
        dist.barrier()  # rank 0 has written the checkpoint
        resumed = Trainer.resume(folder / "halves.safetensors", data, device=device, world=world)
        record["torch_rng_resumed"] = digest(torch.get_rng_state())
        continued = run_training(resumed, folder / "halves.safetensors", 4, stream=io.StringIO())
        record["continued"] = [loss for _, loss, _ in continued.losses]
        record["resumed_equals_straight"] = all(
            torch.equal(value, resumed.model.state_dict()[name]) for name, value in straight.model.state_dict().items()
        )
    (folder / f"rank{rank}.json").write_text(json.dumps(record))


@pytest.mark.slow
def test_two_ranks_train_as_one_process_with_the_global_batch_and_resume_exactly(tones, tmp_path):
    torch.multiprocessing.spawn(train_as_rank, args=(2, free_port(), str(tones), str(tmp_path)), nprocs=2)
    ranks = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in range(2)]
    weights = [torch.load(tmp_path / f"weights-rank{rank}.pt") for rank in range(2)]

    for name, value in weights[0].items():
        assert torch.equal(value, weights[1][name]), f"{name} differs between the ranks"
    alone = Trainer.new("wavenet", tones, sections=TINY, device="cpu")
    losses = [alone.step() for _ in range(4)]
    np.testing.assert_allclose(ranks[0]["straight"], losses, atol=1e-5, rtol=0)
    assert ranks[1]["straight"] == ranks[0]["straight"], "every rank reports the global batch's loss"
    for name, value in alone.model.state_dict().items():
        torch.testing.assert_close(weights[0][name], value, atol=1e-5, rtol=1e-4)

    assert (tmp_path / "straight-rank0.safetensors").is_file() and (tmp_path / "straight-rank0.csv").is_file()
    assert not (tmp_path / "straight-rank1.safetensors").exists() and not (tmp_path / "straight-rank1.csv").exists()
    rows = (tmp_path / "straight-rank0.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in rows] == ["step", "1", "2", "3", "4"]
    saved = checkpoints.load(tmp_path / "halves.safetensors")
    assert saved.meta["training"]["resume"]["world_size"] == 2
    assert sorted(name for name in saved.extra_tensors if name.startswith("rng/")) == ["rng/rank1/torch", "rng/torch"]

    rank0_first, rank1_first = ranks[0]["first"], ranks[1]["first"]
    assert rank1_first[0] >= rank0_first[1], "rank 1 waited for rank 0 to finish the block (the mel cache) first"
    for record in ranks:
        assert record["stopped"][:2] == [2, True], "a Ctrl+C on rank 1 stops both ranks after the same step"
        assert record["stopped"][2] + record["continued"] == record["straight"]
        assert record["resumed_equals_straight"]
        assert record["torch_rng_resumed"] == record["torch_rng_at_stop"]
    assert ranks[0]["torch_rng_at_stop"] != ranks[1]["torch_rng_at_stop"], "each rank has a generator of its own"


def child_processes(parent: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
                children.append(int(entry.name))
    return children


def rank_process(launcher: int, rank: int) -> int | None:
    """The pid of `rank` among the launcher's children (by the RANK torchrun put in its environment)."""
    for pid in child_processes(launcher):
        try:
            environment = (Path("/proc") / str(pid) / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"RANK={rank}".encode() in environment:
            return pid
    return None


@pytest.mark.slow
def test_a_killed_rank_ends_the_job_with_a_clear_message_and_the_last_checkpoint_loads(tones, tmp_path):
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps(TINY))
    out = tmp_path / "killed.safetensors"
    environment = dict(os.environ, NUMBA_CACHE_DIR=str(NUMBA_CACHE), PYTHONPATH=str(REPO))
    job = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "engine.cli",
            "train",
            "--data",
            str(tones),
            "--model",
            "wavenet",
            "--config",
            str(config),
            "--out",
            str(out),
            "--steps",
            "100000",
            "--nproc-per-node",
            "2",
        ],
        cwd=REPO,
        env=environment,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 240
        while not (out.exists() and len((tmp_path / "killed.csv").read_text().splitlines()) > 3):
            assert job.poll() is None and time.monotonic() < deadline, "the job ended or never checkpointed"
            time.sleep(0.2)
        os.kill(rank_process(job.pid, 1), signal.SIGKILL)
        _, errors = job.communicate(timeout=120)
    finally:
        if job.poll() is None:
            job.kill()
    assert job.returncode == 1
    assert "2 ranks (1 machine(s) × 2, gloo on cpu" in errors and "global batch of 4 segments, 2 per rank" in errors
    summary = errors.strip().splitlines()[-1]
    assert summary.startswith("vocoscope: rank 1 of 2 was killed by SIGKILL") and "every rank has stopped" in summary
    assert "Traceback" not in errors
    steps = checkpoints.load(out).meta["steps"]
    assert steps >= 2 and steps % 2 == 0
    assert summary.endswith(
        f"The last checkpoint, {out}, holds step {steps}: continue with the same command and --resume."
    )


# --- one process --------------------------------------------------------------------------------------------


def test_a_checkpoint_of_the_one_process_layout_resumes_as_it_did(tmp_path, warm_librosa):
    """A checkpoint written by engine/train.py before several ranks existed (3 steps, a weight average kept) goes on
    exactly as that code went on: the same losses, batches and weights at step 6."""
    data = write_tones(tmp_path / "tones")
    checkpoint = shutil.copy(FIXTURE / "single_process_step3.safetensors", tmp_path / "old.safetensors")
    expected = json.loads((FIXTURE / "single_process_step3.json").read_text())
    resumed = Trainer.resume(checkpoint, data, device="cpu")
    result = run_training(resumed, checkpoint, 6, stream=io.StringIO())
    np.testing.assert_allclose(
        [loss for _, loss, _ in result.losses], [loss for _, loss in expected["losses_after_resume"]], atol=1e-6, rtol=0
    )
    assert resumed.batch_rng.bit_generator.state == expected["batch_rng"]
    then = checkpoints.load(FIXTURE / "single_process_step6.safetensors")
    for name, value in resumed.model.named_parameters():
        torch.testing.assert_close(value.detach(), then.extra_tensors[TRAINED_PREFIX + name], atol=1e-6, rtol=0)
        torch.testing.assert_close(resumed.average.values[name], then.model.state_dict()[name], atol=1e-6, rtol=0)


def test_global_batch_norm_on_one_rank_is_batch_norm(tmp_path):
    reference = torch.nn.BatchNorm1d(3)
    with torch.no_grad():
        reference.weight.copy_(torch.tensor([0.5, 1.0, 2.0]))
        reference.bias.copy_(torch.tensor([0.1, -0.2, 0.3]))
    model = distributed.use_global_batch_norm(torch.nn.Sequential(torch.nn.BatchNorm1d(3)))
    model[0].load_state_dict(reference.state_dict())
    assert isinstance(model[0], GlobalBatchNorm)
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        for seed in range(2):
            x = (torch.randn(4, 3, 7, generator=torch.Generator().manual_seed(seed)) * 3 + 1).requires_grad_()
            x_ref = x.detach().clone().requires_grad_()
            (model(x) ** 3).sum().backward()
            (reference(x_ref) ** 3).sum().backward()
            torch.testing.assert_close(x.grad, x_ref.grad, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(model[0].weight.grad, reference.weight.grad, atol=1e-5, rtol=1e-5)
        for name, value in reference.state_dict().items():
            torch.testing.assert_close(model[0].state_dict()[name], value, atol=1e-6, rtol=1e-6)
    finally:
        dist.destroy_process_group()


def test_the_world_comes_from_torchruns_environment_and_splits_the_batch():
    world = World.from_environment({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"})
    assert world == World(3, 4, 1, 2) and world.machines == 2 and world.distributed and not world.main
    assert world.rows(16) == slice(12, 16)
    assert World.from_environment({}) == World()
    with pytest.raises(
        ConfigError,
        match="batch_size=10 does not split evenly over 4 ranks; make it a multiple of 4 "
        r"\(such as 8 or 12\)",
    ):
        world.check_batch(10)


def test_the_launcher_names_the_rank_that_was_killed_first():
    assert failed_ranks({0: -signal.SIGTERM, 1: 1, 2: -signal.SIGKILL}, 3) == (
        "rank 2 of 3 was killed by SIGKILL, rank 1 exited with status 1, rank 0 was killed by SIGTERM"
    )
    # gloo aborts a rank whose peer has died: the abort is the consequence, the peer's SIGKILL the cause
    assert failed_ranks({0: -signal.SIGABRT, 1: -signal.SIGKILL}, 2) == (
        "rank 1 of 2 was killed by SIGKILL, rank 0 was killed by SIGABRT"
    )


@pytest.fixture
def read_only_folder(tmp_path):
    """A folder no file can be made in, with a recording in it: by its mode, or, for root, made immutable."""
    folder = write_tones(tmp_path / "read-only")
    folder.chmod(0o555)

    def writable() -> bool:
        try:
            tempfile.TemporaryFile(dir=folder).close()
            return True
        except OSError:
            return False

    immutable = (
        writable()
        and shutil.which("chattr")
        and subprocess.run(["chattr", "+i", str(folder)], capture_output=True, check=False).returncode == 0
    )
    if writable():
        pytest.skip("no way to make a folder read-only here (root without chattr +i)")
    yield folder
    if immutable:
        subprocess.run(["chattr", "-i", str(folder)], check=True)
    folder.chmod(0o755)


def test_train_refuses_wrong_arguments_and_unwritable_outputs_before_any_step(
    tones, read_only_folder, tmp_path, capsys
):
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps(TINY))
    out = tmp_path / "m.safetensors"
    a_file = tmp_path / "a-file"
    a_file.write_text("")

    def config_with(**train):
        path = tmp_path / f"{'-'.join(train)}.json"
        path.write_text(json.dumps({**TINY, "train": {**TINY["train"], **train}}))
        return ["--config", str(path)]

    missing = tmp_path / "missing"
    cases = [
        (
            ["--out", str(missing / "m.safetensors")],
            f"{missing}: found no such folder (for --out {missing}/m.safetensors)",
        ),
        (
            ["--out", str(read_only_folder / "m.safetensors")],
            f"{read_only_folder}: found a folder that cannot be written",
        ),
        (["--log", str(missing / "log.csv")], f"{missing}: found no such folder (for --log"),
        (["--log", str(read_only_folder / "log.csv")], f"{read_only_folder}: found a folder that cannot be written"),
        (["--cache", str(a_file)], f"{a_file}: found a file (for --cache)"),
        (["--cache", str(read_only_folder / "cache")], f"{read_only_folder}: found a folder that cannot be written"),
        (["--steps", "0"], "--steps: found 0; expected a positive number of steps"),
        (["--steps", "-1"], "--steps: found -1; expected a positive number of steps"),
        (["--threads", "-1"], "--threads: found -1; expected 0 (torch's own choice) or a positive number"),
        (["--nproc-per-node", "0"], "--nproc-per-node: found 0; expected a positive number of ranks"),
        (["--nproc-per-node", "3"], "batch_size=4 does not split evenly over 3 ranks"),
        (config_with(batch_size="16"), 'training setting batch_size is "16" (a str); it must be a whole number'),
        (config_with(learning_rate=True), "training setting learning_rate is true (a bool); it must be a number"),
        (config_with(seed=1.5), "training setting seed is 1.5 (a float); it must be a whole number"),
    ]
    for extra, found in cases:
        arguments = [
            "train",
            "--data",
            str(tones),
            "--model",
            "wavenet",
            "--config",
            str(config),
            "--out",
            str(out),
            "--steps",
            "2",
            *extra,
        ]
        assert main(arguments) == 2, extra
        message = capsys.readouterr().err
        assert message.startswith("vocoscope: ") and found in message, (extra, message)
        assert len(message.strip().splitlines()) == 1 and not out.exists(), extra
    assert not list(tmp_path.glob("*.csv")) and not list(read_only_folder.glob(".vocoscope*"))

    assert (
        main(
            [
                "train",
                "--data",
                str(read_only_folder),
                "--model",
                "wavenet",
                "--config",
                str(config),
                "--out",
                str(out),
                "--steps",
                "1",
            ]
        )
        == 2
    )
    message = capsys.readouterr().err
    assert f"{read_only_folder / '.vocoscope-cache'}: found a mel cache folder that cannot be written" in message
    assert "Give --cache DIR" in message and not out.exists()


def test_each_rank_takes_the_gpu_of_its_local_rank_and_joins_with_nccl(monkeypatch):
    """CUDA cannot run here: its presence is mocked (device count, set_device, the process group's start and end)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    second = World(3, 4, 1, 2)
    assert choose_rank_device(second, "auto") == torch.device("cuda", 1)
    assert choose_rank_device(second, "cpu") == torch.device("cpu")
    with pytest.raises(
        VocoscopeError,
        match=r"rank 5 needs cuda:2, but this machine has 2 CUDA GPU\(s\) for 3 "
        r"ranks; run --nproc-per-node 2",
    ):
        choose_rank_device(World(5, 6, 2, 3), "cuda")
    assert choose_rank_device(World(5, 6, 2, 3), "auto") == torch.device("cpu")  # not a GPU for every local rank
    with pytest.raises(VocoscopeError, match="expected --device cuda, cpu or auto"):
        choose_rank_device(second, "cuda:0")

    joins, chosen = [], []
    monkeypatch.setattr(torch.cuda, "set_device", chosen.append)
    monkeypatch.setattr(
        distributed.dist, "init_process_group", lambda backend, **options: joins.append((backend, options))
    )
    leaving = []
    monkeypatch.setattr(distributed.dist, "barrier", lambda: leaving.append("barrier"))
    monkeypatch.setattr(distributed.dist, "destroy_process_group", lambda: leaving.append("left"))
    with joined(second, "auto") as device:
        assert device == torch.device("cuda", 1)
    with joined(second, "cpu") as device:
        assert device == torch.device("cpu")
    assert leaving == ["barrier", "left"] * 2, "every rank leaves the group together"
    assert chosen == [torch.device("cuda", 1)]
    assert joins == [
        ("nccl", {"rank": 3, "world_size": 4, "device_id": torch.device("cuda", 1)}),
        ("gloo", {"rank": 3, "world_size": 4, "device_id": None}),
    ]
