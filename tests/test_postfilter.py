"""The pitch post-filter: streaming equals the whole signal at once, voiced noise is lowered, unvoiced passes,
and generation applies it to what a model configured with it makes (in order and in fold mode)."""

import numpy as np
import pytest

from engine.features import Conditioning, load_audio, mel_spectrogram
from engine.generate import generate
from engine.postfilter import PitchPostFilter, pitch_postfilter
from engine.sampling import Sampling

RATE = 16000


def voiced(seconds: float, noise: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A 125 Hz glottal-like pulse train through a decaying resonance (period 128 samples), and white noise at
    `noise` times its RMS: (clean, noise) (T,) float32 each."""
    rng = np.random.default_rng(seed)
    pulses = np.zeros(int(seconds * RATE))
    pulses[::128] = 1.0
    resonance = np.exp(-np.arange(128) / 20.0) * np.cos(2 * np.pi * 700 * np.arange(128) / RATE)
    clean = np.convolve(pulses, resonance)[: len(pulses)]
    clean *= 0.3 / np.sqrt(np.mean(clean**2))
    return clean.astype(np.float32), (noise * 0.3 * rng.standard_normal(len(clean))).astype(np.float32)


def streamed(audio: np.ndarray, pieces: list[int], strength: float) -> np.ndarray:
    postfilter, out, begin = PitchPostFilter(RATE, strength), [], 0
    for size in pieces:
        out.append(postfilter.push(audio[begin : begin + size]))
        begin += size
    out.append(postfilter.push(audio[begin:]))
    return np.concatenate(out + [postfilter.finish()])


@pytest.mark.parametrize("seed", range(4))
def test_streaming_in_any_pieces_gives_the_whole_signals_samples(seed):
    rng = np.random.default_rng(seed)
    clean, noise = voiced(1.3, 0.2, seed)
    audio = clean + noise
    whole = pitch_postfilter(audio, RATE, 0.8)
    pieces = list(rng.integers(0, 900, size=40))  # empty pushes too
    assert np.array_equal(streamed(audio, pieces, 0.8), whole)
    assert len(whole) == len(audio) and np.abs(whole - audio).max() > 0.01


def test_a_voiced_signal_keeps_its_pulses_and_loses_noise():
    clean, noise = voiced(1.0, 0.3)
    filtered = pitch_postfilter(clean + noise, RATE, 0.8)
    inner = slice(400, len(clean) - 400)  # the first 16 ms and the last 26 ms pass unchanged

    def snr_db(signal):
        return 10 * np.log10(np.mean(clean[inner] ** 2) / np.mean((signal[inner] - clean[inner]) ** 2))

    assert snr_db(filtered) > snr_db(clean + noise) + 2.5
    assert np.array_equal(filtered[:256], (clean + noise)[:256])


def test_noise_without_pitch_passes_unchanged_and_strength_0_changes_nothing():
    noise = np.random.default_rng(1).standard_normal(RATE).astype(np.float32) * 0.1
    changed = pitch_postfilter(noise, RATE, 0.8) != noise
    assert changed.mean() < 0.05, f"{changed.mean():.1%} of white noise was filtered as if voiced"
    clean, hiss = voiced(0.5, 0.2)
    assert np.array_equal(pitch_postfilter(clean + hiss, RATE, 0.0), clean + hiss)


@pytest.fixture(scope="module")
def speech_model():
    """The bundled WaveNet (it makes voiced speech for the filter to find) without its envelope post-filter, which
    comes after this one (tests/test_envelope.py), and 0.6 s of the example's mel."""
    from engine.catalog import RESOURCES
    from engine.models.loading import load_model

    model, info = load_model("wavenet")
    if not info.trained:
        pytest.skip(f"no bundled WaveNet in {RESOURCES}")
    audio, _ = load_audio(RESOURCES.parent / "examples" / "allison-auth-incorrect.flac", model.mel_config.sample_rate)
    mel = mel_spectrogram(audio[4000 : 4000 + 9600], model.mel_config)
    own, model.config.envelope_postfilter = model.config.envelope_postfilter, 0.0
    yield model, Conditioning(mel=mel, mel_config=model.mel_config)
    model.config.envelope_postfilter = own


@pytest.mark.slow
def test_speech_filtered_frame_by_frame_has_no_step_at_the_frame_edges(speech_model):
    """Switched at once from one frame's filter to the next, the output's curvature at each 10 ms edge was 1.2–1.5
    times its mean inside the frames on this model's speech (a faint 100 Hz buzz); faded over a quarter frame it
    is the same there as inside (0.94–1.03 over three seeds)."""
    from engine.features import load_input
    from engine.catalog import RESOURCES

    model, _ = speech_model
    own, model.config.pitch_postfilter = model.config.pitch_postfilter, 0.0
    try:
        example = load_input(RESOURCES.parent / "examples" / "allison-auth-incorrect.flac", model.mel_config)
        drawn = np.concatenate([chunk.samples for chunk in generate(model, example, device="cpu", seed=1)])
    finally:
        model.config.pitch_postfilter = own
    curvature = np.abs(np.diff(pitch_postfilter(drawn, RATE, 0.8).astype(np.float64), 2))
    edges = np.arange(256 + 160, len(drawn) - 420, 160) - 1  # the second difference centred on a frame's first sample
    inside = np.setdiff1d(np.arange(300, len(drawn) - 420), np.concatenate([edges - 1, edges, edges + 1]))
    assert curvature[edges].mean() < 1.12 * curvature[inside].mean()


@pytest.mark.parametrize("fold", [False, True])
def test_generation_applies_the_models_post_filter_to_what_it_draws(speech_model, fold):
    model, conditioning = speech_model
    own = model.config.pitch_postfilter

    def made(strength):
        model.config.pitch_postfilter = strength
        chunks = list(generate(model, conditioning, device="cpu", seed=3, fold=fold))
        assert [chunk.start for chunk in chunks] == list(np.cumsum([0] + [len(c.samples) for c in chunks[:-1]]))
        return np.concatenate([chunk.samples for chunk in chunks])

    try:
        drawn, filtered = made(0.0), made(0.8)
    finally:
        model.config.pitch_postfilter = own
    np.testing.assert_allclose(filtered, pitch_postfilter(drawn, RATE, 0.8), atol=1e-6)
    assert np.abs(filtered - drawn).max() > 0.01, "the speech made had no voiced frame for the filter"
    assert len(filtered) == conditioning.num_samples
    model.config.pitch_postfilter = 0.8
    try:
        drawn_at = model.draws_with(model.sampling(Sampling()))
        assert (
            drawn_at == "waveform from the pitch's source and noise, through the mel's envelope, pitch post-filter 0.8"
        )
    finally:
        model.config.pitch_postfilter = own


def test_a_wavenet_config_with_a_negative_post_filter_is_refused_in_words():
    from engine.errors import ConfigError
    from engine.models.registry import build

    with pytest.raises(
        ConfigError,
        match=r"WaveNetConfig: the pitch post-filter strength is -0.5; it must be a "
        r"number from 0 to 4 \(0: off\)",
    ):
        build("wavenet", {"pitch_postfilter": -0.5})
