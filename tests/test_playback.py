"""Playback against a real PulseAudio daemon: what the null sink plays is recorded from its monitor and compared.

The model is `MelTone` (tests/tone_vocoder.py), a real Vocoder whose stream is cheap, streamed through
`engine.generate`: the built-in models run far below real time on a small CPU. Slowed on purpose it stands in
for a vocoder slower than real time.
"""

import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import soxr
from scipy import signal

from engine.errors import AudioDeviceError
from engine.features import Conditioning, MelConfig
from engine.generate import generate
from engine.playback import RATE_MARGIN, Player, PlaybackSummary, list_output_devices
from tests.sound_server import MONITOR_RATE
from tests.tone_vocoder import MelTone, ToneConfig, gliding_mel

RATE, HOP = 16000, 200


def tone_conditioning(seconds: float) -> Conditioning:
    return Conditioning(mel=gliding_mel(int(seconds * RATE / HOP)).numpy(), mel_config=MelConfig())


def stream_generation(player: Player, model: MelTone, seconds: float, *, announce: bool = True):
    """Generate with `model` into `player` as the CLI does; returns (audio (n,), whether playback had started
    before the last chunk, generation wall time)."""
    conditioning = tone_conditioning(seconds)
    if announce:
        player.expect(conditioning.num_samples)
    began = time.monotonic()
    pieces, started_early = [], False
    for chunk in generate(model, conditioning, device="cpu"):
        started_early = started_early or player.started
        player.feed(chunk.samples, chunk.stats.samples_per_second)
        pieces.append(chunk.samples)
    elapsed = time.monotonic() - began
    player.finish()
    assert player.wait(timeout=10), "playback did not end"
    return np.concatenate(pieces), started_early, elapsed


def audible_span(x: np.ndarray, threshold: float = 1e-3) -> tuple[int, int]:
    loud = np.flatnonzero(np.abs(x) > threshold)
    return int(loud[0]), int(loud[-1]) + 1


def match(reference: np.ndarray, recording: np.ndarray) -> tuple[float, float]:
    """(normalised cross-correlation after alignment, recorded duration − reference duration in seconds);
    both at MONITOR_RATE.

    Aligned to the sample by the cross-correlation's peak, then to a fraction of a sample (a parabola through
    the peak, refined in steps of 0.05): the sink's resampler may place its samples a fraction of a sample
    away from ours, which alone costs a broadband signal a few percent of correlation.
    """
    pad = 16
    correlation = signal.correlate(recording, reference, mode="valid", method="fft")
    lag = int(np.argmax(correlation))
    last = len(correlation) - 1
    before, peak, after = correlation[max(lag - 1, 0)], correlation[lag], correlation[min(lag + 1, last)]
    curvature = before - 2 * peak + after
    fraction = 0.5 * (before - after) / curvature if curvature < 0 else 0.0
    segment = np.pad(recording, pad)[lag : lag + len(reference) + 2 * pad]
    padded_reference = np.pad(reference, pad)
    spectrum = np.fft.rfft(padded_reference)
    frequency = np.fft.rfftfreq(len(padded_reference))
    ncc = -1.0
    for delay in fraction + np.arange(-0.1, 0.1001, 0.05):
        shifted = np.fft.irfft(spectrum * np.exp(-2j * np.pi * frequency * delay), len(padded_reference))
        ncc = max(ncc, float(np.dot(segment, shifted) / (np.linalg.norm(segment) * np.linalg.norm(shifted))))
    start, stop = audible_span(recording)
    ref_start, ref_stop = audible_span(reference)
    return ncc, ((stop - start) - (ref_stop - ref_start)) / MONITOR_RATE


def at_monitor_rate(audio: np.ndarray, rate: int) -> np.ndarray:
    """What the sink makes of `audio`: resampled as the test daemon does (soxr-hq), clipped to its 16 bits."""
    if rate != MONITOR_RATE:
        audio = soxr.resample(audio, rate, MONITOR_RATE).astype(np.float32)
    return np.clip(audio, -1.0, 1.0)


def test_summary_line_names_seconds_played_start_delay_and_underruns():
    assert PlaybackSummary(3.2, 0.12, 0).line() == "played 3.20 s, start delay 0.12 s, 0 underruns"
    assert PlaybackSummary(0.0, None, 2).line() == "played 0.00 s, start delay not started, 2 underruns"
    late = PlaybackSummary(1.0, 0.3, 0, device_underflows=4)
    assert late.line() == "played 1.00 s, start delay 0.30 s, 0 underruns, 4 device underflows"


