"""Both WaveRNN variants: training output and loss, causality, streaming against forward, sampling, configs."""

import json

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from engine.errors import ConfigError, InputError
from engine.features import MelConfig, combine_coarse_fine, float_to_int16, int16_to_float, split_coarse_fine
from engine.models.upsample import UpsampleConfig
from engine.models.wavernn.model import WaveRNN, WaveRNNConfig
from engine.models.wavernn_dual import kernel as dual_kernel
from engine.models.wavernn_dual.cell import bytes_to_audio, coarse_fine_bytes
from engine.models.wavernn_dual.model import DualSoftmaxConfig, DualSoftmaxWaveRNN

MEL = MelConfig(hop_length=16, n_mels=20)
UPSAMPLE = UpsampleConfig(factors=(4, 4), resnet_blocks=1, resnet_channels=16, aux_channels=16)
FRAMES, BATCH = 5, 2
VARIANTS = ["mulaw", "mol", "dual", "lpc"]  # "lpc": mu-law with linear prediction of order 4
# "mulaw", "lpc" and "dual" sample on the CPU in compiled loops (engine/models/wavernn/kernel.py,
# engine/models/wavernn_dual/kernel.py); "-torch" in the torch loop that CUDA runs.
STREAM_VARIANTS = VARIANTS + ["mulaw-torch", "lpc-torch", "dual-torch"]


def build(variant: str) -> torch.nn.Module:
    torch.manual_seed(0)
    mode = variant.removesuffix("-torch")
    if mode == "dual":
        model = DualSoftmaxWaveRNN(DualSoftmaxConfig(hidden_size=32, upsample=UPSAMPLE), MEL)
    else:
        order = 4 if mode == "lpc" else 0
        config = WaveRNNConfig(
            rnn_dims=32,
            fc_dims=24,
            mode="mol" if mode == "mol" else "mulaw",
            n_mixtures=4,
            lpc_order=order,
            upsample=UPSAMPLE,
        )
        model = WaveRNN(config, MEL)
    model.compiled_cpu_loop = not variant.endswith("-torch")
    return model.eval()


def streamed(model: torch.nn.Module, mel: torch.Tensor, block_frames: int, **kwargs) -> tuple[torch.Tensor, ...]:
    """Samples (N, T) and logits (N, C, T) of a whole stream with return_logits, drawn with seed 7."""
    blocks = list(
        model.stream(
            mel, block_frames=block_frames, return_logits=True, generator=torch.Generator().manual_seed(7), **kwargs
        )
    )
    return torch.cat([b.samples for b in blocks], dim=1), torch.cat([b.logits for b in blocks], dim=2)


