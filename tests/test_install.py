"""packaging/install.sh and .ci/run, as far as a test can run them without installing: the scripts parse, a wrong
option or a machine without apt stops before anything is installed, `--cpu` pins torch's CPU build of the version
the tests run on, and the `vocoscope` link goes where the shell that ran the script looks. (The whole install runs
in CI, .ci/run, with the machine's own Python on a fresh clone.)"""

import os
import subprocess

import pytest
import torch

from tests.helpers import REPO

INSTALL = REPO / "packaging" / "install.sh"
BUILD_BUNDLE = REPO / "packaging" / "build_bundle.sh"


def bash(script: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["/bin/bash", "-c", script], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("path", [INSTALL, BUILD_BUNDLE, REPO / ".ci" / "run"])
def test_the_scripts_parse(path):
    result = subprocess.run(["/bin/bash", "-n", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_help_says_what_cpu_and_test_install():
    result = subprocess.run(["/bin/bash", str(INSTALL), "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    assert "--cpu" in result.stdout and "CPU-only" in result.stdout and "--test" in result.stdout


def test_an_unknown_option_stops_before_apt_with_one_line(tmp_path):
    apt_log = tmp_path / "apt.log"
    (tmp_path / "apt-get").write_text(f'#!/bin/sh\necho "$@" >> {apt_log}\n')
    (tmp_path / "apt-get").chmod(0o755)
    env = dict(os.environ, PATH=f"{tmp_path}:/usr/bin:/bin")
    result = subprocess.run(["/bin/bash", str(INSTALL), "--cpu", "--gpu"], env=env, capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "'--gpu'" in result.stderr and "--cpu, --test or --help" in result.stderr
    assert not apt_log.exists()


def test_the_bundle_script_refuses_an_unknown_option_before_building(tmp_path):
    (tmp_path / "apt-get").write_text(f'#!/bin/sh\necho "$@" >> {tmp_path}/apt.log\n')
    (tmp_path / "apt-get").chmod(0o755)
    env = dict(os.environ, PATH=f"{tmp_path}:/usr/bin:/bin")
    result = subprocess.run(
        ["/bin/bash", str(BUILD_BUNDLE), "--check", "--onefile"], env=env, capture_output=True, text=True
    )
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "'--onefile'" in result.stderr
    assert "expected --cpu, --check, --venv DIR or --help" in result.stderr
    assert not (tmp_path / "apt.log").exists()


def test_a_machine_without_apt_is_told_so(tmp_path):
    result = subprocess.run(["/bin/bash", str(INSTALL)], env={"PATH": str(tmp_path)}, capture_output=True, text=True)
    assert result.returncode == 2 and "found no apt-get; expected Debian or Ubuntu" in result.stderr


def test_cpu_pins_the_cpu_build_of_the_torch_the_tests_run_on():
    version = torch.__version__.split("+")[0]
    result = bash(f"source {INSTALL}; torch_requirement 1; torch_requirement 0")
    assert result.stdout.splitlines() == [
        f"torch=={version}+cpu --extra-index-url https://download.pytorch.org/whl/cpu",
        f"torch=={version}",
    ]


# user id, whether ~/.local/bin is on PATH → the folder of the link
LINKS = [
    ("0", True, "/usr/local/bin"),
    ("0", False, "/usr/local/bin"),
    ("1000", True, "HOME/.local/bin"),
    ("1000", False, "/usr/local/bin"),
]


@pytest.mark.parametrize("uid, local_on_path, expected", LINKS)
def test_the_link_goes_where_the_running_shell_looks(uid, local_on_path, expected, tmp_path):
    path = f"{tmp_path}/.local/bin:/usr/bin:/bin" if local_on_path else "/usr/bin:/bin"
    result = bash(f"source {INSTALL}; id() {{ echo {uid}; }}; HOME={tmp_path} PATH={path} link_dir")
    assert result.stdout.strip() == expected.replace("HOME", str(tmp_path)), result.stderr