@pytest.mark.slow
def test_output_devices_are_listed_and_chosen_by_name_or_index(sound_server):
    devices = list_output_devices()
    assert devices, "the sound server's output is listed"
    default = next(d for d in devices if d.is_default)
    assert default.default_samplerate > 0 and default.channels >= 1
    with Player(RATE, default.index) as by_index, Player(RATE, default.name) as by_name:
        assert by_index.device_name == by_name.device_name == default.name
    with pytest.raises(AudioDeviceError, match="no-such-card.*Pick one of those"):
        Player(RATE, "no-such-card")


@pytest.mark.slow
def test_streamed_samples_reach_the_sink_exactly(sound_server):
    """At the sink's own rate nothing resamples: the monitor must hold the fed ramp, sample for sample."""
    ramp = np.linspace(-0.8, 0.8, MONITOR_RATE, dtype=np.float32)
    mark = sound_server.monitor.mark()
    with Player(MONITOR_RATE) as player:
        player.expect(len(ramp))
        for start in range(0, len(ramp), 1200):
            player.feed(ramp[start : start + 1200])
        player.finish()
        assert player.wait(timeout=10)
        assert player.underruns == 0
        assert player.position == len(ramp)
    recording = sound_server.monitor.since(mark)
    start, stop = audible_span(recording, threshold=1e-6)
    assert stop - start == len(ramp)
    assert np.max(np.abs(recording[start:stop] - ramp)) < 1e-4  # the sink's 16-bit samples


@pytest.mark.slow
def test_audio_plays_while_generated_and_the_recording_matches_the_output(sound_server):
    model = MelTone(ToneConfig(seconds_per_frame=0.5 * HOP / RATE))  # twice as fast as real time
    mark = sound_server.monitor.mark()
    with Player(RATE) as player:
        audio, started_early, elapsed = stream_generation(player, model, seconds=1.5)
        summary = player.summary()
    assert started_early, "playback starts before generation ends"
    assert summary.underruns == 0
    assert summary.seconds_played == pytest.approx(len(audio) / RATE)
    assert summary.start_delay < 0.2 + player.preroll
    ncc, duration_error = match(at_monitor_rate(audio, RATE), sound_server.monitor.since(mark))
    assert ncc >= 0.98
    assert abs(duration_error) <= 0.05


@pytest.mark.slow
def test_slow_generation_plays_to_the_end_without_underruns_after_the_adaptive_start(sound_server):
    real_time_share = 0.7
    model = MelTone(ToneConfig(seconds_per_frame=HOP / RATE / real_time_share))
    seconds = 2.0
    mark = sound_server.monitor.mark()
    with Player(RATE) as player:
        audio, _, elapsed = stream_generation(player, model, seconds=seconds)
        summary = player.summary()
        preroll = player.preroll
    assert summary.underruns == 0
    # The rule at a constant rate r: start after T/r − k·T/s + k·preroll (module docstring).
    predicted = elapsed - RATE_MARGIN * (seconds - preroll)
    assert summary.start_delay == pytest.approx(predicted, abs=0.1)
    ncc, duration_error = match(at_monitor_rate(audio, RATE), sound_server.monitor.since(mark))
    assert ncc >= 0.98
    assert abs(duration_error) <= 0.05


@pytest.mark.slow
def test_slow_generation_without_the_adaptive_start_runs_dry_and_counts_underruns(sound_server):
    model = MelTone(ToneConfig(seconds_per_frame=HOP / RATE / 0.5))
    with Player(RATE) as player:
        stream_generation(player, model, seconds=1.5, announce=False)  # T unknown: starts after the pre-roll
        assert player.start_delay == pytest.approx(player.preroll / 0.5, abs=0.1)  # preroll · s/r
        assert player.underruns > 3
        assert player.summary().seconds_played == pytest.approx(1.5)


@pytest.mark.slow
def test_a_model_rate_the_stream_does_not_run_at_is_converted_as_it_is_fed(sound_server):
    model = MelTone()
    mark = sound_server.monitor.mark()
    with Player(RATE, device_rate=MONITOR_RATE) as player:
        assert player.device_rate == MONITOR_RATE
        audio, _, _ = stream_generation(player, model, seconds=1.0)
        assert player.underruns == 0
        assert player.position == pytest.approx(len(audio), abs=2)
    recording = sound_server.monitor.since(mark)
    ncc, duration_error = match(at_monitor_rate(audio, RATE), recording)
    assert ncc >= 0.99
    assert abs(duration_error) <= 0.05


