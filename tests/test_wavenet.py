"""WaveNet: Fast WaveNet generation equals the parallel forward, causality, receptive field, both dilated convs."""

import dataclasses
import json

import pytest
import torch
from torch.nn import functional as F

from engine.errors import ConfigError, InputError
from engine.features import MelConfig, mulaw_encode
from engine.models.dilated import CausalConv1d, FoldedCausalConv1d, fold_time, unfold_time
from engine.models.mixture import mixture_log_prob
from engine.models.upsample import UpsampleConfig
from engine.models.wavenet.model import WaveNet, WaveNetConfig, previous_classes

MEL = MelConfig(hop_length=16)
UPSAMPLE = UpsampleConfig(factors=(4, 4), resnet_blocks=1, resnet_channels=16, aux_channels=8)


def small_wavenet(seed: int = 0, compiled_cpu_loop: bool = True, **overrides) -> WaveNet:
    """A few-layer WaveNet for hop 16, in eval mode (the upsampler's batch norm uses its running statistics).

    compiled_cpu_loop=False samples in the torch loop (the one CUDA runs) instead of engine/models/wavenet/kernel.py.
    """
    torch.manual_seed(seed)
    values = dict(blocks=2, layers=3, kernel_size=2, residual_channels=8, skip_channels=16, upsample=UPSAMPLE)
    if overrides.get("output") == "lpc":  # mu-law output with linear prediction of order 4
        overrides.update(output="mulaw", lpc_order=4)
    values.update(overrides)
    model = WaveNet(WaveNetConfig(**values), MEL).eval()
    model.compiled_cpu_loop = compiled_cpu_loop
    return model


LOOPS = [pytest.param(True, id="compiled"), pytest.param(False, id="torch-loop")]


def strengthen(model: WaveNet) -> WaveNet:
    """Larger dilated-conv weights, so a change in the oldest input visibly reaches the output (at default
    initialisation it arrives scaled down by about 1e-8)."""
    with torch.no_grad():
        for layer in model.layers:
            torch.nn.init.normal_(layer.filter_gate.weight, std=0.5)
            torch.nn.init.normal_(layer.residual.weight, std=0.5)
    return model


