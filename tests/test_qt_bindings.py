"""The Qt bindings installed must not drop a reference to None on every call.

PySide6 6.12.0 does, under Python 3.11 (where None is not yet immortal): every call of a method that returns
nothing (QLabel.setText, QPainterPath.clear, QPolygonF.resize, ...) takes one reference from None, and after a few
thousand of them the interpreter aborts with "Fatal Python error: none_dealloc". A window that paints 30 times a
second gets there within minutes. pyproject.toml excludes that release; this test fails if a binding with the same
fault is installed.
"""

import sys

from PySide6 import QtGui, QtWidgets


def test_calls_that_return_nothing_leave_none_s_references_alone(qapp):
    label, path, polygon = QtWidgets.QLabel(), QtGui.QPainterPath(), QtGui.QPolygonF()
    calls = 300  # well inside None's references at start-up (16,000 here), so a faulty binding fails, not aborts
    before = sys.getrefcount(None)
    for _ in range(calls):
        label.setText("x")
        path.clear()
        polygon.resize(10)
    lost = before - sys.getrefcount(None)
    assert lost < calls // 2, f"{lost} references to None lost in {3 * calls} calls: {QtWidgets.__file__}"
