"""Hostile and damaged checkpoints (issue 22, items 1, 2 and 6): every one is refused with exit 2 and one line that
names the file, quickly and without building what it asks for.

The cases are generated from one small, valid checkpoint by rewriting its header (or its tensors), and all run in one
subprocess that measures each case's time and the process's peak memory (resource.getrusage), so that torch's own
start-up is paid once and what is measured is the loader's work."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from engine import checkpoints
from engine.errors import CheckpointError
from engine.features import MelConfig
from engine.models.registry import build
from tests.helpers import REPO

SMALL = {
    "layers": 3,
    "blocks": 1,
    "residual_channels": 8,
    "skip_channels": 8,
    "upsample": {"resnet_blocks": 1, "resnet_channels": 8, "aux_channels": 4},
}
SECONDS_PER_CASE = 5.0
PEAK_BYTES = 500 * 2**20  # the whole process: Python, torch and the loader, once it has loaded a valid checkpoint
CASE_BYTES = 50 * 2**20  # what one case may add to that: nothing it asks for is built


def base_checkpoint(folder: Path) -> Path:
    torch.manual_seed(0)
    model = build("wavenet", SMALL, MelConfig())
    return checkpoints.save(model, folder / "base.safetensors", meta={"steps": 3})


def rewrite_header(base: Path, target: Path, edit) -> Path:
    """A copy of `base` whose "vocoscope" metadata is changed by `edit(meta)` (in place), or is the JSON text `edit`
    when it is a string; the tensors' bytes are untouched."""
    data = base.read_bytes()
    length = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8 : 8 + length])
    meta = json.loads(header["__metadata__"]["vocoscope"])
    if isinstance(edit, str):
        header["__metadata__"]["vocoscope"] = edit
    else:
        edit(meta)
        header["__metadata__"]["vocoscope"] = json.dumps(meta)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    target.write_bytes(struct.pack("<Q", len(text)) + text + data[8 + length :])
    return target


def rewrite_tensors(base: Path, target: Path, edit) -> Path:
    """A copy of `base` whose tensors are `edit(tensors)` (changed in place), the metadata kept."""
    from safetensors import safe_open

    with safe_open(str(base), framework="pt") as handle:
        metadata = handle.metadata()
    tensors = load_file(str(base))
    edit(tensors)
    save_file(tensors, str(target), metadata=metadata)
    return target


def setting(section: str, name: str, value):
    def edit(meta):
        meta.setdefault(section, {})[name] = value

    return edit


def upsample_setting(name: str, value):
    def edit(meta):
        meta["model"]["upsample"][name] = value

    return edit


def replace(key: str, value):
    def edit(meta):
        meta[key] = value

    return edit


def weights(name: str, make):
    def edit(tensors):
        tensors[name] = make(tensors[name])

    return edit


# name → (how to make it from the base, a word the message must hold)
HEADER_CASES = {
    "metadata a list": ("[1, 2]", "a list"),
    "metadata null": ("null", "null"),
    "metadata a string": ('"many"', "a string"),
    "model not an object": (replace("model", [1, 2]), '"model"'),
    "mel not an object": (replace("mel", "hann"), '"mel"'),
    "upsample not an object": (setting("model", "upsample", 5), "upsample"),
    "steps many": (replace("steps", "many"), "steps"),
    "training a list": (replace("training", []), "training"),
    "negative hop": (setting("mel", "hop_length", -200), "hop_length"),
    "negative channels": (setting("model", "residual_channels", -4), "residual_channels"),
    "n_fft 0": (setting("mel", "n_fft", 0), "n_fft"),
    "sample rate 0": (setting("mel", "sample_rate", 0), "sample_rate"),
    "sample rate 16000.5": (setting("mel", "sample_rate", 16000.5), "sample_rate"),
    "sample rate -16000": (setting("mel", "sample_rate", -16000), "sample_rate"),
    "sample rate 1e12": (setting("mel", "sample_rate", 1e12), "sample_rate"),
    "unknown window": (setting("mel", "window", "kaiser-ish"), "window"),
    "win_length over n_fft": (setting("mel", "win_length", 4096), "win_length"),
    "lpc_order 1e6": (setting("model", "lpc_order", 1_000_000), "lpc_order"),
    "n_mels 100000": (setting("mel", "n_mels", 100_000), "n_mels"),
    "fmax above Nyquist": (setting("mel", "fmax", 12000.0), "fmax"),
    "temperature NaN-like string": (setting("model", "temperature", "hot"), "temperature"),
    "upsampling factors not numbers": (upsample_setting("factors", ["5", 5, 8]), "factors"),
    "a million layers": (setting("model", "layers", 1_000_000), "layers"),
    "residual channels 2500": (setting("model", "residual_channels", 2500), "another shape"),
    "a model of a billion parameters": (setting("model", "residual_channels", 4000), "parameters"),
    "residual channels 20000": (setting("model", "residual_channels", 20000), "residual_channels"),
    "unknown family": (replace("family", "wavegan"), "wavegan"),
    "unknown setting": (setting("model", "turbo", True), "turbo"),
}
TENSOR_CASES = {
    "NaN weights": (weights("out.weight", lambda t: torch.full_like(t, float("nan"))), "NaN"),
    "infinite weights": (weights("out.bias", lambda t: torch.full_like(t, float("inf"))), "NaN or infinite"),
    "bool weights": (weights("out.weight", lambda t: t > 0), "BOOL"),
    "int64 weights": (weights("out.weight", lambda t: t.long()), "I64"),
    "a weight of another shape": (
        weights("out.weight", lambda t: torch.zeros(t.shape[0] + 1, *t.shape[1:])),
        "another shape",
    ),
}

