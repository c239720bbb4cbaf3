"""The window's generation, one at a time: start it as a `GenerationRequest` says (model, device, input, sampling)
with the next seed; point the output views at its output stream; follow its progress in the shape inspector and the
status panel; sum it up when it finishes, stops or fails, in signals the window connects to. It keeps what came out: the output stream (the audio, read where the engine wrote it),
its rate, how it was made (the exported file's comment tag) and its mel distance to the input.

The samples never come here: the engine thread writes them, and the take's mel, into the job's output stream
(engine/output.py); the views read it on the window's frame clock and a player follows it on its own. Nor do the
chunk events: the progress (the latest chunk's place and running statistics) is read from the bridge on the frame
clock too, at most every PROGRESS_INTERVAL_SECONDS."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from app.collector import freeze_survivors
from app.engine_bridge import Conditioning, EngineBridge, Sampling, mel_distance_db, take_comment
from app.playback_control import PlaybackControl
from app.views.shape_inspector import ShapeInspectorDock
from app.views.spectrogram import SpectrogramView
from app.views.status_panel import StatusPanel
from app.views.waveform import WaveformView

# The running figures (speed, real-time factor, ETA, progress) change a little with every chunk; shown on every frame
# they cost the GUI thread more than the plots (the progress bar repaints itself at once on each new value).
PROGRESS_INTERVAL_SECONDS = 0.25


@dataclass(frozen=True)
class GenerationRequest:
    """What to generate: the model (a built-in name or a checkpoint path) and its label in the chooser, the compute
    device and its label, the input's conditioning and file, and how to draw."""

    model: str
    model_label: str
    device: str
    device_label: str
    conditioning: Conditioning
    input_path: Path | None
    sampling: Sampling


@dataclass(frozen=True)
class OutputViews:
    """The views a generation fills: its waveform and mel (which follow the output stream), the status panel (its
    figures) and the shape inspector (the job's inspection and progress)."""

    waveform: WaveformView
    mel: SpectrogramView
    status: StatusPanel
    inspector: ShapeInspectorDock


class GenerationControl(QObject):
    """Runs the window's generations through `bridge`, fills `views`, and ends the live playback (`playback`) of a
    take that stops; the window connects to its signals."""

    activity = Signal(str)  # what it is doing now, for the status line
    started = Signal()  # the job's output stream is known (and `conditioning` is the job's)
    noted = Signal(str)  # what a job made, or that it was dropped, for the messages panel
    warned = Signal(str)  # the output guard's verdict on a finished take (NaN, clipped, ...)
    failed = Signal(str)  # why a job failed
    ended = Signal(object)  # the job's JobFinished (finished, stopped or dropped), after its figures are shown

    def __init__(
        self, bridge: EngineBridge, playback: PlaybackControl, views: OutputViews, parent: QObject | None = None
    ):
        super().__init__(parent)
        self.bridge, self.playback, self.views = bridge, playback, views
        self.job_id: int | None = None
        self.request: GenerationRequest | None = None  # the running or last job's
        self.stats = None  # the latest chunk's GenerationStats
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

    @property
    def model_label(self) -> str:
        """The model chooser's entry the running or last job generates with."""
        return self.request.model_label if self.request is not None else ""

    def start(self, request: GenerationRequest) -> None:
        """Generate as `request` says, with `next_seed` (None: a new one)."""
        self.clear()
        self.stats = None
        freeze_survivors()  # what is alive now lives on: the collector need walk only what generation makes
        self.request = request
        self.job_id = self.bridge.generate(
            request.model, request.conditioning, request.device, seed=self.next_seed, sampling=request.sampling
        )
        self.next_seed = None
        self.activity.emit(f"Generating with {request.model_label} on {request.device_label}…")

    def stop(self) -> None:
        if self.running:
            self.bridge.cancel()

    def clear(self) -> None:
        """Forget the output and empty its views. A job still running generates from an input that is going: it
        is stopped, and what it made until then is dropped."""
        if self.running and not self.discarding:
            self.discarding = True
            self.bridge.cancel()
            if self.playback.live:
                self.playback.stop()
        self.audio = self.output = None
        self.views.waveform.set_audio(None, self.rate)
        self.views.mel.set_mel(None, self.views.mel.mel_config)
        self.views.status.reset()

    def on_started(self, event) -> None:
        if event.job_id != self.job_id or self.discarding:
            return
        self.views.inspector.on_engine_event(event)
        self.draws = event.model_info.draws
        self.conditioning = event.conditioning
        self.seed = event.seed
        self.comment = take_comment(self.model_label, event.model_info.draws, event.seed, self.request.input_path)
        self.rate = event.sample_rate
        self.total = event.total_samples
        self.output = event.output
        self.views.waveform.follow(event.output)
        self.views.mel.follow(event.output)
        self.started.emit()

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
        self.views.inspector.on_engine_event(event)
        self.views.status.show_stats(event.stats)
        self._progress_shown = (event, now)

    def _latest_chunk(self):
        """The running job's latest engine.jobs.ChunkReady, or None before its first chunk."""
        event = self.bridge.latest_chunk
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
        self.views.inspector.on_engine_event(event)
        return True

    def on_finished(self, event) -> None:
        if not self._ended(event):
            return
        if self.discarding:
            self._discarded(event)
            return
        self.audio = event.audio
        self.mel_distance_db = None
        if not event.cancelled:  # the engine has computed the whole take's mel
            conditioning = self.conditioning
            self.mel_distance_db = mel_distance_db(conditioning.mel, self.output.mel.mel, conditioning.mel_config)
        self.playback.end_of_output()
        if self.stats is not None:
            self.views.status.show_stats(self.stats)
        self.views.status.show_finished(event.cancelled)
        self.views.status.show_distance(self.mel_distance_db)
        self.noted.emit(self.summary(event.cancelled))
        if self.stats is not None and self.stats.warning:
            self.warned.emit(self.stats.warning[0].upper() + self.stats.warning[1:])
        self.ended.emit(event)

    def _discarded(self, event) -> None:
        """The end of a job whose input was replaced while it ran: say so."""
        self.discarding = False
        self.noted.emit(
            f"Stopped generating after {len(event.audio) / self.rate:.2f} s: another input was opened, "
            "and what was made from the one before is dropped."
        )
        self.ended.emit(event)

    def summary(self, cancelled: bool) -> str:
        """What the finished job made, with what, how fast, and how near the input's mel."""
        summary = (
            "Stopped after " if cancelled else "Generated "
        ) + f"{len(self.audio) / self.rate:.2f} s of audio with {self.model_label} ({self.draws}), seed {self.seed}"
        if self.stats is not None:
            summary += (
                f" in {self.stats.elapsed:.1f} s ({self.stats.samples_per_second:,.0f} samples/s, "
                f"{self.stats.real_time_factor:.2f}× real time)"
            )
        if self.mel_distance_db is not None:
            summary += f"; mel distance to the input {self.mel_distance_db:.1f} dB"
        return summary

    def on_failed(self, event) -> None:
        if not self._ended(event):
            return
        self.discarding = False
        self.views.inspector.show()
        if self.playback.live:
            self.playback.stop()
        self.views.status.show_finished(cancelled=True)
        self.failed.emit(event.message)
