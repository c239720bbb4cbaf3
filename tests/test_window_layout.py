"""The window at its default size (1280x820), offscreen: every toolbar action within reach, the Shapes dock's
shapes, dtypes and meanings whole, the four plots on one time axis, the untrained model named as such."""

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QToolButton

from app.views.shape_table import text_margin
from app.views.theme import WARNING_COLOUR
from engine.catalog import untrained_warning
from tests.test_window_fixtures import inputs, make_window, open_and_wait, tiny_checkpoint  # noqa: F401 (fixtures)


def toolbar_reach(qtbot, window) -> dict[str, str]:
    """How each toolbar action is reached: "bar" (shown on it), "overflow" (shown once the extension arrow is
    clicked) or "none"."""
    bar = window.toolbar
    arrow = bar.findChild(QToolButton, "qt_toolbar_ext_button")
    actions = [action for action in bar.actions() if not action.isSeparator() and bar.widgetForAction(action)]
    reach = {}
    for action in actions:
        widget = bar.widgetForAction(action)
        inside = widget.geometry().right() < bar.width()
        reach[action.iconText() or type(widget).__name__] = "bar" if widget.isVisible() and inside else "none"
    if arrow.isVisible():
        assert arrow.width() >= 16 and not arrow.icon().isNull(), "the overflow arrow is too small to see"
        qtbot.mouseClick(arrow, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: all(bar.widgetForAction(action).isVisible() for action in actions))
        for (name, how), action in zip(list(reach.items()), actions):
            if how == "none" and bar.widgetForAction(action).isVisible():
                reach[name] = "overflow"
        qtbot.mouseClick(arrow, Qt.MouseButton.LeftButton)
    return reach


def test_every_toolbar_action_is_on_the_bar_at_1280_and_behind_a_visible_arrow_when_narrower(qtbot, make_window):
    window = make_window()
    qtbot.waitUntil(lambda: window.model_chooser.count() > 1, timeout=60000)
    assert (window.width(), window.height()) == (1280, 820)
    reach = toolbar_reach(qtbot, window)
    assert {"Open", "▶ Generate", "■ Stop", "Input", "Output", "Stop", "Export"} <= set(reach)
    assert "none" not in reach.values(), reach
    assert reach["Export"] == "bar"  # Export was the one cut off, without an arrow, at this size
    window.resize(900, 700)
    qtbot.waitUntil(lambda: window.toolbar.width() <= 900)
    narrow = toolbar_reach(qtbot, window)
    assert narrow["Export"] == "overflow" and "none" not in narrow.values(), narrow


def test_the_four_plots_share_one_time_axis_to_the_pixel(qtbot, make_window, inputs):
    window = make_window()
    open_and_wait(qtbot, window, inputs["short"])
    window.paint_now()
    qtbot.wait(50)
    spans = set()
    for plot in window.plots:
        area = plot.plot_item.vb.sceneBoundingRect()
        left = plot.mapTo(window, plot.mapFromScene(area.topLeft()))
        spans.add((left.x(), round(area.width())))
    assert len(spans) == 1, spans


def test_before_a_file_the_mel_plots_show_a_hint_and_no_axis_values(qtbot, make_window, inputs):
    window = make_window()
    for view in (window.input_mel, window.output_mel):
        assert view.hint.isVisible() and not view.colour_bar.isVisible()
        assert view.frequency_axis.tickValues(*view.plot_item.viewRange()[1], 200) == []
        assert view.plot_item.viewRange()[1] == [-0.5, view.mel_config.n_mels + 0.5]  # not ±400 "(x0.001)"
    assert "Drop" in window.input_mel.hint.text()
    open_and_wait(qtbot, window, inputs["short"])
    assert not window.input_mel.hint.isVisible() and window.input_mel.colour_bar.isVisible()
    assert window.output_mel.hint.isVisible()  # nothing generated yet


def test_the_shapes_dock_at_the_default_size_shows_whole_shapes_dtypes_and_meanings(qtbot, make_window):
    from engine.models import DEFAULT_MODEL
    from engine.models.loading import load_model
    from engine.shapes import preflight, trace

    window = make_window()
    model, _ = load_model(DEFAULT_MODEL)
    mel = np.random.default_rng(0).uniform(0.1, 0.9, (model.mel_config.n_mels, 3)).astype(np.float32)
    dock = window.shape_inspector
    dock.show_inspection(preflight(model, mel), trace(model, mel))
    assert dock.width() >= 440
    for index, table in enumerate((dock.checks, dock.modules, dock.steps, dock.training)):
        dock.tabs.setCurrentIndex(index)
        qtbot.waitUntil(table.isVisible)
        table.fit_columns()
        qtbot.wait(20)
        metrics = table.fontMetrics()
        rows = [table.topLevelItem(i) for i in range(table.topLevelItemCount())]
        while rows:
            item = rows.pop()
            rows.extend(item.child(i) for i in range(item.childCount()))
            for column in range(1, table.columnCount()):
                if table.isColumnHidden(column):
                    continue
                text = item.text(column)
                assert item.toolTip(column) == text  # the whole text, whatever the width
                width = table.columnWidth(column) - text_margin(table)
                if column in table.prose:  # wrapped: the row is as tall as the wrapped text
                    wrapped = metrics.boundingRect(0, 0, width, 1 << 20, Qt.TextFlag.TextWordWrap, text)
                    assert table.visualItemRect(item).height() >= wrapped.height(), (text, width)
                elif table is not dock.modules or column <= 3:  # shapes and dtypes: each line fits its column
                    assert max(metrics.horizontalAdvance(line) for line in text.split("\n")) <= width, text
        if table is dock.modules:  # the output shape and dtype columns lie inside the visible part of the table
            header = table.header()
            assert header.sectionViewportPosition(3) + header.sectionSize(3) <= table.viewport().width()
            assert table.horizontalScrollBar().value() == 0


def test_an_untrained_model_is_named_so_in_the_chooser_and_over_the_output(qtbot, make_window):
    window = make_window()
    qtbot.waitUntil(lambda: window.model_chooser.count() > 1, timeout=60000)
    window.set_model("wavernn-dual")
    chooser = window.model_chooser
    assert chooser.untrained and chooser.currentText() == "wavernn-dual (untrained)"
    assert not chooser.itemIcon(chooser.currentIndex()).isNull() and WARNING_COLOUR in chooser.styleSheet()
    assert chooser.toolTip().endswith("untrained (random weights)")
    title = window.output_waveform.plot_item.titleLabel.text
    assert "wavernn-dual is untrained (random weights)" in title and WARNING_COLOUR in title
    warnings = [m.text for m in window.messages.messages if m.level == "warning" and "wavernn-dual" in m.text]
    assert warnings == [untrained_warning("wavernn-dual", False)]  # the command line's words
    assert "random weights" in warnings[0] and window.activity.text() == warnings[0]
    window.set_model("wavenet")
    assert not chooser.untrained and chooser.styleSheet() == "" and chooser.itemIcon(chooser.currentIndex()).isNull()
    assert "untrained" not in window.output_waveform.plot_item.titleLabel.text
    assert len([m for m in window.messages.messages if m.text == warnings[0]]) == 1


@pytest.mark.parametrize("model", ["wavenet", "wavernn"])
def test_the_trained_built_ins_carry_no_warning(qtbot, make_window, model):
    window = make_window()
    qtbot.waitUntil(lambda: window.model_chooser.count() > 1, timeout=60000)
    window.set_model(model)
    assert not window.model_chooser.untrained
    assert "untrained" not in window.output_waveform.plot_item.titleLabel.text
    assert not [m for m in window.messages.messages if "random weights" in m.text]
