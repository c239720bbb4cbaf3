"""Linear prediction from the mel: stable filters, predictions equal to a direct filter, real prediction gain on
speech, and the WaveRNN and WaveNet that draw the excitation."""

import numpy as np
import pytest
import scipy.signal
import torch

from engine.datasets import aligned_audio_and_mel
from engine.features import MelConfig, load_audio
from engine.models.linear_prediction import LinearPredictor
from engine.catalog import RESOURCES
from engine.models.upsample import UpsampleConfig
from engine.models.wavenet.model import WaveNet, WaveNetConfig
from engine.models.wavernn.model import WaveRNN, WaveRNNConfig

CONFIG = MelConfig()
EXAMPLE = RESOURCES.parent / "examples" / "allison-auth-incorrect.flac"


def example() -> tuple[torch.Tensor, torch.Tensor]:
    """The bundled example recording as (1, F · hop) audio and its (1, 80, F) mel."""
    audio, mel = aligned_audio_and_mel(load_audio(EXAMPLE, CONFIG.sample_rate)[0], CONFIG)
    return torch.from_numpy(audio).unsqueeze(0), torch.from_numpy(mel).unsqueeze(0)


def test_every_frames_filter_is_minimum_phase_for_speech_silence_and_random_mels():
    predictor = LinearPredictor(CONFIG, 16)
    _, speech = example()
    generator = torch.Generator().manual_seed(0)
    for mel in (speech, torch.zeros(1, 80, 5), torch.ones(1, 80, 5), torch.rand(2, 80, 40, generator=generator)):
        coefficients = predictor(mel)
        assert coefficients.shape == (mel.shape[0], mel.shape[2], 16) and coefficients.dtype == torch.float32
        for a in coefficients.reshape(-1, 16).double().numpy():
            assert np.abs(np.roots(np.concatenate([[1.0], a]))).max() < 1.0


def test_predictions_equal_filtering_each_frame_with_its_own_coefficients():
    predictor = LinearPredictor(CONFIG, 16)
    audio, mel = example()
    coefficients = predictor(mel)[0].double().numpy()
    excitation = (audio.double() - predictor.predict(audio, predictor(mel)))[0].numpy()
    signal, hop = np.concatenate([np.zeros(16), audio[0].double().numpy()]), CONFIG.hop_length
    for frame in (0, 7, mel.shape[2] // 2, mel.shape[2] - 1):
        # e = A(z) x over the frame's samples, with the samples before it as the filter's past
        segment = signal[frame * hop : (frame + 1) * hop + 16]
        expected = scipy.signal.lfilter(np.concatenate([[1.0], coefficients[frame]]), [1.0], segment)[16:]
        np.testing.assert_allclose(excitation[frame * hop : (frame + 1) * hop], expected, atol=1e-9)


def test_the_envelope_from_the_mel_removes_most_of_the_power_of_speech():
    """About 21 dB on the held-out prompts; the bound leaves room for any one recording."""
    predictor = LinearPredictor(CONFIG, 16)
    audio, mel = example()
    excitation = audio.double() - predictor.predict(audio, predictor(mel))
    gain_db = 10 * np.log10(float(audio.double().square().mean() / excitation.square().mean()))
    assert gain_db > 12


@pytest.mark.parametrize("family", ["wavernn", "wavenet"])
def test_a_model_with_prediction_scores_the_excitation_and_outputs_prediction_plus_excitation(family):
    torch.manual_seed(0)
    upsample = UpsampleConfig(factors=(5, 5, 8), resnet_blocks=1, resnet_channels=16, aux_channels=16)
    if family == "wavernn":
        model = WaveRNN(WaveRNNConfig(rnn_dims=16, fc_dims=16, bits=8, lpc_order=16, upsample=upsample), CONFIG)
    else:
        config = WaveNetConfig(
            blocks=1, layers=4, residual_channels=8, skip_channels=8, lpc_order=16, upsample=upsample
        )
        model = WaveNet(config, CONFIG)
    model.eval()
    audio, mel = example()
    audio, mel = audio[:, : 6 * CONFIG.hop_length], mel[:, :, :6]
    target = model.training_target(mel, audio)
    prediction = model.predictor.predict(audio, model.predictor(mel))
    torch.testing.assert_close(target.double(), audio.double() - prediction)
    assert target.square().mean() < audio.square().mean() / 4
    # drawn freely, each sample is the prediction from the samples before it plus a mu-law class of the excitation
    blocks = list(model.stream(mel, block_frames=2, generator=torch.Generator().manual_seed(1)))
    samples = torch.cat([block.samples for block in blocks], dim=1)
    excitation = model.training_target(mel, samples).double()
    compressed = np.linspace(-1.0, 1.0, 256)  # the 8-bit classes' compressed values
    levels = torch.from_numpy(np.sign(compressed) * np.expm1(np.abs(compressed) * np.log1p(255.0)) / 255.0)
    nearest = (excitation.reshape(-1, 1) - levels).abs().min(dim=1).values
    unclipped = samples.reshape(-1).abs() < 1.0
    assert nearest[unclipped].max() < 1e-6
