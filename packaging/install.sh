#!/usr/bin/env bash
# Installs Vocoscope and what it needs on Debian/Ubuntu. `--test` adds the test tools and a sound server.
set -euo pipefail
cd "$(dirname "$0")/.."
sudo_cmd=""
[ "$(id -u)" = 0 ] || sudo_cmd=sudo
export DEBIAN_FRONTEND=noninteractive
apt_packages=(python3-pip python3-venv libportaudio2 libsndfile1 libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0
  libfontconfig1 libdbus-1-3 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-render-util0
  libxcb-image0 libxcb-randr0 libxcb-xinerama0)
if [ "${1:-}" = "--test" ]; then
  apt_packages+=(pulseaudio pulseaudio-utils libasound2-plugins xvfb)
fi
$sudo_cmd apt-get update -q
$sudo_cmd apt-get install -y -q --no-install-recommends "${apt_packages[@]}"
python3 -m pip install -q torch==2.13.0
if [ "${1:-}" = "--test" ]; then
  python3 -m pip install -q -e '.[test]'
else
  python3 -m pip install -q -e .
fi
python3 packaging/warm_caches.py
