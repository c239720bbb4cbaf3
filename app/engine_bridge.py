"""The window's one door into the engine: a QObject that owns `engine.jobs.Engine` and a loader thread.

Engine events arrive on the engine's worker thread; they are re-emitted here as Qt signals, which Qt queues
to the GUI thread because the receivers live there. Reading a file (librosa) and listing the models (torch
model construction) run on two more threads of their own, so the GUI thread only paints and handles input.

Generated samples never come through here. A job's events say where its samples are: `job_started` carries the
job's output stream (engine/output.py), which the engine thread writes with the take's mel; the views read it on
their paint timer and a player (`open_player`) follows it, its callback reading where the engine wrote.
A chunk's event (its place and the running statistics) is not sent at all: the bridge keeps the latest
(`latest_chunk`), which the window reads on its frame clock, like the stream, so the GUI thread is not woken once
per chunk.
"""

from __future__ import annotations

import itertools
import sys
import threading
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from app.collector import freeze_survivors
from engine.catalog import EXAMPLES, untrained_warning
from engine.errors import AudioDeviceError, VocoscopeError
from engine.export import take_comment
from engine.features import Conditioning, MelConfig, mel_distance_db
from engine.model_reference import usable_model
from engine.models import DEFAULT_MODEL
from engine.sampling import Sampling

# The rest of app/ imports nothing from engine/ but these (tests/test_import_structure.py holds it): plain values,
# errors and quick helpers, none of which imports torch. Work (loading, generating, sound, exports, imports,
# inspections) goes through EngineBridge's methods.
__all__ = [
    "AudioDeviceError",
    "Conditioning",
    "DEFAULT_MODEL",
    "EXAMPLES",
    "EngineBridge",
    "LoadFailed",
    "LoadedInput",
    "MelConfig",
    "Sampling",
    "VocoscopeError",
    "mel_distance_db",
    "plain_message",
    "take_comment",
    "untrained_warning",
    "usable_model",
]

GIL_SWITCH_SECONDS = 0.001  # sys.setswitchinterval in the window's process (Python's default: 0.005)


@dataclass
class LoadedInput:
    """A file read for a model: its conditioning and the model it was made for."""

    request: int
    path: Path
    model: str
    model_info: object
    conditioning: Conditioning
    pitch: object = None  # engine.pitch.PitchTrack read from the mel (a frame each), on the loader thread


@dataclass
class LoadFailed:
    request: int
    path: Path
    message: str
    user_error: bool


def plain_message(error: BaseException) -> str:
    """The person-facing message of an engine error; an unexpected one gets its type and first line."""
    if isinstance(error, VocoscopeError):
        return str(error)
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else 'no message'}"


