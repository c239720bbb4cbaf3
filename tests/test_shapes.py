"""Preflight catches each classic input mistake with the value found, the value expected and the fix; the trace
table equals what hooks see in a real forward; the cell trace follows the equations' shapes."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from engine.features import Conditioning, MelConfig
from engine.models.upsample import UpsampleConfig
from engine.models.wavenet.model import WaveNet, WaveNetConfig
from engine.models.wavernn.model import WaveRNN, WaveRNNConfig
from engine.models.wavernn_dual.model import DualSoftmaxConfig, DualSoftmaxWaveRNN
from engine.shapes import hidden_shapes, inspect, preflight, render_report, trace

MEL = MelConfig(sample_rate=16000, hop_length=20, n_mels=16)
UPSAMPLE = UpsampleConfig(factors=(4, 5), pad=2, resnet_blocks=1, resnet_channels=8, aux_channels=8)


@pytest.fixture(scope="module")
def wavernn():
    torch.manual_seed(0)
    return WaveRNN(WaveRNNConfig(rnn_dims=12, fc_dims=12, bits=6, upsample=UPSAMPLE), MEL).eval()


@pytest.fixture(scope="module")
def dual():
    torch.manual_seed(1)
    return DualSoftmaxWaveRNN(DualSoftmaxConfig(hidden_size=10, upsample=UPSAMPLE), MEL).eval()


@pytest.fixture(scope="module")
def wavenet():
    torch.manual_seed(2)
    config = WaveNetConfig(blocks=1, layers=3, residual_channels=6, skip_channels=7, bits=6, upsample=UPSAMPLE)
    return WaveNet(config, MEL).eval()


def good_mel(frames: int = 12, bands: int = 16) -> np.ndarray:
    return np.random.default_rng(0).uniform(0.05, 0.95, (bands, frames)).astype(np.float32)


def failed(verdict, name):
    check = verdict.check(name)
    assert not check.ok, f"{name} passed: {check}"
    assert check.found and check.expected and check.fix
    return check


# --- preflight: one test per mistake --------------------------------------------------------------------------


def test_a_correct_mel_passes_every_check(wavernn):
    verdict = preflight(wavernn, good_mel(), source_rate=16000, num_samples=12 * 20)
    assert verdict.ok, render_report(verdict, None)
    assert {c.name for c in verdict.checks} >= {
        "layout",
        "bands",
        "dtype",
        "finite",
        "frames",
        "range",
        "sample rate",
        "hop",
        "length",
        "hidden",
    }


def test_sixty_bands_for_an_eighty_band_model_names_both_counts():
    model = WaveRNN(
        WaveRNNConfig(rnn_dims=8, fc_dims=8, bits=6, upsample=UPSAMPLE), dataclasses.replace(MEL, n_mels=80)
    )
    check = failed(preflight(model, good_mel(40, bands=60)), "bands")
    assert "(60, 40)" in check.found and "80 bands" in check.found
    assert check.expected.startswith("80 mel bands")
    assert check.fix == "Recompute the mel with n_mels=80, or choose a model trained on 60 bands."
    assert check.module == "upsample.resnet.conv_in"


def test_an_empty_mel_fails_frames_without_other_errors(wavernn):
    verdict = preflight(wavernn, np.zeros((16, 0), dtype=np.float32))
    assert failed(verdict, "frames").found == "0 frames"
    assert [c.name for c in verdict.failures] == ["frames"]


def test_time_major_mel_is_accepted_but_a_time_major_batch_is_not(wavernn):
    verdict = preflight(wavernn, good_mel(30).T)
    assert verdict.check("layout").ok and "time-major" in verdict.check("layout").found
    check = failed(preflight(wavernn, good_mel(30).T[None]), "layout")
    assert "(1, 30, 16)" in check.found and "(N, n_mels=16, frames)" in check.expected
    assert "transpose(1, 2)" in check.fix


def test_a_four_dimensional_array_fails_layout(wavernn):
    verdict = preflight(wavernn, good_mel()[None, None])
    check = failed(verdict, "layout")
    assert "4-D" in check.found and "(1, 1, 16, 12)" in check.found
    assert [c.name for c in verdict.checks] == ["layout", "sample rate", "hop", "hidden"]  # no claims on bands


def test_integer_mel_fails_dtype(wavernn):
    check = failed(preflight(wavernn, (good_mel() * 100).astype(np.int64)), "dtype")
    assert check.found == "dtype int64"
    assert "float32" in check.expected and "astype(numpy.float32)" in check.fix


def test_nan_and_inf_fail_finite(wavernn):
    mel = good_mel()
    mel[3, 4], mel[5, 6] = np.nan, np.inf
    check = failed(preflight(wavernn, mel), "finite")
    assert check.found == "2 NaN or infinite values" and check.expected == "finite values"


def test_decibel_values_for_a_zero_one_model_fail_range(wavernn):
    decibels = good_mel() * 100.0 - 100.0  # [-95, -5] dB
    check = failed(preflight(wavernn, decibels), "range")
    low, high = float(decibels.min()), float(decibels.max())
    assert f"[{low:.3g}, {high:.3g}]" in check.found and "decibels" in check.found
    assert "[0, 1]" in check.expected and "-100" in check.expected
    assert "/ 100" in check.fix


def test_magnitude_and_symmetric_mels_fail_range_with_their_own_reading(wavernn):
    assert "magnitude" in failed(preflight(wavernn, good_mel() * 40.0), "range").found
    symmetric = failed(preflight(wavernn, good_mel() * 2.0 - 1.0), "range")
    assert "[-1, 1]" in symmetric.found and "(mel + 1) / 2" in symmetric.fix


def test_mel_from_another_sample_rate_fails(wavernn):
    check = failed(preflight(wavernn, good_mel(), source_rate=22050), "sample rate")
    assert "22050 Hz" in check.found and check.expected.startswith("16000 Hz")
    assert "16000 Hz" in check.fix


def test_audio_resampled_to_the_model_rate_passes_the_rate_check(wavernn):
    audio = np.zeros(240, dtype=np.float32)
    conditioning = Conditioning(mel=good_mel(13), mel_config=MEL, audio=audio, source_rate=44100)
    check = preflight(wavernn, conditioning).check("sample rate")
    assert check.ok and "44100 Hz, resampled to 16000 Hz" in check.found


def test_too_few_frames_for_the_requested_samples_fails_length(wavernn):
    check = failed(preflight(wavernn, good_mel(10), num_samples=500), "length")
    assert check.found == "10 frames × hop 20 = 200 samples"
    assert check.expected == "25 to 26 frames for 500 samples"
    assert "at most 200 samples" in check.fix


def test_a_mel_with_too_many_frames_for_the_audio_fails_length(wavernn):
    # 200 samples at hop 10 (half the model's hop) give 21 frames; the model's hop expects 10 or 11.
    check = failed(preflight(wavernn, good_mel(21), num_samples=200), "length")
    assert check.found == "21 frames × hop 20 = 420 samples" and check.expected == "10 to 11 frames for 200 samples"


def test_a_mel_made_with_another_hop_fails_against_the_upsampling_product(wavernn):
    conditioning = Conditioning(mel=good_mel(), mel_config=dataclasses.replace(MEL, hop_length=25))
    check = failed(preflight(wavernn, conditioning), "hop")
    assert "hop 25" in check.found and "(4, 5) multiply to 20" in check.found
    assert check.expected.startswith("hop 20")
    assert "hop_length=20" in check.fix
    assert check.module == "upsample"


def test_a_model_whose_factors_miss_its_own_hop_fails(wavernn):
    broken = WaveRNN(WaveRNNConfig(rnn_dims=8, fc_dims=8, bits=6, upsample=UPSAMPLE), MEL)
    broken.mel_config = dataclasses.replace(MEL, hop_length=32)  # as a checkpoint with a hand-edited config would
    check = failed(preflight(broken, good_mel()), "hop")
    assert "multiply to 20" in check.found and "hop is 32" in check.found
    assert check.expected == "factors multiplying to 32"


def test_too_few_frames_for_the_conditioning_padding_fails(wavernn):
    check = failed(preflight(wavernn, good_mel(2)), "frames")
    assert check.found == "2 frames" and check.expected.startswith(f"at least {wavernn.min_frames} frames")


def test_hidden_state_with_another_batch_fails(wavernn, dual):
    check = failed(
        preflight(wavernn, good_mel(), hidden={"h1": torch.zeros(2, 12), "h2": torch.zeros(1, 12)}), "hidden"
    )
    assert "(2, 12)" in check.found and "batch 2" in check.found
    assert check.expected.startswith("(1, 12)") and "torch.zeros(1, 12)" in check.fix
    check = failed(preflight(dual, good_mel()[None].repeat(3, axis=0), hidden=torch.zeros(1, 10)), "hidden")
    assert "(1, 10)" in check.found and check.expected.startswith("(3, 10) (batch 3")


def test_uninitialised_hidden_state_fails(dual):
    garbage = torch.full((1, 10), 3.0e38)
    check = failed(preflight(dual, good_mel(), hidden=garbage), "hidden")
    assert "uninitialised" in check.found and "torch.zeros(1, 10)" in check.fix


def test_hidden_shapes_follow_each_family(wavernn, dual, wavenet):
    assert hidden_shapes(wavernn, 4) == {"h1": (4, 12), "h2": (4, 12)}
    assert hidden_shapes(dual, 2) == {"h": (2, 10)}
    assert hidden_shapes(wavenet, 2) == {}


def test_mel_made_with_other_settings_is_named(wavernn):
    conditioning = Conditioning(mel=good_mel(), mel_config=dataclasses.replace(MEL, fmax=7600.0, n_fft=512))
    check = failed(preflight(wavernn, conditioning), "mel settings")
    assert check.found == "n_fft=512, fmax=7600.0" and check.expected == "n_fft=1024, fmax=8000.0"


# --- trace ---------------------------------------------------------------------------------------------------


def hooked_shapes(model, mel, audio):
    """Independent record: {name: (input shapes, output shapes)} of each module's first call in a forward."""
    seen = {}

    def flat(value):
        if isinstance(value, torch.Tensor):
            return [tuple(value.shape)]
        if isinstance(value, (tuple, list)):
            return [s for v in value for s in flat(v)]
        return []

    def record(name):
        def hook(_module, args, output) -> None:  # returning a value would replace the module's output
            seen.setdefault(name, (flat(args), flat(output)))

        return hook

    handles = [module.register_forward_hook(record(name)) for name, module in model.named_modules()]
    with torch.no_grad():
        model(mel, audio)
    for handle in handles:
        handle.remove()
    return seen


