"""The shape inspector: a dock with the preflight checks, the module tree and its shapes, the cell step and the
training view of the model being run, with the failing check and the failing module highlighted.

API for the main window (helper "window"):

    dock = ShapeInspectorDock(parent)              # a QDockWidget titled "Shapes"; add it with addDockWidget
    dock.on_engine_event(event)                    # on the GUI thread, for every engine.jobs event:
        JobStarted  with .shapes (engine.shapes.Inspection or None): fills the checks and the tables
        ChunkReady  updates the live line (samples done, real-time factor, the cell's current sample)
        JobFailed   with .shapes: fills them and highlights the failing check and module; shows .message
        JobFinished marks the run done (or cancelled)
    dock.show_inspection(verdict, trace)           # show an engine.shapes Verdict and Trace directly (either None)
    dock.clear()
    dock.highlighted() -> list[(section, name)]    # the highlighted rows: ("check", name) or ("module", dotted)
    dock.module_item(name) / dock.check_item(name) # the tree rows, for the window's selection and for tests
    dock.moduleActivated (Signal(str))             # a module row was double-clicked: its dotted name

Everything shown comes from plain data computed on the engine thread; this view only paints.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QDockWidget, QLabel, QTabWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from app.views.shape_table import ShapeTable
from app.views.theme import ERROR_COLOUR

HIGHLIGHT = QColor(ERROR_COLOUR)
HIGHLIGHT_TEXT = QColor("#ffffff")
CONTAINERS = ("ModuleList", "ModuleDict", "Sequential")


def _shape(shape) -> str:
    return "(" + ", ".join(str(n) for n in shape) + ")"


def _shapes(shapes) -> str:
    """One shape a line, so a narrow column holds a module's several inputs or outputs."""
    return "\n".join(_shape(s) for s in shapes)


