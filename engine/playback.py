"""Sound output: generated samples reach the sound card while they are being generated.

A `Player` owns one `sounddevice.OutputStream` (mono, float32) and plays an `engine.output.OutputStream`: the
audio callback only copies from that stream's ring buffer into the device's buffer, in place (no allocation, no
locks, no Qt). When the stream has too little it pads with silence, counts an underrun and carries on from where
it was.

Following a stream the engine writes (the window's "play output", while generating or after)::

    player.follow(job_output)             # the engine thread's writes start it (adaptive start, below)
    player.follow(job_output, 1.5)        # a finished take, from 1.5 s: it can pause, resume and seek

The samples go from the engine thread into the stream's ring, and from there to the sound card: no other thread
carries them. Only a device that refuses the model's rate needs a copy: the player converts the stream (with soxr,
on the writer's thread as the samples come, or once when a finished take starts) into a ring of its own.

Feeding a stream of the player's own (the CLI's `vocode --play`, whose loop holds the chunks)::

    with Player(model_rate, device=None) as player:
        player.expect(total_samples)
        for chunk in generate(...):
            player.feed(chunk.samples)
        player.finish()
        player.wait()
        print(player.summary().line())   # "played 3.20 s, start delay 0.12 s, 0 underruns"

Finished clips (the window's "play input")::

    player.play_clip(audio); player.pause(); player.resume(); player.seek(1.5); player.stop()

Adaptive start. A vocoder may be slower than real time, so playback must not start on the first chunk. Let r
be the generation rate (samples fed per wall-clock second, measured from the first feed, or the producer's
figure passed to `feed` if that is lower), s the model's rate, B the samples fed so far (none played yet)
and R = T − B what remains of a clip of T samples. Starting now, the last sample is played (B + R)/s seconds
from now and generated R/r seconds from now. Playback starts at the first chunk where

    B/s ≥ max(0, R/(k·r) − R/s) + preroll

k = RATE_MARGIN (0.9) plans for a rate 10% below the one measured: the rate wanders (a busy machine, a model
whose steps vary), and a plan made at exactly the measured rate runs dry at the end whenever it dips.
`preroll` = max(output latency, MIN_PREROLL_SECONDS) + START_HEADROOM_SECONDS + the duration of the largest chunk
fed so far: the device reads one latency ahead of what it plays (and at its start takes more, see
START_HEADROOM_SECONDS), and samples arrive one chunk at a time. When generation is fast
enough (k·r ≥ s) the first term is 0 and playback starts after one short pre-roll: a start delay of
preroll · s/r. At a constant slower rate (B = r·t), the start delay t from `expect` is
T/r − k·T/s + k·preroll: the generation time minus (nearly) the play time, plus the pre-roll. Without
`expect`, T is unknown and playback starts after the pre-roll. If the ring fills before the rule is met (a
clip far longer than the ring at a slow rate), playback starts then: nothing better is possible.

No device. Every failure to find or open an output (no sound server, the device busy, a refused rate, no
PortAudio library) raises `AudioDeviceError` with a message a person can act on; generation and export do not
depend on this module.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.errors import AudioDeviceError
from engine.output import OutputStream

MIN_PREROLL_SECONDS = 0.1
# A starting stream fills the device's whole buffer at once, and that buffer is the latency rounded up to whole
# blocks plus one more: measured through PulseAudio's ALSA plugin at 16 kHz with a 0.25 s latency, five blocks of
# 1000 frames (0.31 s) in the first 5 ms. A pre-roll of only the latency left 40 frames in the ring, and a
# producer slowed by a busy machine then missed the next block (1 run in 8 with two cores kept busy). The
# headroom covers the extra block and such a stall.
START_HEADROOM_SECONDS = 0.15
RATE_MARGIN = 0.9
# Measured on a busy 2-core machine through PulseAudio's ALSA plugin: a fresh stream with 0.1 s of device
# buffer often falls into an underflow at its start that it never leaves (every block dropped, 5 runs in 8);
# with 0.2 s none in 16. 0.25 s keeps a margin; the playhead subtracts it.
DEFAULT_LATENCY_SECONDS = 0.25
FADE_SECONDS = 0.01
LEAD_IN_SECONDS = 0.04
_FEED_POLL_SECONDS = 0.005

_NO_SERVER = (
    "no sound output: found no audio output device (no sound server is running, or it cannot be reached); "
    "expected a sound server such as PulseAudio or PipeWire with an output. Start the sound server, or work "
    "without sound: generation and export still work"
)


@dataclass(frozen=True)
class OutputDevice:
    """One sound output as PortAudio lists it."""

    index: int
    name: str
    default_samplerate: float
    channels: int
    is_default: bool

    def line(self) -> str:
        mark = "*" if self.is_default else " "
        return f"{mark} {self.index:>3}  {self.name}  ({self.default_samplerate:.0f} Hz, {self.channels} ch)"


@dataclass(frozen=True)
class PlaybackSummary:
    """What a playback did: seconds of audio played, the wait before it started, and the underruns.

    underruns: blocks the ring could not fill (generation fell behind); device_underflows: blocks the sound
    system reported late (the machine starved the audio thread).
    """

    seconds_played: float
    start_delay: float | None
    underruns: int
    device_underflows: int = 0

    def line(self) -> str:
        delay = "not started" if self.start_delay is None else f"{self.start_delay:.2f} s"
        late = f", {self.device_underflows} device underflows" if self.device_underflows else ""
        return f"played {self.seconds_played:.2f} s, start delay {delay}, {self.underruns} underruns{late}"


def _sounddevice():
    """The sounddevice module; imported late because it loads PortAudio, which may be missing."""
    try:
        import sounddevice
    except OSError as error:
        raise AudioDeviceError(
            f"no sound output: found no PortAudio library ({error}); expected libportaudio2. "
            "Install it (apt-get install libportaudio2), or work without sound: generation and export still work"
        ) from None
    return sounddevice


def rescan_devices() -> None:
    """Ask PortAudio to list the devices again (it lists them once, when first loaded).

    Needed when the sound server started after this process did. Close every Player first.
    """
    sd = _sounddevice()
    sd._terminate()
    sd._initialize()


def list_output_devices() -> list[OutputDevice]:
    """Every device with at least one output channel; empty when there is no sound server."""
    sd = _sounddevice()
    try:
        devices = sd.query_devices()
        default = sd.default.device[1]
    except sd.PortAudioError:
        return []
    return [
        OutputDevice(
            d["index"], d["name"], float(d["default_samplerate"]), d["max_output_channels"], d["index"] == default
        )
        for d in devices
        if d["max_output_channels"] > 0
    ]


def _explain(error: Exception, device: str | int | None, rate: float | None = None) -> str:
    """A plain message for a PortAudio failure: the cause, the device, and what to do."""
    text = str(error)
    named = "the default output" if device is None else f"output device {device!r}"
    if "querying device -1" in text or "No Default" in text:
        return _NO_SERVER
    if isinstance(error, ValueError):
        names = ", ".join(f"{d.index}: {d.name}" for d in list_output_devices()) or "none"
        return (
            f"no sound output: found no {named}; expected one of the outputs ({names}). "
            "Pick one of those by name or index (`vocoscope devices` lists them)"
        )
    if "Device unavailable" in text or "busy" in text.lower():
        return (
            f"no sound output: {named} is busy ({text}); expected a free device. Close the program using it, "
            "or pick another output (`vocoscope devices` lists them)"
        )
    if "sample rate" in text.lower():
        return (
            f"no sound output: {named} refused {rate:.0f} Hz ({text}); expected a rate it supports. "
            "Pick another output, or let Vocoscope convert to the device's default rate"
        )
    return f"no sound output: {named} could not be opened ({text}). Pick another output, or work without sound"


class Player:
    """Plays mono float32 audio at `sample_rate` on one output device.

    device: None (the default output), a name (or part of one) or an index from `list_output_devices()`.
    device_rate: the stream's rate; None takes `sample_rate` when the device accepts it, else the device's
        default rate. Audio at another rate than the stream's is converted with soxr as it is fed.
    capacity_seconds: the size of the player's own ring (`feed`, or a converted take: then at least the take), in
        seconds at the stream's rate; `feed` blocks while it is full.
    latency: seconds of audio the device buffers ahead; generous, so a busy machine does not starve it
        (`playhead_seconds` takes it into account; see DEFAULT_LATENCY_SECONDS).

    Opening raises `AudioDeviceError` when there is no usable output. Use as a context manager: leaving the
    block stops the stream with a short fade (no click) and closes it.

    Positions (`position`, `buffered`) count samples at `sample_rate`, the model's rate.
    """

    def __init__(
        self,
        sample_rate: int,
        device: str | int | None = None,
        *,
        device_rate: int | None = None,
        capacity_seconds: float = 60.0,
        latency: float = DEFAULT_LATENCY_SECONDS,
    ):
        sd = _sounddevice()
        self.sample_rate = int(sample_rate)
        try:
            info = sd.query_devices(device, "output")
        except (sd.PortAudioError, ValueError) as error:
            raise AudioDeviceError(_explain(error, device)) from None
        self._callback_stop = sd.CallbackStop
        self._portaudio_error = sd.PortAudioError
        self.device_name: str = info["name"]
        self._device_index: int = info["index"]
        self.device_rate = int(device_rate or self._choose_rate(sd, info))
        self._open_stream(sd, device, latency)

        self._capacity = max(1, int(capacity_seconds * self.device_rate))
        fade_length = max(1, int(FADE_SECONDS * self.device_rate))
        self._fade_down = np.linspace(1.0, 0.0, fade_length, dtype=np.float32)
        self._fade_up = self._fade_down[::-1].copy()
        # Measured through PulseAudio's ALSA plugin: a stream that joins a running sink loses up to 20 ms of its
        # first samples, and stopping drops up to twice the latency that is still queued. Silence on both
        # sides takes those losses instead of the audio (and instead of a stop's fade-out, which would click).
        self._lead_frames = int(LEAD_IN_SECONDS * self.device_rate)
        self._tail_frames = int((2 * self.latency + 0.05) * self.device_rate)
        self._start_lock = threading.Lock()
        self._follow_lock = threading.Lock()
        self._reset_state()

    # ----------------------------------------------------------------- opening
    def _choose_rate(self, sd: Any, info: dict) -> float:
        try:
            sd.check_output_settings(device=info["index"], samplerate=self.sample_rate, channels=1, dtype="float32")
            return self.sample_rate
        except sd.PortAudioError:
            return info["default_samplerate"]

    def _open_stream(self, sd: Any, device: str | int | None, latency: float) -> None:
        try:
            self._stream = sd.OutputStream(
                samplerate=self.device_rate,
                device=self._device_index,
                channels=1,
                dtype="float32",
                latency=latency,
                callback=self._callback,
                finished_callback=self._on_finished,
            )
        except (sd.PortAudioError, ValueError) as error:
            raise AudioDeviceError(_explain(error, device, self.device_rate)) from None
        self.latency: float = float(self._stream.latency)

    def _reset_state(self) -> None:
        """Everything a new playback starts from; called before the stream runs, never during."""
        # What the callback plays, at the device's rate: the followed stream itself, or a ring of the player's own
        # (fed samples, or the followed stream converted). `_followed` is the stream at the model's rate.
        self._output: OutputStream | None = None
        self._followed: OutputStream | None = None
        self._converted = 0  # samples of the followed stream converted into `_output` so far
        self._resampler: Any = None
        self.failure: str | None = None  # why playback that was to start on the writer's thread could not
        self._read = 0  # absolute offset, in device frames, of the next sample the callback copies
        self._fade_in = len(self._fade_up)  # ≥ fade length: no fade-in under way
        self._fade_out = 0
        self._pause_requested = False
        self._stop_requested = False
        self._stop_deadline: float | None = None  # (monotonic) when a stop stops waiting for its fade and tail
        self._pending_seek: int | None = None
        self._halted = False
        self._ending = False
        self._tail_left = 0
        self._lead_in = 0
        self._underruns = 0
        self._device_underflows = 0
        self._fed = 0  # samples at the model's rate that may be played
        self._largest_chunk = 0
        self._expected: int | None = None
        self._rate_given: float | None = None
        self._t0: float | None = None
        self._first_feed: tuple[float, int] | None = None  # (time, samples) of the first feed: the rate's origin
        self._start_delay: float | None = None
        self._started = False
        self._done = threading.Event()

    # -------------------------------------------------------------- streaming
    def expect(self, total_samples: int) -> None:
        """Announce a clip of `total_samples` samples at the model's rate; starts the clock of the start delay."""
        self._expected = int(total_samples)
        self._t0 = time.monotonic()

    def feed(self, samples: np.ndarray, samples_per_second: float | None = None) -> None:
        """Append generated samples (n,) float32 in [-1, 1] to the player's own stream; called from the producer thread.

        samples_per_second: the generation rate if the producer measures it; the player also measures it
        (`generation_rate`) and uses the lower. Blocks only while the ring is full (never the callback); returns
        at once after `stop`. Starts the stream when the adaptive-start rule (module docstring) is met.
        """
        if self._stop_requested:
            return
        if self._output is None:
            self._output = OutputStream(self.device_rate, self._capacity)
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        self._write(self._convert(samples, last=False))
        self._arrived(self._fed + len(samples), samples_per_second)

    def finish(self) -> None:
        """No more samples: the callback plays what is left, then the stream ends and `wait` returns."""
        if self._output is None:
            self._output = OutputStream(self.device_rate, self._capacity)
        self._write(self._convert(np.zeros(0, dtype=np.float32), last=True))
        self._output.finish()
        if not self._stop_requested:
            self._start()

    def follow(self, stream: OutputStream, start_seconds: float = 0.0) -> None:
        """Play `stream` (at the model's rate) from `start_seconds`, after stopping whatever plays: a finished take
        at once, one still being written by the adaptive-start rule, checked on the writer's thread after each of
        its writes."""
        self._halt_stream()
        self._reset_state()
        start = min(stream.ready, max(0, int(start_seconds * self.sample_rate)))
        self._t0 = time.monotonic()
        if stream.total is not None:
            self._expected = stream.total
        self._followed = stream
        if self.device_rate == self.sample_rate:
            self._output = stream
        elif stream.finished:
            import soxr

            converted = soxr.resample(stream.ring.view(0, stream.ready), self.sample_rate, self.device_rate)
            self._output = OutputStream.of_clip(converted.astype(np.float32, copy=False), self.device_rate)
        else:
            room = self._to_device(stream.total or 0) + self.device_rate
            self._output = OutputStream(self.device_rate, max(self._capacity, room))
        self._read = self._to_device(start)
        self._fed = stream.ready
        if stream.finished:
            self._start()
            return
        self._first_feed = (self._t0, stream.ready)  # what was written before is a backlog, not a rate
        stream.follow(self._on_written)
        self._on_written(stream)  # the backlog may be enough to start with

    def _on_written(self, stream: OutputStream) -> None:
        """A follower of the stream: on the writer's thread after a write or at the end (and once in `follow`)."""
        with self._follow_lock:
            if self._stop_requested or stream is not self._followed:
                return
            try:
                if self._output is not stream and not self._output.finished:
                    finished, ready = stream.finished, stream.ready  # in this order: once finished, ready is final
                    self._write(
                        self._convert(stream.ring.view(self._converted, ready - self._converted), last=finished)
                    )
                    self._converted = ready
                    if finished:
                        self._output.finish()
                stats = stream.stats
                self._arrived(stream.ready, stats.samples_per_second if stats is not None else None)
                if stream.finished:
                    self._start()
            except AudioDeviceError as error:  # the writer is the engine: playback fails, generation goes on
                self.failure = str(error)
                self._stop_requested = True
                self._done.set()

    def _arrived(self, fed: int, samples_per_second: float | None) -> None:
        """`fed` samples (at the model's rate) may be played now: measure the rate, start if the rule is met."""
        now = time.monotonic()
        if self._t0 is None:
            self._t0 = now
        if self._first_feed is None:
            self._first_feed = (now, fed)
        self._largest_chunk = max(self._largest_chunk, fed - self._fed)
        self._fed = fed
        self._rate_given = samples_per_second
        if not self._started and self._ready_to_start():
            self._start()

    def _convert(self, samples: np.ndarray, last: bool) -> np.ndarray:
        """Samples at the model's rate → the stream's rate; soxr keeps its state between chunks."""
        if self.device_rate == self.sample_rate:
            return samples
        if self._resampler is None:
            import soxr

            self._resampler = soxr.ResampleStream(self.sample_rate, self.device_rate, 1, dtype="float32")
        return self._resampler.resample_chunk(samples, last=last)

    def _write(self, samples: np.ndarray) -> None:
        """Into the player's own ring, waiting while it is full."""
        ring, written = self._output.ring, 0
        while written < len(samples) and not self._stop_requested:
            room = ring.free(self._read)
            if room <= 0:
                if not self._started:
                    self._start()
                time.sleep(_FEED_POLL_SECONDS)
                continue
            piece = samples[written : written + room]
            self._output.write(piece)
            written += len(piece)

    @property
    def preroll(self) -> float:
        """Seconds of audio buffered beyond the rate rule before starting (module docstring)."""
        return max(self.latency, MIN_PREROLL_SECONDS) + START_HEADROOM_SECONDS + self._largest_chunk / self.sample_rate

    def generation_rate(self) -> float | None:
        """Samples fed per second after the first feed, or the producer's figure if that is lower.

        The measured rate counts what reached `feed` in order, which is what playback consumes; the
        producer's figure may count samples it has not fed yet (fold mode finishes segments out of order).
        The first feed only starts the clock: it may be a backlog (following a take that is half generated).
        None until there is a figure.
        """
        measured = None
        if self._first_feed is not None:
            since, first_samples = self._first_feed
            elapsed = time.monotonic() - since
            if elapsed > 0 and self._fed > first_samples:
                measured = (self._fed - first_samples) / elapsed
        if self._rate_given and measured is not None:
            return min(float(self._rate_given), measured)
        return measured or self._rate_given or None

    def _ready_to_start(self) -> bool:
        """The adaptive-start rule: B/s ≥ max(0, R/(k·r) − R/s) + preroll."""
        s = self.sample_rate
        buffered = self._fed / s
        if self._expected is None:
            return buffered >= self.preroll
        remaining = max(0, self._expected - self._fed)
        rate = self.generation_rate()
        if rate is None:
            return False
        return buffered >= max(0.0, remaining / (RATE_MARGIN * rate) - remaining / s) + self.preroll

    def _start(self) -> None:
        with self._start_lock:  # the writer's thread and the thread that called `follow` may both get here
            if self._started:
                return
            self._lead_in = self._lead_frames
            self._started = True
            self._start_delay = time.monotonic() - self._t0 if self._t0 is not None else 0.0
            try:
                self._stream.start()
            except self._portaudio_error as error:
                raise AudioDeviceError(_explain(error, self.device_name, self.device_rate)) from None

    # ----------------------------------------------------------------- clips
    def play_clip(self, audio: np.ndarray, start_seconds: float = 0.0) -> None:
        """Play a finished clip (n,) float32 at the model's rate from `start_seconds`; any playback stops first."""
        self.follow(
            OutputStream.of_clip(np.asarray(audio, dtype=np.float32).reshape(-1), self.sample_rate), start_seconds
        )

    def pause(self) -> None:
        """Fade out and hold the position; `resume` goes on from there."""
        self._pause_requested = True

    def resume(self) -> None:
        """Fade back in from where `pause` held."""
        if self._pause_requested or self._halted:
            self._fade_in = 0
            self._fade_out = 0
            self._halted = False
            self._pause_requested = False

    def seek(self, seconds: float) -> None:
        """Jump to `seconds` into a finished clip, with a short fade out and in so the jump does not click.

        Once the clip has played to its end the stream is over: `play_clip(audio, start_seconds)` (or `follow`)
        plays again.
        """
        if self._followed is None or not self._followed.finished:
            raise ValueError("seek works on a finished clip or take; a take still being generated cannot seek")
        target = min(self._output.ready, max(0, self._to_device(int(seconds * self.sample_rate))))
        if self._halted or not self._stream.active:
            self._read = target
        else:
            self._pending_seek = target

    # --------------------------------------------------------------- ending
    def stop(self) -> None:
        """Fade out over FADE_SECONDS, stop and close the stream; a producer blocked in `feed` returns, and a
        followed stream's writer no longer calls the player.

        Returns once the fade and the silence after it have reached the device (about 2.5 latencies); a
        stream that does not end by then is aborted.
        """
        self._halt_stream()
        self._stream.close()
        self._done.set()

    def fade_out(self) -> None:
        """Begin `stop` without waiting for it: the fade and the tail of silence play out on the audio thread.
        Once `faded`, `stop` closes the stream at once; the window fades one player out while the next starts."""
        if self._stop_deadline is None:
            self._stop_deadline = (
                time.monotonic() + self.latency + FADE_SECONDS + self._tail_frames / self.device_rate + 0.5
            )
        self._stop_requested = True
        if self._followed is not None:
            self._followed.unfollow(self._on_written)

    @property
    def faded(self) -> bool:
        """After `fade_out`: nothing is left to wait for (the stream has ended or never ran, or its time is up)."""
        if self._done.is_set() or not self._stream.active:
            return True
        return self._stop_deadline is not None and time.monotonic() >= self._stop_deadline

    def _halt_stream(self) -> None:
        self.fade_out()
        if self._stream.active:
            self._done.wait(max(0.0, self._stop_deadline - time.monotonic()))
        if not self._stream.stopped:
            self._stream.abort()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the stream has played everything (or was stopped); True if it ended in time."""
        return self._done.wait(timeout)

    def close(self) -> None:
        self.stop()

    def __enter__(self) -> "Player":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ------------------------------------------------------------- status
    def _to_device(self, samples: int) -> int:
        return int(round(samples * self.device_rate / self.sample_rate))

    @property
    def position(self) -> int:
        """Samples (at the model's rate) handed to the device so far; the playhead is `playhead_seconds`."""
        return int(self._read * self.sample_rate / self.device_rate)

    @property
    def playhead_seconds(self) -> float:
        """Seconds into the clip that are being heard now: the position less the output latency."""
        return max(0.0, self.position / self.sample_rate - (self.latency if self.playing else 0.0))

    @property
    def buffered(self) -> int:
        """Samples (at the model's rate) fed but not yet handed to the device."""
        return max(0, self._fed - self.position)

    @property
    def underruns(self) -> int:
        """Callbacks that found the ring short of a full block and padded with silence."""
        return self._underruns

    @property
    def device_underflows(self) -> int:
        """Blocks the sound system reported it ran short of: the callback came too late (a starved machine)."""
        return self._device_underflows

    @property
    def start_delay(self) -> float | None:
        """Seconds from `expect` (or the first `feed`) to the start of the stream; None before it starts."""
        return self._start_delay

    @property
    def started(self) -> bool:
        return self._started

    @property
    def playing(self) -> bool:
        """True while the stream runs and is not paused."""
        return self._started and not self._done.is_set() and not self._halted

    @property
    def finished(self) -> bool:
        return self._done.is_set()

    def summary(self) -> PlaybackSummary:
        return PlaybackSummary(
            self.position / self.sample_rate, self._start_delay, self._underruns, self._device_underflows
        )

    # ----------------------------------------------------------- callback
    def _on_finished(self) -> None:
        self._done.set()

    def _callback(self, outdata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        """Copy the next block into `outdata` (frames, 1) in place; pads with silence, never allocates arrays."""
        out = outdata[:, 0]
        if status.output_underflow:
            self._device_underflows += 1
        if self._ending:
            out.fill(0.0)
            self._tail_left -= frames
            if self._tail_left <= 0:
                raise self._callback_stop
            return
        if self._halted:
            out.fill(0.0)
            if self._stop_requested:
                self._begin_tail()
            return
        if self._lead_in > 0:
            lead = min(frames, self._lead_in)
            out[:lead].fill(0.0)
            self._lead_in -= lead
            out = out[lead:]
        fading_out = self._stop_requested or self._pause_requested or self._pending_seek is not None
        wanted = min(len(out), len(self._fade_down) - self._fade_out) if fading_out else len(out)
        output = self._output
        copied = output.ring.copy_into(out[:wanted], self._read, output.ready)
        at_end = output.finished and self._read + copied >= output.ready  # `finished` first: then `ready` is final
        if copied < wanted and not at_end and not fading_out:
            self._underruns += 1
        self._read += copied
        out[copied:].fill(0.0)

        if self._fade_in < len(self._fade_up):
            count = min(copied, len(self._fade_up) - self._fade_in)
            out[:count] *= self._fade_up[self._fade_in : self._fade_in + count]
            self._fade_in += count
        if fading_out:
            out[:copied] *= self._fade_down[self._fade_out : self._fade_out + copied]
            self._fade_out += copied
            if self._fade_out >= len(self._fade_down) or at_end:
                self._end_fade()
        elif at_end:
            self._begin_tail()

    def _end_fade(self) -> None:
        """A fade-out has reached silence: stop, hold for a pause, or jump for a seek and fade back in."""
        if self._stop_requested:
            self._begin_tail()
        elif self._pending_seek is not None:
            self._read = self._pending_seek
            self._pending_seek = None
            self._fade_out = 0
            self._fade_in = 0
        else:
            self._halted = True

    def _begin_tail(self) -> None:
        """The audio has ended: play `_tail_frames` of silence, then end the stream."""
        self._ending = True
        self._tail_left = self._tail_frames
