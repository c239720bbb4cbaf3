"""A WaveNet with output "waveform": not autoregressive, it shapes the source of the pitch read from the mel, and
noise, into the samples; with lpc_order or mel_synthesis, an excitation that each frame's synthesis filter shapes into
them. Its blocks
stream what one forward pass computes, a column sees only the source and noise up to it, the multi-resolution STFT
loss scores magnitudes more than phase, and it trains, resumes exactly and validates without moving training."""

import math

import pytest
import torch

from engine.errors import ConfigError
from engine.features import MelConfig
from engine.models.spectral_loss import MelLoss, spectral_loss
from engine.models.wavenet.model import WaveNet, WaveNetConfig
from engine.excitation import VOICED_NOISE
from engine.pitch_source import SOURCE_CHANNELS, TONE_CHANNEL, VOICING_CHANNEL
from engine.models.synthesis_filter import MEL_TAPS, TAPS as SYNTHESIS_TAPS
from engine.shape_trace import same_noise, trace
from engine.train import Trainer, run_training
from engine.sampling import Sampling
from tests.test_pitch_conditioning import tone_mel_and_audio
from tests.test_train import TINY_TRAINING, held_out_set, tone_set  # noqa: F401 (fixtures)
from tests.test_wavenet import MEL, small_wavenet

WAVEFORM = {
    "blocks": 2,
    "layers": 4,
    "residual_channels": 8,
    "skip_channels": 16,
    "output": "waveform",
    "pitch_conditioning": True,
    "upsample": {"resnet_blocks": 1, "resnet_channels": 8, "aux_channels": 8},
}


MEL_DEFAULT = MelConfig()  # the shipped models' mel (tests/test_wavenet.py's MEL is a small one)
SHAPINGS = [{}, {"lpc_order": 8}, {"mel_synthesis": True}]  # no synthesis filter, the all-pole one, the mel's own


def waveform_wavenet(seed: int = 0, **shaping) -> WaveNet:
    """A small waveform WaveNet, with `shaping`'s synthesis filter (SHAPINGS); with one, its output layer (which starts
    at zero) drawn, so that the layers count in what it makes, as in a trained one."""
    model = small_wavenet(seed, output="waveform", pitch_conditioning=True, **shaping)
    if shaping:
        with torch.no_grad():
            model.out.weight.normal_(0.0, 0.3, generator=torch.Generator().manual_seed(seed))
    return model


def frame_noise(generator_seed: int, batch: int, frames: int) -> torch.Tensor:
    """The noise `stream` draws for `frames` frames from a generator seeded so, a frame at a time: (batch, F · hop)."""
    generator = torch.Generator().manual_seed(generator_seed)
    return torch.cat([torch.randn(batch, MEL.hop_length, generator=generator) for _ in range(frames)], dim=1)


@pytest.mark.parametrize("shaping", SHAPINGS)
def test_blocks_stream_what_the_forward_pass_computes(shaping, warm_librosa):
    model = waveform_wavenet(**shaping)
    mel, audio = tone_mel_and_audio(frames=40)
    block_frames = iter([1, 3, 7, 2, 11, 16])
    blocks = list(
        model.stream(mel, block_frames=block_frames, generator=torch.Generator().manual_seed(5), return_logits=True)
    )
    sizes = [block.samples.shape[1] for block in blocks]
    assert sizes == [16, 48, 112, 32, 176, 256]
    with torch.no_grad():
        full = model(mel, audio, noise=frame_noise(5, 1, 40))
    assert full.shape == (1, 1, 40 * MEL.hop_length)
    streamed = torch.cat([block.logits for block in blocks], dim=-1)
    torch.testing.assert_close(streamed, full, atol=1e-5, rtol=0)
    samples = torch.cat([block.samples for block in blocks], dim=1)
    torch.testing.assert_close(samples, full[:, 0].clamp(-1, 1), atol=1e-5, rtol=0)
    assert float(full.std()) > 1e-3
    # the same seed, the same samples, however generation splits the frames (its blocks follow the clock)
    whole = next(iter(model.stream(mel, block_frames=40, generator=torch.Generator().manual_seed(5))))
    torch.testing.assert_close(whole.samples, samples, atol=1e-5, rtol=0)


