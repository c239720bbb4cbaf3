"""Playback for the window: one Player at a time, the playhead it drives, and which sound output it uses.

The window decides what to play: the input recording, or the output stream of a generation (engine/output.py),
finished or still being generated. This object opens the Player (through the engine bridge), points it at what to
play, stops it, and on each frame of the window's clock reports where the playhead is. An output is never handed
over sample by sample: the player follows the engine's stream, its callback reading the samples where the engine
thread wrote them, so no generated sample passes through the GUI thread on its way to the sound card. It owns the
status bar's sound-server label and fills the "Output device" menu; the chosen output is kept in the settings.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QActionGroup
from PySide6.QtWidgets import QLabel, QMenu

from app.engine_bridge import AudioDeviceError, EngineBridge, plain_message
from app.settings import Settings
from app.views import theme


class PlaybackControl(QObject):
    """Plays a recording or an output stream through `engine.playback.Player`; the window connects to its signals."""

    changed = Signal()  # a player started or stopped: what can be played has changed
    playhead_moved = Signal(object)  # seconds into the clip, or None to hide the playhead
    progress = Signal(object, object)  # (buffered seconds, underruns), or (None, None) when stopped
    failed = Signal(str)  # why playback could not start, for the banner
    noted = Signal(str)  # something worth knowing but not wrong, for the messages panel

    def __init__(self, settings: Settings, bridge: EngineBridge, parent: QObject | None = None):
        super().__init__(parent)
        self.settings = settings
        self.bridge = bridge
        self.player = None
        self.playing_source: str | None = None
        self.live = False  # the player follows the output while it is generated
        self._fading: list = []  # stopped players whose fade-out still plays; closed once faded
        self.sound_label = QLabel()
        self._output_menu: QMenu | None = None

    def play_recording(self, source: str, audio: np.ndarray, rate: int, start_seconds: float = 0.0) -> None:
        """Play a finished recording `audio` (n,) float32 at `rate` from `start_seconds`, after stopping whatever
        plays."""
        self._play(source, rate, lambda player: player.play_clip(audio, start_seconds), live=False)

    def play_output(self, output, start_seconds: float = 0.0) -> None:
        """Play a generation's output stream (engine.output.OutputStream) from `start_seconds` (a finished take) or
        from its start, following it while it is still being generated, after stopping whatever plays."""
        self._play(
            "output", output.sample_rate, lambda player: player.follow(output, start_seconds), live=not output.finished
        )

    def _play(self, source: str, rate: int, begin: Callable, live: bool) -> None:
        self.stop()
        try:
            try:
                player = self._open(rate)
            except AudioDeviceError:
                if not self._fading:
                    raise
                self._close_faded(everything=True)  # a device that takes one stream at a time: free it, once
                player = self._open(rate)
            begin(player)
        except AudioDeviceError as error:
            self._show_no_sound(str(error))
            self.failed.emit(str(error))
            return
        except Exception as error:  # PortAudio can fail in ways it does not name; playback is optional
            self.failed.emit(f"Playback failed: {plain_message(error)}")
            return
        self.player = player
        self.playing_source = source
        self.live = live
        self.changed.emit()

    def _open(self, rate: int):
        return self.bridge.open_player(rate, self.settings.audio_device)

    def seek(self, source: str, seconds: float) -> bool:
        """If `source`'s finished clip is playing, jump to `seconds` in it (with a short fade, no new stream);
        returns whether it did."""
        player = self.player
        if player is None or self.live or self.playing_source != source or player.finished:
            return False
        player.seek(seconds)
        return True

    def end_of_output(self) -> None:
        """Generation ended: the followed output plays to its end (the player saw the stream finish), and being
        finished it can now be sought in."""
        self.live = False

    def stop(self) -> None:
        """Stop playing, hide the playhead and clear the playback figures, at once: the player fades out on its
        own (the fade and the silence after it take about half a second to reach a PulseAudio sink) and is closed
        on a later frame."""
        player, self.player = self.player, None
        self.live = False
        self.playing_source = None
        if player is not None:
            player.fade_out()
            self._fading.append(player)
        self.playhead_moved.emit(None)
        self.progress.emit(None, None)
        self.changed.emit()

    def on_frame(self) -> None:
        """On the window's frame clock: report the figures, move the playhead, stop at the end of the clip."""
        self._close_faded()
        player = self.player
        if player is None:
            return
        if player.failure is not None:  # playback could not start on the engine's thread
            self.failed.emit(player.failure)
            self.stop()
            return
        self.progress.emit(player.buffered / player.sample_rate, player.underruns)
        if player.finished:
            self.stop()
        elif player.started:
            self.playhead_moved.emit(player.playhead_seconds)

    def _close_faded(self, everything: bool = False) -> None:
        """Close the stopped players whose fade has played out (`everything`: all of them, waiting for the rest)."""
        fading, self._fading = self._fading, []
        for player in fading:
            if everything or player.faded:
                player.stop()
            else:
                self._fading.append(player)

    @property
    def fading(self) -> int:
        """Stopped players still fading out."""
        return len(self._fading)

    def close(self) -> None:
        """Silence the player without touching the views (the window is closing)."""
        if self.player is not None:
            self.player.stop()
            self.player = None
        self._close_faded(everything=True)

    # --- sound outputs ---------------------------------------------------------------------------------

    def check_sound_output(self) -> None:
        """Show in the sound label whether any output exists, naming them in its tooltip."""
        try:
            outputs = self.bridge.output_devices()
        except AudioDeviceError as error:
            self._show_no_sound(str(error))
            return
        if not outputs:
            self._show_no_sound(
                "No sound server or output device found: playback is off; generation and export "
                "still work. Start a sound server (PulseAudio or PipeWire) and restart Vocoscope."
            )
        else:
            self.sound_label.setText("sound on")
            self.sound_label.setToolTip(", ".join(o.name for o in outputs))

    def _show_no_sound(self, reason: str) -> None:
        self.sound_label.setText("no sound server")
        self.sound_label.setStyleSheet(f"color: {theme.WARNING_COLOUR}")
        self.sound_label.setToolTip(reason)

    def attach_output_menu(self, menu: QMenu) -> None:
        """List the sound outputs in `menu` each time it opens, the chosen one checked."""
        self._output_menu = menu
        menu.aboutToShow.connect(self._rebuild_output_menu)

    def _rebuild_output_menu(self) -> None:
        menu = self._output_menu
        menu.clear()
        try:
            outputs = self.bridge.output_devices()
        except AudioDeviceError as error:
            outputs = []
            self._show_no_sound(str(error))
        group = QActionGroup(menu)
        for name, label in [(None, "System default")] + [(o.name, o.name) for o in outputs]:
            action = menu.addAction(label)
            action.setCheckable(True)
            action.setChecked(name == self.settings.audio_device)
            action.triggered.connect(lambda checked=False, n=name: self._set_audio_device(n))
            group.addAction(action)
        if not outputs:
            menu.addAction("No sound outputs found").setEnabled(False)

    def _set_audio_device(self, name: str | None) -> None:
        self.settings.audio_device = name
        self.noted.emit(f"Audio output: {name or 'system default'}")
