"""engine/ never imports Qt: checked in the source (ast) and in a fresh interpreter (sys.modules)."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ENGINE = Path(__file__).resolve().parents[1] / "engine"
QT_MODULES = ("PySide6", "PySide2", "PyQt5", "PyQt6", "shiboken6", "pyqtgraph", "qtpy")


def imported_modules(tree: ast.AST):
    """(module name, node, whether the import is at module level) for every import in `tree`."""
    top_level = {id(node) for node in getattr(tree, "body", [])}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node, id(node) in top_level
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module, node, id(node) in top_level


def test_no_engine_source_imports_qt():
    offenders = []
    for path in sorted(ENGINE.rglob("*.py")):
        for module, node, _ in imported_modules(ast.parse(path.read_text(), filename=str(path))):
            if module.split(".")[0] in QT_MODULES:
                offenders.append(f"{path.relative_to(ENGINE.parent)}:{node.lineno} imports {module}")
    assert offenders == []


def test_engine_imports_the_window_only_inside_a_function():
    """The CLI opens the window by importing app lazily; nothing in engine/ may import app at import time."""
    offenders = []
    for path in sorted(ENGINE.rglob("*.py")):
        for module, node, top_level in imported_modules(ast.parse(path.read_text(), filename=str(path))):
            if module.split(".")[0] == "app" and top_level:
                offenders.append(f"{path.relative_to(ENGINE.parent)}:{node.lineno} imports {module}")
    assert offenders == []


@pytest.mark.slow
def test_importing_every_engine_module_loads_no_qt():
    script = (
        "import importlib, pkgutil, sys, engine\n"
        "names = [m.name for m in pkgutil.walk_packages(engine.__path__, 'engine.')]\n"
        "for name in names: importlib.import_module(name)\n"
        f"qt = sorted(m for m in sys.modules if m.split('.')[0] in {QT_MODULES!r})\n"
        "print(len(names), qt)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=180, cwd=ENGINE.parent
    )
    assert result.returncode == 0, result.stderr
    count, qt = result.stdout.split(" ", 1)
    assert int(count) >= 10 and qt.strip() == "[]"
