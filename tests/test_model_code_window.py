"""File → Open model code…: the dialog, driven offscreen, fills the Shapes dock from a user's module."""

from pathlib import Path

import numpy as np
from PySide6.QtWidgets import QDialogButtonBox, QLabel

from app.model_code import model_names
from tests.test_window_fixtures import inputs, make_window, tiny_checkpoint  # noqa: F401 (fixtures)

USER_MODULES = Path(__file__).parent / "user_modules"


def menu_action(window, text: str):
    file_menu = window.menuBar().actions()[0].menu()
    return next(action for action in file_menu.actions() if action.text() == text)


def test_open_model_code_shows_the_failing_module_in_the_shapes_dock(qtbot, make_window, tmp_path):
    window = make_window()
    mel = tmp_path / "mel80.npy"
    np.save(mel, np.random.default_rng(0).random((80, 12), dtype=np.float32))
    menu_action(window, "Open model code…").trigger()
    dialog = window.model_code.dialog
    assert dialog.isVisible()
    assert any("Running the file runs its code" in label.text() for label in dialog.findChildren(QLabel))
    dialog.file.setText(str(USER_MODULES / "hidden_batch.py"))
    assert [dialog.name.itemText(i) for i in range(dialog.name.count())] == ["HiddenBatchVocoder"]
    dialog.kwargs.setText('{"batch_size": 2}')
    dialog.input.setText(str(mel))
    with qtbot.waitSignal(window.model_code.finished, timeout=30000) as shown:
        dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok).click()
    dock = window.shape_inspector
    assert shown.args[0].failure.module == "rnn"
    assert ("module", "rnn") in dock.highlighted() and ("check", "forward") in dock.highlighted()
    assert "batch size 2 but the input has batch size 1" in dock.explanation.text()
    assert dock.module_item("conditioning").text(2) == "(1, 8, 32)"
    assert dock.check_item("arguments").text(1).startswith("forward(x, mels): mel → mels")


def test_a_bad_class_name_is_shown_in_the_banner(qtbot, make_window, tmp_path):
    window = make_window()
    menu_action(window, "Open model code…").trigger()
    dialog = window.model_code.dialog
    dialog.file.setText(str(USER_MODULES / "band_count.py"))
    dialog.name.setEditText("NoSuchModel")
    dialog.input.setText(str(tmp_path / "any.npy"))
    with qtbot.waitSignal(window.error_shown, timeout=30000) as shown:
        dialog.accept()
    assert "no class or function named 'NoSuchModel'" in shown.args[1] and "BandCountVocoder" in shown.args[1]


def test_model_names_are_read_without_running_the_file(tmp_path):
    source = tmp_path / "explodes.py"
    source.write_text(
        "raise SystemExit('ran')\nclass Net:\n    pass\ndef make_net():\n    pass\ndef _private():\n    pass\n"
    )
    assert model_names(source) == ["Net", "make_net"]
