"""Each family's step view (`Vocoder.trace_step`, the shape inspector's cell) computes what the teacher-forced
forward pass computes at sample t, from the state that pass reached at t − 1: past t = 0 a recurrent cell's output
depends on that state, so matching the forward's column there checks the state too."""

import pytest
import torch

from engine.features import MelConfig
from engine.models.registry import build
from engine.shape_trace import same_noise

MEL = MelConfig(sample_rate=16000, hop_length=20, n_mels=16)
UPSAMPLE = {"factors": (4, 5), "pad": 2, "resnet_blocks": 1, "resnet_channels": 8, "aux_channels": 8}
MODELS = {
    "wavernn mu-law": ("wavernn", {"rnn_dims": 12, "fc_dims": 12, "bits": 6}),
    "wavernn mixture": ("wavernn", {"rnn_dims": 12, "fc_dims": 12, "mode": "mol"}),
    "wavernn linear prediction, pitch": (
        "wavernn",
        {"rnn_dims": 12, "fc_dims": 12, "bits": 8, "lpc_order": 4, "pitch_conditioning": True},
    ),
    "wavernn-dual": ("wavernn-dual", {"hidden_size": 10}),
    "wavenet mu-law": ("wavenet", {"blocks": 1, "layers": 3, "residual_channels": 6, "skip_channels": 7, "bits": 6}),
    "wavenet waveform": (
        "wavenet",
        {
            "blocks": 1,
            "layers": 3,
            "residual_channels": 6,
            "skip_channels": 7,
            "output": "waveform",
            "pitch_conditioning": True,
        },
    ),
}
FRAMES = 6
STEPS = (0, 1, 37, FRAMES * MEL.hop_length - 1)


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_the_step_at_any_t_is_the_forward_pass_column_t(name):
    family, settings = MODELS[name]
    torch.manual_seed(0)
    model = build(family, {**settings, "upsample": UPSAMPLE}, MEL).eval()
    generator = torch.Generator().manual_seed(1)
    mel = torch.rand(1, MEL.n_mels, FRAMES, generator=generator)
    audio = torch.rand(1, FRAMES * MEL.hop_length, generator=generator) * 1.6 - 0.8  # a past far from silence
    with torch.no_grad(), same_noise(mel.device):
        forward = model(mel, audio)  # (1, C, T)
    symbols = None
    for t in STEPS:
        with torch.no_grad(), same_noise(mel.device):
            view = model.trace_step(mel, audio, t)
        torch.testing.assert_close(view.output, forward[..., t], atol=2e-5, rtol=1e-4)
        assert view.title.endswith(f"t = {t}")
        assert symbols in (None, [record.symbol for record in view.steps]), "the same quantities at every t"
        symbols = [record.symbol for record in view.steps]


@pytest.mark.parametrize(
    "name, symbol, state", [("wavernn mu-law", "h¹_{t-1}", "h1"), ("wavernn-dual", "h_{t−1}", "h")]
)
def test_the_state_a_step_starts_from_has_the_shape_the_family_says(name, symbol, state):
    family, settings = MODELS[name]
    model = build(family, {**settings, "upsample": UPSAMPLE}, MEL).eval()
    mel, audio = torch.rand(3, MEL.n_mels, FRAMES), torch.zeros(3, FRAMES * MEL.hop_length)
    with torch.no_grad():
        view = model.trace_step(mel, audio, 5)
    assert next(r.shape for r in view.steps if r.symbol == symbol) == model.state_shapes(3)[state]
    assert build("wavenet", {"upsample": UPSAMPLE}, MEL).state_shapes(3) == {}
