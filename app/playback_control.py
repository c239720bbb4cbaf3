"""Playback for the window: one Player at a time, the playhead it drives, and which sound output it uses.

The window decides what to play (the input recording, the finished output, or the output still being
generated) and forwards the job's chunks; this object opens the Player, feeds it, stops it, and on each frame
of the window's clock reports where the playhead is. It owns the status bar's sound-server label and fills
the "Output device" menu; the chosen output is kept in the settings.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QActionGroup
from PySide6.QtWidgets import QLabel, QMenu

from app.engine_bridge import plain_message
from app.settings import Settings
from app.views import theme
from engine.errors import AudioDeviceError


class PlaybackControl(QObject):
    """Plays clips or a growing output through `engine.playback.Player`; the window connects to its signals."""

    changed = Signal()                       # a player started or stopped: what can be played has changed
    playhead_moved = Signal(object)          # seconds into the clip, or None to hide the playhead
    progress = Signal(object, object)        # (buffered seconds, underruns), or (None, None) when stopped
    failed = Signal(str)                     # why playback could not start, for the banner
    noted = Signal(str)                      # something worth knowing but not wrong, for the messages panel

    def __init__(self, settings: Settings, parent: QObject | None = None):
        super().__init__(parent)
        self.settings = settings
        self.player = None
        self.playing_source: str | None = None
        self.live = False                    # the player follows the output while it is generated
        self._fading: list = []              # stopped players whose fade-out still plays; closed once faded
        self.sound_label = QLabel()
        self._output_menu: QMenu | None = None

    def start(self, source: str, audio: np.ndarray, rate: int, follow_total: int | None = None,
              start_seconds: float = 0.0) -> None:
        """Play `audio` (n,) at `rate` from `start_seconds` (a finished clip) or its start, after stopping whatever
        plays.

        With `follow_total` the clip is still being generated: `audio` is what exists so far, the rest arrives
        through `feed`, and `follow_total` is the full length in samples (0 when not known yet).
        """
        self.stop()
        live = follow_total is not None
        seconds = (follow_total if live else len(audio)) / rate
        try:
            try:
                player = self._open(rate, seconds)
            except AudioDeviceError:
                if not self._fading:
                    raise
                self._close_faded(everything=True)  # a device that takes one stream at a time: free it, once
                player = self._open(rate, seconds)
            if live:
                if follow_total:
                    player.expect(follow_total)
                player.feed(np.array(audio, dtype=np.float32))
                self.live = True
            else:
                player.play_clip(audio, start_seconds)
        except AudioDeviceError as error:
            self._show_no_sound(str(error))
            self.failed.emit(str(error))
            return
        except Exception as error:  # PortAudio can fail in ways it does not name; playback is optional
            self.failed.emit(f"Playback failed: {plain_message(error)}")
            return
        self.player = player
        self.playing_source = source
        self.changed.emit()

    def _open(self, rate: int, seconds: float):
        from engine.playback import Player

        # The ring holds the whole clip, so feeding it from the GUI thread never blocks.
        return Player(rate, self.settings.audio_device, capacity_seconds=max(60.0, seconds + 2.0))

    def seek(self, source: str, seconds: float) -> bool:
        """If `source`'s finished clip is playing, jump to `seconds` in it (with a short fade, no new stream);
        returns whether it did."""
        player = self.player
        if player is None or self.live or self.playing_source != source or player.finished:
            return False
        player.seek(seconds)
        return True

    def expect(self, total_samples: int) -> None:
        """The output being followed will be `total_samples` long."""
        if self.live and self.player is not None:
            self.player.expect(total_samples)

    def feed(self, samples: np.ndarray, samples_per_second: float) -> None:
        """Append a generated chunk (n,) to the output being followed."""
        if self.live and self.player is not None:
            self.player.feed(samples, samples_per_second)

    def end_of_output(self) -> None:
        """Generation ended: the followed output plays to its end and stops following."""
        if self.live and self.player is not None:
            self.player.finish()
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
            from engine.playback import list_output_devices

            outputs = list_output_devices()
        except AudioDeviceError as error:
            self._show_no_sound(str(error))
            return
        if not outputs:
            self._show_no_sound("No sound server or output device found: playback is off; generation and export "
                                "still work. Start a sound server (PulseAudio or PipeWire) and restart Vocoscope.")
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
            from engine.playback import list_output_devices

            outputs = list_output_devices()
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
