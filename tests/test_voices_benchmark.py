"""benchmarks/voices.py's pitch figures: the recording against itself, harmonics against noise, the refusal of a
training voice; its synthesised no-network control keeps the pitch and the level."""

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.features import MelConfig, mel_spectrogram

CONFIG = MelConfig()
RATE, HOP = CONFIG.sample_rate, CONFIG.hop_length


def voices_module():
    benchmarks = Path(__file__).resolve().parents[1] / "benchmarks"
    sys.path.insert(0, str(benchmarks))  # voices.py imports quality.py beside it
    spec = importlib.util.spec_from_file_location("voices_benchmark", benchmarks / "voices.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def voice_like(f0: float, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (0.3 * sum(np.cos(2 * np.pi * k * f0 * t) / k for k in range(1, 25)) / 3).astype(np.float32)


def test_a_recording_agrees_with_itself_and_a_tone_an_octave_up_is_1200_cents_off(warm_librosa):
    voices = voices_module()
    reference = voices.pyin_track(voice_like(150.0), RATE, HOP)
    itself, octave = voices.VoiceScores(), voices.VoiceScores()
    itself.add_pitch(reference, voice_like(150.0), CONFIG)
    octave.add_pitch(reference, voice_like(300.0), CONFIG)
    assert itself.voicing() == 1.0 and itself.figures()["f0_cents"] == 0.0
    assert abs(octave.figures()["f0_cents"] - 1200.0) < 30.0


def test_voicing_counts_the_voices_frames_together_and_a_recording_without_voice_adds_nothing(warm_librosa):
    voices = voices_module()
    scores = voices.VoiceScores()
    half_voiced = np.concatenate([voice_like(150.0), np.zeros(RATE, np.float32)])
    scores.add_pitch(voices.pyin_track(half_voiced, RATE, HOP), voice_like(150.0, seconds=2.0), CONFIG)
    assert scores.voicing() == pytest.approx(1.0, abs=0.02)
    silence = np.zeros(RATE, np.float32)
    scores.add_pitch(voices.pyin_track(silence, RATE, HOP), silence, CONFIG)  # no voiced frame: counts for nothing
    assert scores.voiced_frames[-1] == (0, 0) and scores.voicing() == pytest.approx(1.0, abs=0.02)
    scores.add_pitch(voices.pyin_track(voice_like(150.0), RATE, HOP), silence, CONFIG)  # its voice lost: counts
    assert scores.voicing() == pytest.approx(1.0 * 0.5, abs=0.05)


def test_harmonics_stand_above_the_noise_between_them_and_noise_does_not(warm_librosa):
    voices = voices_module()
    f0, voiced = np.full(81, 150.0), np.ones(81, bool)
    tone = voice_like(150.0) + 1e-3 * np.random.default_rng(1).standard_normal(RATE).astype(np.float32)
    noise = 0.1 * np.random.default_rng(2).standard_normal(RATE).astype(np.float32)
    assert voices.hnr_db(tone, f0, voiced, RATE, HOP) > 20.0
    assert abs(voices.hnr_db(noise, f0, voiced, RATE, HOP)) < 5.0
    assert np.isnan(voices.hnr_db(tone, f0, np.zeros(81, bool), RATE, HOP))


@pytest.mark.parametrize("order", [16, 0])
def test_the_synthesised_control_keeps_the_pitch_and_the_level_of_the_mel(order, warm_librosa):
    voices = voices_module()
    voice = voice_like(150.0)
    mel = mel_spectrogram(voice, CONFIG)
    made = voices.no_network_synthesised(mel, CONFIG, seed=1, order=order)
    assert made.shape == (mel.shape[1] * HOP,) and made.dtype == np.float32
    inner = slice(HOP * 10, len(voice) - HOP * 10)
    level_db = 20 * np.log10(made[inner].std() / voice[inner].std())
    # a tone's harmonics fill a band less evenly than noise: its mean magnitude understates the power (here 2.6 dB
    # too quiet through the all-pole fit); the mel's own envelope keeps the voice's harmonic peaks, and the tone's
    # harmonics, at the same pitch, land on them (here 3.6 dB too loud)
    assert abs(level_db) < {16: 3.0, 0: 4.0}[order], level_db
    scores = voices.VoiceScores()
    scores.add_pitch(voices.pyin_track(voice, RATE, HOP), made[: len(voice)], CONFIG)
    figures = scores.figures()
    assert figures["voicing"] > 0.9 and figures["f0_cents"] < 20.0, figures


def test_postfilters_are_read_as_pitch_envelope_and_passes_and_the_controls_take_each_models():
    voices = voices_module()
    assert voices.postfilter_strengths("0.8,1") == (0.8, 1.0, 1)
    assert voices.postfilter_strengths("0,0.5,6") == (0.0, 0.5, 6)
    for wrong in ("1", "0.8,1,2,3", "0.8,1,0", "a,1"):
        with pytest.raises(ValueError):
            voices.postfilter_strengths(wrong)
    from engine.models.registry import build

    one = build("wavenet", {"pitch_postfilter": 0.8, "envelope_postfilter": 1.0, "envelope_passes": 6})
    other = build("wavernn", {"envelope_postfilter": 1.0})
    same = build("wavenet", {"pitch_postfilter": 0.8, "envelope_postfilter": 1.0, "envelope_passes": 6})
    models = [("a", one), ("b", other), ("c", same)]
    shipped = voices.shipped_postfilters(models, one.mel_config)
    assert shipped == [(0.8, 1.0, 6), (0.0, 1.0, 1)]
    assert voices.shipped_postfilters([], one.mel_config) == [voices.CONTROL_POSTFILTERS]
    assert voices.postfilter_words(shipped[0], shipped) == " pitch 0.8, envelope 1 ×6"
    assert voices.postfilter_words(shipped[0], shipped[:1]) == ""


def test_a_training_voice_is_refused(tmp_path):
    voices = voices_module()
    (tmp_path / "heldout" / "someone").mkdir(parents=True)
    (tmp_path / "manifest.json").write_text(json.dumps({"voices": {"someone": {"role": "train"}}}))
    with pytest.raises(SystemExit, match="someone are training voices"):
        voices.check_not_trained_on(tmp_path / "heldout", [tmp_path / "heldout" / "someone"])


def pitch_reading_module():
    benchmarks = Path(__file__).resolve().parents[1] / "benchmarks"
    sys.path.insert(0, str(benchmarks))
    spec = importlib.util.spec_from_file_location("pitch_reading_benchmark", benchmarks / "pitch_reading.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_pitch_reading_figures_count_misses_false_voicing_and_octave_errors():
    reading = pitch_reading_module()
    truth_f0 = np.array([100.0, 100.0, 100.0, 100.0, np.nan, np.nan, np.nan, np.nan])
    truth = (truth_f0, ~np.isnan(truth_f0))
    # frame 0 right, 1 an octave down, 2 missed, 3 right within 5 cents; 4 falsely voiced; a ninth frame is cut
    read_f0 = np.array([100.0, 50.0, 100.0, 100.0 * 2 ** (5 / 1200), 120.0, 0.0, 0.0, 0.0, 200.0], dtype=np.float32)
    read_voiced = np.array([1, 1, 0, 1, 1, 0, 0, 0, 1], dtype=bool)
    row = reading.figures([reading.compare(truth, read_f0, read_voiced)])
    assert row["recall"] == pytest.approx(3 / 4) and row["false"] == pytest.approx(1 / 4)
    assert row["f0_cents"] == pytest.approx((0 + 1200 + 5) / 3, abs=0.01)
    assert row["gross"] == pytest.approx(1 / 3)
