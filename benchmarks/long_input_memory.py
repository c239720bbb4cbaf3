"""Peak memory of `vocoscope vocode` on a short and a long silent recording: does memory stay flat with length?

For each length a silent WAV is written (in blocks), then `vocoscope vocode` runs on it in its own process until
the output file holds `--output-seconds` of audio: by then the whole input has been read once (checked and measured,
engine.streamed_mel.stream_input), the model, the envelope post-filter and the mel read a block at a time are
running, and so is the streamed writer. The process is then stopped, and its peak resident memory (VmHWM, the
kernel's high-water mark) is what is reported, next to the size the mel would have whole. Generating two hours of
audio on a CPU would take hours; whatever would grow with the input's length (the mel made whole, a pitch read of
the whole take) would happen before the first second of output.

    python3 benchmarks/long_input_memory.py                      # 1 min against 2 h, 16 kHz mono
    python3 benchmarks/long_input_memory.py --minutes 1 30 --rate 44100 --channels 2
    python3 benchmarks/long_input_memory.py --vocode-options="--envelope-postfilter 0"   # without that post-filter
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine.features import MelConfig
from engine.models import DEFAULT_MODEL


def write_silence(path: Path, minutes: float, rate: int, channels: int) -> None:
    """A silent 16-bit WAV of `minutes`, written a minute at a time."""
    block = np.zeros((rate * 60, channels), dtype=np.int16)
    frames = int(minutes * 60 * rate)
    with soundfile.SoundFile(path, "w", rate, channels, subtype="PCM_16") as file:
        while frames > 0:
            file.write(block[: min(frames, len(block))])
            frames -= len(block)


def peak_while_vocoding(
    source: Path, output: Path, model: str, output_seconds: float, options: list[str]
) -> tuple[int, float, str]:
    """(peak resident bytes, seconds until the output held `output_seconds` of audio, how it ended)."""
    command = [
        sys.executable,
        "-m",
        "engine.cli",
        "vocode",
        str(source),
        "-o",
        str(output),
        "--force",
        "--model",
        model,
        "--seed",
        "1",
        *options,
    ]
    environment = dict(os.environ, OMP_NUM_THREADS="1")
    began = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=REPO, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    rate = MelConfig().sample_rate
    needed = int(output_seconds * rate) * 2 + 44
    peak, ended = 0, "finished"
    while process.poll() is None:
        peak = max(peak, _high_water_mark(process.pid))
        written = max((p.stat().st_size for p in output.parent.glob(f".{output.name}.{process.pid}.*")), default=0)
        if written >= needed:
            peak = max(peak, _high_water_mark(process.pid))
            process.kill()
            ended = f"stopped after {output_seconds:g} s of output"
            break
        time.sleep(0.05)
    _, stderr = process.communicate()
    if process.returncode not in (0, -9):
        raise SystemExit(f"vocode failed ({process.returncode}): {stderr.strip()[-500:]}")
    return peak, time.perf_counter() - began, ended


def _high_water_mark(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, nargs=2, default=(1.0, 120.0), metavar=("SHORT", "LONG"))
    parser.add_argument("--rate", type=int, default=16000, help="the recordings' sample rate (16000: the model's)")
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--output-seconds", type=float, default=1.0)
    parser.add_argument("--vocode-options", default="", help='more options for vocode, e.g. "--envelope-postfilter 0"')
    args = parser.parse_args()
    config = MelConfig()
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; model {args.model} {args.vocode_options}; silent {args.rate} Hz × {args.channels} WAV input; "
        f"stopped once {args.output_seconds:g} s of output was written"
    )
    print(f"{'input':>10}{'file MB':>10}{'mel MB':>9}{'peak RSS MB':>13}{'× short':>9}{'seconds':>9}  ended")
    with tempfile.TemporaryDirectory(prefix="vocoscope-long-input-") as folder:
        reference = None
        for minutes in args.minutes:
            source = Path(folder) / f"silence-{minutes:g}min.wav"
            write_silence(source, minutes, args.rate, args.channels)
            frames = config.frames_for(int(minutes * 60 * config.sample_rate))
            mel_bytes = frames * config.n_mels * 4
            peak, seconds, ended = peak_while_vocoding(
                source,
                Path(folder) / f"out-{minutes:g}min.wav",
                args.model,
                args.output_seconds,
                args.vocode_options.split(),
            )
            reference = reference or peak
            print(
                f"{minutes:>7g} min{source.stat().st_size / 1e6:>10.1f}{mel_bytes / 1e6:>9.1f}{peak / 1e6:>13.1f}"
                f"{peak / reference:>9.2f}{seconds:>9.1f}  {ended}"
            )
            source.unlink()


if __name__ == "__main__":
    main()
