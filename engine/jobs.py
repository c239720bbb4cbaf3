"""The Engine: one worker thread that owns the model and the device and runs generation jobs one at a time.

Callers (the window's bridge, scripts) submit jobs and receive events through `on_event`, called on the worker
thread: the bridge re-emits them as queued Qt signals. A job that fails (a bad file, a torch error) ends in
`JobFailed` with a message for a person; the engine stays alive for the next job. The last loaded model is
kept between jobs.

A job's samples go into its output stream (`JobStarted.output`, engine/output.py), written once on the worker
thread, chunk by chunk, with the mel of what is final; the events carry no samples, only where they are. A player
following the stream and the window's views read it where it lies.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import VocoscopeError
from engine.features import Conditioning, load_input
from engine.generate import Fold, Stats, choose_device, conform, generate, new_seed
from engine.models.base import Vocoder
from engine.catalog import ModelInfo
from engine.models.loading import info_for, load_model
from engine.output import OutputStream
from engine.sampling import Sampling
from engine.threads import use_engine_threads

log = logging.getLogger(__name__)


@dataclass
class JobStarted:
    """model_info: the model as this job draws from it (the job's sampling replaces its own there too);
    seed: the sampling seed, the job's own or one drawn for it: the same seed, model, input, sampling and device give
        the same audio;
    output: the job's output stream (engine.output.OutputStream, as long as the take, with its mel), which the
        worker writes and anyone may read or follow;
    shapes: the shape inspector's view (engine.shapes.Inspection: preflight verdict and trace), or None."""

    job_id: int
    model_info: ModelInfo
    conditioning: Conditioning
    total_samples: int
    sample_rate: int
    seed: int
    output: OutputStream
    shapes: Any = None


@dataclass
class ChunkReady:
    """Samples [start, end) of the job's output are in its stream (JobStarted.output); stats: engine.generate.Stats
    after them."""

    job_id: int
    start: int
    end: int
    stats: Stats


@dataclass
class JobFinished:
    """audio: the samples held by the job's output stream, [0, extent), a read-only view of it (no copy):
    (total_samples,) float32, or what was made before a cancel (then `cancelled` is True)."""

    job_id: int
    audio: np.ndarray
    cancelled: bool


@dataclass
class JobFailed:
    """shapes: engine.shapes.Inspection of the job's input, with the failing check and module, or None."""

    job_id: int
    message: str
    shapes: Any = None


Event = JobStarted | ChunkReady | JobFinished | JobFailed


@dataclass
class _Job:
    job_id: int
    model: str | Path | Vocoder
    source: str | Path | Conditioning
    device: str
    seed: int | None
    fold: Fold | bool | None
    sampling: Sampling | None
    cancel: threading.Event


_STOP = object()


@dataclass
class _Adopted:
    """A model loaded elsewhere, for the worker to keep as the one it would load for (name, device)."""

    key: tuple[str, str]
    model: Vocoder
    info: ModelInfo


class Engine:
    """Runs generation jobs on one worker thread, in the order they were submitted."""

    def __init__(self, on_event: Callable[[Any], None]):
        self._on_event = on_event
        self._queue: queue.Queue = queue.Queue()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._outstanding: dict[int, threading.Event] = {}
        self._cached: tuple[tuple[str, str], Vocoder, ModelInfo] | None = None
        self._thread = threading.Thread(target=self._run, name="vocoscope-engine", daemon=True)
        self._thread.start()

    def submit_generate(
        self,
        model: str | Path | Vocoder,
        source: str | Path | Conditioning,
        *,
        device: str = "auto",
        seed: int | None = None,
        fold: Fold | bool | None = None,
        sampling: Sampling | None = None,
    ) -> int:
        """Queue a job: `model` is a built-in name, a checkpoint path or a model object (used as it is);
        `source` is a file or a Conditioning; the settings `sampling` gives replace the model's own for this job."""
        job = _Job(next(self._ids), model, source, device, seed, fold, sampling, threading.Event())
        with self._lock:
            self._outstanding[job.job_id] = job.cancel
        self._queue.put(job)
        return job.job_id

    def adopt(self, name: str | Path, device: str, model: Vocoder, info: ModelInfo) -> None:
        """Keep `model` (loaded by `load_model(name)` on the device `device` chooses, and not used elsewhere from now
        on) as the model jobs of `name` on `device` generate with, so that they need not load it again: the window
        loads the chosen model once, to read its mel settings, and hands it over. Queued, so the jobs submitted
        before it run with the model they would have had."""
        self._queue.put(_Adopted((str(name), str(choose_device(device))), model, info))

    def cancel(self, job_id: int | None = None) -> None:
        """Stop job `job_id`, or every running and queued job. A queued job then ends in JobFinished(cancelled)."""
        with self._lock:
            events = (
                [self._outstanding[job_id]]
                if job_id in self._outstanding
                else (list(self._outstanding.values()) if job_id is None else [])
            )
        for event in events:
            event.set()

    def shutdown(self, timeout: float = 2.0) -> None:
        """Cancel everything, stop the worker and wait for it (at most `timeout` seconds)."""
        self.cancel()
        self._queue.put(_STOP)
        self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        use_engine_threads()  # here: torch keeps a thread count per thread
        while True:
            job = self._queue.get()
            if job is _STOP:
                return
            if isinstance(job, _Adopted):
                self._cached = (job.key, job.model, job.info)
                continue
            try:
                self._run_job(job)
            finally:
                with self._lock:
                    self._outstanding.pop(job.job_id, None)

    def _emit(self, event: Event) -> None:
        try:
            self._on_event(event)
        except Exception:  # a broken listener must not take the engine down with it
            log.exception("engine event handler failed on %s", type(event).__name__)

    def _run_job(self, job: _Job) -> None:
        if job.cancel.is_set():
            self._emit(JobFinished(job.job_id, np.zeros(0, dtype=np.float32), cancelled=True))
            return
        model = output = None
        try:
            model, info = self._model(job.model, job.device)
            if job.sampling is not None:  # as the model list would say it
                info = dataclasses.replace(
                    info,
                    draws=model.draws_with(model.sampling(job.sampling)),
                    sampling=job.sampling.over(info.sampling),
                )
            conditioning = self._conditioning(job.source, model)
            total = conditioning.num_samples
            output = OutputStream(model.mel_config.sample_rate, max(1, total), total, conditioning.mel_config)
            seed = job.seed if job.seed is not None else new_seed()
            self._emit(
                JobStarted(
                    job.job_id,
                    info,
                    conditioning,
                    total,
                    model.mel_config.sample_rate,
                    seed,
                    output,
                    shapes=_inspection(model, conditioning),
                )
            )
            made = 0
            for chunk in generate(
                model,
                conditioning,
                device=job.device,
                seed=seed,
                fold=job.fold,
                cancel=job.cancel,
                sampling=job.sampling,
            ):
                output.write(chunk.samples, chunk.start, chunk.stats)
                made += len(chunk.samples)
                self._emit(ChunkReady(job.job_id, chunk.start, chunk.start + len(chunk.samples), chunk.stats))
        except Exception as error:  # every failure becomes an event; the worker lives on
            if output is not None:
                output.finish(complete=False)  # a player following it plays what there is, then ends
            self._emit(JobFailed(job.job_id, _message(error, model), shapes=_inspection(model, job.source)))
            return
        cancelled = job.cancel.is_set() and made < total
        output.finish(complete=not cancelled)
        # in order, what a cancel leaves is a prefix; fold mode leaves gaps of silence, up to its furthest sample
        self._emit(JobFinished(job.job_id, output.samples(), cancelled))

    def _model(self, name: str | Path | Vocoder, device: str) -> tuple[Vocoder, ModelInfo]:
        if isinstance(name, Vocoder):
            return name, info_for(name, type(name).__name__, trained=False, path=None)
        key = (str(name), str(choose_device(device)))
        if self._cached is None or self._cached[0] != key:
            self._cached = None  # let the old model go before the new one is loaded
            model, info = load_model(name, device=key[1])
            self._cached = (key, model, info)
        return self._cached[1], self._cached[2]

    @staticmethod
    def _conditioning(source: str | Path | Conditioning, model: Vocoder) -> Conditioning:
        if isinstance(source, Conditioning):
            return conform(source, model)
        return load_input(source, model.mel_config, model.min_frames)


def _inspection(model: Vocoder | None, source: str | Path | Conditioning) -> Any:
    """engine.shapes.inspect of `source` on `model` for the shape inspector; None when it cannot be made."""
    if model is None:
        return None
    try:
        from engine.shapes import inspect

        return inspect(model, source)
    except Exception:  # the inspector is an aid; its failure must not change the job's outcome
        log.exception("engine.shapes.inspect failed")
        return None


def _message(error: Exception, model: Vocoder | None) -> str:
    """A person's message for `error`: ours as written, torch's explained by engine.shapes when it can."""
    if isinstance(error, VocoscopeError):
        return str(error)
    if model is not None:
        try:
            from engine.shapes import explain
        except ImportError:
            explain = None
        if explain is not None:
            try:
                return explain(error, model)
            except Exception:  # an explanation that fails must not hide the error it explains
                log.exception("engine.shapes.explain failed")
    log.error("generation failed", exc_info=error)
    return f"generation failed: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}".rstrip(": ")
