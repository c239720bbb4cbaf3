"""The built-in models generate what they generated when tests/fixtures/bit_identical.npz was recorded: the same
samples to the bit, from the same mel at the same seed, in the compiled CPU loop and in the torch loop. Recorded
before the families moved into packages (engine/models/<family>/), so that a refactor that keeps the output
passes and one that changes it, by a single sample, fails; the WaveRNN's again when the bundled one came to draw once
per sample (candidates 1, so that it streams in real time), the others' unchanged.

Record again only for a change meant to alter the output:
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


def record() -> None:
    """Write the fixture from the code as it is now."""
    FIXTURE.parent.mkdir(exist_ok=True)
    arrays = {key: value for name in catalog.BUILTINS for key, value in excerpts(name).items()}
    np.savez_compressed(FIXTURE, torch_version=np.array(torch.__version__), **arrays)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["wavenet", "wavernn", "wavernn-dual"])
def test_a_built_in_model_generates_the_recorded_samples(name, warm_librosa):
    recorded = np.load(FIXTURE)
    if str(recorded["torch_version"]) != torch.__version__:
        pytest.skip(
            f"recorded with torch {recorded['torch_version']}; this is {torch.__version__}, whose arithmetic "
            "may round differently"
        )
    for key, samples in excerpts(name).items():
        assert samples.dtype == np.float32
        np.testing.assert_array_equal(samples, recorded[key], err_msg=key)
