"""The shape inspector dock fed by a real Engine: populated while a job generates, and the 60-band mistake
highlighted (the failing check and the failing module) with its explanation."""

from __future__ import annotations

import queue

import numpy as np
import pytest
import torch

from app.views.shape_inspector import HIGHLIGHT, ShapeInspectorDock
from engine.features import Conditioning, MelConfig
from engine.jobs import ChunkReady, Engine, JobFailed, JobFinished, JobStarted
from engine.models.upsample import UpsampleConfig
from engine.models.wavenet.model import WaveNet, WaveNetConfig
from engine.models.wavernn_dual.model import DualSoftmaxConfig, DualSoftmaxWaveRNN
from engine.shapes import preflight, trace

MEL = MelConfig(hop_length=20, n_mels=80)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    upsample = UpsampleConfig(factors=(4, 5), resnet_blocks=1, resnet_channels=8, aux_channels=8)
    return DualSoftmaxWaveRNN(DualSoftmaxConfig(hidden_size=8, upsample=upsample), MEL).eval()


@pytest.fixture(scope="module")
def wavenet():
    """A model with no band check of its own, so a 60-band mel reaches (and fails in) its first convolution."""
    torch.manual_seed(0)
    upsample = UpsampleConfig(factors=(4, 5), resnet_blocks=1, resnet_channels=8, aux_channels=8)
    config = WaveNetConfig(blocks=1, layers=3, residual_channels=6, skip_channels=7, bits=6, upsample=upsample)
    return WaveNet(config, MEL).eval()


@pytest.fixture
def engine_events():
    events: queue.Queue = queue.Queue()
    engine = Engine(on_event=events.put)
    yield engine, events
    engine.shutdown()


def deliver(dock, events: queue.Queue, until: type, qtbot, timeout_ms: int = 20000) -> list:
    """Hand the engine's events to the dock on this (GUI) thread, as the bridge does, until one of type `until`; after
    each the event loop runs until the dock has put in the rows it fills a slice at a time."""
    seen: list = []
    while not seen or not isinstance(seen[-1][0], until):
        event = events.get(timeout=timeout_ms / 1000)
        dock.on_engine_event(event)
        qtbot.waitUntil(lambda: not dock.filling, timeout=timeout_ms)
        seen.append((event, dock.highlighted(), len(dock._module_items), dock.live.text()))
    return seen


def test_dock_is_populated_during_generation(qtbot, model, engine_events):
    engine, events = engine_events
    dock = ShapeInspectorDock()
    qtbot.addWidget(dock)
    mel = np.random.default_rng(0).uniform(0.1, 0.9, (80, 100)).astype(np.float32)
    engine.submit_generate(model, Conditioning(mel=mel, mel_config=MEL), device="cpu", seed=1)
    seen = deliver(dock, events, JobFinished, qtbot)
    kinds = [type(event) for event, *_ in seen]
    assert kinds[0] is JobStarted and kinds[-1] is JobFinished and kinds.count(ChunkReady) >= 2
    first_chunk = kinds.index(ChunkReady)
    _, highlighted, module_rows, live = seen[first_chunk]
    assert module_rows == len(list(model.named_modules()))  # filled from JobStarted, before generation ends
    assert highlighted == []
    assert live.startswith("generating: ") and "/ 2,000 samples" in live
    assert dock.status.text() == "All checks passed."
    assert dock.module_item("R").text(1) == "(1, 8)" and dock.module_item("R").text(2) == "(1, 24)"
    assert dock.steps.topLevelItemCount() == 12 and dock.steps.topLevelItem(4).text(0) == "u_t"  # after h_{t−1}
    assert dock.training.topLevelItem(1).text(1) == "(1, 256, 60)"
    assert dock.live.text() == "done: 2,000 samples"


def test_sixty_band_mel_highlights_the_band_check_and_the_failing_module(qtbot, wavenet, engine_events, tmp_path):
    engine, events = engine_events
    dock = ShapeInspectorDock()
    qtbot.addWidget(dock)
    path = tmp_path / "sixty_bands.npy"
    np.save(path, np.random.default_rng(1).uniform(0.1, 0.9, (60, 40)).astype(np.float32))
    engine.submit_generate(wavenet, path, device="cpu")
    seen = deliver(dock, events, JobFailed, qtbot)
    assert isinstance(seen[-1][0], JobFailed)
    assert dock.highlighted() == [("check", "bands"), ("module", "upsample.resnet.conv_in")]
    band_row = dock.check_item("bands")
    assert band_row.background(0).color() == HIGHLIGHT
    assert "(60, 40)" in band_row.text(1) and band_row.text(2).startswith("80 mel bands")
    module_row = dock.module_item("upsample.resnet.conv_in")
    assert module_row.background(0).color() == HIGHLIGHT
    assert module_row.text(1) == "(1, 60, 7)"
    assert "the mel has 60 bands where the model was trained on 80" in module_row.toolTip(0)
    assert dock.module_item("upsample.resnet").background(0).color() != HIGHLIGHT
    assert "takes 80 channels but was given 60" in dock.explanation.text()
    assert dock.status.text() == "Problems: bands, forward pass"


def test_show_inspection_directly_and_clear(qtbot, model):
    dock = ShapeInspectorDock()
    qtbot.addWidget(dock)
    mel = np.random.default_rng(2).uniform(0.1, 0.9, (80, 12)).astype(np.float32) * 100 - 100
    dock.show_inspection(preflight(model, mel), trace(model, mel))
    assert dock.highlighted() == [("check", "range")]  # dB values run, but wrongly: no module fails
    assert "decibels" in dock.check_item("range").text(1)
    hop = dock.check_item("hop")  # passed: its texts, often wider than the dock, are its tooltips
    assert (hop.toolTip(1), hop.toolTip(2)) == (hop.text(1), hop.text(2)) and "multiply to" in hop.text(1)
    assert dock.explanation.text().startswith("range: found values in [")
    dock.clear()
    assert dock.highlighted() == [] and dock.modules.topLevelItemCount() == 0 and dock.explanation.text() == ""
