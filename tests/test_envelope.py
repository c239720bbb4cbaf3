"""The envelope post-filter: streaming equals the whole signal at once, strength 0 changes nothing, the output's
mel moves to the conditioning mel while its pitch stays, each further pass moves it nearer, and generation applies
it after the pitch post-filter (in order and in fold mode), as many passes as asked."""

import numpy as np
import pytest

from engine.envelope import EnvelopePostFilter, envelope_postfilter
from engine.features import Conditioning, MelConfig, load_audio, mel_distance_db, mel_spectrogram
from engine.generate import generate
from engine.postfilter import pitch_postfilter
from engine.sampling import Sampling

CONFIG = MelConfig()  # 22.05 kHz, n_fft 1024, hop 256, 80 bands


def vowel(seconds: float, formant: float, seed: int = 0) -> np.ndarray:
    """A 110 Hz pulse train through one resonance at `formant` Hz, with a little noise: (T,) float32."""
    rate = CONFIG.sample_rate
    pulses = np.zeros(int(seconds * rate))
    pulses[:: rate // 110] = 1.0
    n = np.arange(300)
    resonance = np.exp(-n / 40.0) * np.cos(2 * np.pi * formant * n / rate)
    signal = np.convolve(pulses, resonance)[: len(pulses)]
    signal += 0.05 * np.random.default_rng(seed).standard_normal(len(signal)) * signal.std()
    return (0.2 * signal / np.abs(signal).max()).astype(np.float32)


@pytest.mark.parametrize("seed", range(3))
def test_streaming_in_any_pieces_gives_the_whole_signals_samples(seed):
    rng = np.random.default_rng(seed)
    audio, target = vowel(0.9, 700, seed), mel_spectrogram(vowel(0.9, 1500, seed + 10), CONFIG)
    whole = envelope_postfilter(audio, target, CONFIG, 1.0)
    stream, out, begin = EnvelopePostFilter(target, CONFIG, 1.0), [], 0
    for size in rng.integers(0, 1500, size=30):  # empty pushes too
        out.append(stream.push(audio[begin : begin + size]))
        begin += size
    out += [stream.push(audio[begin:]), stream.finish()]
    assert np.array_equal(np.concatenate(out), whole)
    assert len(whole) == len(audio) and np.abs(whole - audio).max() > 0.01


def test_strength_0_gives_the_input_back():
    audio = vowel(0.5, 700)
    target = mel_spectrogram(vowel(0.5, 1500), CONFIG)
    np.testing.assert_allclose(envelope_postfilter(audio, target, CONFIG, 0.0), audio, atol=1e-6)


def test_the_output_takes_the_mels_envelope_and_keeps_its_pitch():
    audio, wanted = vowel(1.0, 700), vowel(1.0, 1500)
    target = mel_spectrogram(wanted, CONFIG)
    shaped = envelope_postfilter(audio, target, CONFIG, 1.0)
    before = mel_distance_db(mel_spectrogram(audio, CONFIG), target, CONFIG)
    after = mel_distance_db(mel_spectrogram(shaped, CONFIG), target, CONFIG)
    assert after < before / 3, (before, after)

    def period(signal):  # the lag of the strongest autocorrelation between 2.5 and 16 ms
        inner = signal[2000:-2000].astype(np.float64)
        lags = np.arange(55, 353)
        return lags[np.argmax([inner[lag:] @ inner[:-lag] for lag in lags])]

    assert period(shaped) == period(audio) == CONFIG.sample_rate // 110


def test_each_further_pass_brings_the_mel_nearer_the_target():
    audio, target = vowel(1.0, 700), mel_spectrogram(vowel(1.0, 1500, seed=5), CONFIG)
    distances = []
    for _ in range(4):
        audio = envelope_postfilter(audio, target, CONFIG, 1.0)
        distances.append(mel_distance_db(mel_spectrogram(audio, CONFIG), target, CONFIG))
    assert all(later < 0.95 * earlier for earlier, later in zip(distances, distances[1:])), distances


@pytest.fixture(scope="module")
def speech_model():
    """The bundled WaveNet and 0.6 s of the example's mel."""
    from engine.catalog import RESOURCES
    from engine.models.loading import load_model

    model, info = load_model("wavenet")
    if not info.trained:
        pytest.skip(f"no bundled WaveNet in {RESOURCES}")
    audio, _ = load_audio(RESOURCES.parent / "examples" / "allison-auth-incorrect.flac", model.mel_config.sample_rate)
    mel = mel_spectrogram(audio[4000 : 4000 + 9600], model.mel_config)
    return model, Conditioning(mel=mel, mel_config=model.mel_config)


@pytest.mark.parametrize("fold", [False, True])
def test_generation_applies_the_envelope_post_filter_after_the_pitch_one(speech_model, fold):
    model, conditioning = speech_model

    def made(pitch, envelope, passes=1):
        chunks = list(
            generate(
                model,
                conditioning,
                device="cpu",
                seed=3,
                fold=fold,
                sampling=Sampling(pitch_postfilter=pitch, envelope_postfilter=envelope, envelope_passes=passes),
            )
        )
        assert [chunk.start for chunk in chunks] == list(np.cumsum([0] + [len(c.samples) for c in chunks[:-1]]))
        return np.concatenate([chunk.samples for chunk in chunks])

    raw, both = made(0.0, 0.0), made(0.8, 1.0)
    config = model.mel_config
    expected = envelope_postfilter(pitch_postfilter(raw, config.sample_rate, 0.8), conditioning.mel, config, 1.0)
    np.testing.assert_allclose(both, expected, atol=1e-6)
    assert len(both) == conditioning.num_samples
    distance = [mel_distance_db(mel_spectrogram(audio, config), conditioning.mel, config) for audio in (raw, both)]
    assert distance[1] < distance[0] - 0.5, distance
    three = made(0.8, 1.0, passes=3)
    for _ in range(2):
        expected = envelope_postfilter(expected, conditioning.mel, config, 1.0)
    np.testing.assert_allclose(three, expected, atol=1e-6)
    chosen = model.sampling(Sampling(pitch_postfilter=0.8, envelope_postfilter=1.0, envelope_passes=3))
    assert model.draws_with(chosen) == (
        "waveform from the pitch's source and noise, through the mel's envelope, pitch post-filter 0.8, "
        "envelope post-filter 1, 3 envelope passes"
    )


def test_a_strength_out_of_range_or_a_model_without_it_is_refused_in_words():
    from engine.errors import ConfigError
    from engine.models.registry import build

    with pytest.raises(ConfigError, match=r"envelope post-filter strength is 1.5; it must be a number from 0 to 1"):
        build("wavenet", {"envelope_postfilter": 1.5})
    with pytest.raises(ConfigError, match=r"WaveRNNConfig: the envelope post-filter strength is -1"):
        build("wavernn", {"envelope_postfilter": -1})
    with pytest.raises(ConfigError, match=r"the envelope post-filter strength is 2.0; it must be a number from 0 to 1"):
        Sampling(envelope_postfilter=2.0)
    for passes in (0, 17, 2.5):
        with pytest.raises(
            ConfigError, match=rf"number of envelope post-filter passes is {passes}; it must be a whole"
        ):
            Sampling(envelope_passes=passes)
    with pytest.raises(ConfigError, match="this wavernn-dual has no envelope post-filter"):
        build("wavernn-dual").sampling(Sampling(envelope_postfilter=1.0))
    dual = build("wavernn-dual")
    assert dual.draws_with(dual.sampling(Sampling(pitch_postfilter=0.0, envelope_postfilter=0.0))) == dual.draws
