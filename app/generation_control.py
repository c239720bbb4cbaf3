"""The window's generation, one at a time: start it with the chosen model, device, temperature and seed; point the
output views at its output stream; follow its progress in the shape inspector and the status panel; sum it up when
it finishes, stops or fails. It keeps what came out: the output stream (the audio, read where the engine wrote it),
its rate, how it was made (the exported file's comment tag) and its mel distance to the input.

The samples never come here: the engine thread writes them, and the take's mel, into the job's output stream
(engine/output.py); the views read it on the window's frame clock and a player follows it on its own. Nor do the
chunk events: the progress (the latest chunk's place and running statistics) is read from the bridge on the frame
clock too, at most every PROGRESS_INTERVAL_SECONDS."""

from __future__ import annotations

import time

import numpy as np

from app.collector import freeze_survivors
from app.engine_bridge import mel_distance_db, take_comment

# The running figures (speed, real-time factor, ETA, progress) change a little with every chunk; shown on every frame
# they cost the GUI thread more than the plots (the progress bar repaints itself at once on each new value).
PROGRESS_INTERVAL_SECONDS = 0.25


class GenerationControl:
    """`window` is the MainWindow: its bridge, chosen model and device, input, views and messages."""

    def __init__(self, window):
        self.window = window
        self.job_id: int | None = None
        self.stats = None  # the latest chunk's GenerationStats
        self.model_label = ""  # the model chooser's entry the job generates with
        self.draws = ""  # what the model draws, in words, as the job started
        self.conditioning = None  # the Conditioning the job generates from
        self.seed: int | None = None  # the last generation's seed, for "Generate again"
        self.next_seed: int | None = None  # the seed the next start takes; None draws a new one
        self.output = None  # the job's engine.output.OutputStream: the running, finished or stopped take
        self.audio: np.ndarray | None = None  # the finished or stopped take (N,) float32: a view of `output`
        self.rate = 16000
        self.total = 0  # the samples the running job will make
        self.comment = ""  # how the output was made
        self.mel_distance_db: float | None = None  # the finished output's mel distance to the input
        self.discarding = False  # the running job is stopping and its output goes nowhere: its input has gone
        self._progress_shown: tuple[object, float] = (None, 0.0)  # the chunk event last shown, and when

    @property
    def running(self) -> bool:
        return self.job_id is not None

    def start(self) -> None:
        """Generate from the window's input (which must be loaded) with its chosen model, device and sampling."""
        window = self.window
        window.banner.hide()
        self.clear()
        self.stats = None
        freeze_survivors()  # what is alive now lives on: the collector need walk only what generation makes
        self.job_id = window.bridge.generate(window.model, window.loaded.conditioning, window.device,
                                             seed=self.next_seed, sampling=window.sampling)
        self.next_seed = None
        self.model_label = window.model_chooser.currentText()  # another may be chosen while this one generates
        window.activity.setText(f"Generating with {self.model_label} on "
                                f"{window.device_chooser.currentText()}…")

    def stop(self) -> None:
        if self.running:
            self.window.bridge.cancel()

    def clear(self) -> None:
        """Forget the output and empty its views. A job still running generates from an input that is going: it
        is stopped, and what it made until then is dropped."""
        window = self.window
        if self.running and not self.discarding:
            self.discarding = True
            window.bridge.cancel()
            if window.playback.live:
                window.playback.stop()
        self.audio = self.output = None
        window.output_waveform.set_audio(None, self.rate)
        window.output_mel.set_mel(None, window.output_mel.mel_config)
        window.status_panel.reset()

    def on_started(self, event) -> None:
        if event.job_id != self.job_id or self.discarding:
            return
        window = self.window
        window.shape_inspector.on_engine_event(event)
        self.draws = event.model_info.draws
        self.conditioning = event.conditioning
        self.seed = event.seed
        self.comment = take_comment(self.model_label, event.model_info.draws, event.seed,
                                    window.loaded.path if window.loaded is not None else None)
        self.rate = event.sample_rate
        self.total = event.total_samples
        self.output = event.output
        window.output_waveform.follow(event.output)
        window.output_mel.follow(event.output)
        window.apply_mel_difference()

    def on_frame(self) -> None:
        """On the window's frame clock: the running job's progress (its latest chunk event) in the shape inspector
        and the status panel, when it moved on, at most every PROGRESS_INTERVAL_SECONDS. The views read the output
        stream themselves."""
        shown, when = self._progress_shown
        now = time.monotonic()
        if now - when < PROGRESS_INTERVAL_SECONDS or not self.running or self.discarding:
            return
        event = self._latest_chunk()
        if event is None or event is shown:
            return
        self.stats = event.stats
        self.window.shape_inspector.on_engine_event(event)
        self.window.status_panel.show_stats(event.stats)
        self._progress_shown = (event, now)

    def _latest_chunk(self):
        """The running job's latest engine.jobs.ChunkReady, or None before its first chunk."""
        event = self.window.bridge.latest_chunk
        return event if event is not None and event.job_id == self.job_id else None

    def _ended(self, event) -> bool:
        """Whether `event` ends the running job: then the job is over, its last figures are taken, and the shape
        inspector has the event."""
        if event.job_id != self.job_id:
            return False
        last = self._latest_chunk()
        if last is not None:
            self.stats = last.stats
        self.job_id = None
        self.window.shape_inspector.on_engine_event(event)
        return True

    def on_finished(self, event) -> None:
        if not self._ended(event):
            return
        window = self.window
        if self.discarding:
            self._discarded(event)
            return
        self.audio = event.audio
        self.mel_distance_db = None
        if not event.cancelled:  # the engine has computed the whole take's mel
            conditioning = self.conditioning
            self.mel_distance_db = mel_distance_db(conditioning.mel, self.output.mel.mel, conditioning.mel_config)
        window.playback.end_of_output()
        if self.stats is not None:
            window.status_panel.show_stats(self.stats)
        window.status_panel.show_finished(event.cancelled)
        window.status_panel.show_distance(self.mel_distance_db)
        window.note(self.summary(event.cancelled))
        if self.stats is not None and self.stats.warning:  # the output guard's verdict on the take (NaN, clipped, ...)
            window.show_error(self.stats.warning[0].upper() + self.stats.warning[1:], "warning")
        window.paint_now()
        window.update_actions()
        window.generation_done.emit(event)

    def _discarded(self, event) -> None:
        """The end of a job whose input was replaced while it ran: say so."""
        window = self.window
        self.discarding = False
        window.note(f"Stopped generating after {len(event.audio) / self.rate:.2f} s: another input was opened, and "
                    "what was made from the one before is dropped.")
        window.update_actions()
        window.generation_done.emit(event)

    def summary(self, cancelled: bool) -> str:
        """What the finished job made, with what, how fast, and how near the input's mel."""
        summary = (("Stopped after " if cancelled else "Generated ") + f"{len(self.audio) / self.rate:.2f} s of audio "
                   f"with {self.model_label} ({self.draws}), seed {self.seed}")
        if self.stats is not None:
            summary += (f" in {self.stats.elapsed:.1f} s ({self.stats.samples_per_second:,.0f} samples/s, "
                        f"{self.stats.real_time_factor:.2f}× real time)")
        if self.mel_distance_db is not None:
            summary += f"; mel distance to the input {self.mel_distance_db:.1f} dB"
        return summary

    def on_failed(self, event) -> None:
        if not self._ended(event):
            return
        self.discarding = False
        window = self.window
        window.shape_inspector.show()
        if window.playback.live:
            window.playback.stop()
        window.status_panel.show_finished(cancelled=True)
        window.show_error(event.message)
        window.update_actions()
