"""inspect --module on the five user modules in tests/user_modules (one per seed error), loading, and the CLI."""

from pathlib import Path

import numpy as np
import pytest
import torch

from engine.cli import main
from engine.errors import InputError
from engine.module_inputs import bind_forward, mel_recipe
from engine.module_inspect import CodeRequest, inspect_code
from engine.module_loading import build_module, load_checkpoint, parse_module_spec
from tests.helpers import tone, write_wav

USER_MODULES = Path(__file__).parent / "user_modules"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("module_inputs")
    rng = np.random.default_rng(0)
    np.save(folder / "mel60.npy", rng.random((60, 20), dtype=np.float32))
    np.save(folder / "mel80.npy", rng.random((80, 20), dtype=np.float32))
    return {
        "mel60": folder / "mel60.npy",
        "mel80": folder / "mel80.npy",
        "wav": write_wav(folder / "tone.wav", tone(0.3, 16000), 16000),
    }


def failure(file: str, name: str, source: Path, **options):
    inspection = inspect_code(CodeRequest(module=f"{USER_MODULES / file}:{name}", input=source, **options))
    check = inspection.failure
    assert check is not None, inspection.verdict.checks
    return inspection, check


def test_band_count_names_60_bands_against_80_and_the_first_linear(inputs):
    inspection, check = failure("band_count.py", "BandCountVocoder", inputs["mel60"])
    assert check.module == "conditioning"
    assert check.found == "'conditioning' (Linear) received (1, 8, 60) float32"
    assert "Linear in_features=80" in check.expected
    assert "the mel has 60 bands where the model was trained on 80" in check.fix
    assert inspection.trace.error.startswith("In module 'conditioning' (Linear)")
    assert inspection.trace.module("conditioning").failed
    assert inspection.trace.module("rnn").calls == 0
    bands = inspection.verdict.check("bands")
    assert not bands.ok and "60 bands" in bands.found and bands.expected == "80 bands (from n_mels=80)"


def test_upsampled_length_against_frames_times_hop(inputs):
    inspection, check = failure("upsample_length.py", "UpsampleLengthVocoder", inputs["mel80"])
    assert check.module == "cell"
    assert "(1, 1600) float32, (1, 1280, 80) float32" in check.found
    assert "lengths 1600 and 1280" in inspection.trace.error
    assert "8 frames and 1600 samples (frames × hop = 8 × 200)" in check.fix
    assert "1280 = 8 × 160" in check.fix
    factors = inspection.verdict.check("upsampling")
    assert not factors.ok and "(4, 5, 8) multiply to 160, but the hop is 200" in factors.found
    assert inspection.trace.module("upsample").outputs == [(1, 1280, 80)]


def test_integer_classes_into_a_linear_layer(inputs):
    inspection, check = failure("integer_input.py", "IntegerInputVocoder", inputs["wav"])
    assert check.module == "sample_in"
    assert check.found == "'sample_in' (Linear) received (1, 1600, 1) int64"
    assert "floating point (Linear in_features=1)" in check.expected
    assert "integer tensor" in check.fix and "tensor.float()" in check.fix
    assert "type Long met weights of type Float" in inspection.trace.error


def test_hidden_state_made_for_another_batch(inputs):
    inspection, check = failure("hidden_batch.py", "HiddenBatchVocoder", inputs["mel80"])
    assert check.module == "rnn"
    assert check.found == "'rnn' (GRU) received (1, 1600, 33) float32, (1, 4, 32) float32"
    assert "(1, N, 32) with the input's batch N" in check.expected
    assert "The state has batch size 4 but the input has batch size 1." in inspection.trace.error


def test_time_major_logits_handed_to_cross_entropy(inputs):
    inspection, check = failure("time_major_loss.py", "TimeMajorLossWaveNet", inputs["mel80"])
    assert check.module == "criterion"
    assert "(1, 1600, 256) float32, (1, 1600) int64" in check.found
    assert "time-major (N, T, C) = (1, 1600, 256)" in check.fix and "logits.transpose(1, 2)" in check.fix
    assert [(r.function, r.input, r.target) for r in inspection.trace.training] == [
        ("cross_entropy", (1, 1600, 256), (1, 1600))
    ]
    assert inspection.trace.module("embed").dtype == "int64→float32"
    # with a hop of 256 the class count (256) is a whole frame: still the loss's error, not mel context to trim
    _, check = failure("time_major_loss.py", "TimeMajorLossWaveNet", inputs["mel80"], kwargs={"hop_length": 256})
    assert check.module == "criterion" and "(1, 2048, 256)" in check.fix