@pytest.mark.parametrize("name", ["wavernn", "wavernn-dual", "wavenet"])
def test_trace_table_of_each_builtin_equals_hooks_on_a_real_forward(name):
    from engine.models.loading import load_model

    model, _ = load_model(name)
    bands, hop = model.mel_config.n_mels, model.hop_length
    mel = good_mel(4, bands)
    result = trace(model, mel, frames=4)
    seen = hooked_shapes(model, torch.from_numpy(mel)[None], torch.zeros(1, 4 * hop))
    assert [r.name for r in result.modules] == [n for n, _ in model.named_modules()]
    for record in result.modules:
        if record.name in seen:
            assert (record.inputs, record.outputs) == seen[record.name], record.name
            assert record.dtype == "float32"
        else:  # containers (ModuleList) are iterated, never called; so is a helper whose methods are used instead
            assert record.calls == 0 and record.kind in ("ModuleList", "LinearPredictor")
            assert (record.inputs, record.outputs) == ([], [])
        module = model.get_submodule(record.name)
        assert record.parameters == sum(p.numel() for p in module.parameters())
    assert result.modules[0].outputs == [(1, result.modules[0].outputs[0][1], 4 * hop)]
    assert result.error is None and result.step_error < 1e-4
    rows = render_report(preflight(model, mel), result).splitlines()
    for record in result.modules:
        label = f"{record.name.rsplit('.', 1)[-1] or type(model).__name__} ({record.kind})"
        inputs = " ".join(str(shape).replace(",)", ")") for shape in record.inputs)
        outputs = " ".join(str(shape).replace(",)", ")") for shape in record.outputs)
        assert any(
            label in row and inputs in row and outputs in row and f"{record.parameters:,}" in row for row in rows
        ), label


