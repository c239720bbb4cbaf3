"""The Engine: jobs deliver contiguous chunks, cancel fast, fail without dying, and shut down cleanly."""

import queue
import threading
import time

import numpy as np
import pytest

from engine.features import Conditioning, MelConfig
from engine.jobs import ChunkReady, Engine, JobFailed, JobFinished, JobStarted
from engine.sampling import Sampling
from tests.helpers import EchoConfig, MelEcho


class Events:
    """Collects engine events (delivered on the worker thread) with the time each arrived."""

    def __init__(self):
        self.queue = queue.Queue()

    def __call__(self, event):
        self.queue.put((time.perf_counter(), event))

    def until_done(self, job_id, timeout=120.0):
        """Every event of `job_id` up to its JobFinished or JobFailed, as (arrival time, event)."""
        seen = []
        deadline = time.monotonic() + timeout
        while True:
            arrived, event = self.queue.get(timeout=max(0.01, deadline - time.monotonic()))
            if event.job_id == job_id:
                seen.append((arrived, event))
                if isinstance(event, (JobFinished, JobFailed)):
                    return seen


@pytest.fixture
def engine():
    events = Events()
    engine = Engine(events)
    engine.events = events
    yield engine
    engine.shutdown()


def mel_file(tmp_path, frames=4):
    path = tmp_path / f"mel{frames}.npy"
    np.save(path, np.random.default_rng(frames).random((80, frames), dtype=np.float32))
    return path


def test_job_delivers_contiguous_chunks_that_add_up_to_the_length(engine, tmp_path):
    job = engine.submit_generate("wavernn", mel_file(tmp_path), device="cpu", seed=1)
    events = [event for _, event in engine.events.until_done(job)]
    started, chunks, finished = events[0], events[1:-1], events[-1]
    assert isinstance(started, JobStarted) and started.total_samples == 4 * 200 and started.sample_rate == 16000
    assert all(isinstance(e, ChunkReady) for e in chunks)
    assert [c.start for c in chunks] == [0] + [c.end for c in chunks[:-1]] and chunks[-1].end == 800
    assert isinstance(finished, JobFinished) and not finished.cancelled
    output = started.output
    assert output.finished and output.ready == output.extent == 800 and chunks[-1].stats.samples_done == 800
    assert np.shares_memory(finished.audio, output.ring.view(0, 800)), "the take is the stream's, not a copy"


def test_the_output_stream_is_written_on_the_worker_thread_with_its_mel_and_events_carry_no_samples(engine):
    """The one copy of the take: written where it is made, followed on that thread, its mel made there too."""
    from engine.features import mel_spectrogram
    from engine.generate import generate
    from engine.models.registry import build

    model = build("wavernn").eval()
    conditioning = Conditioning(mel=np.random.default_rng(2).random((80, 12), dtype=np.float32), mel_config=MelConfig())
    writers = []
    job = engine.submit_generate(model, conditioning, device="cpu", seed=5)
    _, started = engine.events.queue.get(timeout=60)
    started.output.follow(lambda stream: writers.append((threading.current_thread().name, stream.ready)))
    events = [event for _, event in engine.events.until_done(job)]
    expected = np.concatenate([c.samples for c in generate(model, conditioning, device="cpu", seed=5)])
    np.testing.assert_array_equal(events[-1].audio, expected)
    assert {name for name, _ in writers} == {"vocoscope-engine"} and writers[-1][1] == len(expected)
    assert not any(isinstance(value, np.ndarray) for e in events[:-1] for value in vars(e).values())
    np.testing.assert_allclose(started.output.mel.mel, mel_spectrogram(expected, MelConfig()), atol=1e-5)


def test_cancel_ends_the_job_within_100_ms(engine):
    slow = MelEcho(EchoConfig(seconds_per_frame=0.01))  # 2 s of wall time for 200 frames
    conditioning = Conditioning(mel=np.zeros((80, 200), np.float32), mel_config=MelConfig())
    job = engine.submit_generate(slow, conditioning, device="cpu")
    while True:
        _, event = engine.events.queue.get(timeout=30)
        if isinstance(event, ChunkReady):
            break
    cancelled_at = time.perf_counter()
    engine.cancel()
    arrived, finished = engine.events.until_done(job)[-1]
    assert isinstance(finished, JobFinished) and finished.cancelled
    assert arrived - cancelled_at < 0.1
    assert 0 < len(finished.audio) < 200 * 200


