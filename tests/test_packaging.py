"""The wheel and the desktop bundle, as far as a test can check them without a PyInstaller build: the wheel built
from this checkout carries every package and every bundled file, and installed it finds its models there (not in a
checkout); the bundle's spec, its .desktop file and its icon agree with each other and with the program. (CI builds
the wheel into a fresh venv and runs its self-test, .ci/run; packaging/build_bundle.sh --check does so for the
bundle.)"""

from __future__ import annotations

import ast
import configparser
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from engine.catalog import BUILTINS
from tests.helpers import REPO

tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml takes Python 3.11's tomllib")
PACKAGING = REPO / "packaging"
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]
RESOURCE_PACKAGE = "engine.resources"


def spec_constant(name: str):
    """The literal value the spec assigns to `name` (the spec is Python that only PyInstaller can run whole)."""
    tree = ast.parse((PACKAGING / "vocoscope.spec").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and [getattr(target, "id", None) for target in node.targets] == [name]:
            return ast.literal_eval(node.value)
    raise AssertionError(f"packaging/vocoscope.spec assigns no {name}")


def desktop_entry() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str
    parser.read(PACKAGING / "vocoscope.desktop")
    return parser["Desktop Entry"]


def bundled_files() -> list[Path]:
    """What the app reads at run time from resources/: the models and the example inputs."""
    resources = REPO / "resources"
    return sorted([*(resources / "models").glob("*.safetensors"), *(resources / "examples").glob("*")])


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel built from a copy of this checkout (its build leaves build/ and egg-info behind, not here)."""
    source = tmp_path_factory.mktemp("source")
    for name in ("app", "engine", "resources"):
        shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out), str(source)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return next(out.glob("vocoscope-*.whl"))


def test_the_package_list_names_every_package_folder():
    folders = {
        ".".join(init.parent.relative_to(REPO).parts)
        for package in ("app", "engine")
        for init in (REPO / package).rglob("__init__.py")
    }
    listed = set(SETUPTOOLS["packages"])
    assert folders - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"
    assert {name for name in listed - folders if not name.startswith(RESOURCE_PACKAGE)} == set()
    assert SETUPTOOLS["package-dir"] == {RESOURCE_PACKAGE: "resources"}


@pytest.mark.slow
def test_the_wheel_carries_every_module_and_bundled_file(wheel):
    with zipfile.ZipFile(wheel) as archive:
        sizes = {info.filename: info.file_size for info in archive.infolist()}
        entry_points = archive.read(next(name for name in sizes if name.endswith("entry_points.txt"))).decode()
    modules = {
        path.relative_to(REPO).as_posix()
        for package in ("app", "engine")
        for path in (REPO / package).rglob("*.py")
        if "__pycache__" not in path.parts
    }
    assert modules - set(sizes) == set()
    expected = {f"engine/{path.relative_to(REPO).as_posix()}": path.stat().st_size for path in bundled_files()}
    assert len(expected) >= 3  # two models and an example, at least
    assert {name: sizes.get(name) for name in expected} == expected
    assert "vocoscope = app.__main__:main" in entry_points


@pytest.mark.slow
def test_the_installed_wheel_finds_its_models_and_example_inside_itself(wheel, tmp_path):
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    env = dict(os.environ, PYTHONPATH=str(site))
    script = (
        "import json, engine.catalog as c; from engine.cli import main; "
        "print(json.dumps([str(c.RESOURCES), str(c.EXAMPLES), c.__file__])); main(['models', '--json'])"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    first, _, listing = done.stdout.partition("\n")
    resources, examples, catalog = json.loads(first)
    assert Path(catalog) == site / "engine" / "catalog.py"  # the wheel's engine, not the checkout's
    assert (Path(resources), Path(examples)) == (site / "engine/resources/models", site / "engine/resources/examples")
    paths = {model["name"]: model["path"] for model in json.loads(listing)}
    shipped = {path.stem for path in (REPO / "resources" / "models").glob("*.safetensors")}
    assert paths == {
        name: str(site / "engine/resources/models" / f"{name}.safetensors") if name in shipped else None
        for name in BUILTINS
    }


def test_the_bundle_takes_every_bundled_file_where_the_catalog_looks():
    taken = [(source, target) for source, target in spec_constant("RESOURCES")]
    covered = {
        path
        for source, target in taken
        for path in REPO.glob(source)
        if target == f"engine/{path.parent.relative_to(REPO).as_posix()}"
    }
    assert set(bundled_files()) <= covered
    assert (PACKAGING / "bundle_entry.py").is_file()


def test_the_desktop_entry_runs_the_bundles_program_with_the_projects_icon():
    entry = desktop_entry()
    name = spec_constant("NAME")
    assert name in PYPROJECT["project"]["scripts"]  # the bundle's program is called as the wheel's command
    assert entry["Exec"].split()[0] == entry["TryExec"] == name
    assert entry["Exec"].split()[1:] == ["%f"]  # a file opened from the file manager reaches `vocoscope FILE`
    assert entry["Icon"] == name and (PACKAGING / f"{name}.svg").is_file() and (PACKAGING / f"{name}.png").is_file()
    assert entry["Type"] == "Application" and entry["Terminal"] == "false"
    assert all(kind.startswith("audio/") for kind in entry["MimeType"].rstrip(";").split(";"))
    script = (PACKAGING / "build_bundle.sh").read_text()
    for installed in ("packaging/vocoscope.desktop", f"packaging/{name}.svg", f"packaging/{name}.png"):
        assert installed in script


@pytest.mark.skipif(
    shutil.which("desktop-file-validate") is None,
    reason="desktop-file-validate is not installed (desktop-file-utils; install.sh --test installs it)",
)
def test_the_desktop_entry_passes_desktop_file_validate():
    done = subprocess.run(
        ["desktop-file-validate", str(PACKAGING / "vocoscope.desktop")], capture_output=True, text=True, check=False
    )
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


def test_the_png_icon_is_the_svg_rendered(qapp):
    from PySide6.QtGui import QImage

    sys.path.insert(0, str(PACKAGING))
    try:
        from render_icon import SIZE, render
    finally:
        sys.path.remove(str(PACKAGING))

    def pixels(image: QImage) -> np.ndarray:
        image = image.convertToFormat(QImage.Format.Format_ARGB32)
        rows = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())
        return rows[:, : image.width() * 4].reshape(image.height(), image.width(), 4).astype(int)

    stored = pixels(QImage(str(PACKAGING / "vocoscope.png")))
    drawn = pixels(render(PACKAGING / "vocoscope.svg"))
    assert stored.shape == drawn.shape == (SIZE, SIZE, 4)
    assert np.abs(stored - drawn).mean() < 1.0  # re-render with packaging/render_icon.py after changing the SVG
    alpha = stored[..., 3]
    assert alpha[0, 0] == 0 and alpha[SIZE // 2, SIZE // 2] == 255  # a rounded tile on a transparent ground
    assert len(np.unique(stored[..., :3].reshape(-1, 3), axis=0)) > 50  # drawn, not a flat tile
