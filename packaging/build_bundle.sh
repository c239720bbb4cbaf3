#!/usr/bin/env bash
# Builds the one-folder desktop bundle dist/vocoscope/ with PyInstaller (packaging/vocoscope.spec): a folder to copy
# anywhere on a Linux x86-64 machine, whose `vocoscope` runs without Python or pip; packaging/README.md says how to
# put it on PATH and in the desktop's menu. It builds in a virtual environment of its own (made with the system's
# Python, as install.sh makes .venv), prints the bundle's size and the build time, and with --check runs the
# bundle's self-test offscreen.
#
#   bash packaging/build_bundle.sh [--cpu] [--check] [--venv DIR]
#
#   --cpu       torch's CPU-only build, as install.sh --cpu (without it, pip's choice as install.sh's: with the
#               CUDA libraries the bundle grows by several GB)
#   --check     run `dist/vocoscope/vocoscope --self-test` offscreen after the build; its status is the script's
#   --venv DIR  the build's virtual environment (default build/bundle-venv), made when it does not run
set -euo pipefail

# shellcheck source=packaging/install.sh
source "$(dirname "${BASH_SOURCE[0]}")/install.sh"  # torch_requirement, as_root, SYSTEM_PYTHON (its main not run)

# bundle_apt_packages: what PyInstaller needs of the system: the shared Python library it puts in the bundle
# (Debian's python3 itself is linked statically) and binutils (objdump, to read the libraries' dependencies).
bundle_apt_packages() {
  echo "libpython$("$SYSTEM_PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])') binutils"
}

build_bundle() {
  local cpu=0 check=0 venv=build/bundle-venv
  while [ $# -gt 0 ]; do
    case "$1" in
      --cpu) cpu=1 ;;
      --check) check=1 ;;
      --venv) venv=${2:?--venv needs a folder}; shift ;;
      -h|--help) sed -n '2,/^set /s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; return 0 ;;
      *) echo "build_bundle.sh: found the option '$1'; expected --cpu, --check, --venv DIR or --help." >&2
         return 2 ;;
    esac
    shift
  done
  cd "$(dirname "${BASH_SOURCE[0]}")/.."
  local started=$SECONDS
  local missing=() package
  for package in $(bundle_apt_packages); do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
  if ! "$venv/bin/python" -c "" 2>/dev/null; then
    rm -rf "$venv"
    "$SYSTEM_PYTHON" -m venv "$venv"
  fi
  local pip=("$venv/bin/python" -m pip install -q)
  # shellcheck disable=SC2046 # torch_requirement's words are separate arguments
  "${pip[@]}" $(torch_requirement "$cpu")
  "${pip[@]}" . pyinstaller
  rm -rf dist/vocoscope
  "$venv/bin/python" -m PyInstaller --noconfirm --log-level WARN --distpath dist --workpath build/pyinstaller \
    packaging/vocoscope.spec
  install -D -m 644 packaging/vocoscope.desktop dist/vocoscope/share/applications/vocoscope.desktop
  install -D -m 644 packaging/vocoscope.svg dist/vocoscope/share/icons/hicolor/scalable/apps/vocoscope.svg
  install -D -m 644 packaging/vocoscope.png dist/vocoscope/share/icons/hicolor/256x256/apps/vocoscope.png
  echo "Built dist/vocoscope in $((SECONDS - started)) s: $(du -sh dist/vocoscope | cut -f1), with torch" \
    "$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("torch"))')."
  if [ "$check" = 1 ]; then
    QT_QPA_PLATFORM=offscreen dist/vocoscope/vocoscope --self-test
  fi
}

build_bundle "$@"
