"""The window shows the output guard's verdict (issue 22, item 2): a run whose output is clipped, constant, silent or
not finite ends with that warning in the banner and the messages panel, in the warning colour; a sound run with
none. The window, its engine thread and the checkpoints are real; the broken model is the tiny WaveRNN of the other
window tests with its output layer stuck on the top mu-law class (+1.0, full scale)."""

from __future__ import annotations

import pytest
import torch
from PySide6.QtGui import QColor

from app.views import theme
from tests.test_window_fixtures import (  # noqa: F401 (fixtures)
    TINY_MEL,
    TINY_WAVERNN,
    inputs,
    make_window,
    open_and_wait,
    tiny_checkpoint,
)


@pytest.fixture(scope="module")
def stuck_checkpoint(tmp_path_factory):
    """The tiny WaveRNN whose every draw is the top class: a take of constant +1.0, finite weights throughout."""
    from engine import checkpoints
    from engine.models.registry import build

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = build("wavernn", TINY_WAVERNN, TINY_MEL)
    with torch.no_grad():
        model.fc3.bias.fill_(-1e3)
        model.fc3.bias[-1] = 1e3
    path = tmp_path_factory.mktemp("models") / "stuck.safetensors"
    checkpoints.save(model, path)
    return path


def generate_and_wait(qtbot, window):
    with qtbot.waitSignal(window.generation_done, timeout=60000) as blocker:
        window.generate()
    return blocker.args[0]


def warnings_of(window) -> list[str]:
    return [message.text for message in window.messages.messages if message.level == "warning"]


def test_a_take_stuck_at_full_scale_is_named_in_the_banner_and_the_messages_in_the_warning_colour(
    qtbot, make_window, inputs, stuck_checkpoint
):
    window = make_window()
    window.set_model(str(stuck_checkpoint))
    open_and_wait(qtbot, window, inputs["short"])
    shown = []
    window.error_shown.connect(lambda level, text: shown.append((level, text)))

    finished = generate_and_wait(qtbot, window)

    assert not finished.cancelled and finished.audio.min() == pytest.approx(1.0)
    expected = "The output is clipped at full scale for 0.50 s in a row (from 0.00 s)"
    assert [text for text in warnings_of(window) if text.startswith("The output")] == [
        window.generation.stats.warning[0].upper() + window.generation.stats.warning[1:]
    ]
    assert warnings_of(window)[-1].startswith(expected), warnings_of(window)
    assert shown and shown[-1][0] == "warning" and shown[-1][1].startswith(expected)
    assert window.banner.text.startswith(expected)
    assert theme.WARNING_COLOUR in window.banner.styleSheet()
    item = window.messages.item(window.messages.count() - 1)
    assert item.text().endswith(warnings_of(window)[-1])
    assert item.foreground().color() == QColor(theme.WARNING_COLOUR)
    assert window.activity.text() == warnings_of(window)[-1][:120]


def test_a_sound_take_ends_without_a_warning(qtbot, make_window, inputs):
    window = make_window()
    open_and_wait(qtbot, window, inputs["short"])
    before = warnings_of(window)

    generate_and_wait(qtbot, window)

    assert window.generation.stats.warning == ""
    assert warnings_of(window) == before and not window.banner.text
