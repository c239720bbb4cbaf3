"""Generation and playback figures along the bottom of the window.

samples/s, real-time factor, elapsed, ETA and a progress bar from each chunk's `Stats`; audio buffered ahead
of the sound card and underruns from the player.
"""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QWidget


def clock(seconds: float) -> str:
    """Seconds → m:ss.s."""
    seconds = max(0.0, seconds)
    return f"{int(seconds // 60)}:{seconds % 60:04.1f}"


class StatusPanel(QWidget):
    """A row of labelled figures and a progress bar."""

    def __init__(self, parent=None):
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 0, 6, 0)
        layout.setSpacing(14)
        self.speed = self._figure(layout, "Samples/s — speed of generation")
        self.real_time = self._figure(layout, "Real-time factor — audio seconds made per wall-clock second")
        self.elapsed = self._figure(layout, "Elapsed time of the current job")
        self.eta = self._figure(layout, "Estimated time left")
        self.progress = QProgressBar(self)
        self.progress.setRange(0, 1000)
        self.progress.setMinimumWidth(90)  # narrower, rather than overlapping the figures, in a narrow window
        self.progress.setMaximumWidth(180)
        self.progress.setTextVisible(True)
        layout.addWidget(self.progress)
        self.buffered = self._figure(layout, "Audio buffered ahead of the sound card")
        self.underruns = self._figure(layout, "Times the sound card ran out of audio")
        self.distance = self._figure(
            layout,
            "Mel distance: mean difference in dB between the generated audio's mel "
            "and the input mel (the log-mel distance of benchmarks/quality.py); "
            "lower is closer",
        )
        self.reset()
        self.show_playback(None, None)

    @staticmethod
    def _figure(layout: QHBoxLayout, tip: str) -> QLabel:
        label = QLabel()
        label.setToolTip(tip)
        layout.addWidget(label)
        return label

    def reset(self) -> None:
        self.speed.setText("— samples/s")
        self.real_time.setText("RTF —")
        self.elapsed.setText("elapsed 0:00.0")
        self.eta.setText("ETA —")
        self.progress.setValue(0)
        self.progress.setFormat("idle")
        self.show_distance(None)

    def show_stats(self, stats) -> None:
        """Show an `engine.generate.Stats`."""
        self.speed.setText(f"{stats.samples_per_second:,.0f} samples/s")
        self.real_time.setText(f"RTF {stats.real_time_factor:.2f}×")
        self.elapsed.setText(f"elapsed {clock(stats.elapsed)}")
        self.eta.setText(f"ETA {clock(stats.eta_seconds)}")
        fraction = stats.samples_done / stats.total_samples if stats.total_samples else 0.0
        # setValue repaints at once, and with it all the window has pending (the plots): that waits for the next paint
        self.progress.setUpdatesEnabled(False)
        self.progress.setValue(round(1000 * min(1.0, fraction)))
        self.progress.setFormat(f"{100 * fraction:.0f} %")
        self.progress.setUpdatesEnabled(True)

    def show_finished(self, cancelled: bool) -> None:
        self.eta.setText("ETA —")
        self.progress.setFormat("stopped" if cancelled else "done")
        if not cancelled:
            self.progress.setValue(1000)

    def show_distance(self, decibels: float | None) -> None:
        """The finished output's mel distance to the input, or a dash (None)."""
        self.distance.setText("mel Δ —" if decibels is None else f"mel Δ {decibels:.1f} dB")

    def show_playback(self, buffered_seconds: float | None, underruns: int | None) -> None:
        """Playback figures, or dashes when nothing is playing (None)."""
        self.buffered.setText(
            "buffered —" if buffered_seconds is None else f"buffered {1000 * buffered_seconds:.0f} ms"
        )
        self.underruns.setText("underruns —" if underruns is None else f"underruns {underruns}")