@pytest.mark.slow
def test_stop_mid_playback_fades_out_and_releases_a_blocked_producer(sound_server):
    sine = (0.5 * np.sin(2 * np.pi * 440 * np.arange(3 * MONITOR_RATE) / MONITOR_RATE)).astype(np.float32)
    mark = sound_server.monitor.mark()
    player = Player(MONITOR_RATE, capacity_seconds=0.5)
    player.expect(len(sine))
    producer = threading.Thread(target=player.feed, args=(sine,))  # 3 s into a 0.5 s ring: it blocks
    producer.start()
    time.sleep(0.8)
    assert producer.is_alive() and player.started
    began = time.monotonic()
    player.stop()
    assert time.monotonic() - began < 1.5  # the fade, then the device's buffer and the tail of silence
    producer.join(timeout=1.0)
    assert not producer.is_alive()
    assert player.finished and player._stream.closed
    recording = sound_server.monitor.since(mark)
    start, stop = audible_span(recording)
    assert 0.3 < (stop - start) / MONITOR_RATE < 1.5
    # The largest step a 440 Hz sine at 0.5 makes between samples is 0.029; a cut would step by up to 0.5.
    assert np.max(np.abs(np.diff(recording))) < 0.035
    # A linear 10 ms fade: the last 5 ms peak below half the amplitude, the last millisecond near silence.
    assert np.max(np.abs(recording[stop - MONITOR_RATE // 200 : stop])) < 0.5 * 0.55
    assert np.max(np.abs(recording[stop - MONITOR_RATE // 1000 : stop])) < 0.5 * 0.15


@pytest.mark.slow
def test_fade_out_returns_at_once_and_stop_after_it_closes_without_waiting(sound_server):
    """The window stops one player and starts the next without waiting for the fade and tail to reach the sink."""
    sine = (0.5 * np.sin(2 * np.pi * 440 * np.arange(3 * MONITOR_RATE) / MONITOR_RATE)).astype(np.float32)
    mark = sound_server.monitor.mark()
    player = Player(MONITOR_RATE)
    player.play_clip(sine)
    time.sleep(0.5)
    began = time.monotonic()
    player.fade_out()
    assert time.monotonic() - began < 0.05
    assert not player.faded  # the tail of silence alone lasts two latencies and 50 ms
    deadline = time.monotonic() + 3.0
    while not player.faded and time.monotonic() < deadline:
        time.sleep(0.01)
    assert player.faded and player.finished, "the stream ended by itself after the fade and the tail"
    began = time.monotonic()
    player.stop()
    assert time.monotonic() - began < 0.05 and player._stream.closed
    recording = sound_server.monitor.since(mark)
    start, stop = audible_span(recording)
    assert 0.3 < (stop - start) / MONITOR_RATE < 1.5
    assert np.max(np.abs(np.diff(recording))) < 0.035  # faded, not cut (see the test above)


@pytest.mark.slow
def test_a_clip_pauses_resumes_and_seeks(sound_server):
    clip = (0.3 * np.sin(2 * np.pi * 330 * np.arange(4 * RATE) / RATE)).astype(np.float32)
    with Player(RATE) as player:
        player.play_clip(clip)
        time.sleep(0.3)
        player.pause()
        time.sleep(0.2)
        held = player.position
        time.sleep(0.2)
        assert player.position == held and 0 < held < len(clip)
        player.resume()
        time.sleep(0.2)
        assert player.position > held
        player.seek(3.5)
        time.sleep(0.2)
        assert player.position >= int(3.5 * RATE)
        assert player.wait(timeout=2.0), "the clip plays to its end after the seek"
        assert player.position == len(clip)


@pytest.mark.slow
def test_without_a_sound_server_opening_says_so_plainly(tmp_path):
    script = (
        "from engine.errors import AudioDeviceError\n"
        "from engine.playback import Player, list_output_devices\n"
        "print(len(list_output_devices()))\n"
        "try:\n    Player(16000)\nexcept AudioDeviceError as error:\n    print(error)\n"
    )
    env = dict(os.environ, PULSE_SERVER=f"unix:{tmp_path}/no-server-here")
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    count, message = result.stdout.strip().splitlines()
    assert count == "0"
    assert message.startswith("no sound output: found no audio output device (no sound server is running")
    assert "generation and export still work" in message
