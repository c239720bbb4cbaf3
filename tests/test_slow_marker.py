"""`pytest -m "not slow"` is the quick check (README.md): the `slow` marker is registered in pyproject.toml, and the
quick set it leaves is neither empty nor the whole suite and still reaches generation, the window, the CLI and
sampling."""

import re
import subprocess
import sys

import pytest

from tests.helpers import REPO

# Files the quick set must reach: each has fast tests, so none of them may end up marked slow as a whole.
QUICK_FILES = ("tests/test_generate.py", "tests/test_window.py", "tests/test_cli.py", "tests/test_sampling.py")


def test_the_slow_marker_is_registered(pytestconfig):
    assert "slow" in [line.split(":")[0].strip() for line in pytestconfig.getini("markers")]


@pytest.mark.slow
def test_the_quick_set_is_part_of_the_suite_and_reaches_every_area():
    """Collects the suite as the quick check does, with an unknown mark an error (a misspelt `slow` would be one)."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-m",
            "not slow",
            "-p",
            "no:cacheprovider",
            "-W",
            "error::pytest.PytestUnknownMarkWarning",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    counts = re.search(r"(\d+)/(\d+) tests collected \((\d+) deselected\)", done.stdout)
    assert counts, done.stdout[-1000:]
    quick, total = int(counts[1]), int(counts[2])
    assert 0 < quick < total
    quick_files = {line.split("::")[0] for line in done.stdout.splitlines() if "::" in line}
    assert set(QUICK_FILES) <= quick_files, sorted(set(QUICK_FILES) - quick_files)