class EngineBridge(QObject):
    """Qt signals for engine events; every slot argument is an engine dataclass (see engine.jobs)."""

    job_started = Signal(object)
    job_finished = Signal(object)
    job_failed = Signal(object)
    input_loaded = Signal(object)
    input_failed = Signal(object)
    models_listed = Signal(object, object, object)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._events: dict[type, Signal] = {}
        self._engine = None
        self._chunk_type: type | None = None
        self.latest_chunk = None  # the last engine.jobs.ChunkReady of any job, replaced on the worker thread
        # Set once the start-up work of the listing thread (the models listed, librosa and numba warmed) is over.
        self.warmed = threading.Event()
        freeze_survivors()  # Qt, pyqtgraph, numpy: importing torch and librosa next makes several full collections
        # The engine thread asks for the GIL between compiled blocks while the GUI thread paints: it gets it within
        # 1 ms instead of Python's 5, which had made the window's generation 10-14 % slower than `vocode` with a busy
        # process beside it (benchmarks/vocode_vs_window.py; docs/gui-thread-at-generate.md).
        sys.setswitchinterval(GIL_SWITCH_SECONDS)
        # The engine imports torch (1–3 s): on a thread of its own, so the window shows without waiting for it.
        self._starting = threading.Thread(target=self._start_engine, name="vocoscope-engine-start", daemon=True)
        self._starting.start()
        self._loader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vocoscope-loader")
        # Listing builds every built-in model (seconds); it must not hold up the first file being read.
        self._lister = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vocoscope-lister")
        self._requests = itertools.count(1)
        self._mel_configs: dict[str, tuple[MelConfig, int, object]] = {}
        self._lock = threading.Lock()
        self._closed = False

    def _start_engine(self) -> None:
        try:
            from engine import jobs
        except Exception:  # a broken torch: listing the models says so in the window, and nothing can load
            traceback.print_exc()
            return
        self._events = {
            jobs.JobStarted: self.job_started,
            jobs.JobFinished: self.job_finished,
            jobs.JobFailed: self.job_failed,
        }
        self._chunk_type = jobs.ChunkReady
        self._engine = jobs.Engine(on_event=self._on_event)
        freeze_survivors()  # torch and the engine's modules

    @property
    def engine(self):
        """The `engine.jobs.Engine` once started (the first use waits for the start if it is still going on);
        None if it could not start."""
        self._starting.join()
        return self._engine

    def _on_event(self, event) -> None:
        """Worker thread: hand the event to the GUI thread, or keep it for the frame clock (a chunk's)."""
        if self._closed:
            return
        if type(event) is self._chunk_type:
            self.latest_chunk = event  # kept before the job's end is sent: a JobFinished finds its last chunk here
            return
        signal = self._events.get(type(event))
        if signal is not None:
            signal.emit(event)

    # --- jobs (engine worker thread) ---------------------------------------------------------------------

    def generate(
        self,
        model: str,
        source: Conditioning | str | Path,
        device: str,
        seed: int | None = None,
        sampling: Sampling | None = None,
    ) -> int:
        """Queue a generation job drawing by `sampling` (None, or a setting left None: the model's own); returns its
        id."""
        return self.engine.submit_generate(model, source, device=device, seed=seed, sampling=sampling)

    def cancel(self) -> None:
        self.engine.cancel()

    # --- sound (the caller's thread; the player's callback runs on the sound system's) --------------------

    @staticmethod
    def open_player(sample_rate: int, device: str | None):
        """An `engine.playback.Player` at `sample_rate` on `device` (None: the default output); it plays a recording
        (`play_clip`) or follows an output stream (`follow`). Raises AudioDeviceError when there is no sound output."""
        from engine.playback import Player

        return Player(sample_rate, device)

    @staticmethod
    def output_devices() -> list:
        """The sound outputs (engine.playback.OutputDevice); empty without a sound server. Raises AudioDeviceError
        without PortAudio."""
        from engine.playback import list_output_devices

        return list_output_devices()

    # --- files (the caller's thread) ------------------------------------------------------------------------

    @staticmethod
    def export_audio(path: str | Path, audio, sample_rate: int, overwrite: bool, comment: str) -> Path:
        """Write `audio` (N,) float32 to WAV or FLAC by the suffix, atomically; returns the path written. Raises
        VocoscopeError for a refused name or an existing file without `overwrite`, OSError when the write fails."""
        from engine.export import write_audio

        return write_audio(path, audio, sample_rate, overwrite=overwrite, comment=comment)

    @staticmethod
    def export_mel(path: str | Path, mel, overwrite: bool) -> Path:
        """Write `mel` (n_mels, T) to .npy, atomically; returns the path written. Raises as `export_audio`."""
        from engine.export import write_mel

        return write_mel(path, mel, overwrite=overwrite)

    @staticmethod
    def checkpoint_source(path: Path) -> str | None:
        """The project whose vocoder checkpoint `path` (.pt / .pth / .pyt) is, read without running code; None when
        its tensor names are no known source's. Raises VocoscopeError when it holds more than plain tensors."""
        from engine.importers.sources import detect_source

        return detect_source(path)

    @staticmethod
    def import_checkpoint(path: Path, source: str, hparams: list[Path], target: Path) -> list[str]:
        """Import `source`'s checkpoint `path` (with its `hparams` files; [] for the published defaults) and save it
        as the Vocoscope checkpoint `target`; returns the notes of where each setting came from. Raises
        VocoscopeError or OSError."""
        from engine import checkpoints
        from engine.importers.sources import import_checkpoint

        _, imported = import_checkpoint(path, source, hparams)
        checkpoints.save(imported.model, target, meta=imported.meta)
        return list(imported.notes)

    @staticmethod
    def code_request(module: str, input: str, kwargs: str, checkpoint: str | None):
        """The `engine.module_inspect.CodeRequest` for the user's module "file.py:Name" (imports torch)."""
        from engine.module_inspect import CodeRequest

        return CodeRequest(module=module, input=input, kwargs=kwargs, checkpoint=checkpoint)

    @staticmethod
    def inspect_code(request):
        """Run the shape inspector on the user's module (`code_request`): an `engine.module_inspect.CodeInspection`.
        Runs the user's code; call it off the GUI thread. Raises whatever the code or its files raise."""
        from engine.module_inspect import inspect_code

        return inspect_code(request)

    # --- loading (loader thread) -------------------------------------------------------------------------

    def list_models(self) -> None:
        """Emit `models_listed(model infos, compute devices, problem or None)` from the loader thread."""
        self._lister.submit(self._list_models)

    def _list_models(self) -> None:
        from engine.devices import ComputeDevice, compute_devices
        from engine.models import loading

        problems = []
        try:
            devices = compute_devices()
        except Exception as error:  # a broken CUDA install must not stop the window from opening
            devices = [ComputeDevice("cpu", "CPU")]
            problems.append(f"could not list the CUDA devices: {plain_message(error)}")
        try:
            models = loading.list_builtins()  # from the list's cache when it has them: no model is built
        except Exception as error:
            models = []
            problems.append(f"could not list the built-in models: {plain_message(error)}")
        self._emit_listing(models, devices, "; ".join(problems) or None)
        try:
            from engine.features import warm_mel
            from engine.models import warm

            warm_mel()  # so the first input opened does not wait for librosa
            warm.warm_all()  # so the first generation does not wait for numba
        except Exception:  # the load or generation that needs it will report the problem
            traceback.print_exc()
        freeze_survivors()  # librosa, numba and the built-in models
        self.warmed.set()

    def _emit_listing(self, models: list, devices: list, problem: str | None) -> None:
        if not self._closed:
            self.models_listed.emit(models, devices, problem)

    def load_input(self, path: str | Path, model: str) -> int:
        """Read `path` for `model` on the loader thread; emits `input_loaded` or `input_failed`. Returns the request id."""
        request = next(self._requests)
        self._loader.submit(self._load_input, request, Path(path), model)
        return request

    def _model_needs(self, model: str) -> tuple[MelConfig, int, object]:
        with self._lock:
            if model not in self._mel_configs:
                from engine.models import loading

                vocoder, info = loading.load_model(model, device="cpu")
                self._mel_configs[model] = (vocoder.mel_config, int(vocoder.min_frames), info)
                if self.engine is not None:  # its jobs on the CPU generate with this one instead of loading it again
                    self.engine.adopt(model, "cpu", vocoder, info)
                freeze_survivors()
            return self._mel_configs[model]

    def _load_input(self, request: int, path: Path, model: str) -> None:
        from engine.features import load_input
        from engine.pitch import estimate_pitch

        try:
            mel_config, min_frames, info = self._model_needs(model)
            conditioning = load_input(path, mel_config, min_frames)
            pitch = estimate_pitch(conditioning.mel, mel_config)
        except VocoscopeError as error:
            self._emit_failure(LoadFailed(request, path, str(error), True))
            return
        except Exception as error:
            traceback.print_exc()
            self._emit_failure(LoadFailed(request, path, plain_message(error), False))
            return
        if not self._closed:
            self.input_loaded.emit(LoadedInput(request, path, model, info, conditioning, pitch))

    def _emit_failure(self, failure: LoadFailed) -> None:
        if not self._closed:
            self.input_failed.emit(failure)

    # --- end -----------------------------------------------------------------------------------------------

    def shutdown(self, timeout: float = 2.0) -> None:
        """Stop the job, join the worker, the loader and the lister. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self.engine is not None:
            self.engine.cancel()
            self.engine.shutdown(timeout=timeout)
        self._loader.shutdown(wait=True, cancel_futures=True)
        self._lister.shutdown(wait=True, cancel_futures=True)