def test_a_module_that_runs_records_every_shape_and_loads_its_state_dict(inputs, tmp_path):
    spec = parse_module_spec(f"{USER_MODULES / 'band_count.py'}:BandCountVocoder")
    reference = build_module(spec).module
    checkpoint = tmp_path / "weights.pt"
    torch.save({"state_dict": reference.state_dict(), "step": 3}, checkpoint)
    inspection = inspect_code(CodeRequest(module=str(spec), input=inputs["mel80"], checkpoint=checkpoint, frames=4))
    assert inspection.verdict.ok
    assert torch.equal(inspection.built.module.out.weight, reference.out.weight)
    assert inspection.verdict.check("forward").found == "output (1, 800, 256) float32"
    assert inspection.trace.module("rnn").inputs == [(1, 800, 33)]
    assert inspection.trace.module("rnn").outputs == [(1, 800, 32), (1, 1, 32)]


def test_loading_problems_are_told_with_the_fix(tmp_path):
    spec = parse_module_spec(f"{USER_MODULES / 'band_count.py'}:BandCountVocoder")
    with pytest.raises(InputError, match=r"no class or function named 'Nope'.*BandCountVocoder"):
        build_module(parse_module_spec(f"{spec.path}:Nope"))
    with pytest.raises(InputError, match=r"FILE.py:NAME"):
        parse_module_spec(str(spec.path))
    broken = tmp_path / "broken.py"
    broken.write_text("import torch\nimport not_a_real_package_xyz\n")
    with pytest.raises(InputError, match=r"No module named 'not_a_real_package_xyz'.*broken.py:2.*pip install"):
        build_module(parse_module_spec(f"{broken}:Model"))
    needs = tmp_path / "needs.py"
    needs.write_text(
        "from torch import nn\nclass Model(nn.Module):\n    def __init__(self, rnn_dims, bits=8):\n"
        "        super().__init__()\n"
    )
    with pytest.raises(InputError, match=r"Model needs rnn_dims.*--kwargs '\{\"rnn_dims\": ...\}'"):
        build_module(parse_module_spec(f"{needs}:Model"))
    pickled = tmp_path / "pickled.pt"
    torch.save({"state_dict": build_module(spec).module.state_dict(), "made": Path("x")}, pickled)
    with pytest.raises(InputError, match=r"weights_only.*never unpickles code"):
        load_checkpoint(build_module(spec).module, pickled)
    other = tmp_path / "other.pt"
    torch.save(build_module(spec, {"n_mels": 60}).module.state_dict(), other)
    with pytest.raises(InputError, match=r"conditioning.weight \(32, 60\) where the model has \(32, 80\)"):
        load_checkpoint(build_module(spec).module, other)
    with pytest.raises(InputError, match=r"not JSON"):
        inspect_code(CodeRequest(module=str(spec), input=tmp_path / "none.npy", kwargs="{n_mels: 80}"))


def test_forward_arguments_are_guessed_by_name_or_named(tmp_path):
    source = tmp_path / "odd.py"
    source.write_text(
        "from torch import nn\nclass Odd(nn.Module):\n    def forward(self, a, b):\n        return a\n"
        "class One(nn.Module):\n    def forward(self, features_in):\n        return features_in\n"
    )
    odd = build_module(parse_module_spec(f"{source}:Odd")).module
    with pytest.raises(InputError, match=r"--mel-arg NAME --audio-arg NAME"):
        bind_forward(odd)
    named = bind_forward(odd, mel_arg="b", audio_arg="a")
    assert (named.mel, named.audio) == ("b", "a")
    one = bind_forward(build_module(parse_module_spec(f"{source}:One")).module)
    assert one.mel == "features_in" and "only other required parameter" in one.describe()
    recipe = mel_recipe({"upsample_params": {"upsample_scales": [4, 4, 4, 4]}, "cin_channels": 80})
    assert (recipe.config.n_mels, recipe.config.hop_length) == (80, 256)
    assert "product of the upsampling factors (4, 4, 4, 4)" in recipe.describe()


def test_cli_prints_the_table_and_exits_2_on_a_failure(inputs, capsys):
    code = main(
        [
            "inspect",
            str(inputs["mel80"]),
            "--module",
            f"{USER_MODULES / 'hidden_batch.py'}:HiddenBatchVocoder",
            "--kwargs",
            '{"batch_size": 3}',
        ]
    )
    out = capsys.readouterr().out
    assert code == 2
    assert "[FAIL] forward: 'rnn' (GRU) received (1, 1600, 33) float32, (1, 3, 32) float32" in out
    assert "rnn (GRU) <- FAILED" in out and "Traceback" not in out
    assert (
        main(
            [
                "inspect",
                str(inputs["mel80"]),
                "--module",
                f"{USER_MODULES / 'hidden_batch.py'}:HiddenBatchVocoder",
                "--kwargs",
                '{"batch_size": 1}',
            ]
        )
        == 0
    )
    assert main(["inspect", str(inputs["mel80"]), "--module", "missing.py:Model"]) == 2
    assert "missing.py: found no such file" in capsys.readouterr().err
    assert main(["inspect", "--help"]) == 0
    assert "--module runs YOUR code" in capsys.readouterr().out