@pytest.mark.parametrize("shaping", SHAPINGS)
def test_a_column_sees_the_noise_up_to_it_and_never_after(shaping, warm_librosa):
    model = waveform_wavenet(**shaping)
    mel, audio = tone_mel_and_audio(frames=40)
    noise = torch.randn(1, audio.shape[1], generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        reference = model(mel, audio, noise=noise)
        for t in (0, 37, 150, 600):
            changed = noise.clone()
            changed[:, t:] += 1.0
            output = model(mel, audio, noise=changed)
            # before t nothing moves: exactly without a synthesis filter; with one, by the rounding of its FFTs (which
            # mix a frame's samples), a thousandth of what moves at t
            before = float((output[..., :t] - reference[..., :t]).abs().max()) if t else 0.0
            moved = float((output[..., t] - reference[..., t]).abs().max())
            assert before <= (1e-3 * moved if shaping else 0.0) and moved > 1e-6, (before, moved)
        # the audio only gives the length: nothing of it is fed back
        assert torch.equal(model(mel, -audio, noise=noise), reference)


@pytest.mark.parametrize("shaping", SHAPINGS[1:])
def test_untrained_it_is_the_source_through_the_synthesis_filter(shaping, warm_librosa):
    model = small_wavenet(0, output="waveform", pitch_conditioning=True, **shaping)
    mel, audio = tone_mel_and_audio(frames=40)
    noise = torch.randn(1, audio.shape[1], generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        output = model(mel, audio, noise=noise)[:, 0]
        source = model.source(mel)
        tone, voicing = source[..., TONE_CHANNEL], source[..., VOICING_CHANNEL]
        excitation = tone + noise * (1.0 - voicing) + VOICED_NOISE * noise * voicing
        expected = model.synthesis.synthesised(excitation, mel)
    assert float(voicing.mean()) > 0.9  # the tone's mel reads voiced: the tone carries the output
    torch.testing.assert_close(output, expected, atol=1e-5, rtol=0)
    # and it is trainable: the output layer and the direct path both get a gradient
    model.zero_grad()
    model(mel, audio, noise=noise).square().mean().backward()
    assert float(model.out.weight.grad.abs().max()) > 0 and float(model.direct.weight.grad.abs().max()) > 0


def harmonic_tone(f0: float, phase_seed: int) -> torch.Tensor:
    """Half a second of 19 harmonics of `f0` (amplitude 1/k), their phases drawn from `phase_seed`: (1, 8000)."""
    t = torch.arange(8000) / 16000.0
    phases = 2 * math.pi * torch.rand(19, generator=torch.Generator().manual_seed(phase_seed))
    return 0.1 * sum(torch.sin(2 * math.pi * k * f0 * t + phases[k - 1]) / k for k in range(1, 20))[None]


def test_the_spectral_loss_scores_magnitudes_more_than_phase():
    tone = harmonic_tone(200.0, phase_seed=0)
    assert float(spectral_loss(tone, tone)) == 0.0
    other_phases = float(spectral_loss(harmonic_tone(200.0, phase_seed=1), tone))
    off_by_43_cents = float(spectral_loss(harmonic_tone(205.0, phase_seed=0), tone))
    half_as_loud = float(spectral_loss(0.5 * tone, tone))
    assert other_phases < 0.4 * off_by_43_cents, (other_phases, off_by_43_cents)
    assert other_phases < 0.6 * half_as_loud, (other_phases, half_as_loud)


def test_the_mel_loss_forgives_phase_and_a_slightly_wrong_pitch_more_than_the_stft_loss():
    tone, scorers = harmonic_tone(200.0, phase_seed=0), {"stft": spectral_loss, "mel": MelLoss(MEL_DEFAULT)}
    assert float(scorers["mel"](tone, tone)) == 0.0

    def against_level(scorer, other: torch.Tensor) -> float:
        """What `other` costs under `scorer`, over what the tone at half its level costs."""
        return float(scorer(other, tone)) / float(scorer(0.5 * tone, tone))

    other_phases, off_by_17_cents = harmonic_tone(200.0, phase_seed=1), harmonic_tone(202.0, phase_seed=0)
    assert against_level(scorers["mel"], other_phases) < 0.5 * against_level(scorers["stft"], other_phases)
    assert against_level(scorers["mel"], off_by_17_cents) < 0.8 * against_level(scorers["stft"], off_by_17_cents)
    model = small_wavenet(0, output="waveform", pitch_conditioning=True, mel_synthesis=True, waveform_loss="mel")
    target = tone[:, : 40 * MEL.hop_length]
    torch.testing.assert_close(model.loss(target[:, None], target), torch.tensor(0.0))
    with pytest.raises(ConfigError, match="waveform_loss is 'l1'"):
        WaveNet(WaveNetConfig(output="waveform", pitch_conditioning=True, waveform_loss="l1"), MEL)


def test_a_waveform_wavenet_needs_the_pitch_and_draws_nothing():
    for settings in ({}, {"lpc_order": 4}):
        with pytest.raises(ConfigError, match="without pitch_conditioning"):
            WaveNet(WaveNetConfig(output="waveform", **settings), MEL)
    with pytest.raises(ConfigError, match='"waveform" \\(the excitation goes through the synthesis filter\\)'):
        WaveNet(WaveNetConfig(output="mol", lpc_order=4), MEL)
    model = waveform_wavenet()
    assert model.own_sampling.temperature is None and not hasattr(model, "embed")
    assert model.draws == "waveform from the pitch's source and noise"
    shaping = waveform_wavenet(lpc_order=8)
    assert shaping.draws == "waveform from the pitch's source and noise, through LPC 8 synthesis"
    assert shaping.predictor is None and shaping.lpc_input is None  # nothing fed back, nothing to predict
    own = waveform_wavenet(mel_synthesis=True)
    assert own.draws == "waveform from the pitch's source and noise, through the mel's envelope"
    convolutions = (own.config.kernel_size - 1) * sum(own.config.dilations) + 1
    assert own.receptive_field == convolutions + MEL_TAPS - 1 and model.receptive_field == convolutions
    for settings in ({"output": "mulaw"}, {"output": "waveform", "lpc_order": 8, "pitch_conditioning": True}):
        with pytest.raises(ConfigError, match="mel_synthesis is true with output"):
            WaveNet(WaveNetConfig(mel_synthesis=True, **settings), MEL)
    with pytest.raises(ConfigError, match="without a temperature"):
        model.sampling(Sampling(temperature=0.5))


def sections(**train):
    return {"model": dict(WAVEFORM), "mel": {}, "train": {**TINY_TRAINING, **train}}


@pytest.mark.slow
def test_it_trains_resumes_exactly_and_validates_without_moving_training(tone_set, held_out_set, tmp_path):
    family = "wavenet"
    straight = Trainer.new(family, tone_set, sections=sections(), device="cpu")
    result = run_training(straight, tmp_path / "straight.safetensors", 40, log_path=None)
    first, last = result.losses[0][1], sum(loss for _, loss, *_ in result.losses[-3:]) / 3
    assert last < 0.85 * first, f"loss went from {first:.3f} to {last:.3f} (the last three logged) in 40 steps"

    halves = Trainer.new(family, tone_set, sections=sections(), device="cpu")
    run_training(halves, tmp_path / "halves.safetensors", 17, log_path=None)
    resumed = Trainer.resume(tmp_path / "halves.safetensors", tone_set, family=family, device="cpu")
    run_training(resumed, tmp_path / "halves.safetensors", 40, log_path=None)
    for name, value in straight.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[name]), f"{name} differs after resuming"

    validated = Trainer.new(
        family, tone_set, sections=sections(valid_every=10, valid_segments=6), device="cpu", valid_root=held_out_set
    )
    result = run_training(validated, tmp_path / "validated.safetensors", 40, log_path=None)
    assert [step for step, _ in result.valid_losses] == [10, 20, 30, 40]
    for name, value in straight.model.state_dict().items():
        assert torch.equal(value, validated.model.state_dict()[name]), f"{name} differs when validating"
    again = validated.validate()
    assert again == pytest.approx(result.valid_losses[-1][1], abs=1e-9), "each validation draws the same noise"


def test_the_inspector_shows_the_synthesis_filter_and_its_step_matches_the_forward_pass(warm_librosa):
    mel, _ = tone_mel_and_audio()
    model = waveform_wavenet(lpc_order=8)
    result = trace(model, mel[0].numpy(), frames=30)
    assert result.module("synthesis").inputs == [(1, MEL.n_mels, 30)]
    assert result.module("synthesis").outputs == [(1, 30, SYNTHESIS_TAPS)]
    assert result.step("out_t").meaning == "the layers' share of e_t" and result.step("x_t").shape == (1, 1)
    assert result.module("direct").inputs == [(1, 3, 30 * MEL.hop_length)]
    assert result.step("direct_t").shape == (1, 1) and result.step("e_t").shape == (1, 1)
    assert result.step_error is not None and result.step_error < 1e-6
    audio = torch.zeros(1, 30 * MEL.hop_length)
    with torch.no_grad(), same_noise(torch.device("cpu")):
        forward = model(mel[..., :30], audio)
    for t in (5, 17 * MEL.hop_length + 3):  # within the first frame's response, and where three frames' overlap
        with same_noise(torch.device("cpu")):
            view = model.trace_step(mel[..., :30], audio, t)
        torch.testing.assert_close(view.output, forward[..., t], atol=1e-6, rtol=1e-5)


def test_the_inspector_lists_the_excitation_and_its_step_matches_the_forward_pass(warm_librosa):
    mel, _ = tone_mel_and_audio()
    model = waveform_wavenet()
    before = torch.get_rng_state()
    result = trace(model, mel[0].numpy(), frames=6)
    assert torch.equal(torch.get_rng_state(), before), "tracing leaves torch's generator as it was"
    samples = 6 * MEL.hop_length
    record = result.module("excitation")
    assert record.inputs == [(1, SOURCE_CHANNELS + 1, samples)] and record.outputs == [(1, 8, samples)]
    assert result.training[0].input == (1, 1, samples) and result.training[0].target == (1, samples)
    assert result.step("out_t").shape == (1, 1) and result.step("out_t").meaning == "the sample x_t itself"
    assert result.step_error is not None and result.step_error < 1e-5