def test_dual_softmax_cell_trace_has_the_paper_shapes(dual):
    result = trace(dual, good_mel())
    H, half = 10, 5
    expected = {
        "x_t": (1, 3),
        "h_{t−1}": (1, H),
        "R·h_{t−1}": (1, 3 * H),
        "I*·x_t": (1, 3 * H),
        "u_t": (1, H),
        "r_t": (1, H),
        "e_t": (1, H),
        "h_t": (1, H),
        "y_c": (1, half),
        "y_f": (1, half),
        "P(c_t)": (1, 256),
        "P(f_t)": (1, 256),
    }
    assert {s.symbol: s.shape for s in result.steps} == expected
    assert result.step_error < 1e-5  # the equations, run with the model's weights, give the forward's column 0
    assert [(r.function, r.input, r.target, r.target_dtype) for r in result.training] == [
        ("DualSoftmaxWaveRNN.loss", (1, 512, 60), (1, 60), "float32"),
        ("cross_entropy", (1, 256, 60), (1, 60), "int64"),
        ("cross_entropy", (1, 256, 60), (1, 60), "int64"),
    ]
    assert result.module("R").calls == 60  # R·h_{t−1} once per sample


def test_wavernn_cell_trace_has_the_equation_shapes(wavernn):
    result = trace(wavernn, good_mel())
    shapes = {s.symbol: s.shape for s in result.steps}
    assert shapes["x_in"] == shapes["h¹_t"] == shapes["z²"] == (1, 12)
    assert shapes["aux¹_t"] == (1, 2) and shapes["mel_t"] == (1, 16)
    assert shapes["out_t"] == shapes["P(x_t)"] == (1, 64)
    assert result.step_error < 1e-5


