#!/usr/bin/env bash
# Trains a run on a lent GPU machine for a fixed time and brings the checkpoint back (issue #23: CPU training
# resumes where it stopped; a lent machine gives minutes, not hours, and takes 64 MiB with the code).
#
#   here:   bash packaging/lent_gpu.sh prepare RUN.safetensors [VOICE_SET] [MIB]
#   there:  bash packaging/lent_gpu.sh train MINUTES   (a device `run`: carry [".lent"], timeout_s ≥ 60·MINUTES + 120)
#   here:   bash packaging/lent_gpu.sh collect FILES_AT RUN.safetensors
#
# prepare  fills .lent/ (ignored by git): the run's checkpoint; the voice set VOICE_SET (default data/voices) cut to
#          MIB MiB of FLAC by `vocoscope trainset --subset` (default 36: with the code, about 57 of the 64 MiB a run
#          takes); .lent/train.json when LENT_TRAIN_JSON holds train settings to resume with (a larger batch, say);
#          and the wheels the lent machine's image lacks for the training command, for its Python 3.12.
# train    runs there: installs the wheels into /tmp/site, copies the checkpoint into $OUT and resumes it on cuda
#          with --minutes MINUTES (the data's mels are computed there first, and counted), teeing the log to
#          $OUT/train.out. The checkpoint records the part it trained: the GPU's name, steps and seconds.
# collect  runs here on what came back (FILES_AT: the folder the device tool names): checks it is RUN's run,
#          further on, and says where it trained; keeps RUN as RUN.before-lent; puts it in RUN's place and
#          appends its loss and validation logs to RUN's (RUN.csv, RUN.valid.csv). `--resume` here continues it.
set -euo pipefail

LENT=.lent
WHEEL_PYTHON=${LENT_PYTHON:-3.12}  # the lent machine's python3 (device tool, KINDS.md)
# What `python3 -m engine.cli train` needs there beyond the image's torch, numpy, scipy, numba, scikit-learn, joblib,
# msgpack, lazy-loader, packaging, requests and safetensors: librosa and soundfile, and theirs.
LENT_WHEELS=(librosa==0.11.0 soundfile==0.14.0 soxr==1.1.0 audioread==3.1.0 decorator==5.2.1 pooch==1.9.0
  platformdirs==4.14.9 cffi==2.0.0 pycparser==3.0)
STEPS=${LENT_STEPS:-100000}  # train's --steps: the run's end, as on this machine
DEVICE=${LENT_DEVICE:-cuda}  # cpu: a dry run of `train` on this machine

usage() {
  sed -n '2,/^set /s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
  exit 2
}

# family CKPT: the checkpoint's model family, from its header.
family() {
  python3 -c 'import json, sys
from safetensors import safe_open
with safe_open(sys.argv[1], "pt") as f:
    print(json.loads(f.metadata()["vocoscope"])["family"])' "$1"
}

prepare() {
  local run=$1 voices=${2:-data/voices} mib=${3:-36}
  [ -f "$run" ] || { echo "lent_gpu.sh: $run: no such checkpoint; give the run to continue there." >&2; exit 2; }
  rm -rf "$LENT" && mkdir -p "$LENT/wheels"
  cp "$run" "$LENT/run.safetensors"
  python3 -m engine.cli trainset --subset "$voices" --mib "$mib" --out "$LENT/voices"
  if [ -n "${LENT_TRAIN_JSON:-}" ]; then echo "$LENT_TRAIN_JSON" >"$LENT/train.json"; fi
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$WHEEL_PYTHON" --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 \
    -d "$LENT/wheels" "${LENT_WHEELS[@]}"
  du -sh "$LENT"
}

train() {
  local minutes=$1 site=/tmp/site
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" \
    "$LENT"/wheels/*.whl
  export PYTHONPATH="$site:$PWD" PYTHONUNBUFFERED=1
  cp "$LENT/run.safetensors" "$OUT/run.safetensors"
  local config=()
  if [ -f "$LENT/train.json" ]; then config=(--config "$LENT/train.json"); fi
  if [ "$DEVICE" = cuda ]; then nvidia-smi --query-gpu=name,memory.total --format=csv,noheader >"$OUT/train.out"; fi
  python3 -m engine.cli train --data "$LENT/voices/train" --valid "$LENT/voices/valid" \
    --model "$(family "$LENT/run.safetensors")" --out "$OUT/run.safetensors" --steps "$STEPS" --resume \
    --minutes "$minutes" --device "$DEVICE" "${config[@]}" 2>&1 | tee -a "$OUT/train.out"
}

collect() {
  local back=$1 run=$2
  python3 - "$back/run.safetensors" "$run" <<'EOF'
import json, sys
from safetensors import safe_open

def meta(path):
    with safe_open(path, "pt") as f:
        return json.loads(f.metadata()["vocoscope"])

came, kept = meta(sys.argv[1]), meta(sys.argv[2])
first = kept["training"].get("commands", [""])[0]
if came["training"].get("commands", [""])[0] != first or came["steps"] <= kept["steps"]:
    sys.exit(f"lent_gpu.sh: {sys.argv[1]} is not {sys.argv[2]}'s run further on ({came['steps']} steps, "
             f"{kept['steps']} here); nothing was changed.")
part = came["training"]["parts"][-1]
print(f"{sys.argv[2]}: steps {kept['steps']} → {came['steps']} in {part['seconds']:.0f} s on {part['where']}")
EOF
  cp "$run" "$run.before-lent"
  local stem=${run%.safetensors}
  for log in csv valid.csv; do
    if [ -f "$back/run.$log" ] && [ -f "$stem.$log" ]; then tail -n +2 "$back/run.$log" >>"$stem.$log"; fi
  done
  cp "$back/run.safetensors" "$run.part" && mv "$run.part" "$run"
}

case "${1:-}" in
  prepare) [ $# -ge 2 ] || usage; prepare "${@:2}" ;;
  train) [ $# -eq 2 ] || usage; train "$2" ;;
  collect) [ $# -eq 3 ] || usage; collect "$2" "$3" ;;
  *) usage ;;
esac
