"""The main window: four plots on one time axis and the controls around them.

Input waveform and mel on top, generated waveform and mel below, zoom and pan linked, one playhead. Chunks
are appended to the views' buffers when they arrive; a frame clock (about 30 per second) repaints, moves the
playhead and updates the figures. Every error is shown in the banner above the plots and kept in the
messages panel; nothing else changes, and the next job runs.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QDoubleSpinBox,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.engine_bridge import DEFAULT_MODEL, EXAMPLES, EngineBridge, Sampling, untrained_warning, usable_model
from app.export_control import ExportControl
from app.generation_control import GenerationControl, GenerationRequest, OutputViews
from app.import_offer import offer_import
from app.model_code import ModelCodeControl
from app.playback_control import PlaybackControl
from app.settings import Settings
from app.views import help as help_views
from app.views.activity_label import ActivityLabel
from app.views import theme
from app.views.messages import Banner, MessagesPanel
from app.views.model_chooser import ModelChooser
from app.views.shape_inspector import ShapeInspectorDock
from app.views.spectrogram import SpectrogramView
from app.views.status_panel import StatusPanel
from app.views.waveform import WaveformView
from app.window_style import STYLE_SHEET, dark_palette, overflow_icon

FRAME_INTERVAL_MS = 50
TEMPERATURE_TIP = (
    "Sampling temperature of mu-law models: below 1 the likelier classes are drawn more often (less "
    'noise, flatter), above 1 less often. "model\'s own" is the temperature the model comes with.'
)
POSTFILTER_TIP = (
    "Post-filter the output of a model that has post-filters (the bundled ones): the pitch post-filter "
    "lowers the noise between the harmonics, the envelope post-filter brings each band to the level "
    "the mel asks for. Off: the model's raw output."
)
GUIDANCE_TIP = (
    "Let a model that chooses among several draws by the mel (the bundled WaveRNN) do so: closer to the "
    "input's pitch and sound, many times slower. Off: every draw kept, in real time."
)
OPEN_FILTER = (
    "Audio or mel (*.wav *.flac *.ogg *.oga *.mp3 *.aiff *.aif *.npy *.pt);;"
    "Checkpoints to import (*.pt *.pth *.pyt);;All files (*)"
)


class MainWindow(QMainWindow):
    """The Vocoscope window. `bridge` is made here unless a test passes its own."""

    input_ready = Signal(object)  # LoadedInput, after the input views show it
    generation_done = Signal(object)  # JobFinished, after the last chunk is painted
    error_shown = Signal(str, str)  # (level, text) of every message shown in the banner

    def __init__(self, settings: Settings | None = None, bridge: EngineBridge | None = None):
        super().__init__()
        self.settings = settings or Settings()
        self.bridge = bridge or EngineBridge(self)
        # A remembered model that is gone or junk gives way to the default now, before any file is opened with it.
        self.model, stale_model = usable_model(self.settings.model)
        self.device: str = self.settings.device or "auto"
        self.temperature: float | None = self.settings.temperature
        self.model_infos: dict[str, object] = {}  # ModelInfo by name or path, as listed or met on loading
        self.loaded = None
        self.help_box: QMessageBox | None = None  # the Help menu's last box (it does not block the window)
        self._pending_load: int | None = None
        self._remember_load = True
        self._generate_after_load = False
        self._closed = False
        self._warned_model: str | None = None  # the untrained model last warned about, while it stays chosen

        self.setWindowTitle("Vocoscope")
        self.setPalette(dark_palette())
        self.setStyleSheet(STYLE_SHEET)
        self.setAcceptDrops(True)
        self.playback = PlaybackControl(self.settings, self.bridge, self)
        self._build_views()
        self._build_actions()
        self._build_toolbar()
        self._build_menus()
        self._build_docks()
        self._build_status()
        self.generation = GenerationControl(
            self.bridge,
            self.playback,
            OutputViews(self.output_waveform, self.output_mel, self.status_panel, self.shape_inspector),
            self,
        )
        self._connect_generation()
        self.exports = ExportControl(self.generation, lambda: self.loaded, self)
        self.exports.noted.connect(self.note)
        self.exports.failed.connect(self.show_error)
        self._connect_bridge()
        self._connect_playback()
        self._restore_geometry()
        self.update_actions()

        self.frame_clock = QTimer(self)
        self.frame_clock.setInterval(FRAME_INTERVAL_MS)
        self.frame_clock.timeout.connect(self._on_frame)
        self.frame_clock.start()
        self.bridge.list_models()
        self.playback.check_sound_output()
        if stale_model:
            self.show_error(stale_model, "warning")

    # --- construction ----------------------------------------------------------------------------------

    def _build_views(self) -> None:
        self.input_waveform = WaveformView("Input waveform", theme.INPUT_COLOUR)
        self.input_mel = SpectrogramView("Input mel spectrogram · green line: the pitch read from it")
        self.output_waveform = WaveformView("Generated waveform", theme.OUTPUT_COLOUR)
        self.output_mel = SpectrogramView("Generated mel spectrogram (computed as chunks arrive)")
        self.plots = [self.input_waveform, self.input_mel, self.output_waveform, self.output_mel]
        for plot in self.plots[1:]:
            plot.plot_item.setXLink(self.input_waveform.plot_item)
        for plot in self.plots[:-1]:
            plot.plot_item.getAxis("bottom").setStyle(showValues=False)
        for plot in self.plots:
            source = "input" if plot in (self.input_waveform, self.input_mel) else "output"
            plot.clicked_at.connect(lambda seconds, source=source: self.play_from(source, seconds))
        self.output_mel.plot_item.setLabel("bottom", "time (s)", color=theme.GRID_TEXT)
        self.input_mel.set_hint("Drop an audio or mel file here, or open one (Ctrl+O)")
        self.output_mel.set_hint("Generate (Ctrl+Return) to see the model's output here as it is made")
        self.input_waveform.plot_item.setXRange(0.0, 1.0, padding=0)
        self.input_waveform.plot_item.vb.setLimits(xMin=-0.05)

        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.setHandleWidth(3)
        for plot, stretch in zip(self.plots, (2, 3, 2, 3)):
            splitter.addWidget(plot)
            splitter.setStretchFactor(splitter.count() - 1, stretch)

        self.banner = Banner()
        central = QWidget()
        central.setObjectName("central")
        layout = QVBoxLayout(central)
        layout.setContentsMargins(6, 6, 6, 0)
        layout.setSpacing(6)
        layout.addWidget(self.banner)
        layout.addWidget(splitter, 1)
        self.setCentralWidget(central)

    def _action(self, text: str, slot, shortcut=None, tip: str = "") -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.setToolTip(f"{tip or text} ({QKeySequence(shortcut).toString()})" if shortcut else tip or text)
        action.triggered.connect(slot)
        return action

    def _build_actions(self) -> None:
        self.open_action = self._action(
            "Open…", self.choose_file, QKeySequence.StandardKey.Open, "Open an audio or mel file"
        )
        self.open_checkpoint_action = self._action(
            "Open checkpoint…", self.choose_checkpoint, tip="Use a model from a .safetensors checkpoint"
        )
        self.generate_action = self._action(
            "▶ Generate", self.generate, "Ctrl+Return", "Generate audio from the input's mel"
        )
        self.generate_again_action = self._action(
            "Generate again (same seed)",
            self.generate_again,
            "Ctrl+Shift+Return",
            "Generate with the last run's seed: the same model, input, temperature and device give the same audio",
        )
        self.stop_action = self._action("■ Stop", self.stop, "Esc", "Stop generation and playback")
        self.play_input_action = self._action("Play input", lambda: self.play("input"), tip="Play the input recording")
        self.play_output_action = self._action(
            "Play output", lambda: self.play("output"), tip="Play the generated audio, also while it is being generated"
        )
        self.stop_playback_action = self._action("Stop playback", self.playback.stop, tip="Stop playback")
        self.play_toggle_action = self._action(
            "Play / stop", self.toggle_playback, "Space", "Play the output (or the input), or stop playing"
        )
        self.compare_action = self._action(
            "Compare input / output",
            self.compare,
            "B",
            "While one plays, go on from the same moment in the other (A/B)",
        )
        self.export_action = self._action(
            "Export…", lambda: self.exports.choose_audio(), "Ctrl+E", "Save the generated audio as WAV or FLAC"
        )
        self.export_mel_action = self._action(
            "Export input mel…",
            lambda: self.exports.choose_mel(),  # made after the actions, with the generation it exports
            "Ctrl+Shift+E",
            "Save the input's mel, as the chosen model sees it, as .npy "
            "(n_mels, frames): to vocode again or to feed another tool",
        )
        self.quit_action = self._action("Quit", self.close, QKeySequence.StandardKey.Quit)
        self.fit_action = self._action("Zoom to fit", self.zoom_to_fit, "Ctrl+0", "Show the whole signal")
        self.difference_action = self._action(
            "Generated mel as difference to input",
            self.show_mel_difference,
            "Ctrl+D",
            "Show where the output's mel is louder (red) or quieter (blue) than the input mel it was made from",
        )
        self.difference_action.setCheckable(True)
        self.difference_action.setChecked(self.settings.mel_difference)
        self.postfilter_action = self._action("Post-filters", self.set_postfilters, tip=POSTFILTER_TIP)
        self.postfilter_action.setCheckable(True)
        self.postfilter_action.setChecked(self.settings.postfilters)
        self.guidance_action = self._action("Mel guidance", self.set_mel_guidance, tip=GUIDANCE_TIP)
        self.guidance_action.setCheckable(True)
        self.guidance_action.setChecked(self.settings.mel_guidance)
        # Window-wide shortcuts work whatever has focus; the play toggle and A/B are not on the toolbar.
        self.addAction(self.play_toggle_action)
        self.addAction(self.compare_action)

    def _build_toolbar(self) -> None:
        bar = QToolBar("Main")
        bar.setObjectName("main_toolbar")
        bar.setMovable(False)
        bar.addAction(self.open_action)
        bar.addSeparator()
        bar.addWidget(QLabel("Model"))
        self.model_chooser = ModelChooser()
        self.model_chooser.addItem(Path(self.model).name, self.model)
        self.model_chooser.model_chosen.connect(self.set_model)
        self.model_chooser.open_checkpoint_requested.connect(self.choose_checkpoint)
        bar.addWidget(self.model_chooser)
        bar.addWidget(QLabel("Temperature"))
        self.temperature_box = QDoubleSpinBox()
        self.temperature_box.setRange(0.0, 2.0)
        self.temperature_box.setSingleStep(0.05)
        self.temperature_box.setDecimals(2)
        self.temperature_box.setSpecialValueText("model's own")  # shown at 0
        self.temperature_box.setToolTip(TEMPERATURE_TIP)
        self.temperature_box.setValue(self.temperature or 0.0)
        self.temperature_box.valueChanged.connect(self.set_temperature)
        bar.addWidget(self.temperature_box)
        bar.addWidget(QLabel("Device"))
        self.device_chooser = QComboBox()
        self.device_chooser.addItem("Auto", "auto")
        self.device_chooser.addItem("CPU", "cpu")
        self.device_chooser.activated.connect(lambda i: self.set_device(self.device_chooser.itemData(i)))
        bar.addWidget(self.device_chooser)
        bar.addSeparator()
        for action in (self.generate_action, self.stop_action):
            bar.addAction(action)
        bar.addSeparator()
        # Short names under a "Play" label keep the whole bar within 1280 pixels; menus keep the full names.
        bar.addWidget(QLabel("Play"))
        for action, short in (
            (self.play_input_action, "Input"),
            (self.play_output_action, "Output"),
            (self.stop_playback_action, "Stop"),
        ):
            action.setIconText(short)
            bar.addAction(action)
        bar.addSeparator()
        bar.addAction(self.export_action)
        self.addToolBar(bar)
        self.toolbar = bar
        # A narrower window moves the last items behind the bar's extension button: give it an arrow that shows.
        overflow = bar.findChild(QToolButton, "qt_toolbar_ext_button")
        overflow.setIcon(overflow_icon())
        overflow.setToolTip("More of the toolbar")
        self._select_device(self.device)

    def _build_menus(self) -> None:
        menus = self.menuBar()
        file_menu = menus.addMenu("&File")
        file_menu.addAction(self.open_action)
        self.model_code = ModelCodeControl(self)  # File → Open model code…: the user's nn.Module in the Shapes dock
        self.model_code.failed.connect(self.show_error)
        file_menu.addAction(
            self._action(
                "Open model code…",
                self.model_code.open_dialog,
                tip="Show the shapes inside your own nn.Module (runs its code)",
            )
        )
        self.recent_menu = file_menu.addMenu("Open recent")
        file_menu.addAction(self.export_action)
        file_menu.addAction(self.export_mel_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        self._rebuild_recent_menu()

        model_menu = menus.addMenu("&Model")
        model_menu.addAction(self.open_checkpoint_action)
        model_menu.addAction(self.postfilter_action)
        model_menu.addAction(self.guidance_action)
        model_menu.addSeparator()
        model_menu.addAction(self.generate_action)
        model_menu.addAction(self.generate_again_action)
        model_menu.addAction(self.stop_action)

        playback_menu = menus.addMenu("&Playback")
        for action in (
            self.play_input_action,
            self.play_output_action,
            self.stop_playback_action,
            self.play_toggle_action,
            self.compare_action,
        ):
            playback_menu.addAction(action)
        self.playback.attach_output_menu(playback_menu.addMenu("Output device"))

        self.view_menu = menus.addMenu("&View")
        self.view_menu.addAction(self.fit_action)
        self.view_menu.addAction(self.difference_action)

        help_menu = menus.addMenu("&Help")
        help_menu.addAction(
            self._action("Keyboard shortcuts", self.show_shortcuts, "F1", "Every shortcut of the window")
        )
        help_menu.addAction(self._action("About Vocoscope", self.show_about, tip="Version, and what it runs on"))

    def _build_docks(self) -> None:
        self.messages = MessagesPanel()
        self.messages_dock = QDockWidget("Messages", self)
        self.messages_dock.setObjectName("messages_dock")
        self.messages_dock.setWidget(self.messages)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.messages_dock)
        self.view_menu.addAction(self.messages_dock.toggleViewAction())
        self.resizeDocks([self.messages_dock], [96], Qt.Orientation.Vertical)
        self.shape_inspector = ShapeInspectorDock(self)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.shape_inspector)
        self.resizeDocks([self.shape_inspector], [460], Qt.Orientation.Horizontal)
        self.view_menu.addAction(self.shape_inspector.toggleViewAction())

    def _build_status(self) -> None:
        self.status_panel = StatusPanel()
        bar = self.statusBar()
        bar.setSizeGripEnabled(False)
        self.activity = ActivityLabel("Ready")
        bar.addWidget(self.activity, 1)
        bar.addPermanentWidget(self.status_panel)
        bar.addPermanentWidget(self.playback.sound_label)
        self.playback.sound_label.setObjectName("sound_label")  # the style sheet keeps it off the window's edge

    def _connect_bridge(self) -> None:
        queued = Qt.ConnectionType.QueuedConnection
        self.bridge.models_listed.connect(self._on_models_listed, queued)
        self.bridge.input_loaded.connect(self._on_input_loaded, queued)
        self.bridge.input_failed.connect(self._on_input_failed, queued)
        self.bridge.job_started.connect(self.generation.on_started, queued)
        self.bridge.job_finished.connect(self.generation.on_finished, queued)
        self.bridge.job_failed.connect(self.generation.on_failed, queued)

    def _connect_generation(self) -> None:
        self.generation.activity.connect(self.activity.setText)
        self.generation.started.connect(self.apply_mel_difference)
        self.generation.noted.connect(self.note)
        self.generation.warned.connect(lambda text: self.show_error(text, "warning"))
        self.generation.failed.connect(self._on_generation_failed)
        self.generation.ended.connect(self._on_generation_ended)

    def _on_generation_ended(self, event) -> None:
        self.paint_now()
        self.update_actions()
        self.generation_done.emit(event)

    def _on_generation_failed(self, message: str) -> None:
        self.show_error(message)
        self.update_actions()

    def _connect_playback(self) -> None:
        self.playback.changed.connect(self.update_actions)
        self.playback.playhead_moved.connect(self._move_playhead)
        self.playback.progress.connect(self.status_panel.show_playback)
        self.playback.failed.connect(self.show_error)
        self.playback.noted.connect(self.note)

    def _restore_geometry(self) -> None:
        geometry, state = self.settings.geometry, self.settings.window_state
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(1280, 820)
        if state is not None:
            self.restoreState(state)

    # --- messages --------------------------------------------------------------------------------------

    def show_shortcuts(self) -> None:
        """F1: the shortcuts of every action, in a box that does not block the window."""
        self._show_help("Keyboard shortcuts", help_views.shortcuts_html(self.findChildren(QAction)))

    def show_about(self) -> None:
        self._show_help("About Vocoscope", help_views.about_text())

    def _show_help(self, title: str, text: str) -> None:
        self.help_box = QMessageBox(QMessageBox.Icon.NoIcon, title, text, QMessageBox.StandardButton.Close, self)
        self.help_box.setModal(False)
        self.help_box.show()

    def show_error(self, text: str, level: str = "error") -> None:
        """Show `text` in place (the banner) and keep it in the messages panel."""
        self.messages.add(level, text)
        self.banner.show_message(level, text)
        self.activity.setText(text.splitlines()[0][:120])
        self.error_shown.emit(level, text)

    def note(self, text: str) -> None:
        """A line in the messages panel and the status bar, for things worth knowing but not wrong."""
        self.messages.add("info", text)
        self.activity.setText(text)

    # --- models and devices ----------------------------------------------------------------------------

    def _on_models_listed(self, models: list, devices: list, problem: str | None) -> None:
        # Keep the remembered model choosable when it is a checkpoint, or when the built-ins could not be listed.
        known = {m.name for m in models}
        self.model_infos.update({m.name: m for m in models})
        current = [self.model] if self.model not in known and (not models or Path(self.model).exists()) else []
        checkpoints = list(dict.fromkeys(current + [p for p in self.settings.recent_checkpoints if Path(p).exists()]))
        self.model_chooser.populate(models, checkpoints)
        if not self.model_chooser.select(self.model):  # a checkpoint that went after start-up checked it
            stale_model = usable_model(self.model)[1]
            if stale_model:
                self.show_error(stale_model, "warning")
            self.model = DEFAULT_MODEL
            self.model_chooser.select(self.model)
        self.device_chooser.clear()
        self.device_chooser.addItem("Auto", "auto")
        for device in devices:
            self.device_chooser.addItem(device.label, device.name)
        if not self._select_device(self.device):
            self.device = "auto"
            self._select_device(self.device)
        if problem:
            self.show_error(problem, "warning")
        self._sync_model_controls()

    def _select_device(self, name: str) -> bool:
        index = self.device_chooser.findData(name)
        if index >= 0:
            self.device_chooser.setCurrentIndex(index)
        return index >= 0

    def set_model(self, name_or_path: str) -> None:
        """Use another model; a loaded input is read again for its mel settings."""
        self.model = str(name_or_path)
        self.settings.model = self.model
        self.model_chooser.select(self.model)
        self.note(f"Model: {self.model_chooser.currentText()}")
        self._sync_model_controls()
        if self.loaded is not None:
            self.open_file(self.loaded.path, remember=False)

    def set_device(self, name: str) -> None:
        self.device = name
        self.settings.device = name
        self._select_device(name)

    def set_temperature(self, value: float | None) -> None:
        """The temperature the next generations draw at; None or 0 for each model's own."""
        self.temperature = value or None
        self.settings.temperature = self.temperature
        if self.temperature_box.value() != (self.temperature or 0.0):
            self.temperature_box.setValue(self.temperature or 0.0)

    def set_postfilters(self, on: bool) -> None:
        """Whether the next generations use the model's post-filters (off: its raw output)."""
        self.settings.postfilters = bool(on)
        if self.postfilter_action.isChecked() != bool(on):
            self.postfilter_action.setChecked(bool(on))

    def set_mel_guidance(self, on: bool) -> None:
        """Whether the next generations choose among the model's candidate draws (off: one draw, every one kept)."""
        self.settings.mel_guidance = bool(on)
        if self.guidance_action.isChecked() != bool(on):
            self.guidance_action.setChecked(bool(on))

    @property
    def sampling(self) -> Sampling:
        """What the next generation is asked for: the temperature box's where the model has one (None: the model's
        own), one draw with every one kept where mel guidance is off, the raw output (post-filters at 0) where the
        post-filters are off."""
        guidance_off = self.guidance_action.isEnabled() and not self.guidance_action.isChecked()
        postfilters_off = self.postfilter_action.isEnabled() and not self.postfilter_action.isChecked()
        raw = 0.0 if postfilters_off else None
        temperature = self.temperature if self.temperature_box.isEnabled() else None
        return Sampling(
            temperature=temperature,
            candidates=1 if guidance_off else None,
            pitch_postfilter=raw,
            envelope_postfilter=raw,
        )

    def _sync_model_controls(self) -> None:
        """Everything that follows the chosen model's ModelInfo: the temperature box, the switches, the warning."""
        self._sync_temperature_box()
        self._sync_untrained_warning()

    def _sync_untrained_warning(self) -> None:
        """An untrained model (random weights) is named so over the output in the warning colour while it is chosen,
        and in the messages panel and the status line when it is chosen."""
        info = self.model_infos.get(self.model)
        warning = untrained_warning(info.name, info.trained) if info is not None else None
        title = "Generated waveform"
        if warning:
            alarm = f"⚠ {info.name} is untrained (random weights)"
            title += f" · <span style='color:{theme.WARNING_COLOUR}'>{alarm}</span>"
            if self._warned_model != self.model:
                self.messages.add("warning", warning)
                self.activity.setText(warning)
        self._warned_model = self.model if warning else None
        self.output_waveform.set_title(title)

    def _sync_temperature_box(self) -> None:
        """Show the chosen model's own temperature in the box, and disable the box for a model without one; the
        post-filter switch likewise."""
        info = self.model_infos.get(self.model)
        own = info.sampling if info is not None else Sampling()
        passes = f" ×{own.envelope_passes}" if (own.envelope_passes or 1) > 1 else ""
        filters = (("pitch", own.pitch_postfilter, ""), ("envelope", own.envelope_postfilter, passes))
        strengths = [f"{words} {strength:g}{times}" for words, strength, times in filters if strength]
        self.postfilter_action.setEnabled(bool(strengths))
        self.postfilter_action.setText(f"Post-filters ({', '.join(strengths)})" if strengths else "Post-filters")
        candidates = own.candidates or 1
        self.guidance_action.setEnabled(candidates > 1)
        self.guidance_action.setText(f"Mel guidance (best of {candidates})" if candidates > 1 else "Mel guidance")
        without = info is not None and own.temperature is None
        self.temperature_box.setEnabled(not without)
        self.temperature_box.setSpecialValueText(
            "model's own" + (f" ({own.temperature:g})" if own.temperature is not None else "")
        )
        self.temperature_box.setToolTip(
            "This model draws without a temperature (mixture or dual softmax)." if without else TEMPERATURE_TIP
        )

    def choose_checkpoint(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open checkpoint", "", "Checkpoints (*.safetensors);;All files (*)")
        if path:
            self.use_checkpoint(path)

    def use_checkpoint(self, path: str) -> None:
        """Add a checkpoint to the model chooser (and to those it lists next time) and use it."""
        path = self.settings.add_recent_checkpoint(path)[0]
        self.model_chooser.add_checkpoint(path, select=False)
        self.set_model(path)

    # --- input -----------------------------------------------------------------------------------------

    def choose_file(self) -> None:
        start = str(Path(self.settings.recent_files[0]).parent) if self.settings.recent_files else ""
        path, _ = QFileDialog.getOpenFileName(self, "Open audio or mel", start, OPEN_FILTER)
        if path:
            self.open_file(path)

    def open_file(self, path: str | Path, remember: bool = True) -> None:
        """Read `path` for the current model (on the loader thread); the views change only if it works. Another
        project's vocoder checkpoint is offered for import instead (app/import_offer.py)."""
        if offer_import(self, Path(path)):
            return
        self._pending_load = self.bridge.load_input(path, self.model)
        self._remember_load = remember
        self.activity.setText(f"Reading {Path(path).name}…")
        self.update_actions()

    def open_example_if_first_run(self) -> None:
        """On the very first run, open the first example input bundled in resources/examples."""
        if not self.settings.first_run:
            return
        self.settings.mark_first_run_done()
        examples = sorted(p for p in EXAMPLES.glob("*") if p.suffix.lower() in (".wav", ".flac"))
        if examples:
            self.open_file(examples[0], remember=False)

    def _on_input_loaded(self, loaded) -> None:
        if loaded.request != self._pending_load or self._closed:
            return
        self._pending_load = None
        previous = self.loaded
        self.loaded = loaded
        self.model_infos[loaded.model] = loaded.model_info
        self._sync_model_controls()
        conditioning = loaded.conditioning
        config = conditioning.mel_config
        self.input_waveform.set_audio(conditioning.audio, config.sample_rate)
        self.input_mel.set_mel(conditioning.mel, config)
        if loaded.pitch is not None:
            self.input_mel.set_pitch(loaded.pitch.f0, loaded.pitch.voiced)
        if previous is None or previous.path != loaded.path:
            self.generation.clear()
        if self._remember_load:
            self.settings.add_recent_file(loaded.path)
            self._rebuild_recent_menu()
        seconds = conditioning.num_samples / config.sample_rate
        self.setWindowTitle(f"{loaded.path.name} — Vocoscope")
        source = f"{conditioning.source_rate} Hz audio" if conditioning.audio is not None else "mel file (no waveform)"
        self.input_waveform.set_title(f"Input waveform · {loaded.path.name} · {source} · {seconds:.2f} s")
        self.zoom_to_fit()
        self.banner.hide()
        self.activity.setText(f"Loaded {loaded.path.name}: {conditioning.frames} mel frames, {seconds:.2f} s")
        self.update_actions()
        self.input_ready.emit(loaded)
        if self._generate_after_load:
            self._generate_after_load = False
            self.generate()

    def _on_input_failed(self, failure) -> None:
        if failure.request != self._pending_load or self._closed:
            return
        self._pending_load = None
        self._generate_after_load = False
        self.show_error(failure.message)
        self.update_actions()

    def _rebuild_recent_menu(self) -> None:
        self.recent_menu.clear()
        for path in self.settings.recent_files:
            action = self.recent_menu.addAction(Path(path).name)
            action.setToolTip(path)
            action.triggered.connect(lambda checked=False, p=path: self.open_file(p))
        self.recent_menu.setEnabled(bool(self.settings.recent_files))

    # --- drag and drop ---------------------------------------------------------------------------------

    def dragEnterEvent(self, event) -> None:
        if any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        """A dropped checkpoint (.safetensors) becomes the model; a dropped recording or mel is opened."""
        files = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        checkpoints = [name for name in files if name.lower().endswith(".safetensors")]
        inputs = [name for name in files if name not in checkpoints]
        if files:
            event.acceptProposedAction()
        if checkpoints:
            self.use_checkpoint(checkpoints[0])
        if inputs:
            self.open_file(inputs[0])

    # --- generation (app/generation_control.py) --------------------------------------------------------

    def generate(self) -> None:
        """Generate from the loaded input with the chosen model and device (queued after a pending read)."""
        if self.generation.running:
            return
        if self._pending_load is not None:
            self._generate_after_load = True
            return
        if self.loaded is None:
            self.generation.next_seed = None
            self.show_error(
                "Nothing to generate from: open an audio or mel file first (Ctrl+O, or drop it here).", "warning"
            )
            return
        self.banner.hide()
        self.generation.start(
            GenerationRequest(
                self.model,
                self.model_chooser.currentText(),
                self.device,
                self.device_chooser.currentText(),
                self.loaded.conditioning,
                self.loaded.path,
                self.sampling,
            )
        )
        self.update_actions()

    def generate_again(self) -> None:
        """Ctrl+Shift+Return: generate with the last generation's seed."""
        if self.generation.seed is None or self.generation.running:
            return
        self.generation.next_seed = self.generation.seed
        self.generate()

    def stop(self) -> None:
        """Esc: stop generation and playback."""
        self.generation.stop()
        self.playback.stop()

    # --- playback --------------------------------------------------------------------------------------

    def play(self, source: str, start_seconds: float = 0.0) -> None:
        """Play the input, or the output (from `start_seconds`; from its start, following generation, while it is
        still being generated)."""
        if source == "input":
            if self.loaded is None or self.loaded.conditioning.audio is None:
                self.playback.stop()
                return
            conditioning = self.loaded.conditioning
            self.playback.play_recording(
                source, conditioning.audio, conditioning.mel_config.sample_rate, start_seconds=start_seconds
            )
        elif self.generation.output is not None:  # the player follows the engine's stream, finished or growing
            self.playback.play_output(self.generation.output, start_seconds=start_seconds)
        else:
            self.playback.stop()

    def play_from(self, source: str, seconds: float) -> None:
        """A click on a plot: play its row's audio (the input recording, or the finished output) from `seconds`,
        jumping there if it already plays. A mel input has no audio to play, nor an output still being made."""
        if source == "input":
            conditioning = self.loaded.conditioning if self.loaded is not None else None
            audio = conditioning.audio if conditioning is not None else None
            rate = conditioning.mel_config.sample_rate if conditioning is not None else 0
        else:
            audio, rate = self.generation.audio, self.generation.rate
        if audio is None or seconds >= len(audio) / rate:
            return
        if not self.playback.seek(source, seconds):
            self.play(source, start_seconds=seconds)

    def compare(self) -> None:
        """B: while the input or the finished output plays, go on from the same moment in the other (A/B)."""
        player, playing = self.playback.player, self.playback.playing_source
        if player is None or playing is None or self.playback.live:
            return
        other = "output" if playing == "input" else "input"
        has_input_audio = self.loaded is not None and self.loaded.conditioning.audio is not None
        if (other == "output" and self.generation.audio is None) or (other == "input" and not has_input_audio):
            return
        self.play(other, start_seconds=player.playhead_seconds)

    def toggle_playback(self) -> None:
        """Space: stop if playing, else play the output if there is one, else the input."""
        player = self.playback.player
        if player is not None and not player.finished:
            self.playback.stop()
        elif self.generation.audio is not None or self.generation.running:
            self.play("output")
        else:
            self.play("input")

    def _move_playhead(self, seconds: float | None) -> None:
        for plot in self.plots:
            plot.set_playhead(seconds)

    # --- painting --------------------------------------------------------------------------------------

    def _on_frame(self) -> None:
        """About 30 times a second: look after playback (also while minimised: a clip that ends or a stopped
        player is closed then too), and while the window shows, paint what arrived and update the figures."""
        self.playback.on_frame()
        if self.isMinimized() or not self.isVisible():
            return
        for plot in self.plots:
            plot.refresh()
        self.generation.on_frame()

    def paint_now(self) -> None:
        """Paint everything pending at once (end of a job, before a screenshot)."""
        for plot in self.plots:
            plot.refresh()

    def show_mel_difference(self, on: bool) -> None:
        """Ctrl+D: the generated mel as its difference to the input mel (remembered), or as itself."""
        self.settings.mel_difference = bool(on)
        self.difference_action.setChecked(bool(on))
        self.apply_mel_difference()

    def apply_mel_difference(self) -> None:
        conditioning = self.generation.conditioning or (self.loaded.conditioning if self.loaded is not None else None)
        on = self.difference_action.isChecked() and conditioning is not None
        self.output_mel.set_reference(conditioning.mel if on else None)

    def zoom_to_fit(self) -> None:
        seconds = 0.0
        if self.loaded is not None:
            seconds = self.loaded.conditioning.num_samples / self.loaded.conditioning.mel_config.sample_rate
        seconds = max(seconds, self.output_waveform.num_samples / self.generation.rate, 0.1)
        self.input_waveform.plot_item.setXRange(0.0, seconds, padding=0.01)

    def update_actions(self) -> None:
        has_input = self.loaded is not None
        has_audio_input = has_input and self.loaded.conditioning.audio is not None
        has_output = self.generation.audio is not None and len(self.generation.audio) > 0
        running = self.generation.running
        self.generate_action.setEnabled(has_input and not running)
        self.generate_again_action.setEnabled(has_input and not running and self.generation.seed is not None)
        self.stop_action.setEnabled(running or self.playback.player is not None)
        self.play_input_action.setEnabled(has_audio_input)
        self.play_output_action.setEnabled(has_output or running)
        self.stop_playback_action.setEnabled(self.playback.player is not None)
        self.export_action.setEnabled(has_output and not running)
        self.export_mel_action.setEnabled(has_input)

    # --- closing ---------------------------------------------------------------------------------------

    def closeEvent(self, event) -> None:
        """Save the layout, stop sound and the job, join the worker threads."""
        self._closed = True
        self.frame_clock.stop()
        self.settings.geometry = self.saveGeometry()
        self.settings.window_state = self.saveState()
        self.settings.sync()
        self.playback.close()
        self.bridge.shutdown()
        super().closeEvent(event)
