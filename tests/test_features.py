"""Sample coding round trips, mel shapes and orientation, and the errors features raises for bad inputs."""

import warnings

import numpy as np
import pytest

from engine.errors import InputError
from engine.features import (
    MelConfig,
    _librosa_mel_settings,
    combine_coarse_fine,
    float_to_int16,
    griffin_lim,
    int16_to_float,
    load_input,
    mel_problems,
    mel_spectrogram,
    mulaw_decode,
    mulaw_encode,
    normalise,
    split_coarse_fine,
    validate_mel,
)
from tests.helpers import tone, write_wav

ALL_INT16 = np.arange(-32768, 32768, dtype=np.int64).astype(np.int16)


@pytest.mark.parametrize("bits", [8, 9, 16])
def test_mulaw_encode_inverts_decode_for_every_class(bits):
    classes = np.arange(2**bits)
    assert np.array_equal(mulaw_encode(mulaw_decode(classes, bits), bits), classes)


def test_mulaw_decode_spans_minus_one_to_one():
    decoded = mulaw_decode(np.array([0, 255]), 8)
    assert decoded[0] == pytest.approx(-1.0) and decoded[1] == pytest.approx(1.0)


def test_coarse_fine_round_trip_is_exact_for_every_int16():
    coarse, fine = split_coarse_fine(ALL_INT16)
    assert coarse.min() == 0 and coarse.max() == 255 and fine.min() == 0 and fine.max() == 255
    assert np.array_equal(combine_coarse_fine(coarse, fine), ALL_INT16)


def test_int16_float_round_trip_is_exact_for_every_int16():
    assert np.array_equal(float_to_int16(int16_to_float(ALL_INT16)), ALL_INT16)


@pytest.mark.parametrize("num_samples", [1, 199, 200, 4000, 4321])
def test_mel_shape_is_bands_by_one_plus_samples_over_hop(num_samples, warm_librosa):
    config = MelConfig()
    mel = mel_spectrogram(tone(num_samples / 16000, 16000)[:num_samples], config)
    assert mel.shape == (80, 1 + num_samples // 200)
    assert mel.dtype == np.float32 and mel.min() >= 0.0 and mel.max() <= 1.0


@pytest.mark.parametrize("num_samples", [100, 480, 513, 1024, 4321])
def test_mel_is_librosas_centred_mel_without_its_warning_for_a_short_signal(num_samples, warm_librosa):
    import librosa

    config = MelConfig()
    audio = np.random.default_rng(num_samples).normal(0.0, 0.3, num_samples).astype(np.float32)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mel = mel_spectrogram(audio, config)
    assert [str(w.message) for w in caught] == []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # librosa's own padding warns below n_fft = 1024 samples
        reference = librosa.feature.melspectrogram(
            y=audio,
            pad_mode="reflect" if num_samples > 512 else "constant",
            n_mels=config.n_mels,
            **_librosa_mel_settings(config),
        )
    np.testing.assert_array_equal(mel, normalise(reference, config))


def test_time_major_mel_is_transposed(tmp_path):
    mel = np.random.default_rng(0).random((80, 7), dtype=np.float32)
    np.save(tmp_path / "mel.npy", mel.T)
    conditioning = load_input(tmp_path / "mel.npy", MelConfig(), min_frames=3)
    assert conditioning.transposed
    assert np.array_equal(conditioning.mel, mel)
    assert conditioning.num_samples == 7 * 200


def test_float64_mel_becomes_float32():
    mel, transposed = validate_mel(np.full((80, 5), 0.25), MelConfig(), 3)
    assert mel.dtype == np.float32 and not transposed and mel.shape == (80, 5)


@pytest.mark.parametrize(
    "array, words",
    [
        (np.zeros((64, 10), np.float32), "64"),
        (np.zeros((80, 10), np.int16), "int16"),
        (np.full((80, 10), np.nan, np.float32), "NaN"),
        (np.zeros((80, 0), np.float32), "0 frames"),
        (np.zeros((1, 80, 10), np.float32), "3-D"),
        (np.zeros((), np.float32), "0-D"),
    ],
)
def test_bad_mels_are_named_input_errors(array, words):
    problems = mel_problems(array, MelConfig(), 3, "x.npy")
    assert problems and all(isinstance(p, InputError) for p in problems)
    message = " ".join(str(p) for p in problems)
    assert "x.npy" in message and words in message


def test_audio_too_short_for_the_model_is_an_input_error(tmp_path):
    path = write_wav(tmp_path / "short.wav", tone(0.005, 16000), 16000)
    with pytest.raises(InputError, match="short.wav"):
        load_input(path, MelConfig(), min_frames=3)


def test_audio_input_keeps_its_length_after_resampling(tmp_path, warm_librosa):
    path = write_wav(tmp_path / "a.wav", tone(0.25, 48000), 48000)
    conditioning = load_input(path, MelConfig(), min_frames=3)
    assert conditioning.num_samples == 4000 and conditioning.source_rate == 48000
    assert conditioning.frames == 1 + 4000 // 200


def test_griffin_lim_is_repeatable_and_its_audio_has_the_mel_it_came_from():
    config = MelConfig()
    audio = tone(0.5, config.sample_rate, frequency=440.0)
    mel = mel_spectrogram(audio, config)
    first, again, other = griffin_lim(mel, config), griffin_lim(mel, config), griffin_lim(mel, config, seed=1)
    assert first.shape == (mel.shape[1] * config.hop_length,)
    np.testing.assert_array_equal(first, again)
    assert np.abs(first - other).max() > 1e-3  # the seed draws the initial phases
    inner = slice(2, mel.shape[1] - 2)  # the edge frames see padding
    assert np.abs(mel_spectrogram(first, config)[:, inner] - mel[:, inner]).mean() * -config.min_db < 3.0  # dB
