"""The project's modules import each other without circles, over engine/ and app/.

Two graphs, neither with a circle: the imports that run when a module is imported (its top-level `import` and
`from ... import` statements, also those under a top-level `if`, `try`, `with` or class; not those inside
functions), and all imports, those deferred into functions too: the dependencies as a reader sees them.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("engine", "app")


def module_name(path: Path) -> str:
    """engine/models/wavenet/model.py → "engine.models.wavenet.model"; a package's __init__.py → the package."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_time_statements(body: list[ast.stmt]):
    """The statements of `body` that run when it runs: nested blocks (if, try, with, class) but not functions."""
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        yield node
        for field in ("body", "orelse", "finalbody", "handlers"):
            yield from import_time_statements(getattr(node, field, []))


def every_statement(body: list[ast.stmt]):
    """Every statement of `body`, inside functions too."""
    for node in body:
        yield from ast.walk(node)


def imported_modules(path: Path, modules: set[str], deferred: bool) -> set[str]:
    """The project modules that importing `path` imports (with `deferred`, also those its functions import):
    `from package import name` counts as importing package.name where that is a module, else the package."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    imported = set()
    statements = every_statement if deferred else import_time_statements
    for node in statements(ast.parse(path.read_text(), filename=str(path)).body):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                imported.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
    return {module for module in imported if module in modules and module != name}


def import_graph(deferred: bool = False) -> dict[str, set[str]]:
    """{module: the project modules it imports at import time (with `deferred`, at all)} over engine/ and app/."""
    paths = [path for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))]
    modules = {module_name(path) for path in paths}
    return {module_name(path): imported_modules(path, modules, deferred) for path in paths}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted: every import circle lies
    inside one."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in sorted(graph[module]):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while not component or component[-1] != module:
                component.append(stack.pop())
                on_stack.discard(component[-1])
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return sorted(found)


def test_the_graphs_see_the_model_families():
    at_import, deferred = import_graph(), import_graph(deferred=True)
    assert "engine.models.base" in at_import["engine.models.wavenet.model"]
    assert "engine.models.wavernn.kernel" in at_import["engine.models.wavernn.stream"]
    assert "engine.checkpoints" not in at_import["engine.models.loading"]
    assert {"engine.checkpoints", "engine.models.registry"} <= deferred["engine.models.loading"]
    assert "engine.models.registry" in deferred["engine.checkpoints"]


def test_cycles_finds_a_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_circles_when_modules_are_imported():
    assert cycles(import_graph()) == []


def test_no_import_circles_through_imports_inside_functions_either():
    assert cycles(import_graph(deferred=True)) == []


def test_the_model_kernels_import_no_torch_and_no_model():
    """A family's kernel.py is the numba loop alone: it takes plain arrays, so it imports neither torch nor the rest
    of its family."""
    graph = import_graph(deferred=True)
    for kernel in sorted(name for name in graph if name.endswith(".kernel")):
        assert graph[kernel] <= {"engine.models.compiled_ops"}, kernel
        tree = ast.parse((ROOT / (kernel.replace(".", "/") + ".py")).read_text())
        imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
        assert not {module for module in imported if module.split(".")[0] == "torch"}, kernel


# The one exception to "app reaches the engine only through the bridge": app/__main__.py is the `vocoscope` command,
# not the window. It checks the window's arguments before any window opens, where Qt must not be imported (the bridge
# imports it), runs the headless commands (engine/cli.py) and the self-test (engine/self_test.py).
ENGINE_IMPORTS_OUTSIDE_THE_BRIDGE = {
    "app.__main__": {
        "engine",
        "engine.catalog",
        "engine.model_reference",
        "engine.cli",
        "engine.errors",
        "engine.self_test",
    }
}


def test_app_reaches_the_engine_only_through_the_bridge():
    """No app module but app/engine_bridge.py imports engine/, at import time or inside a function, apart from the
    command line's stated exception above."""
    found = []
    for path in sorted((ROOT / "app").rglob("*.py")):
        name = module_name(path)
        if name == "app.engine_bridge":
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                imported = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                imported = [node.module or ""]
            else:
                continue
            for module in imported:
                if module.split(".")[0] == "engine" and module not in ENGINE_IMPORTS_OUTSIDE_THE_BRIDGE.get(name, ()):
                    found.append((str(path.relative_to(ROOT)), node.lineno, module))
    assert not found, (
        "; ".join(f"{file}:{line} imports {module}" for file, line, module in sorted(found))
        + ": import it from app.engine_bridge (a name it re-exports, or an EngineBridge method) instead"
    )
