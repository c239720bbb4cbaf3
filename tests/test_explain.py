"""explain() on exceptions raised by real torch operations inside real modules, for each error family."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from engine.explain import explain, failed_module, watch
from engine.features import MelConfig
from engine.models.upsample import UpsampleConfig
from engine.models.wavernn import model as wavernn_module
from engine.models.wavernn.model import WaveRNN, WaveRNNConfig

MEL = MelConfig(hop_length=20, n_mels=80)
UPSAMPLE = UpsampleConfig(factors=(4, 5), resnet_blocks=1, resnet_channels=8, aux_channels=8)


class TutorialWaveRNN(nn.Module):
    """The tutorial shape: [previous sample, upsampled mel] straight into a Linear `I`, then a GRU cell."""

    def __init__(self, mel_config: MelConfig, hidden: int = 16):
        super().__init__()
        self.mel_config = mel_config
        self.I = nn.Linear(1 + mel_config.n_mels, hidden)
        self.cell = nn.GRUCell(hidden, hidden)

    def forward(self, mel_up: torch.Tensor, previous: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """mel_up (N, n_mels), previous (N, 1), h (N, hidden) → h (N, hidden)."""
        return self.cell(self.I(torch.cat([previous, mel_up], dim=-1)), h)


class TimeMajorHead(nn.Module):
    """Logits built time-major (N, T, C), the WaveNet write-up's trap, handed straight to cross_entropy."""

    def __init__(self, channels: int = 8, classes: int = 32):
        super().__init__()
        self.out = nn.Linear(channels, classes)

    def forward(self, features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """features (N, T, channels), target (N, T) long → scalar loss."""
        return F.cross_entropy(self.out(features), target)


@pytest.fixture
def wavernn(monkeypatch):
    """A real WaveRNN without its input guard, as tutorial code has it, so bad tensors reach torch's operations."""
    monkeypatch.setattr(wavernn_module, "check_model_input", lambda *args: None)
    torch.manual_seed(0)
    return WaveRNN(WaveRNNConfig(rnn_dims=8, fc_dims=8, bits=6, upsample=UPSAMPLE), MEL).eval()


def raised(call) -> Exception:
    with pytest.raises(Exception) as info:
        call()
    return info.value


def test_sixty_bands_into_a_linear_layer_names_the_layer_and_the_band_counts():
    model = TutorialWaveRNN(MEL)
    error = raised(lambda: model(torch.zeros(2, 60), torch.zeros(2, 1), torch.zeros(2, 16)))
    assert "mat1 and mat2 shapes cannot be multiplied" in str(error)
    text = explain(error, model)
    assert text.startswith("In module 'I' (Linear): this layer takes 81 input features per row but was given 61")
    assert "the mel has 60 bands where the model was trained on 80" in text
    assert "n_mels=80" in text


def test_sixty_bands_into_the_conditioning_network_names_its_first_convolution(wavernn):
    error = raised(lambda: wavernn(torch.rand(1, 60, 6), torch.zeros(1, 120)))
    text = explain(error, wavernn)
    assert text.startswith(
        "In module 'upsample.resnet.conv_in' (Conv1d): this convolution takes 80 channels but was given 60"
    )
    assert "the mel has 60 bands where the model was trained on 80" in text


def test_time_major_mel_into_the_conditioning_network_says_transpose(wavernn):
    error = raised(lambda: wavernn(torch.rand(1, 6, 80), torch.zeros(1, 120)))
    assert "mel.transpose(1, 2)" in explain(error, wavernn)


def test_audio_longer_than_frames_times_hop_is_a_length_mismatch(wavernn):
    error = raised(lambda: wavernn(torch.rand(1, 80, 6), torch.zeros(1, 150)))
    assert "Sizes of tensors must match" in str(error)
    text = explain(error, wavernn)
    assert text.startswith("In WaveRNN itself")
    assert "lengths 120 and 150" in text or "lengths 150 and 120" in text
    assert "F × 20 samples" in text and "120 samples = 6 frames" in text


def test_broadcast_length_mismatch_is_the_same_family():
    model = nn.Linear(4, 4)
    error = raised(lambda: torch.zeros(1, 100, 4) + model(torch.zeros(1, 120, 4)))
    assert "two tensors meet with lengths 100 and 120" in explain(error, model)


@pytest.mark.parametrize(
    "layer, given",
    [
        (nn.Linear(80, 8), torch.zeros(2, 80, dtype=torch.long)),
        (nn.Conv1d(80, 8, 3), torch.zeros(2, 80, 9, dtype=torch.long)),
        (nn.GRU(80, 8, batch_first=True), torch.zeros(2, 5, 80, dtype=torch.long)),
    ],
)
def test_integer_input_to_a_float_layer_says_convert_to_float32(layer, given):
    error = raised(lambda: layer(given))
    text = explain(error, layer)
    assert "of type" in text and ("Long" in text or "long" in text or "int64" in text)
    assert "an integer tensor" in text and "tensor.float()" in text


def test_integer_mel_in_a_vocoder_names_the_module(wavernn):
    error = raised(lambda: wavernn(torch.randint(0, 9, (1, 80, 6)), torch.zeros(1, 120)))
    assert "expected scalar type Long but found Float" in str(error)  # torch's wording, from the weight's side
    text = explain(error, wavernn)
    assert text.startswith(
        "In module 'upsample.resnet.conv_in' (Conv1d): a tensor of type Long met weights of type Float"
    )


def test_time_major_logits_to_cross_entropy_say_transpose_to_n_c_t():
    head = TimeMajorHead()
    error = raised(lambda: head(torch.zeros(2, 100, 8), torch.zeros(2, 100, dtype=torch.long)))
    text = explain(error, head)
    assert text.startswith("In TimeMajorHead itself")
    assert "expected a target of size [2, 32], but the target is [2, 100]" in text
    assert "(N, T, C) = (2, 100, 32)" in text
    assert "Transpose the logits to (N, C, T): logits.transpose(1, 2)" in text


def test_other_cross_entropy_target_mistakes():
    one_label = raised(lambda: F.cross_entropy(torch.zeros(2, 100, 32), torch.zeros(2, dtype=torch.long)))
    assert "one label per clip" in explain(one_label, nn.Identity())
    flattened = raised(lambda: F.cross_entropy(torch.zeros(200, 32), torch.zeros(2, 100, dtype=torch.long)))
    assert "200 rows of logits but 2 target rows" in explain(flattened, nn.Identity())
    float_target = raised(lambda: F.cross_entropy(torch.zeros(2, 32, 100), torch.zeros(2, 100)))
    assert "target.long()" in explain(float_target, nn.Identity())


def test_hidden_state_with_another_batch_size():
    model = TutorialWaveRNN(MEL)
    error = raised(lambda: model(torch.zeros(2, 80), torch.zeros(2, 1), torch.zeros(3, 16)))
    text = explain(error, model)
    assert text.startswith("In module 'cell' (GRUCell)")
    assert "batch size 3 but the input has batch size 2" in text and "torch.zeros(2, hidden_size)" in text


def test_watch_records_the_failing_module_even_when_the_traceback_is_gone():
    model = TutorialWaveRNN(MEL)
    with pytest.raises(RuntimeError) as info, watch(model):
        model(torch.zeros(2, 60), torch.zeros(2, 1), torch.zeros(2, 16))
    error = info.value.with_traceback(None)
    assert failed_module(error, model) == "I"
    assert explain(error, model).startswith("In module 'I' (Linear)")


def test_watch_leaves_outputs_and_hooks_as_they_were():
    model = TutorialWaveRNN(dataclasses.replace(MEL, n_mels=4))
    inputs = (torch.rand(2, 4), torch.rand(2, 1), torch.zeros(2, 16))
    before = model(*inputs)
    with watch(model):
        during = model(*inputs)
    assert torch.equal(before, during)
    assert not model.I._forward_hooks and not model.I._forward_pre_hooks


def test_an_unknown_error_keeps_torch_words():
    model = nn.Linear(2, 2)
    error = raised(lambda: model.weight.view(3))
    text = explain(error, model)
    assert text.startswith("In Linear (the failing module is unknown): RuntimeError: shape '[3]' is invalid")
