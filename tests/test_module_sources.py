"""inspect --module on the published model classes of the three sources, with random weights.

Their code is not part of the project: each test uses a checkout when one is present and skips, saying why,
otherwise. A checkout is found through VOCOSCOPE_FATCHORD / VOCOSCOPE_R9Y9 (a folder holding the repository's
files) or, failing that, a git mirror at /work/.mirror/<owner>+<name>/repo (read with `git archive`). torchaudio is
used when it imports (it may live in a separate environment on PYTHONPATH).
"""

import os
import shutil
import subprocess
import tarfile
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest

from engine.module_inspect import CodeRequest, inspect_code

MIRRORS = Path("/work/.mirror")


def checkout(variable: str, mirror: str, paths: list[str], into: Path) -> Path:
    """A folder holding `paths` of the source, or pytest.skip with the reason."""
    given = os.environ.get(variable)
    if given:
        return Path(given)
    repository = MIRRORS / mirror / "repo"
    if not repository.is_dir() or shutil.which("git") is None:
        pytest.skip(f"no checkout: set {variable} to a clone, or fetch {mirror.replace('+', '/')} into {repository}")
    archive = subprocess.run(
        ["git", "-C", str(repository), "archive", "HEAD", *paths], check=False, capture_output=True
    )
    if not archive.stdout:
        pytest.skip(f"git archive of {repository} gave nothing: {archive.stderr.decode()[:200]}")
    with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
        if hasattr(tarfile, "data_filter"):  # Python 3.11.4 and later; Debian 12's 3.11.2 has no filters
            tar.extractall(into, filter="data")
        else:
            tar.extractall(into)
    return into


@pytest.fixture(scope="module")
def mel(tmp_path_factory):
    path = tmp_path_factory.mktemp("sources") / "mel80.npy"
    np.save(path, np.random.default_rng(1).random((80, 16), dtype=np.float32))
    return path


def test_fatchord_wavernn(tmp_path, mel, monkeypatch):
    pytest.importorskip("matplotlib", reason="fatchord's utils/display.py imports matplotlib")
    root = checkout("VOCOSCOPE_FATCHORD", "fatchord+WaveRNN", ["models", "utils", "hparams.py"], tmp_path)
    monkeypatch.setattr(np, "cumproduct", np.cumprod, raising=False)  # fatchord calls it; NumPy 2 removed the alias
    kwargs = {
        "rnn_dims": 64,
        "fc_dims": 64,
        "bits": 9,
        "pad": 2,
        "upsample_factors": [5, 5, 8],
        "feat_dims": 80,
        "compute_dims": 32,
        "res_out_dims": 32,
        "res_blocks": 2,
        "hop_length": 200,
        "sample_rate": 16000,
        "mode": "RAW",
    }
    inspection = inspect_code(
        CodeRequest(module=f"{root / 'models/fatchord_version.py'}:WaveRNN", input=mel, kwargs=kwargs)
    )
    assert inspection.verdict.ok, [c.message() for c in inspection.verdict.failures]
    assert inspection.binding.mel == "mels" and inspection.binding.audio == "x"
    assert "(8 − 4) × hop 200" in inspection.verdict.check("length").found
    assert inspection.verdict.check("forward").found == "output (1, 800, 512) float32"
    assert inspection.trace.module("upsample.resnet.conv_in").outputs == [(1, 32, 4)]
    assert inspection.trace.module("I").inputs == [(1, 800, 89)]


def test_r9y9_wavenet(tmp_path, mel):
    root = checkout("VOCOSCOPE_R9Y9", "r9y9+wavenet_vocoder", ["wavenet_vocoder"], tmp_path)
    kwargs = {
        "out_channels": 256,
        "layers": 4,
        "stacks": 2,
        "residual_channels": 16,
        "gate_channels": 32,
        "skip_out_channels": 16,
        "cin_channels": 80,
        "upsample_conditional_features": True,
        "upsample_params": {"upsample_scales": [4, 4, 4, 4], "cin_channels": 80, "cin_pad": 2},
    }
    module = f"{root / 'wavenet_vocoder/wavenet.py'}:WaveNet"
    wrong = inspect_code(CodeRequest(module=module, input=mel, kwargs=kwargs))
    assert "before any layer ran" in wrong.failure.fix and "N,C,T-onehot" in wrong.failure.fix
    assert "One-hot encoded audio signal, shape (B x C x T)" in wrong.failure.expected
    inspection = inspect_code(CodeRequest(module=module, input=mel, kwargs=kwargs, audio_layout="N,C,T-onehot"))
    assert inspection.verdict.ok, [c.message() for c in inspection.verdict.failures]
    assert (inspection.binding.mel, inspection.binding.audio) == ("c", "x")
    assert inspection.recipe.config.hop_length == 256
    assert inspection.verdict.check("forward").found == "output (1, 256, 1024) float32"
    assert inspection.trace.module("first_conv").inputs == [(1, 256, 1024)]
    assert inspection.trace.module("upsample_net").outputs == [(1, 80, 1024)]


def test_torchaudio_wavernn(mel):
    try:
        from torchaudio.models import wavernn
    except Exception as error:  # noqa: BLE001 (not installed, or its compiled part does not load with this torch)
        pytest.skip(f"torchaudio does not import here: {type(error).__name__}: {error}")
    kwargs = {
        "upsample_scales": [5, 5, 8],
        "n_classes": 256,
        "hop_length": 200,
        "n_freq": 80,
        "n_res_block": 2,
        "n_rnn": 64,
        "n_fc": 64,
        "n_hidden": 32,
        "n_output": 32,
    }
    module = f"{wavernn.__file__}:WaveRNN"
    wrong = inspect_code(CodeRequest(module=module, input=mel, kwargs=kwargs))
    assert "Require the input channel of waveform is 1" in wrong.failure.fix
    inspection = inspect_code(
        CodeRequest(module=module, input=mel, kwargs=kwargs, mel_layout="N,1,n_mels,F", audio_layout="N,1,T")
    )
    assert inspection.verdict.ok, [c.message() for c in inspection.verdict.failures]
    assert inspection.verdict.check("forward").found == "output (1, 1, 800, 256) float32"
    assert inspection.trace.module("rnn1").inputs == [(1, 800, 64), (1, 1, 64)]