class ShapeInspectorDock(QDockWidget):
    """Checks, module tree, cell step and training view for one model and input; see the module docstring."""

    moduleActivated = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Shapes", parent)
        self.setObjectName("shape_inspector")
        body = QWidget(self)
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        self.status = QLabel("No model run yet.", body)
        self.status.setWordWrap(True)
        self.live = QLabel("", body)
        self.explanation = QLabel("", body)
        self.explanation.setWordWrap(True)
        self.explanation.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.explanation.setStyleSheet(f"color: {ERROR_COLOUR};")
        self.explanation.hide()
        self.checks = ShapeTable(("check", "found", "expected", "fix"), prose=(1, 2, 3))
        # A module's class comes last: its name (and depth) and shapes are what a narrow dock must keep in view.
        self.modules = ShapeTable(("module", "input shape", "output shape", "dtype", "parameters", "class"))
        self.modules.itemDoubleClicked.connect(self._activated)
        self.steps = ShapeTable(("symbol", "shape", "dtype", "meaning"), prose=(3,))
        self.training = ShapeTable(("function", "input", "input dtype", "target", "target dtype"))
        for flat in (self.checks, self.steps, self.training):
            flat.setRootIsDecorated(False)
        self.checks.setColumnHidden(3, True)  # until a check fails there is no fix to show
        self.tabs = QTabWidget(body)
        for tree, title in ((self.checks, "Checks"), (self.modules, "Modules"), (self.steps, "Cell step"),
                            (self.training, "Training")):
            self.tabs.addTab(tree, title)
        for widget in (self.status, self.live, self.explanation):
            layout.addWidget(widget)
        layout.addWidget(self.tabs, 1)  # the labels take their lines, the tables the rest
        self.setWidget(body)
        self._module_items: dict[str, QTreeWidgetItem] = {}
        self._check_items: dict[str, QTreeWidgetItem] = {}
        self._highlighted: list[tuple[str, str]] = []
        self._step_title = ""
        self._job: int | None = None

    # --- what the window calls --------------------------------------------------------------------------------

    def on_engine_event(self, event) -> None:
        """Take one engine.jobs event (on the GUI thread)."""
        kind = type(event).__name__
        if kind == "JobStarted":
            self._job = event.job_id
            self._show_shapes(getattr(event, "shapes", None))
            self.live.setText(f"generating {event.total_samples:,} samples at {event.sample_rate} Hz")
        elif kind == "ChunkReady" and event.job_id == self._job:
            stats, end = event.stats, event.end
            self.live.setText(f"generating: {stats.samples_done:,} / {stats.total_samples:,} samples, "
                              f"{stats.real_time_factor:.2f}× real time")
            if self._step_title:
                self.tabs.setTabText(2, f"Cell step (now at sample {end:,})")
        elif kind == "JobFailed":
            self._show_shapes(getattr(event, "shapes", None))
            self.live.setText("failed")
            if not self.explanation.text():
                self._explain(event.message)
        elif kind == "JobFinished" and event.job_id == self._job:
            self.live.setText(f"{'cancelled' if event.cancelled else 'done'}: {len(event.audio):,} samples")
            self.tabs.setTabText(2, "Cell step")

    def show_inspection(self, verdict, trace) -> None:
        """Show an engine.shapes Verdict and Trace (either may be None); failing rows are highlighted."""
        self.clear()
        if verdict is not None:
            self._fill_checks(verdict)
        if trace is not None:
            self._fill_trace(trace)
        problems = [] if verdict is None else [c.name for c in verdict.checks if not c.ok]
        failed = trace is not None and trace.error
        if problems or failed:
            self.status.setText("Problems: " + ", ".join(problems + (["forward pass"] if failed else [])))
            self.tabs.setCurrentIndex(0 if problems else 1)
        else:
            self.status.setText("All checks passed." if verdict is not None else "")
        if failed:
            self._explain(trace.error)
        elif problems:
            first = next(c for c in verdict.checks if not c.ok)
            self._explain(f"{first.name}: found {first.found}; expected {first.expected}. {first.fix}")

    def clear(self) -> None:
        for tree in (self.checks, self.modules, self.steps, self.training):
            tree.clear()
        self._module_items.clear()
        self._check_items.clear()
        self._highlighted.clear()
        self._step_title = ""
        self.status.setText("")
        self._explain("")
        self.tabs.setTabText(2, "Cell step")

    def highlighted(self) -> list[tuple[str, str]]:
        return list(self._highlighted)

    def module_item(self, name: str) -> QTreeWidgetItem:
        return self._module_items[name]

    def check_item(self, name: str) -> QTreeWidgetItem:
        return self._check_items[name]

    # --- filling the trees ------------------------------------------------------------------------------------

    def _show_shapes(self, inspection) -> None:
        if inspection is not None:
            self.show_inspection(inspection.verdict, inspection.trace)

    def _fill_checks(self, verdict) -> None:
        for check in verdict.checks:
            item = self.checks.add_row([check.name, check.found, check.expected, "" if check.ok else check.fix])
            item.setToolTip(0, check.fix or check.expected)
            self._check_items[check.name] = item
            if not check.ok:
                self._highlight(item, ("check", check.name), f"{check.fix}")
        self.checks.setColumnHidden(3, all(check.ok for check in verdict.checks))  # no fix to show
        self.checks.fit_columns()

    def _fill_trace(self, trace) -> None:
        self.setWindowTitle(f"Shapes: {trace.model} ({trace.family}), {trace.frames} frames")
        for record in trace.modules:
            label = record.name.rsplit(".", 1)[-1] or trace.model
            if record.calls:
                inputs = _shapes(record.inputs)
            else:
                inputs = "container" if record.kind in CONTAINERS else "not called"
            parent = self._module_items.get(record.name.rpartition(".")[0]) if record.name else None
            item = self.modules.add_row([label, inputs, _shapes(record.outputs), record.dtype,
                                         f"{record.parameters:,}", record.kind], parent)
            item.setData(0, Qt.UserRole, record.name)
            item.setToolTip(0, f"{record.name or trace.model} ({record.kind})")
            self._module_items[record.name] = item
            if record.failed:
                self._highlight(item, ("module", record.name), trace.error or "")
        self.modules.expandAll()
        for record in trace.steps:
            self.steps.add_row([record.symbol, _shape(record.shape), record.dtype, record.meaning])
        self._step_title = trace.step_title
        for record in trace.training:
            self.training.add_row([record.function, _shape(record.input), record.input_dtype, _shape(record.target),
                                   record.target_dtype])
        for table in (self.modules, self.steps, self.training):
            table.fit_columns()
        failed = trace.failed_module
        if failed in self._module_items:
            self.modules.scrollToItem(self._module_items[failed])

    def _explain(self, text: str) -> None:
        """What went wrong, in words, above the tables; the line is gone while there is nothing to say."""
        self.explanation.setText(text)
        self.explanation.setVisible(bool(text))

    def _highlight(self, item: QTreeWidgetItem, key: tuple[str, str], explanation: str) -> None:
        for column in range(item.columnCount()):
            item.setBackground(column, QBrush(HIGHLIGHT))
            item.setForeground(column, QBrush(HIGHLIGHT_TEXT))
            item.setToolTip(column, explanation)
        self._highlighted.append(key)

    def _activated(self, item: QTreeWidgetItem, _column: int) -> None:
        self.moduleActivated.emit(item.data(0, Qt.UserRole))
