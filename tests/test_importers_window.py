"""The window offers to import another project's checkpoint when one is opened (app/import_offer.py)."""

import shutil
from pathlib import Path

import numpy as np
import torch
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from engine import checkpoints
from tests.test_window_fixtures import make_window, tiny_checkpoint  # noqa: F401 (fixtures)

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "importers"


def answering(reply: QMessageBox.StandardButton, texts: list[str]) -> QTimer:
    """A timer that answers each message box the window shows: `reply` to a question, OK to the rest."""

    def answer():
        box = QApplication.activeModalWidget()
        if isinstance(box, QMessageBox):
            texts.append(box.text())
            (box.button(reply) or box.button(QMessageBox.StandardButton.Ok)).click()

    timer = QTimer()
    timer.timeout.connect(answer)
    timer.start(50)
    return timer


def test_opening_a_voice_cloning_checkpoint_imports_it_and_uses_it(qtbot, make_window, tmp_path):  # noqa: F811
    window = make_window()
    path = tmp_path / "pretrained.pt"
    shutil.copy(FIXTURES / "rtvc.pt", path)
    texts = []
    timer = answering(QMessageBox.StandardButton.Yes, texts)
    window.open_file(path)
    timer.stop()
    target = tmp_path / "pretrained.safetensors"
    assert "pretrained.pt is a vocoder checkpoint of rtvc" in texts[0]
    assert "guessed from Real-Time-Voice-Cloning's published defaults" in texts[1]
    assert window.model == str(target)
    assert checkpoints.load(target).model.mel_config.output_preemphasis == 0.97


def test_declining_the_import_writes_nothing_and_a_mel_in_a_pt_file_opens_as_before(qtbot, make_window, tmp_path):  # noqa: F811
    window = make_window()
    path = tmp_path / "pretrained.pth"
    shutil.copy(FIXTURES / "fatchord_raw.pyt", path)
    texts = []
    timer = answering(QMessageBox.StandardButton.No, texts)
    window.open_file(path)
    timer.stop()
    assert len(texts) == 1 and "vocoder checkpoint of fatchord" in texts[0]
    assert not (tmp_path / "pretrained.safetensors").exists()
    mel_file = tmp_path / "mel.pt"
    torch.save(torch.from_numpy(np.full((80, 20), 0.5, np.float32)), mel_file)
    window.open_file(mel_file)
    qtbot.waitUntil(lambda: window.loaded is not None, timeout=20000)
    assert window.loaded.path == mel_file


def driving_the_file_dialog(files: list[Path], texts: list[str]) -> QTimer:
    """A timer that answers the import question with "Import with hparams…", picks `files` in the file dialog that
    follows, and answers OK to the message boxes after it."""
    from PySide6.QtWidgets import QFileDialog, QLineEdit

    from app.import_offer import WITH_HPARAMS

    def answer():
        widget = QApplication.activeModalWidget()
        if isinstance(widget, QFileDialog):
            # Typed into the name field as a person would: selectFile leaves the field alone while it has the focus.
            widget.setDirectory(str(files[0].parent))
            widget.findChild(QLineEdit, "fileNameEdit").setText(" ".join(f'"{file.name}"' for file in files))
            widget.accept()
        elif isinstance(widget, QMessageBox):
            texts.append(widget.text())
            chosen = [button for button in widget.buttons() if button.text() == WITH_HPARAMS]
            (chosen[0] if chosen else widget.button(QMessageBox.StandardButton.Ok)).click()

    timer = QTimer()
    timer.timeout.connect(answer)
    timer.start(50)
    return timer


def test_an_r9y9_checkpoint_imports_with_the_hparams_and_statistics_picked_in_the_window(qtbot, make_window, tmp_path):  # noqa: F811
    from app.main_window import OPEN_FILTER

    assert "Checkpoints to import (*.pt *.pth *.pyt)" in OPEN_FILTER
    window = make_window()
    r9y9 = Path(__file__).resolve().parent / "fixtures" / "r9y9"
    for name in ("r9y9_raw.pth", "r9y9_raw_hparams.json", "r9y9_raw_meanvar.npz"):
        shutil.copy(r9y9 / name, tmp_path / name)
    path = tmp_path / "r9y9_raw.pth"
    texts = []
    timer = answering(QMessageBox.StandardButton.Yes, texts)  # the published defaults: its stacks unknown, refused
    window.open_file(path)
    timer.stop()
    assert "vocoder checkpoint of r9y9" in texts[0] and "no hparams naming the stacks" in texts[1]
    assert not (tmp_path / "r9y9_raw.safetensors").exists()
    texts = []
    timer = driving_the_file_dialog([tmp_path / "r9y9_raw_hparams.json", tmp_path / "r9y9_raw_meanvar.npz"], texts)
    window.open_file(path)
    timer.stop()
    target = tmp_path / "r9y9_raw.safetensors"
    assert "mel statistics: mean and variance of 20 bands" in texts[-1]
    assert window.model == str(target)
    mel = checkpoints.load(target).model.mel_config
    assert (mel.normalisation, mel.output_preemphasis) == ("log10_meanvar", 0.85)
