#!/usr/bin/env bash
# Installs Vocoscope on Debian or Ubuntu: the system libraries with apt, then torch and Vocoscope (editable) into
# a virtual environment in the checkout, .venv, made with the system's Python (pip never touches the system Python
# itself, which PEP 668 leaves to apt), and a `vocoscope` link where shells look. Run it again to update.
#
#   bash packaging/install.sh [--cpu] [--test]
#
#   --cpu   torch's CPU-only build, from PyTorch's own index (download.pytorch.org/whl/cpu). Without it pip takes
#           torch from the package index, whose Linux x86-64 build brings the CUDA libraries (several GB; what a
#           machine with an NVIDIA GPU wants), unless a CPU wheel of the same version is at hand (pip's find-links).
#   --test  also the test tools (pytest, pytest-qt, hypothesis), a PulseAudio server, Xvfb and desktop-file-validate
#           for the tests.
#
# The link: /usr/local/bin/vocoscope when run as root; else ~/.local/bin/vocoscope when that folder is on PATH
# (Debian's and Ubuntu's ~/.profile add it at login when it exists), else /usr/local/bin/vocoscope with sudo (as
# apt needs), so that `bash packaging/install.sh && vocoscope` works in the shell that ran it.
set -euo pipefail

TORCH_VERSION=2.13.0
CPU_INDEX=https://download.pytorch.org/whl/cpu
SYSTEM_PYTHON=/usr/bin/python3
APT_PACKAGES=(python3-venv libportaudio2 libsndfile1 libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0
  libfontconfig1 libdbus-1-3 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-render-util0
  libxcb-image0 libxcb-randr0 libxcb-xinerama0)
APT_TEST_PACKAGES=(pulseaudio pulseaudio-utils libasound2-plugins xvfb desktop-file-utils)

usage() {
  sed -n '2,/^set /s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}

# as_root COMMAND...: run it as root (with sudo unless this is root already).
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# link_dir: the folder for the `vocoscope` link (see the top of this file).
link_dir() {
  if [ "$(id -u)" != 0 ] && [[ ":$PATH:" == *":$HOME/.local/bin:"* ]]; then
    echo "$HOME/.local/bin"
  else
    echo /usr/local/bin
  fi
}

# torch_requirement CPU: pip's arguments for torch; CPU=1 pins the CPU-only build and adds its index.
torch_requirement() {
  if [ "$1" = 1 ]; then
    echo "torch==$TORCH_VERSION+cpu --extra-index-url $CPU_INDEX"
  else
    echo "torch==$TORCH_VERSION"
  fi
}

main() {
  local cpu=0 test=0 arg
  for arg in "$@"; do
    case "$arg" in
      --cpu) cpu=1 ;;
      --test) test=1 ;;
      -h|--help) usage; return 0 ;;
      *) echo "install.sh: found the option '$arg'; expected --cpu, --test or --help. See bash $0 --help." >&2
         return 2 ;;
    esac
  done
  if ! command -v apt-get >/dev/null; then
    echo "install.sh: found no apt-get; expected Debian or Ubuntu. Install the packages of APT_PACKAGES by hand." >&2
    return 2
  fi
  cd "$(dirname "${BASH_SOURCE[0]}")/.."
  local packages=("${APT_PACKAGES[@]}")
  if [ "$test" = 1 ]; then packages+=("${APT_TEST_PACKAGES[@]}"); fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${packages[@]}"

  # A .venv whose interpreter no longer runs (its Python was upgraded or removed) is made again.
  if ! .venv/bin/python -c "" 2>/dev/null; then
    rm -rf .venv
    "$SYSTEM_PYTHON" -m venv .venv
  fi
  local pip=(.venv/bin/python -m pip install -q)
  # shellcheck disable=SC2046 # torch_requirement's words are separate arguments
  "${pip[@]}" $(torch_requirement "$cpu")
  if [ "$test" = 1 ]; then "${pip[@]}" -e '.[test]'; else "${pip[@]}" -e .; fi

  local bin link
  bin=$(link_dir)
  link="$bin/vocoscope"
  if [ "$bin" = "$HOME/.local/bin" ]; then
    mkdir -p "$bin" && ln -sfn "$PWD/.venv/bin/vocoscope" "$link"
  else
    as_root mkdir -p "$bin" && as_root ln -sfn "$PWD/.venv/bin/vocoscope" "$link"
  fi

  .venv/bin/python packaging/warm_caches.py
  .venv/bin/vocoscope models >/dev/null  # keeps the model list on disk (engine/catalog.py): `models` answers at once
  echo "Installed $(.venv/bin/vocoscope --version) in $PWD/.venv, with torch $(.venv/bin/python -c \
'import importlib.metadata as m; print(m.version("torch"))'); $link runs it."
  local first
  first=$(command -v vocoscope || true)
  if [[ ":$PATH:" != *":$bin:"* ]]; then
    echo "$bin is not on this shell's PATH: run $link, or add $bin to PATH."
  elif [ "$first" != "$link" ]; then
    echo "Note: this shell runs $first for \`vocoscope\`, which comes before $bin on PATH."
  fi
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  main "$@"
fi