def batch(frames: int = FRAMES, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """mel (N, n_mels, F) in [0, 1] and a smooth audio batch (N, F·hop) in [-1, 1]."""
    generator = torch.Generator().manual_seed(seed)
    mel = torch.rand(BATCH, MEL.n_mels, frames, generator=generator)
    t = torch.arange(frames * MEL.hop_length, dtype=torch.float32)
    tone = 0.6 * torch.sin(t / 3.0 + torch.arange(BATCH).unsqueeze(1))
    audio = tone + 0.1 * torch.rand(BATCH, t.numel(), generator=generator)
    return mel, audio


@pytest.mark.parametrize("variant", VARIANTS)
def test_teacher_forced_output_is_n_c_t_and_one_adam_step_lowers_the_loss(variant):
    model = build(variant)
    mel, audio = batch()
    output = model(mel, audio)
    channels = {"mulaw": 512, "mol": 12, "dual": 512, "lpc": 512}[variant]
    assert output.shape == (BATCH, channels, FRAMES * MEL.hop_length)
    if variant != "mol":
        target = torch.randint(0, 256, audio.shape)
        assert torch.isfinite(F.cross_entropy(output[:, :256], target))
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    target = model.training_target(mel, audio)
    before = model.loss(output, target)
    assert torch.isfinite(before)
    before.backward()
    optimiser.step()
    with torch.no_grad():
        after = model.loss(model(mel, audio), target)
    assert after < before - 1e-4


@pytest.mark.parametrize("variant", VARIANTS)
def test_output_at_t_never_depends_on_audio_from_t_on(variant):
    """Column t sees audio[:, :t]; the dual model's fine logits at t also see c_t (the paper's teacher forcing)."""
    model = build(variant)
    mel, audio = batch()
    with torch.no_grad():
        reference = model(mel, audio)
        for t in (0, 17, 50):
            changed = audio.clone()
            changed[:, t:] = torch.rand_like(changed[:, t:]) * 2 - 1
            output = model(mel, changed)
            seen_at_t = slice(0, 256) if variant == "dual" else slice(None)
            torch.testing.assert_close(output[..., :t], reference[..., :t], atol=1e-6, rtol=0)
            torch.testing.assert_close(output[:, seen_at_t, t], reference[:, seen_at_t, t], atol=1e-6, rtol=0)
            assert (output[..., t + 1] - reference[..., t + 1]).abs().max() > 1e-4


def test_dual_coarse_half_never_sees_the_current_coarse_byte():
    model = build("dual")
    mel, audio = batch()
    t = 20
    changed = audio.clone()
    changed[:, t] = -audio[:, t]  # flips the coarse byte of sample t
    with torch.no_grad():
        reference, output = model(mel, audio), model(mel, changed)
    torch.testing.assert_close(output[:, :256, : t + 1], reference[:, :256, : t + 1], atol=1e-6, rtol=0)
    assert (output[:, 256:, t] - reference[:, 256:, t]).abs().max() > 1e-4


@pytest.mark.parametrize("variant", STREAM_VARIANTS)
def test_teacher_forced_stream_reproduces_forward_logits(variant):
    model = build(variant)
    mel, audio = batch()
    with torch.no_grad():
        reference = model(mel, audio)
    blocks = list(model.stream(mel, block_frames=2, teacher=audio, return_logits=True))
    assert [b.samples.shape[1] for b in blocks] == [32, 32, 16]
    logits = torch.cat([b.logits for b in blocks], dim=2)
    torch.testing.assert_close(logits, reference, atol=1e-4, rtol=0)


@pytest.mark.parametrize("variant", STREAM_VARIANTS)
def test_sampling_is_reproducible_with_a_seeded_generator(variant):
    model = build(variant)
    mel, _ = batch()

    def sample(seed: int) -> torch.Tensor:
        blocks = model.stream(mel, block_frames=3, generator=torch.Generator().manual_seed(seed))
        return torch.cat([b.samples for b in blocks], dim=1)

    first, again, other = sample(7), sample(7), sample(8)
    assert first.shape == (BATCH, FRAMES * MEL.hop_length)
    assert first.dtype == torch.float32
    assert torch.equal(first, again)
    assert not torch.equal(first, other)
    assert first.abs().max() <= 1.0
    assert first.std() > 0


@pytest.mark.parametrize("variant", STREAM_VARIANTS)
def test_free_running_stream_feeds_back_the_samples_it_draws(variant, monkeypatch):
    """The logits of a free-running stream equal forward's on the samples it drew: every draw is fed back as itself
    (a mu-law class as its compressed value, a mixture draw as it is, the dual model's bytes as c_t and f_t).
    forward starts cold, so the warm-up is left out here."""
    model = build(variant)
    monkeypatch.setattr(model, "WARMUP_FRAMES", 0)
    mel, _ = batch()
    blocks = list(model.stream(mel, block_frames=2, return_logits=True, generator=torch.Generator().manual_seed(5)))
    samples = torch.cat([b.samples for b in blocks], dim=1)
    with torch.no_grad():
        reference = model(mel, samples)
    torch.testing.assert_close(torch.cat([b.logits for b in blocks], dim=2), reference, atol=1e-4, rtol=0)


@pytest.mark.parametrize("variant", VARIANTS)
def test_wrong_upsampling_product_is_a_config_error_naming_both_numbers(variant):
    upsample = UpsampleConfig(factors=(4, 5), aux_channels=16)
    with pytest.raises(ConfigError, match=r"20.*16"):
        if variant == "dual":
            DualSoftmaxWaveRNN(DualSoftmaxConfig(hidden_size=32, upsample=upsample), MEL)
        else:
            WaveRNN(WaveRNNConfig(rnn_dims=32, mode=variant, upsample=upsample), MEL)


@pytest.mark.parametrize("variant", VARIANTS)
def test_mel_and_audio_of_the_wrong_shape_are_input_errors(variant):
    model = build(variant)
    mel, audio = batch()
    with pytest.raises(InputError, match=r"\(2, 10, 5\).*\(N, 20, frames\)"):
        model(mel[:, :10], audio)
    with pytest.raises(InputError, match=r"\(2, 79\).*\(2, 80\)"):
        model(mel, audio[:, :-1])
    with pytest.raises(InputError, match="found 2 frames; expected at least 3 frames"):
        next(model.stream(mel[:, :, :2]))


def test_other_contradictory_settings_are_config_errors():
    with pytest.raises(ConfigError, match="multiple of 4"):
        WaveRNN(WaveRNNConfig(upsample=UpsampleConfig(factors=(4, 4), aux_channels=18)), MEL)
    with pytest.raises(ConfigError, match='"gauss"'):
        WaveRNN(WaveRNNConfig(mode="gauss", upsample=UPSAMPLE), MEL)
    with pytest.raises(ConfigError, match="even"):
        DualSoftmaxWaveRNN(DualSoftmaxConfig(hidden_size=33, upsample=UPSAMPLE), MEL)
    with pytest.raises(ConfigError, match="rnn_dim"):
        WaveRNNConfig.from_dict({"rnn_dim": 32})
    with pytest.raises(ConfigError, match='lpc_order is 16 in "mol" mode'):
        WaveRNN(WaveRNNConfig(mode="mol", lpc_order=16, upsample=UPSAMPLE), MEL)
    with pytest.raises(ConfigError, match="temperature is 0"):
        WaveRNN(WaveRNNConfig(temperature=0, upsample=UPSAMPLE), MEL)


@pytest.mark.parametrize("variant", VARIANTS)
def test_config_survives_a_json_round_trip(variant):
    model = build(variant)
    stored = json.loads(json.dumps(model.config_dict()))
    config_class = DualSoftmaxConfig if variant == "dual" else WaveRNNConfig
    assert config_class.from_dict(stored["model"]) == model.config
    assert model.receptive_field == 0
    assert model.min_frames == UPSAMPLE.pad + 1


def test_mol_samples_lie_in_range_and_its_loss_is_finite():
    model = build("mol")
    mel, audio = batch()
    samples = torch.cat([b.samples for b in model.stream(mel, generator=torch.Generator().manual_seed(3))], dim=1)
    assert samples.abs().max() <= 1.0 and samples.std() > 0
    assert torch.isfinite(model.loss(model(mel, audio), audio))


def test_coarse_fine_bytes_match_the_numpy_reference():
    audio = torch.cat([torch.linspace(-1.0, 1.0, 2001), torch.tensor([-1.2, 1.2, 0.0, 1 / 32768])]).unsqueeze(0)
    as_numpy = audio.numpy()
    coarse, fine = coarse_fine_bytes(audio)
    reference_coarse, reference_fine = split_coarse_fine(float_to_int16(as_numpy))
    np.testing.assert_array_equal(coarse.numpy(), reference_coarse)
    np.testing.assert_array_equal(fine.numpy(), reference_fine)
    expected = int16_to_float(combine_coarse_fine(reference_coarse, reference_fine))
    np.testing.assert_array_equal(bytes_to_audio(coarse, fine).numpy(), expected)


@pytest.mark.parametrize("variant", STREAM_VARIANTS)
def test_sampling_starts_from_a_state_warmed_on_silence_and_a_teacher_starts_cold(variant, monkeypatch):
    model = build(variant)
    mel, audio = batch()

    def first_logits(**kwargs):
        block = next(
            model.stream(mel, block_frames=1, return_logits=True, generator=torch.Generator().manual_seed(3), **kwargs)
        )
        return block.logits[..., 0]

    warm = first_logits()
    taught = first_logits(teacher=audio)
    monkeypatch.setattr(model, "WARMUP_FRAMES", 0)
    cold = first_logits()
    before_the_draw = slice(0, 256) if variant.startswith("dual") else slice(None)  # the fine logits also see c_t
    torch.testing.assert_close(taught[:, before_the_draw], cold[:, before_the_draw])  # silence before, both cold
    assert (warm - cold)[:, before_the_draw].abs().max() > 1e-3  # the warmed state changes the first distribution


@pytest.mark.slow
def test_the_default_wavernn_does_not_start_with_a_dc_step():
    """Cold, the default WaveRNN drew a far-off first sample and held it (a DC step up to 0.6 for ~0.1 s, in 10 of 24
    seeds); warmed on silence, its first 0.2 s stays near zero on average in 25 ms windows, as the recording does."""
    from engine.features import load_audio, mel_spectrogram
    from engine.catalog import RESOURCES
    from engine.models.loading import load_model

    model, info = load_model("wavernn")
    assert info.trained, f"the default WaveRNN is missing from {RESOURCES}"
    audio, _ = load_audio(RESOURCES.parent / "examples" / "allison-auth-incorrect.flac", model.mel_config.sample_rate)
    mel = torch.from_numpy(mel_spectrogram(audio, model.mel_config)[:, :16]).unsqueeze(0)  # 0.2 s
    assert np.abs(audio[:3200].reshape(-1, 400).mean(axis=1)).max() < 0.02  # the recording itself has no DC
    for seed in range(12):
        blocks = model.stream(mel, block_frames=16, generator=torch.Generator().manual_seed(seed))
        samples = torch.cat([block.samples for block in blocks], dim=1)[0]
        window_means = samples.reshape(-1, 400).mean(dim=1).abs()  # 25 ms windows
        assert window_means.max() < 0.1, f"seed {seed}: a DC step of {window_means.max():.2f}"


@pytest.mark.parametrize("variant, temperature", [("mulaw", 1.0), ("lpc", 0.7)])
def test_the_compiled_cpu_loop_draws_what_the_torch_loop_draws(variant, temperature):
    """Identical draws: neighbouring mu-law classes lie more than 4e-5 apart, so samples within 1e-6 are the same
    class (with linear prediction the float64 predictions may differ in their last bits between the loops)."""
    compiled, looped = build(variant), build(variant + "-torch")
    compiled.config.temperature = looped.config.temperature = temperature
    mel, audio = batch(frames=8)
    for kwargs in ({}, {"teacher": audio}):
        samples, logits = streamed(compiled, mel, 3, **kwargs)
        reference_samples, reference_logits = streamed(looped, mel, 3, **kwargs)
        assert samples.shape == reference_samples.shape == (BATCH, 8 * MEL.hop_length)
        torch.testing.assert_close(samples, reference_samples, atol=1e-6, rtol=0)
        torch.testing.assert_close(logits, reference_logits, atol=2e-5, rtol=0)


@pytest.mark.parametrize("variant", ["mulaw", "lpc"])
def test_the_compiled_loop_gives_the_same_samples_on_any_number_of_threads(variant):
    """Its rows run in threads (engine/models/wavernn/kernel.py: run_rows_in_threads): one thread, two, or as many as
    rows give the very same samples and logits, free-running and teacher-forced."""
    model = build(variant)
    mel = torch.rand(5, MEL.n_mels, 8, generator=torch.Generator().manual_seed(3))
    teacher = 0.5 * torch.sin(torch.arange(8 * MEL.hop_length) / 3.0 + torch.arange(5.0)[:, None])
    for kwargs in ({}, {"teacher": teacher}):
        runs = []
        for threads in (1, 2, 5):
            model.row_threads = threads
            runs.append(streamed(model, mel, 3, **kwargs))
        for samples, logits in runs[1:]:
            assert torch.equal(samples, runs[0][0]) and torch.equal(logits, runs[0][1])
        assert runs[0][0].shape == (5, 8 * MEL.hop_length) and runs[0][0].std() > 0


@pytest.mark.parametrize("block_frames", [1, 3, 8])
def test_the_compiled_dual_loop_draws_what_the_torch_loop_draws(block_frames, monkeypatch):
    """The same coarse and fine bytes from the same uniforms, so the very same samples, free-running and
    teacher-forced; the logits equal up to float32 rounding. Every step of the "dual" stream (warm-up included) runs
    in the compiled loop, and none of the "dual-torch" one."""
    kernel_steps = []
    run_block = dual_kernel.run_block

    def counted_run_block(conditioning, *args):
        kernel_steps.append(conditioning.shape[0])
        run_block(conditioning, *args)

    monkeypatch.setattr(dual_kernel, "run_block", counted_run_block)
    compiled, looped = build("dual"), build("dual-torch")
    mel, audio = batch(frames=8)
    for kwargs, warm_up_steps in (({}, compiled.WARMUP_FRAMES * MEL.hop_length), ({"teacher": audio}, 0)):
        kernel_steps.clear()
        samples, logits = streamed(compiled, mel, block_frames, **kwargs)
        assert sum(kernel_steps) == 8 * MEL.hop_length + warm_up_steps
        kernel_steps.clear()
        reference_samples, reference_logits = streamed(looped, mel, block_frames, **kwargs)
        assert kernel_steps == []
        assert samples.shape == reference_samples.shape == (BATCH, 8 * MEL.hop_length)
        assert samples.std() > 0.1
        assert torch.equal(samples, reference_samples)
        torch.testing.assert_close(logits, reference_logits, atol=2e-5, rtol=0)
