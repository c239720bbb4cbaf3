"""The views on their own: the incremental spectrogram, the growing waveform read from an output stream, repaint
only when there is something new and the view is shown."""

import numpy as np
import pytest

from engine.features import MelConfig, mel_spectrogram
from engine.incremental_mel import IncrementalMel
from engine.output import OutputStream
from engine.ringbuffer import RingBuffer

SMALL_MEL = MelConfig(sample_rate=8000, n_fft=256, hop_length=40, win_length=160, n_mels=20, fmax=4000.0)


@pytest.mark.parametrize("num_samples", [60, 128, 129, 1000, 4001])
def test_incremental_mel_matches_librosa_for_any_chunking(num_samples, warm_librosa):
    rng = np.random.default_rng(num_samples)
    audio = (0.3 * rng.standard_normal(num_samples)).astype(np.float32)
    ring = RingBuffer(num_samples)
    live = IncrementalMel(SMALL_MEL, expected_samples=num_samples // 2)
    while ring.written < num_samples:
        ring.write(audio[ring.written : ring.written + int(rng.integers(1, 300))])
        live.update(ring, ring.written)
    live.finish(ring, num_samples)
    reference = mel_spectrogram(audio, SMALL_MEL)
    assert live.mel.shape == reference.shape == (20, 1 + num_samples // 40)
    np.testing.assert_allclose(live.mel, reference, atol=1e-5)


def test_incremental_mel_computes_each_frame_once_as_its_window_completes():
    ring = RingBuffer(1000)
    ring.write(np.zeros(1000, np.float32))
    live = IncrementalMel(SMALL_MEL, expected_samples=1000)
    assert live.update(ring, 128) == 0  # the reflect padding needs pad + 1 samples
    assert live.update(ring, 129) == 1 and live.frames_done == 1  # frame 0 spans samples [-128, 128)
    assert live.update(ring, 168) == 1  # each hop completes one more frame
    assert live.frames_done == 2
    assert live.update(ring, 1000) == 20  # frames t with 40·t + 256 ≤ 1000 + 128
    assert live.update(ring, 1000) == 0
    assert live.finish(ring, 1000) == 26 - 22  # the end padding completes the last four
    assert live.frames_done == 1 + 1000 // 40


def test_waveform_view_paints_what_the_stream_holds_only_when_it_grew_and_the_view_shows(qtbot):
    from app.views.waveform import WaveformView

    view = WaveformView("generated", "#ffffff")
    qtbot.addWidget(view)
    stream = OutputStream(8000, 800, total=800)
    view.follow(stream)
    stream.write(np.full(240, 0.5, np.float32))
    assert not view.refresh()  # hidden: nothing painted
    view.show()
    qtbot.waitExposed(view)
    assert view.refresh() and view.painted_samples == 240
    assert not view.refresh()  # nothing new since
    stream.write(np.full(240, -0.5, np.float32))
    assert view.refresh() and view.painted_samples == 480
    x, y = view.curve.getOriginalDataset()
    np.testing.assert_allclose(x[[0, 479]], [0.0, 479 / 8000])
    np.testing.assert_array_equal(y[238:242], [0.5, 0.5, -0.5, -0.5])


def shown_waveform_view(qtbot):
    """A WaveformView 1000 pixels wide, on screen."""
    from app.views.waveform import WaveformView

    view = WaveformView("generated", "#ffffff")
    qtbot.addWidget(view)
    view.resize(1000, 200)
    view.show()
    qtbot.waitExposed(view)
    return view


def test_a_long_waveform_is_drawn_as_its_peaks_and_every_sample_when_zoomed_in(qtbot):
    view = shown_waveform_view(qtbot)
    samples = (0.5 * np.sin(np.arange(340_000) / 7.0)).astype(np.float32)
    samples[123_456] = 1.0  # one peak that must survive the thinning
    view.set_audio(samples, 16000)
    view.plot_item.setXRange(0.0, len(samples) / 16000, padding=0)
    view.refresh()
    shown = view.curve._getDisplayDataset()
    assert len(shown.x) < 20 * view.width() and shown.y.max() == 1.0
    view.plot_item.setXRange(7.0, 7.05, padding=0)  # 50 ms: 800 samples
    view.mark_dirty()
    view.refresh()
    shown = view.curve._getDisplayDataset()
    assert 800 <= len(shown.x) < 1000
    np.testing.assert_array_equal(shown.y, samples[np.round(shown.x * 16000).astype(int)])


def test_the_envelope_of_chunks_in_any_order_is_each_buckets_lowest_and_highest_sample(qtbot):
    view = shown_waveform_view(qtbot)
    rng = np.random.default_rng(3)
    samples = (0.3 * rng.standard_normal(100_003)).astype(np.float32)
    stream = OutputStream(16000, len(samples), total=len(samples))
    view.follow(stream)
    view.plot_item.setXRange(0.0, len(samples) / 16000, padding=0)
    starts = list(range(0, len(samples), 777))
    rng.shuffle(starts)  # as fold mode delivers them
    for number, start in enumerate(starts):
        stream.write(samples[start : start + 777], start)
        if number % 20 == 0:
            view.refresh()  # a frame now and then while they arrive: the envelope catches up with the later ones
    view.refresh()
    shown = view.curve._getDisplayDataset()
    bucket = view.bucket
    padded = np.concatenate([samples, np.full(-len(samples) % bucket, samples[-1])]).reshape(-1, bucket)
    assert bucket == 25 and view.painted_samples == len(samples)
    np.testing.assert_array_equal(shown.y[0::2], padded.min(axis=1))
    np.testing.assert_array_equal(shown.y[1::2], padded.max(axis=1))
    stream = OutputStream(16000, len(samples), total=len(samples))
    view.follow(stream)  # a new take whose first half has not arrived yet: silence there, not the last take
    stream.write(samples[50_000:], 50_000)
    view.refresh()
    shown = view.curve._getDisplayDataset()
    assert not shown.y[: 2 * (50_000 // bucket)].any()
    assert shown.y.max() == samples[50_000:].max()


def test_spectrogram_view_shows_live_frames_with_fixed_levels(qtbot, warm_librosa):
    from app.views.spectrogram import LEVELS, SpectrogramView

    view = SpectrogramView("generated")
    qtbot.addWidget(view)
    view.show()
    qtbot.waitExposed(view)
    stream = OutputStream(8000, 4000, total=4000, mel_config=SMALL_MEL)  # its mel is made as it is written
    view.follow(stream)
    stream.write(np.zeros(2000, np.float32))
    assert view.refresh() and view.painted_frames == (2000 + 128 - 256) // 40 + 1
    assert view.image.image.shape == (20, 101) and view.image.image.flags["C_CONTIGUOUS"]
    assert np.shares_memory(view.image.image, stream.mel.buffer), "the view draws the engine's mel where it lies"
    assert tuple(view.image.getLevels()) == LEVELS
    assert not view.refresh()  # nothing new since
    stream.write(np.zeros(2000, np.float32))
    stream.finish()
    assert view.refresh() and view.painted_frames == 101
    rect = view.image.mapRectToParent(view.image.boundingRect())
    assert rect.width() == pytest.approx(101 * 40 / 8000)


def test_status_panel_shows_rate_rtf_eta_and_progress(qtbot):
    from app.views.status_panel import StatusPanel
    from engine.generate import Stats

    panel = StatusPanel()
    qtbot.addWidget(panel)
    panel.show_stats(
        Stats(
            samples_done=4000,
            total_samples=16000,
            elapsed=2.0,
            samples_per_second=2000.0,
            real_time_factor=0.25,
            eta_seconds=6.0,
        )
    )
    assert panel.speed.text() == "2,000 samples/s"
    assert panel.real_time.text() == "RTF 0.25×"
    assert panel.eta.text() == "ETA 0:06.0"
    assert panel.progress.value() == 250
    panel.show_playback(0.125, 3)
    assert (panel.buffered.text(), panel.underruns.text()) == ("buffered 125 ms", "underruns 3")


def test_model_chooser_tooltips_say_what_each_model_draws_and_how_it_was_trained(qtbot):
    from app.views.model_chooser import ModelChooser
    from engine.models.loading import list_models

    chooser = ModelChooser()
    qtbot.addWidget(chooser)
    infos = {info.name: info for info in list_models()}
    chooser.populate(list(infos.values()), [])
    tips = {chooser.itemData(i): chooser.itemData(i, 3) for i in range(chooser.count()) if chooser.itemData(i) in infos}
    wavenet = infos["wavenet"]
    assert tips["wavenet"].startswith(f"wavenet ({wavenet.draws}) · 16000 Hz · hop 200 · 80 mels")
    assert tips["wavenet"].endswith(f" · trained {wavenet.steps:,} steps on voices (CC-BY-SA-3.0, GPL-2)")
    assert tips["wavernn"].endswith(f" · trained {infos['wavernn'].steps:,} steps on asterisk-en (CC-BY-SA-3.0)")
    assert tips["wavernn-dual"].endswith(" · untrained (random weights)")


def test_the_mel_scale_and_band_positions_match_librosas_filter_bank():
    import librosa

    from app.views.frequency_axis import band_position, hz_to_mel

    frequencies = np.geomspace(20.0, 11025.0, 200)
    np.testing.assert_allclose([hz_to_mel(f) for f in frequencies], librosa.hz_to_mel(frequencies), rtol=1e-12)
    for config in (MelConfig(), SMALL_MEL, MelConfig(sample_rate=22050, n_mels=100, fmin=0.0, fmax=11025.0)):
        centres = librosa.mel_frequencies(config.n_mels + 2, fmin=config.fmin, fmax=config.fmax)[1:-1]
        positions = [band_position(f, config) for f in centres]
        np.testing.assert_allclose(positions, np.arange(config.n_mels) + 0.5, atol=1e-9)  # row i spans [i, i + 1]
        assert band_position(config.fmin, config) == pytest.approx(-0.5)
        assert band_position(config.fmax, config) == pytest.approx(config.n_mels + 0.5)


def test_the_frequency_axis_labels_a_tone_at_the_row_where_its_energy_lies(qtbot, warm_librosa):
    from app.views.frequency_axis import band_position
    from app.views.spectrogram import SpectrogramView

    config = MelConfig()
    t = np.arange(config.sample_rate) / config.sample_rate
    mel = mel_spectrogram((0.5 * np.sin(2 * np.pi * 1000.0 * t)).astype(np.float32), config)
    view = SpectrogramView("input")
    qtbot.addWidget(view)
    view.resize(600, 400)
    view.show()
    qtbot.waitExposed(view)
    view.set_mel(mel, config)
    view.refresh()
    assert view.plot_item.viewRange()[1] == [-0.5, config.n_mels + 0.5]  # fmin at the bottom edge, fmax at the top
    loudest_row = int(np.argmax(view.image.image[:, mel.shape[1] // 2]))
    assert loudest_row == int(band_position(1000.0, config))  # the 1 kHz tone lies in the row the "1k" tick marks
    axis = view.frequency_axis
    ((_, positions),) = axis.tickValues(-0.5, config.n_mels + 0.5, 400)
    labels = dict(zip(axis.tickStrings(positions, 1.0, 1.0), positions))
    assert list(labels) == ["8k", "4k", "2k", "1k", "500", "250", "100"]
    assert labels["1k"] == pytest.approx(band_position(1000.0, config)) and loudest_row < labels["1k"] < loudest_row + 1
    ((_, crowded),) = axis.tickValues(-0.5, config.n_mels + 0.5, 100)  # a short plot: the low ticks would overlap
    spacing = np.diff(sorted(crowded)) * 100 / (config.n_mels + 1)
    assert "8k" in axis.tickStrings(crowded, 1.0, 1.0) and spacing.min() >= 16


def test_the_colour_bar_shows_the_images_levels_and_colours_in_decibels(qtbot):
    from app.views import theme
    from app.views.colour_bar import tick_values
    from app.views.spectrogram import SpectrogramView

    view = SpectrogramView("generated")
    qtbot.addWidget(view)
    config = MelConfig(min_db=-80.0)
    mel = np.linspace(0, 1, 20 * 30, dtype=np.float32).reshape(20, 30)
    view.set_mel(mel, config)
    bar = view.colour_bar
    assert tuple(view.image.getLevels()) == (0.0, 1.0)
    assert bar.levels() == view.decibel_levels == (-80.0, 0.0) and bar.unit == "dB"  # [0, 1] is [min_db, 0] dB
    np.testing.assert_array_equal(bar.lut, view.image.lut)
    assert tick_values(*bar.levels()) == [-80.0, -60.0, -40.0, -20.0, 0.0]
    view.set_reference(mel)
    assert tuple(view.image.getLevels()) == (-0.25, 0.25)
    assert bar.levels() == view.decibel_levels == (-20.0, 20.0) and bar.unit == "Δ dB"
    np.testing.assert_array_equal(bar.lut, view.image.lut)
    np.testing.assert_array_equal(bar.lut, theme.difference_lut())
    assert tick_values(-100.0, 0.0) == [-100.0, -80.0, -60.0, -40.0, -20.0, 0.0]
    assert tick_values(-25.0, 25.0) == [-20.0, -10.0, 0.0, 10.0, 20.0]
