"""A remembered checkpoint that goes after the window checked it at start-up, before the models are listed, gives way
to the default model with engine/model_reference.py's warning, the one start-up gives when it is already gone."""

from __future__ import annotations

import shutil

from app.engine_bridge import EngineBridge
from engine.models import DEFAULT_MODEL
from tests.test_window_fixtures import tiny_checkpoint  # noqa: F401 (fixture)


class HeldListing(EngineBridge):
    """The real bridge, whose listing of the models starts when the test says (`release`)."""

    def list_models(self) -> None:
        self.release = super().list_models


def test_a_checkpoint_gone_before_the_listing_gives_way_to_the_default_with_model_reference_s_warning(
    qtbot, tmp_path, tiny_checkpoint
):  # noqa: F811
    from app.main_window import MainWindow
    from app.settings import Settings

    checkpoint = shutil.copy(tiny_checkpoint, tmp_path / "going.safetensors")
    settings = Settings.from_file(tmp_path / "settings.ini")
    settings.model, settings.device = str(checkpoint), "cpu"
    window = MainWindow(settings, bridge=HeldListing())
    qtbot.addWidget(window)
    assert window.model == str(checkpoint)  # there at start-up
    checkpoint.unlink()
    window.bridge.release()
    qtbot.waitUntil(lambda: window.model_chooser.count() > 1, timeout=60000)
    assert window.model == DEFAULT_MODEL and window.model_chooser.current == DEFAULT_MODEL
    warnings = [m.text for m in window.messages.messages if m.level == "warning"]
    assert warnings == [
        f"The model remembered from last time cannot be used: {checkpoint} is gone. Using {DEFAULT_MODEL}."
    ]
    window.close()