def test_wavenet_cell_trace_lists_every_layer_residual_and_skip(wavenet):
    result = trace(wavenet, good_mel())
    for layer in range(3):
        assert result.step(f"a_{layer}").shape == (1, 12)
        assert result.step(f"z_{layer}").shape == (1, 6)
        assert result.step(f"x_{layer + 1}").shape == (1, 6)
        assert result.step(f"skip_{layer}").shape == (1, 7)
    assert result.step("skip").shape == (1, 7) and result.step("out_t").shape == (1, 64)
    assert result.step_error < 1e-5


def test_trace_of_a_sixty_band_mel_marks_the_module_that_fails(wavenet):
    result = trace(wavenet, good_mel(12, bands=10))
    assert result.failed_module == "upsample.resnet.conv_in"
    record = result.module("upsample.resnet.conv_in")
    assert record.failed and record.inputs == [(1, 10, 3 + 2 * 2)] and record.outputs == []
    assert "takes 16 channels but was given 10" in result.error
    assert result.steps == [] and result.training == []
    assert "<- FAILED" in render_report(None, result)


def test_trace_of_a_model_that_checks_its_own_input_marks_the_model(wavernn):
    result = trace(wavernn, good_mel(12, bands=10))
    assert result.failed_module == "" and "floats of shape (N, 16, frames)" in result.error


def test_inspect_reads_a_mel_file_raw(tmp_path, wavenet):
    path = tmp_path / "sixty.npy"
    np.save(path, good_mel(12, bands=10))
    inspection = inspect(wavenet, path)
    assert not inspection.verdict.check("bands").ok and inspection.verdict.source == str(path)
    assert inspection.trace.failed_module == "upsample.resnet.conv_in"


def test_the_hidden_check_says_how_the_state_starts(wavernn, wavenet):
    recurrent = preflight(wavernn, good_mel()).check("hidden")
    assert (
        recurrent.ok
        and recurrent.found == "batch 1; the state starts from zeros, warmed on 4 frames of silence when sampling"
    )
    convolutional = preflight(wavenet, good_mel()).check("hidden")
    assert convolutional.ok and convolutional.found == "batch 1; no recurrent state"
