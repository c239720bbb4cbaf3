"""The shape inspector: a dock with the preflight checks, the module tree and its shapes, the cell step and the
training view of the model being run, with the failing check and the failing module highlighted.

API for the main window (helper "window"):

    dock = ShapeInspectorDock(parent)              # a QDockWidget titled "Shapes"; add it with addDockWidget
    dock.on_engine_event(event)                    # on the GUI thread, for every engine.jobs event:
        JobStarted  with .shapes (engine.shapes.Inspection or None): fills the checks and the tables, a slice at a
                    time (below); an inspection equal to the one shown is left as it is
        ChunkReady  updates the live line (samples done, real-time factor)
        JobFailed   with .shapes: fills them and highlights the failing check and module; shows .message
        JobFinished marks the run done (or cancelled)
    dock.show_inspection(verdict, trace)           # show an engine.shapes Verdict and Trace (either None) at once
    dock.filling -> bool                           # whether a sliced fill has rows still to add
    dock.clear()
    dock.highlighted() -> list[(section, name)]    # the highlighted rows: ("check", name) or ("module", dotted)
    dock.module_item(name) / dock.check_item(name) # the tree rows, for the window's selection and for tests
    dock.moduleActivated (Signal(str))             # a module row was double-clicked: its dotted name

Everything shown comes from plain data computed on the engine thread; this view only paints. A job's inspection
arrives as generation starts, when the GUI thread must keep its frames coming: its rows go in a slice at a time (a
slice ends once it has taken SLICE_SECONDS of the GUI thread's time), the event loop running between slices, and the
dock is painted once, when they are all in; a table's columns are fitted to its rows (the costly part: every cell's
size is asked for) only once it shows (app/views/shape_table.py). Filled at once, the default model's rows took the GUI
thread 36-68 ms; sliced, 1-9 ms a turn of the event loop (tests/test_shape_inspector_slices.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QDockWidget, QLabel, QTabWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from app.views.shape_table import ShapeTable
from app.views.theme import ERROR_COLOUR

HIGHLIGHT = QColor(ERROR_COLOUR)
HIGHLIGHT_TEXT = QColor("#ffffff")
CONTAINERS = ("ModuleList", "ModuleDict", "Sequential")
# The GUI thread's time one slice of a fill may take. Beside two CPU-bound processes on two cores the GUI thread's
# work takes three to five times as long on the clock as on the CPU, and its 10 ms ticks must not stop for 100 ms.
SLICE_SECONDS = 0.003


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
        for tree, title in (
            (self.checks, "Checks"),
            (self.modules, "Modules"),
            (self.steps, "Cell step"),
            (self.training, "Training"),
        ):
            self.tabs.addTab(tree, title)
        for widget in (self.status, self.live, self.explanation):
            layout.addWidget(widget)
        layout.addWidget(self.tabs, 1)  # the labels take their lines, the tables the rest
        self.setWidget(body)
        self._module_items: dict[str, QTreeWidgetItem] = {}
        self._check_items: dict[str, QTreeWidgetItem] = {}
        self._highlighted: list[tuple[str, str]] = []
        self._job: int | None = None
        self._shown = None  # the (verdict, trace) shown or being filled
        self._filling: Iterator[bool] | None = None  # the rest of a sliced fill (see _rows)
        self._next_slice = QTimer(self)
        self._next_slice.setSingleShot(True)
        self._next_slice.timeout.connect(self._fill_slice)

    # --- what the window calls --------------------------------------------------------------------------------

    def on_engine_event(self, event) -> None:
        """Take one engine.jobs event (on the GUI thread)."""
        kind = type(event).__name__
        if kind == "JobStarted":
            self._job = event.job_id
            self._show_shapes(getattr(event, "shapes", None), sliced=True)
            self.live.setText(f"generating {event.total_samples:,} samples at {event.sample_rate} Hz")
        elif kind == "ChunkReady" and event.job_id == self._job:
            # The live line only: a tab's title that changes its width lays out and paints the whole dock again.
            stats = event.stats
            self.live.setText(
                f"generating: {stats.samples_done:,} / {stats.total_samples:,} samples, "
                f"{stats.real_time_factor:.2f}× real time"
            )
        elif kind == "JobFailed":
            self._show_shapes(getattr(event, "shapes", None))
            self.live.setText("failed")
            if not self.explanation.text():
                self._explain(event.message)
        elif kind == "JobFinished" and event.job_id == self._job:
            self.live.setText(f"{'cancelled' if event.cancelled else 'done'}: {len(event.audio):,} samples")

    def show_inspection(self, verdict, trace) -> None:
        """Show an engine.shapes Verdict and Trace (either may be None) at once; failing rows are highlighted."""
        self._start_filling(verdict, trace)
        for _ in self._filling:
            pass
        self._filled()

    @property
    def filling(self) -> bool:
        return self._filling is not None

    def _start_filling(self, verdict, trace) -> None:
        """Clear the dock, say what the inspection found, and make the steps that add its rows."""
        self.clear()
        self._shown = (verdict, trace)
        self._summarise(verdict, trace)
        self._filling = self._rows(verdict, trace)
        self.tabs.setUpdatesEnabled(False)  # painted once, when the rows are in, not after every slice

    def _fill_slice(self) -> None:
        """Add rows until SLICE_SECONDS of this thread's time are spent, or until a costly step is next, which opens
        the next slice; that follows once the event loop has run."""
        if self._filling is None:
            return
        start = time.thread_time()
        for costly_step_next in self._filling:
            if costly_step_next or time.thread_time() - start >= SLICE_SECONDS:
                self._next_slice.start(0)
                return
        self._filled()

    def _filled(self) -> None:
        self._filling = None
        self.tabs.setUpdatesEnabled(True)

    def _rows(self, verdict, trace) -> Iterator[bool]:
        """The fill as steps: a row each, then each table's columns fitted. Before each step it yields whether the
        step is costly (a shown table's columns: every cell's size is asked for), to be done in a slice of its own."""
        if verdict is not None:
            yield from self._fill_checks(verdict)
        if trace is not None:
            yield from self._fill_trace(trace)
        failed = trace.failed_module if trace is not None else None
        if failed in self._module_items:
            self.modules.scrollToItem(self._module_items[failed])
        for table in (self.checks, self.modules, self.steps, self.training):
            yield table.isVisible()  # a hidden table fits when it shows (app/views/shape_table.py), at no cost now
            table.fit_columns()

    def _summarise(self, verdict, trace) -> None:
        """The status line, the explanation and the tab to look at first."""
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
        self._next_slice.stop()
        self._filled()
        self._shown = None
        for tree in (self.checks, self.modules, self.steps, self.training):
            tree.clear()
        self._module_items.clear()
        self._check_items.clear()
        self._highlighted.clear()
        self.status.setText("")
        self._explain("")

    def highlighted(self) -> list[tuple[str, str]]:
        return list(self._highlighted)

    def module_item(self, name: str) -> QTreeWidgetItem:
        return self._module_items[name]

    def check_item(self, name: str) -> QTreeWidgetItem:
        return self._check_items[name]

    # --- filling the trees ------------------------------------------------------------------------------------

    def _show_shapes(self, inspection, sliced: bool = False) -> None:
        """Show `inspection` unless it is the one shown: at once, or `sliced` (the first slice when the event loop
        next runs)."""
        if inspection is None or self._shown == (inspection.verdict, inspection.trace):
            return
        if sliced:  # after what else the event's handlers do (the output views follow the new stream)
            self._start_filling(inspection.verdict, inspection.trace)
            self._next_slice.start(0)
        else:
            self.show_inspection(inspection.verdict, inspection.trace)

    def _fill_checks(self, verdict) -> Iterator[bool]:
        self.checks.setColumnHidden(3, all(check.ok for check in verdict.checks))  # no fix to show
        for check in verdict.checks:
            yield False
            item = self.checks.add_row([check.name, check.found, check.expected, "" if check.ok else check.fix])
            item.setToolTip(0, check.fix or check.expected)
            self._check_items[check.name] = item
            if not check.ok:
                self._highlight(item, ("check", check.name), f"{check.fix}")

    def _fill_trace(self, trace) -> Iterator[bool]:
        self.setWindowTitle(f"Shapes: {trace.model} ({trace.family}), {trace.frames} frames")
        for record in trace.modules:
            yield False
            label = record.name.rsplit(".", 1)[-1] or trace.model
            if record.calls:
                inputs = _shapes(record.inputs)
            else:
                inputs = "container" if record.kind in CONTAINERS else "not called"
            parent = self._module_items.get(record.name.rpartition(".")[0]) if record.name else None
            item = self.modules.add_row(
                [label, inputs, _shapes(record.outputs), record.dtype, f"{record.parameters:,}", record.kind], parent
            )
            item.setData(0, Qt.UserRole, record.name)
            item.setToolTip(0, f"{record.name or trace.model} ({record.kind})")
            self._module_items[record.name] = item
            item.setExpanded(True)
            if record.failed:
                self._highlight(item, ("module", record.name), trace.error or "")
        for record in trace.steps:
            yield False
            self.steps.add_row([record.symbol, _shape(record.shape), record.dtype, record.meaning])
        for record in trace.training:
            yield False
            self.training.add_row(
                [record.function, _shape(record.input), record.input_dtype, _shape(record.target), record.target_dtype]
            )

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
