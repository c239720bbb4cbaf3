"""The built-in models generate what they generated when tests/fixtures/bit_identical.npz was recorded: the same
samples to the bit, from the same mel at the same seed, in the compiled CPU loop and in the torch loop. Recorded
before the families moved into packages (engine/models/<family>/), so that a refactor that keeps the output
passes and one that changes it, by a single sample, fails; the WaveRNN's again when the bundled one came to draw once
per sample (candidates 1, so that it streams in real time), the others' unchanged; the WaveNet's again when the
bundled one became the waveform WaveNet with the mel's envelope (2026-12-04; the other arithmetics' WaveNet samples
dropped, their WaveRNN ones kept).

The samples are recorded per arithmetic: torch's version and the vector instructions its kernels and numba's
compiled loops use (torch.backends.cpu.get_cpu_capability(): AVX2, AVX512, ...). The same code rounds the last bit
differently with 512-bit vectors than with 256-bit ones, and each draw feeds the next, so an AVX512 machine ends far
from an AVX2 one's recording. A machine whose arithmetic has no recording skips, saying so.

Record again only for a change meant to alter the output (clear=True drops the other machines' recordings, which
must then be made again on such machines); else record on a machine of a new arithmetic to add its samples:
    python3 -c "from tests.test_bit_identical import record; record()"
"""

from pathlib import Path

import numpy as np
import pytest
import torch

from engine.features import load_input
from engine import catalog
from engine.models import loading

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "bit_identical.npz"
EXAMPLE = Path(__file__).resolve().parents[1] / "resources" / "examples" / "allison-auth-incorrect.flac"
FIRST_FRAME = 60  # inside the speech
FRAMES = {"compiled": 24, "torch": 6}  # 0.3 s and 75 ms at the built-ins' 16 kHz and hop 200
SEED = 7


def excerpts(name: str) -> dict[str, np.ndarray]:
    """{"<name>-<loop>": samples (1, frames · hop) float32} for the built-in model `name`, streamed two frames a
    block from the example's mel at SEED, in each loop."""
    model, _ = loading.load_model(name)
    mel = load_input(EXAMPLE, model.mel_config, model.min_frames).mel
    samples = {}
    for loop, frames in FRAMES.items():
        model.compiled_cpu_loop = loop == "compiled"
        excerpt = torch.from_numpy(np.ascontiguousarray(mel[None, :, FIRST_FRAME : FIRST_FRAME + frames]))
        blocks = model.stream(excerpt, block_frames=2, generator=torch.Generator().manual_seed(SEED))
        samples[f"{name}-{loop}"] = torch.cat([block.samples for block in blocks], 1).numpy()
    return samples


def arithmetic() -> str:
    """This machine's arithmetic, as the fixture's keys name it: "<torch version>/<CPU capability>"."""
    return f"{torch.__version__}/{torch.backends.cpu.get_cpu_capability()}"


def record(clear: bool = False) -> None:
    """Write this arithmetic's samples into the fixture from the code as it is now, keeping the other arithmetics'
    unless `clear`. On one torch thread, as the tests run (tests/conftest.py): two threads split sums differently."""
    torch.set_num_threads(1)
    FIXTURE.parent.mkdir(exist_ok=True)
    arrays = {} if clear or not FIXTURE.exists() else dict(np.load(FIXTURE))
    for name in catalog.BUILTINS:
        arrays.update({f"{arithmetic()}/{key}": value for key, value in excerpts(name).items()})
    np.savez_compressed(FIXTURE, **arrays)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["wavenet", "wavernn", "wavernn-dual"])
def test_a_built_in_model_generates_the_recorded_samples(name, warm_librosa):
    recorded = np.load(FIXTURE)
    recordings = sorted({key.rsplit("/", 1)[0] for key in recorded.files})
    if f"{arithmetic()}/{name}-torch" not in recorded.files:
        pytest.skip(f"recorded for {', '.join(recordings)} (torch/CPU capability); this machine is {arithmetic()}")
    for key, samples in excerpts(name).items():
        assert samples.dtype == np.float32
        np.testing.assert_array_equal(samples, recorded[f"{arithmetic()}/{key}"], err_msg=key)