RUNNER = r"""
import io, json, resource, sys, time
from contextlib import redirect_stderr
from engine.cli import main

cases, mel, out = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
from engine import checkpoints
checkpoints.load(cases[0][1])  # the loader's imports, paid once before anything is measured
warm = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
results = []
for name, path in cases[1:]:
    stderr = io.StringIO()
    began = time.perf_counter()
    with redirect_stderr(stderr):
        status = main(["vocode", mel, "--model", path, "-o", out + "/x.wav", "--seed", "1"])
    results.append({"name": name, "status": status, "stderr": stderr.getvalue(),
                    "seconds": time.perf_counter() - began,
                    "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "warm": warm})
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    base = base_checkpoint(folder)
    cases = {"base": (base, "")}
    for index, (name, (edit, word)) in enumerate(HEADER_CASES.items()):
        cases[name] = (rewrite_header(base, folder / f"case{index}.safetensors", edit), word)
    for index, (name, (edit, word)) in enumerate(TENSOR_CASES.items()):
        cases[name] = (rewrite_tensors(base, folder / f"tensors{index}.safetensors", edit), word)
    mel = folder / "mel.npy"
    np.save(mel, np.random.default_rng(0).random((80, 12), dtype=np.float32))
    out = folder / "out"
    out.mkdir()
    listed = [[name, str(path)] for name, (path, _) in cases.items()]
    process = subprocess.run(
        [sys.executable, "-c", RUNNER, json.dumps(listed), str(mel), str(out)],
        cwd=REPO,
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert process.returncode == 0, process.stderr[-3000:]
    results = {result["name"]: result for result in json.loads(process.stdout.strip().splitlines()[-1])}
    return cases, results


@pytest.mark.slow
def test_the_base_checkpoint_loads_and_vocodes(hostile):
    cases, _ = hostile
    assert checkpoints.load(cases["base"][0]).meta["steps"] == 3


@pytest.mark.slow
@pytest.mark.parametrize("name", list(HEADER_CASES) + list(TENSOR_CASES))
def test_a_hostile_checkpoint_exits_2_with_one_line_naming_the_file_quickly_and_small(hostile, name):
    cases, results = hostile
    path, word = cases[name]
    result = results[name]
    lines = result["stderr"].strip().splitlines()
    assert result["status"] == 2, result["stderr"]
    assert len(lines) == 1 and lines[0].startswith(f"vocoscope: {path}: found "), lines
    assert word in lines[0], lines[0]
    assert "Traceback" not in result["stderr"] and "internal error" not in result["stderr"]
    assert result["seconds"] < SECONDS_PER_CASE, f"{name} took {result['seconds']:.1f} s"
    added, peak = result["peak"] - result["warm"], result["peak"]
    assert added < CASE_BYTES, f"{name} added {added / 2**20:.0f} MB to the process's peak"
    # (a warm-up that compiled numba code past the limit is not the case's doing: then the rise above is what counts)
    assert peak < max(PEAK_BYTES, result["warm"] + CASE_BYTES), f"{name}: the process peaked at {peak / 2**20:.0f} MB"


def test_the_size_limit_names_the_numbers(tmp_path):
    base = base_checkpoint(tmp_path)
    path = rewrite_header(base, tmp_path / "big.safetensors", setting("model", "residual_channels", 4000))
    with pytest.raises(CheckpointError, match=r"a model of [\d,]+ parameters .* GB as float32.*at most 100,000,000"):
        checkpoints.load(path)


def test_weights_that_fit_the_config_but_not_the_header_are_refused_before_reading_them(tmp_path):
    """The stored shapes are compared with the config's model from the header alone: a mismatch never builds it."""
    base = base_checkpoint(tmp_path)
    path = rewrite_header(base, tmp_path / "wide.safetensors", setting("model", "skip_channels", 16))
    with pytest.raises(CheckpointError, match=r"of another shape \(first .*stored, .* by the config\)"):
        checkpoints.load(path)