def test_a_failing_job_reports_and_the_next_job_succeeds(engine, tmp_path):
    bad = tmp_path / "broken.wav"
    bad.write_text("not audio at all")
    failed = engine.submit_generate("wavernn", bad, device="cpu")
    good = engine.submit_generate("wavernn", mel_file(tmp_path), device="cpu")
    ((_, failure),) = engine.events.until_done(failed)
    assert isinstance(failure, JobFailed) and "broken.wav" in failure.message and "expected" in failure.message
    assert "Traceback" not in failure.message
    assert isinstance(engine.events.until_done(good)[-1][1], JobFinished)


class Broken(MelEcho):
    def stream(self, mel, **kwargs):
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied (1x80 and 64x128)")
        yield


def test_torch_errors_are_explained_by_engine_shapes(engine):
    from engine.shapes import explain

    model = Broken()
    job = engine.submit_generate(
        model, Conditioning(mel=np.zeros((80, 3), np.float32), mel_config=MelConfig()), device="cpu"
    )
    failure = engine.events.until_done(job)[-1][1]
    expected = explain(RuntimeError("mat1 and mat2 shapes cannot be multiplied (1x80 and 64x128)"), model)
    # explain names the module it finds failing (which depends on how far the model ran); the rest must match
    assert isinstance(failure, JobFailed) and failure.message.startswith("In Broken")
    assert failure.message.split(":", 1)[1] == expected.split(":", 1)[1]


def test_the_loaded_model_is_kept_between_jobs(engine, tmp_path):
    first = engine.submit_generate("wavernn", mel_file(tmp_path), device="cpu")
    second = engine.submit_generate("wavernn", mel_file(tmp_path, 3), device="cpu")
    info_first = engine.events.until_done(first)[0][1].model_info
    info_second = engine.events.until_done(second)[0][1].model_info
    assert info_first is info_second


def test_shutdown_leaves_no_thread_alive():
    before = set(threading.enumerate())
    engine = Engine(lambda event: None)
    engine.submit_generate(
        MelEcho(EchoConfig(seconds_per_frame=0.01)),
        Conditioning(mel=np.zeros((80, 500), np.float32), mel_config=MelConfig()),
        device="cpu",
    )
    time.sleep(0.05)
    began = time.perf_counter()
    engine.shutdown()
    assert time.perf_counter() - began < 0.5
    assert not engine.alive
    assert set(threading.enumerate()) - before == set()


def test_a_failing_listener_does_not_stop_the_engine():
    calls = []

    def listener(event):
        calls.append(event)
        raise ValueError("listener bug")

    engine = Engine(listener)
    job = engine.submit_generate(
        MelEcho(), Conditioning(mel=np.zeros((80, 3), np.float32), mel_config=MelConfig()), device="cpu"
    )
    deadline = time.monotonic() + 10
    while not any(isinstance(e, JobFinished) and e.job_id == job for e in calls) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert engine.alive and isinstance(calls[-1], JobFinished)
    engine.shutdown()


def test_a_jobs_temperature_is_used_for_that_job_only(engine):
    from engine.models.registry import build

    model = build("wavernn").eval()
    conditioning = Conditioning(mel=np.random.default_rng(4).random((80, 5), dtype=np.float32), mel_config=MelConfig())

    def run(**kwargs):
        job = engine.submit_generate(model, conditioning, device="cpu", seed=3, **kwargs)
        events = [event for _, event in engine.events.until_done(job)]
        return events[0].model_info, events[-1].audio

    (cold_info, cold), (own_info, own) = run(sampling=Sampling(temperature=0.3)), run()
    assert (cold_info.sampling.temperature, own_info.sampling.temperature) == (0.3, 1.0)
    assert cold_info.draws.endswith(", T 0.3") and "T " not in own_info.draws
    model.config.temperature = 0.3
    np.testing.assert_array_equal(cold, run()[1])
    assert not np.array_equal(cold, own)
    failed = engine.events.until_done(
        engine.submit_generate(build("wavernn-dual"), conditioning, device="cpu", sampling=Sampling(temperature=0.3))
    )
    assert isinstance(failed[-1][1], JobFailed) and "draws without a temperature" in failed[-1][1].message


def test_every_job_reports_its_seed_and_that_seed_gives_the_same_audio(engine):
    from engine.models.registry import build

    model = build("wavernn").eval()
    conditioning = Conditioning(mel=np.random.default_rng(6).random((80, 4), dtype=np.float32), mel_config=MelConfig())

    def run(seed=None):
        events = [
            event
            for _, event in engine.events.until_done(
                engine.submit_generate(model, conditioning, device="cpu", seed=seed)
            )
        ]
        return events[0].seed, events[-1].audio

    drawn, audio = run()
    assert 0 <= drawn < 2**31
    again_seed, again = run(drawn)
    assert again_seed == drawn
    np.testing.assert_array_equal(again, audio)
    other_seed, other = run()
    assert other_seed != drawn and not np.array_equal(other, audio)
