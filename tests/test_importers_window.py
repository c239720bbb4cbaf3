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
