#!/usr/bin/env bash
# Regenerates resources/screenshot.png, the README's picture of the window, with the window's scripted mode:
# open an input, generate with the default model, save a PNG of the whole window after the last chunk, exit.
#
#   packaging/screenshot.sh [INPUT] [OUT.png]
#
# INPUT defaults to the first bundled example (resources/examples), else a held-out clip of the training data
# (data/asterisk-en), else a synthetic vowel made here. MODEL=name|path picks another model. Runs under Xvfb
# when xvfb-run is installed (real fonts and GL), else on Qt's offscreen platform.
set -euo pipefail
cd "$(dirname "$0")/.."

input="${1:-}"
out="${2:-resources/screenshot.png}"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

if [ -z "$input" ]; then
    for candidate in resources/examples/*.wav resources/examples/*.flac data/asterisk-en/heldout/dir-nomatch.wav; do
        if [ -f "$candidate" ]; then input="$candidate"; break; fi
    done
fi
if [ -z "$input" ]; then
    input="$scratch/vowel.wav"
    python3 - "$input" <<'PY'
import sys
import numpy as np
import soundfile

rate = 16000
t = np.arange(int(2.0 * rate)) / rate
pitch = 110 + 30 * np.sin(2 * np.pi * 0.7 * t)              # a gliding voice, with formant-like harmonics
phase = 2 * np.pi * np.cumsum(pitch) / rate
voice = sum(np.sin(k * phase) * np.exp(-((k * pitch - 700) / 500) ** 2) / k for k in range(1, 40))
envelope = np.clip(np.sin(np.pi * t / 2.0) * 1.5, 0, 1)
soundfile.write(sys.argv[1], (0.3 * voice * envelope / np.abs(voice).max()).astype(np.float32), rate)
PY
fi

mkdir -p "$(dirname "$out")"
command=(python3 -m app "$input" --generate --screenshot "$out" --exit-when-done
         --settings "$scratch/settings.ini" --size 1440x900)
if [ -n "${MODEL:-}" ]; then command+=(--model "$MODEL"); fi

if command -v xvfb-run >/dev/null; then
    xvfb-run -a -s "-screen 0 1600x1000x24" "${command[@]}"
else
    QT_QPA_PLATFORM=offscreen "${command[@]}"
fi
echo "wrote $out from $input"