def mel_and_audio(batch: int = 2, frames: int = 6, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    mel = torch.rand(batch, MEL.n_mels, frames, generator=generator)
    audio = torch.rand(batch, frames * MEL.hop_length, generator=generator) * 1.8 - 0.9
    return mel, audio


@pytest.mark.parametrize(
    "kernel_size, dilation_base, layers, output",
    [
        (2, 2, 4, "mulaw"),
        (3, 2, 3, "mulaw"),
        (2, 3, 3, "mulaw"),
        (3, 3, 2, "mulaw"),
        (3, 2, 3, "mol"),
        (3, 2, 3, "lpc"),
    ],
)
@pytest.mark.parametrize("compiled", LOOPS)
def test_incremental_wavenet_matches_full_forward(kernel_size, dilation_base, layers, output, compiled):
    model = small_wavenet(
        kernel_size=kernel_size, dilation_base=dilation_base, layers=layers, output=output, compiled_cpu_loop=compiled
    )
    mel, audio = mel_and_audio()
    with torch.no_grad():
        full = model(mel, audio)
    blocks = list(model.stream(mel, block_frames=2, teacher=audio, return_logits=True))
    incremental = torch.cat([block.logits for block in blocks], dim=-1)
    assert incremental.shape == full.shape
    step_errors = (incremental - full).abs().amax(dim=(0, 1))  # (T,): the worst logit at each step
    assert step_errors.max().item() < 1e-4, f"step {int(torch.argmax(step_errors))} differs by {step_errors.max():.2e}"


def test_forward_is_causal():
    model = strengthen(small_wavenet(kernel_size=3))
    mel, audio = mel_and_audio()
    with torch.no_grad():
        reference = model(mel, audio)
        for t in (0, 17, 50, 93):
            changed = audio.clone()
            changed[:, t + 1 :] = -changed[:, t + 1 :] + 0.05
            output = model(mel, changed)
            # column t + 1 is computed from audio[:, : t + 1], so it too is untouched; t + 2 sees the change
            assert torch.equal(output[:, :, : t + 2], reference[:, :, : t + 2])
            assert (output[:, :, t + 2] - reference[:, :, t + 2]).abs().max() > 1e-4


@pytest.mark.parametrize("dilation", [1, 2, 3, 5, 8])
@pytest.mark.parametrize("kernel_size", [2, 3])
def test_dilated_conv_implementations_agree(dilation, kernel_size):
    torch.manual_seed(dilation * 10 + kernel_size)
    conv = CausalConv1d(5, 6, kernel_size, dilation)
    folded = FoldedCausalConv1d(5, 6, kernel_size, dilation)
    folded.load_state_dict(conv.state_dict())
    for length in (1, 7, 13, 50):
        x = torch.randn(3, 5, length)
        expected = conv(x)
        assert expected.shape == (3, 6, length)
        torch.testing.assert_close(folded(x), expected, atol=1e-5, rtol=0)


def test_fold_time_lays_out_phases_as_in_the_seed_example():
    x = torch.tensor([[[0.0, 1.0, 2.0, 3.0]], [[10.0, 11.0, 12.0, 13.0]]])  # [[0 1 2 3], [A B C D]]
    folded = fold_time(x, 2)
    assert folded.squeeze(1).tolist() == [[0, 2], [10, 12], [1, 3], [11, 13]]
    assert torch.equal(unfold_time(folded, 2), x)


def test_both_dilated_convs_give_the_same_wavenet():
    model = small_wavenet(kernel_size=3, dilated_conv="conv1d")
    folded = small_wavenet(seed=5, kernel_size=3, dilated_conv="fold")
    folded.load_state_dict(model.state_dict())
    mel, audio = mel_and_audio()
    with torch.no_grad():
        torch.testing.assert_close(folded(mel, audio), model(mel, audio), atol=1e-5, rtol=0)


@pytest.mark.parametrize("kernel_size, dilation_base", [(2, 2), (3, 2), (2, 3)])
def test_receptive_field_is_the_true_dependency_span(kernel_size, dilation_base):
    model = strengthen(small_wavenet(kernel_size=kernel_size, dilation_base=dilation_base, layers=3))
    dilations = [dilation_base**layer for layer in range(3)] * 2
    rf = model.receptive_field
    assert rf == (kernel_size - 1) * sum(dilations) + 1
    mel, audio = mel_and_audio(batch=1, frames=8)
    t = audio.shape[1] - 1
    assert t - rf >= 0
    with torch.no_grad():
        mel_up, aux = model.upsample(mel)
        cond = model.conditioning(mel_up, aux, None)
        inputs = previous_classes(audio, model.config.bits)
        reference = model.stack(inputs, cond)[:, :, t]

        def column_t_after_changing_input(position: int) -> torch.Tensor:
            changed = inputs.clone()
            changed[:, position] = (changed[:, position] + 128) % 256
            return model.stack(changed, cond)[:, :, t]

        # network input t − RF + 1 is the oldest one column t sees; input t − RF is just outside
        assert (column_t_after_changing_input(t - rf + 1) - reference).abs().max() > 1e-4
        assert torch.equal(column_t_after_changing_input(t - rf), reference)
        # in audio terms (input t is audio t − 1)
        assert_output_t_sees_exactly_the_receptive_field(model, mel, audio, t)


def assert_output_t_sees_exactly_the_receptive_field(model, mel, audio, t):
    """audio[t − RF] reaches output t; audio[t − RF − 1] does not."""
    rf = model.receptive_field
    full = model(mel, audio)[:, :, t]
    inside, outside = audio.clone(), audio.clone()
    inside[:, t - rf] = -inside[:, t - rf]
    outside[:, t - rf - 1] = -outside[:, t - rf - 1]
    assert (model(mel, inside)[:, :, t] - full).abs().max() > 1e-4
    assert torch.equal(model(mel, outside)[:, :, t], full)


def test_with_linear_prediction_the_receptive_field_reaches_p_samples_further():
    model = strengthen(small_wavenet(output="lpc"))
    assert model.receptive_field == (2 - 1) * sum([1, 2, 4] * 2) + 1 + 4
    mel, audio = mel_and_audio(batch=1, frames=8)
    with torch.no_grad():
        assert_output_t_sees_exactly_the_receptive_field(model, mel, audio, audio.shape[1] - 1)


def test_builtin_default_is_small_and_has_a_2047_sample_receptive_field():
    model = WaveNet(WaveNetConfig(), MelConfig())
    assert model.receptive_field == (2 - 1) * 2 * sum(2**layer for layer in range(10)) + 1 == 2047
    assert model.parameter_count() * 4 < 25e6
    assert model.min_frames == model.config.upsample.pad + 1


def test_teacher_forced_output_trains_with_cross_entropy():
    model = small_wavenet()
    model.train()
    mel, audio = mel_and_audio()
    target = torch.from_numpy(mulaw_encode(audio.numpy(), 8))
    output = model(mel, audio)
    assert output.shape == (2, 256, audio.shape[1])
    loss = F.cross_entropy(output, target)
    torch.testing.assert_close(loss, model.loss(output, audio))
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    optimiser.zero_grad()
    loss.backward()
    optimiser.step()
    with torch.no_grad():
        assert F.cross_entropy(model(mel, audio), target).item() < loss.item()


def test_mixture_of_logistics_is_a_distribution_over_the_sample_grid():
    model = small_wavenet(output="mol", mixtures=3, mol_bits=8)
    mel, audio = mel_and_audio(batch=1, frames=4)
    with torch.no_grad():
        params = model(mel, audio)[:, :, 5:6]  # (1, 9, 1): one column's mixture
        grid = torch.arange(256, dtype=torch.float32) * 2 / 255 - 1
        log_probs = mixture_log_prob(params.expand(256, -1, -1), grid.unsqueeze(1), 8)
    assert abs(torch.logsumexp(log_probs.flatten(), dim=0).item()) < 1e-4
    assert model.loss(model(mel, audio), audio).item() > 0


def test_factors_that_do_not_multiply_to_the_hop_raise_config_error():
    with pytest.raises(ConfigError, match="multiply to 20"):
        WaveNet(WaveNetConfig(upsample=UpsampleConfig(factors=(4, 5))), MEL)
    with pytest.raises(ConfigError, match="dilated_conv"):
        WaveNet(WaveNetConfig(dilated_conv="fft", upsample=UPSAMPLE), MEL)
    with pytest.raises(ConfigError, match="lpc_order is 16 with output 'mol'"):
        WaveNet(WaveNetConfig(output="mol", lpc_order=16, upsample=UPSAMPLE), MEL)
    with pytest.raises(ConfigError, match="temperature is -1"):
        WaveNet(WaveNetConfig(temperature=-1, upsample=UPSAMPLE), MEL)


def test_audio_or_teacher_of_the_wrong_length_raises_input_error():
    model = small_wavenet()
    mel, audio = mel_and_audio()
    with pytest.raises(InputError, match="96 samples"):
        model(mel, audio[:, :-3])
    with pytest.raises(InputError, match="teacher"):
        next(model.stream(mel, teacher=audio[:, :50]))


def test_config_from_dict_restores_nested_upsample_and_tuples():
    config = WaveNetConfig(kernel_size=3, output="mol", upsample=UpsampleConfig(factors=(4, 4)))
    restored = WaveNetConfig.from_dict(json.loads(json.dumps(dataclasses.asdict(config))))
    assert restored == config
    assert restored.upsample.factors == (4, 4)
    with pytest.raises(ConfigError, match="dilation'.*dilation_base"):
        WaveNetConfig.from_dict({"dilation": 2})


@pytest.mark.parametrize("output", ["mulaw", "mol", "lpc"])
@pytest.mark.parametrize("compiled", LOOPS)
def test_stream_is_reproducible_batched_and_leaves_grad_mode_alone(output, compiled):
    model = small_wavenet(kernel_size=3, output=output, compiled_cpu_loop=compiled)
    mel, _ = mel_and_audio(batch=3, frames=5)
    runs = []
    for _ in range(2):
        blocks = list(model.stream(mel, block_frames=2, generator=torch.Generator().manual_seed(7)))
        assert torch.is_grad_enabled() and not torch.is_inference_mode_enabled()
        assert [block.samples.shape for block in blocks] == [(3, 32), (3, 32), (3, 16)]
        assert all(block.logits is None for block in blocks)
        runs.append(torch.cat([block.samples for block in blocks], dim=1))
    assert torch.equal(runs[0], runs[1])
    assert runs[0].abs().max() <= 1.0
    assert not torch.equal(runs[0][0], runs[0][1])


@pytest.mark.parametrize("output", ["mulaw", "mol", "lpc"])
@pytest.mark.parametrize("compiled", LOOPS)
def test_free_running_stream_feeds_back_the_samples_it_draws(output, compiled):
    """The logits of a free-running stream equal forward's on the samples it drew: each draw is fed back as the
    mu-law class of that sample (with linear prediction also as its excitation and the next prediction)."""
    model = small_wavenet(kernel_size=3, output=output, compiled_cpu_loop=compiled)
    mel, _ = mel_and_audio()
    blocks = list(model.stream(mel, block_frames=2, return_logits=True, generator=torch.Generator().manual_seed(5)))
    samples = torch.cat([block.samples for block in blocks], dim=1)
    with torch.no_grad():
        reference = model(mel, samples)
    torch.testing.assert_close(torch.cat([block.logits for block in blocks], dim=-1), reference, atol=1e-4, rtol=0)


def test_global_conditioning_changes_the_output_per_speaker():
    model = small_wavenet(speakers=3)
    mel, audio = mel_and_audio()
    with torch.no_grad():
        torch.nn.init.normal_(model.speaker.weight)
        same = model(mel, audio, speaker=torch.tensor([1, 1]))
        other = model(mel, audio, speaker=torch.tensor([2, 1]))
        assert not torch.allclose(same[0], other[0])
        torch.testing.assert_close(same[1], other[1])
    blocks = list(model.stream(mel, teacher=audio, return_logits=True, speaker=torch.tensor([2, 1])))
    torch.testing.assert_close(torch.cat([b.logits for b in blocks], dim=-1), other, atol=1e-4, rtol=0)
    with pytest.raises(ConfigError, match="speaker"):
        model(mel, audio)


@pytest.mark.parametrize("output, temperature", [("mulaw", 1.0), ("lpc", 0.7)])
def test_the_compiled_cpu_loop_draws_what_the_torch_loop_draws(output, temperature):
    """Identical draws: neighbouring mu-law classes lie more than 4e-5 apart, so samples within 1e-6 are the same
    class (with linear prediction the float64 predictions may differ in their last bits between the loops)."""
    mel, audio = mel_and_audio(batch=2, frames=6)

    def run(compiled: bool, **kwargs):
        model = small_wavenet(
            kernel_size=3, layers=4, compiled_cpu_loop=compiled, output=output, temperature=temperature
        )
        blocks = list(
            model.stream(mel, block_frames=4, return_logits=True, generator=torch.Generator().manual_seed(3), **kwargs)
        )
        return torch.cat([b.samples for b in blocks], dim=1), torch.cat([b.logits for b in blocks], dim=2)

    for kwargs in ({}, {"teacher": audio}):
        samples, logits = run(True, **kwargs)
        reference_samples, reference_logits = run(False, **kwargs)
        assert samples.shape == reference_samples.shape == (2, 6 * MEL.hop_length)
        torch.testing.assert_close(samples, reference_samples, atol=1e-6, rtol=0)
        torch.testing.assert_close(logits, reference_logits, atol=2e-5, rtol=0)
