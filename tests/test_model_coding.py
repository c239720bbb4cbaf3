"""The coding shared by the model families: torch mu-law, drawing classes from logits, the mixture of logistics."""

import math

import numpy as np
import pytest
import torch

from engine.features import mulaw_decode, mulaw_encode
from engine.models.coding import describe_draws, mulaw_classes, mulaw_expand, sample_classes
from engine.models.mixture import MixtureSampler, mixture_log_prob
from engine.sampling import Sampling


@pytest.mark.parametrize("bits", [8, 9])
def test_mulaw_coding_matches_the_numpy_reference(bits):
    audio = torch.cat([torch.linspace(-1.2, 1.2, 2001), torch.tensor([-1.0, 1.0, 0.0, 1 / 32768])]).unsqueeze(0)
    np.testing.assert_array_equal(mulaw_classes(audio, bits).numpy(), mulaw_encode(audio.numpy(), bits))
    classes = np.arange(2**bits)
    np.testing.assert_allclose(
        mulaw_expand(torch.from_numpy(classes), bits).numpy(), mulaw_decode(classes, bits), atol=1e-7
    )


def test_drawn_classes_follow_the_softmax_and_skip_impossible_ones():
    logits = torch.tensor([0.0, 1.0, -1.0, 2.0, -math.inf]).expand(40000, 5)
    uniforms = torch.rand(40000, 1, generator=torch.Generator().manual_seed(0))
    drawn = sample_classes(logits, uniforms)
    assert drawn.shape == (40000, 1) and drawn.dtype == torch.int64
    counts = torch.bincount(drawn[:, 0], minlength=5).float() / 40000
    torch.testing.assert_close(counts, torch.softmax(logits[0], 0), atol=0.01, rtol=0)
    assert counts[4] == 0
    edges = sample_classes(logits[:2], torch.tensor([[0.0], [1.0 - 2**-24]]))
    assert edges[:, 0].tolist() == [0, 3]


def test_a_model_says_what_it_draws():
    assert describe_draws(0, 9, 0, Sampling(temperature=1.0)) == "9-bit mu-law"
    assert describe_draws(0, 8, 16, Sampling(temperature=0.75)) == "8-bit mu-law excitation, LPC 16, T 0.75"
    assert describe_draws(10, 8, 0, Sampling()) == "mixture of 10 logistics"
    guided = Sampling(temperature=0.5, candidates=8, pitch_postfilter=0.8, envelope_postfilter=0.0)
    assert describe_draws(0, 9, 0, guided) == "9-bit mu-law, T 0.5, best of 8 by the mel, pitch post-filter 0.8"
    assert describe_draws(0, 0, 0, Sampling(envelope_postfilter=1.0), waveform=True) == (
        "waveform from the pitch's source and noise, envelope post-filter 1"
    )


@pytest.mark.parametrize("temperature", [0.5, 2.0])
def test_a_temperature_draws_from_the_softmax_of_the_scaled_logits_in_both_loops(temperature):
    from engine.models.compiled_ops import draw_class

    logits = torch.tensor([0.0, 1.0, -1.0, 2.0]).expand(40000, 4)
    uniforms = torch.rand(40000, 1, generator=torch.Generator().manual_seed(0))
    drawn = sample_classes(logits, uniforms, temperature)
    counts = torch.bincount(drawn[:, 0], minlength=4).float() / 40000
    torch.testing.assert_close(counts, torch.softmax(logits[0] / temperature, 0), atol=0.01, rtol=0)
    compiled = [draw_class(logits[0].numpy().copy(), float(u), 1.0 / temperature) for u in uniforms[:2000, 0]]
    assert compiled == drawn[:2000, 0].tolist()


def test_mixture_is_a_normalised_distribution_over_the_bins():
    levels = 256
    # Two logistics: weights (logits), means, log scales.
    params = torch.tensor([0.3, -0.2, 0.1, 0.6, -2.0, -3.0]).view(1, 6, 1).expand(1, 6, levels)
    centres = torch.linspace(-1.0, 1.0, levels).view(1, levels)
    log_probs = mixture_log_prob(params, centres, bits=8)
    assert log_probs.shape == (1, levels)
    assert log_probs.exp().sum().item() == pytest.approx(1.0, abs=1e-4)


def test_mixture_draws_have_the_chosen_logistic_s_mean_and_spread():
    sampler = MixtureSampler(log_scale_min=-7.0)
    # Component 0 (weight logit 8 against −8) is a logistic at 0.3 with scale e^−3.
    params = torch.tensor([[8.0, -8.0, 0.3, -0.6, -3.0, -1.0]]).expand(20000, 6)
    noise = sampler.noise(1, 20000, torch.Generator().manual_seed(0), torch.device("cpu"))[0]
    drawn = sampler.draw(params, noise)
    assert drawn.shape == (20000, 1)
    assert torch.equal(sampler.to_audio(drawn), drawn)
    assert drawn.mean().item() == pytest.approx(0.3, abs=0.003)
    assert drawn.std().item() == pytest.approx(math.exp(-3.0) * math.pi / math.sqrt(3.0), rel=0.03)
