"""Training the learned pitch reader (engine/pitch_reader.py): `vocoscope train-pitch`.

Its examples are mels with a label per frame, F0 and voicing:
- recordings under --data, `per_voice` of each voice (subfolder) in a fixed shuffled order, labelled by pyin on the
  recording itself (librosa, 60-500 Hz, frames centred every hop as the mel's are), cached beside the mels in
  DIR/.vocoscope-cache;
- synthetic clips with exact labels (`synthetic_clip`): stretches of harmonic tone gliding anywhere on the grid
  (62-520 Hz), shaped by random resonances, between stretches of noise and silence, so that low and high voices
  that pyin and the training voices rarely show are covered.
Targets: a voiced frame's is a Gaussian over the candidates (σ TARGET_SIGMA_BINS) around its F0, an unvoiced frame's
the class "unvoiced". Loss: cross-entropy against them. Adam, the learning rate warmed up over the first twentieth
of the steps and then down a cosine; random segments of SEGMENT_FRAMES frames with a random gain (±GAIN_DB); an
average of the weights (decay AVERAGE_DECAY), which is what is saved.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from engine.datasets import CACHE_FOLDER, audio_files
from engine.features import MelConfig, load_audio, mel_spectrogram
from engine.pitch import F0_RANGE, GRID_CENTS, candidates, template_scores
from engine.pitch_reader import PitchReader, save_reader

PYIN_RANGE = (60.0, 500.0)
PYIN_FRAME = 1024
TARGET_SIGMA_BINS = 1.25  # 25 cents
SEGMENT_FRAMES = 96
BATCH = 16
LEARNING_RATE = 2e-3  # the peak, after the warm-up
AVERAGE_DECAY = 0.999
GAIN_DB = 12.0
SYNTHETIC_SECONDS = 2.0


@dataclass
class Example:
    """mel (n_mels, T) float32 normalised, scores (K, T) float32, f0 (T,) Hz (0 where unvoiced), voiced (T,) bool."""

    mel: np.ndarray
    scores: np.ndarray
    f0: np.ndarray
    voiced: np.ndarray


def example(mel: np.ndarray, f0: np.ndarray, voiced: np.ndarray, config: MelConfig) -> Example:
    """A mel and its per-frame labels (cut to the shorter) → an Example with the template scores."""
    frames = min(mel.shape[1], len(f0))
    mel = mel[:, :frames]
    scores = template_scores(mel, config).T.astype(np.float32)
    f0 = np.where(voiced[:frames], np.nan_to_num(f0[:frames]), 0.0).astype(np.float32)
    return Example(mel.astype(np.float32), scores, f0, voiced[:frames].astype(bool))


def pyin_labels(audio: np.ndarray, sample_rate: int, hop_length: int) -> tuple[np.ndarray, np.ndarray]:
    """audio (N,) → pyin's (f0 (F,) with NaN where unvoiced, voiced (F,) bool), frames centred every hop_length
    (benchmarks/voices.py scores resyntheses with the same reading)."""
    import librosa

    f0, voiced, _ = librosa.pyin(
        audio,
        fmin=PYIN_RANGE[0],
        fmax=PYIN_RANGE[1],
        sr=sample_rate,
        frame_length=PYIN_FRAME,
        hop_length=hop_length,
    )
    return f0, voiced


def recording_example(path: Path, root: Path, config: MelConfig) -> Example:
    """One recording, its pyin labels read from the cache when the file has not changed since they were made."""
    from engine.atomic_write import atomic_path

    key = f"pitch-labels-{config.sample_rate}-{config.hop_length}-{PYIN_FRAME}"
    cached = root / CACHE_FOLDER / key / (str(path.relative_to(root)).replace("/", "--") + ".npz")
    stamp = np.array([path.stat().st_mtime_ns, path.stat().st_size])
    audio = load_audio(path, config.sample_rate)[0]
    if cached.exists():
        with np.load(cached) as stored:
            if np.array_equal(stored["stamp"], stamp):
                return example(mel_spectrogram(audio, config), stored["f0"], stored["voiced"], config)
    f0, voiced = pyin_labels(audio, config.sample_rate, config.hop_length)
    cached.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(cached) as temporary:
        with open(temporary, "wb") as file:
            np.savez(file, f0=f0, voiced=voiced, stamp=stamp)
    return example(mel_spectrogram(audio, config), f0, voiced, config)


def chosen_recordings(root: Path, per_voice: int, seed: int = 0) -> list[Path]:
    """`per_voice` recordings of each subfolder of `root` (a voice; files directly under root count as one), each
    voice's in a fixed shuffled order."""
    voices: dict[Path, list[Path]] = {}
    for path in audio_files(root):
        voice = path.relative_to(root).parts[0] if len(path.relative_to(root).parts) > 1 else ""
        voices.setdefault(root / voice, []).append(path)
    rng = random.Random(seed)
    chosen = []
    for voice in sorted(voices):
        files = sorted(voices[voice])
        rng.shuffle(files)
        chosen += files[:per_voice]
    return chosen


def _resonated(signal: np.ndarray, rng: np.random.Generator, rate: int) -> np.ndarray:
    """signal through one to three random two-pole resonances (300-3,500 Hz, 60-300 Hz wide), as formants."""
    from scipy.signal import lfilter

    for _ in range(rng.integers(1, 4)):
        radius = np.exp(-np.pi * rng.uniform(60.0, 300.0) / rate)
        angle = 2.0 * np.pi * rng.uniform(300.0, 3500.0) / rate
        signal = lfilter([1.0 - radius], [1.0, -2.0 * radius * np.cos(angle), radius * radius], signal)
    return signal


def synthetic_clip(rng: np.random.Generator, config: MelConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SYNTHETIC_SECONDS of stretches (0.15-0.6 s) of gliding harmonic tone (half of them), noise or silence →
    (audio (N,) float32, f0 per frame (F,) Hz, voiced per frame (F,)): a frame is voiced where the tone covers its
    centre ± 10 ms."""
    from scipy.signal import lfilter

    rate = config.sample_rate
    total = int(SYNTHETIC_SECONDS * rate)
    audio, f0, voiced = np.zeros(total), np.zeros(total), np.zeros(total, bool)
    start = 0
    while start < total:
        span = slice(start, min(total, start + int(rng.uniform(0.15, 0.6) * rate)))
        length = span.stop - span.start
        kind = rng.choice(["tone", "tone", "noise", "silence"])
        level = 10.0 ** rng.uniform(-2.5, -0.8)
        if kind == "tone":
            first = np.exp(rng.uniform(np.log(F0_RANGE[0]), np.log(F0_RANGE[1])))
            glide = np.geomspace(first, first * 2.0 ** rng.uniform(-0.4, 0.4), length)
            vibrato = 1.0 + 0.01 * np.sin(2.0 * np.pi * rng.uniform(3.0, 7.0) * np.arange(length) / rate)
            track = np.clip(glide * vibrato, *F0_RANGE)
            phase = 2.0 * np.pi * np.cumsum(track) / rate
            harmonics = np.arange(1, int(0.47 * rate // track.max()) + 1)[:, None]
            tilt = rng.uniform(0.5, 1.5)
            tone = (np.cos(harmonics * phase + rng.uniform(0, 2 * np.pi, (len(harmonics), 1))) / harmonics**tilt).sum(0)
            tone = _resonated(tone, rng, rate) if rng.random() < 0.7 else tone
            tone = tone + rng.uniform(0.0, 0.1) * tone.std() * rng.standard_normal(length)
            audio[span], f0[span], voiced[span] = level * tone / tone.std(), track, True
        elif kind == "noise":
            noise = rng.standard_normal(length)
            noise = (
                _resonated(noise, rng, rate) if rng.random() < 0.5 else lfilter([1, -rng.uniform(0, 0.95)], [1], noise)
            )
            audio[span] = level * noise / noise.std()
        start = span.stop
    audio = (audio + 1e-4 * rng.standard_normal(total)).astype(np.float32)
    frames = total // config.hop_length + 1
    centres = np.minimum(np.arange(frames) * config.hop_length, total - 1)
    reach = int(0.01 * rate)
    covered = np.array([voiced[max(0, centre - reach) : centre + reach].all() for centre in centres])
    return audio, f0[centres], covered


def targets(item: Example, count: int) -> np.ndarray:
    """An Example's soft targets (count + 1, T): a Gaussian over the candidates, or the class "unvoiced"."""
    position = 1200.0 * np.log2(np.maximum(item.f0, 1e-3) / F0_RANGE[0]) / GRID_CENTS
    inside = item.voiced & (position >= -2.0) & (position <= count + 1.0)
    bins = np.arange(count)[:, None]
    gaussian = np.exp(-0.5 * ((bins - position[None]) / TARGET_SIGMA_BINS) ** 2)
    gaussian /= np.maximum(gaussian.sum(0, keepdims=True), 1e-9)
    result = np.zeros((count + 1, len(item.f0)), np.float32)
    result[:count, inside] = gaussian[:, inside]
    result[count, ~inside] = 1.0
    return result


def train_reader(
    examples: list[Example], steps: int, config: MelConfig, seed: int = 0, report=None
) -> tuple[PitchReader, list[float]]:
    """Train a reader on `examples` for `steps` → (its weight average, the loss of every step). `report(step,
    loss)` is called every 500 steps and at the end."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    count = len(candidates())
    reader = PitchReader(config.n_mels, count)
    average = torch.optim.swa_utils.AveragedModel(
        reader, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(AVERAGE_DECAY)
    )
    optimizer = torch.optim.Adam(reader.parameters(), LEARNING_RATE)
    warm_up = max(1, steps // 20)  # steps of linear warm-up, then a cosine down to 0 at `steps`
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / warm_up) * 0.5 * (1.0 + np.cos(np.pi * step / steps))
    )
    usable = [item for item in examples if item.mel.shape[1] > SEGMENT_FRAMES]
    if not usable:
        raise ValueError(f"no example is longer than {SEGMENT_FRAMES} frames")
    soft = [targets(item, count) for item in usable]
    losses = []
    for step in range(1, steps + 1):
        picks = rng.integers(len(usable), size=BATCH)
        starts = [rng.integers(usable[i].mel.shape[1] - SEGMENT_FRAMES) for i in picks]
        gains = rng.uniform(-GAIN_DB, GAIN_DB, size=BATCH) / -config.min_db  # dB as the normalised mel counts it
        window = [slice(s, s + SEGMENT_FRAMES) for s in starts]
        mel = np.stack([np.clip(usable[i].mel[:, w] + g, 0.0, 1.0) for i, w, g in zip(picks, window, gains)])
        mel = mel.astype(np.float32)
        scores = np.stack([usable[i].scores[:, w] for i, w in zip(picks, window)])
        wanted = torch.from_numpy(np.stack([soft[i][:, w] for i, w in zip(picks, window)]))
        logits = reader(torch.from_numpy(mel), torch.from_numpy(scores))
        loss = -(wanted * F.log_softmax(logits, dim=1)).sum(1).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        average.update_parameters(reader)
        losses.append(float(loss.detach()))
        if report is not None and (step % 500 == 0 or step == steps):
            report(step, float(np.mean(losses[-500:])))
    return average.module.eval(), losses


def add_cli(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train-pitch",
        help="train the pitch reader on recordings and synthetic tones",
        description="Train the learned pitch reader (engine/pitch_reader.py) on recordings under DIR, one voice per "
        "subfolder, labelled by pyin (cached in DIR/.vocoscope-cache), and on synthetic tones of known F0.",
    )
    parser.add_argument("--data", required=True, metavar="DIR", help="training voices, one subfolder each")
    parser.add_argument("--out", required=True, metavar="FILE", help="the reader to write (.safetensors)")
    parser.add_argument("--per-voice", type=int, default=200, metavar="N", help="recordings of each voice (200)")
    parser.add_argument("--synthetic", type=int, default=600, metavar="N", help="synthetic clips of 2 s (600)")
    parser.add_argument("--steps", type=int, default=20000, metavar="N", help="training steps (20000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0, metavar="N", help="CPU threads for torch (default: torch's)")
    parser.set_defaults(run=run_cli)


def run_cli(args: argparse.Namespace) -> int:
    from engine.errors import InputError

    root = Path(args.data)
    if not root.is_dir():
        raise InputError(root, "no such folder", "a folder of recordings, one subfolder per voice", "Check --data.")
    if args.steps < 1 or args.per_voice < 0 or args.synthetic < 0 or args.per_voice + args.synthetic == 0:
        raise InputError(
            "train-pitch",
            f"--steps {args.steps}, --per-voice {args.per_voice}, --synthetic {args.synthetic}",
            "--steps 1 or more, --per-voice and --synthetic 0 or more and not both 0",
            "Give counts in those ranges.",
        )
    if args.threads:
        torch.set_num_threads(args.threads)
    config = MelConfig()
    started = time.perf_counter()
    recordings = chosen_recordings(root, args.per_voice, args.seed)
    examples = []
    for index, path in enumerate(recordings, 1):
        examples.append(recording_example(path, root, config))
        print(f"\rlabelled {index}/{len(recordings)} recordings", end="", file=sys.stderr, flush=True)
    rng = np.random.default_rng(args.seed)
    examples += [example(*_mel_of(synthetic_clip(rng, config), config), config) for _ in range(args.synthetic)]
    print(f"\n{len(recordings)} recordings and {args.synthetic} synthetic clips", file=sys.stderr)
    reader, losses = train_reader(
        examples, args.steps, config, args.seed, lambda step, loss: print(f"step {step}: loss {loss:.4f}", flush=True)
    )
    training = {
        "command": "vocoscope " + " ".join(sys.argv[1:]),
        "data": str(root),
        "recordings": len(recordings),
        "synthetic_clips": args.synthetic,
        "steps": args.steps,
        "seconds": round(time.perf_counter() - started, 1),
        "final_loss": round(float(np.mean(losses[-500:])), 4),
        "licences": _licences(root),
    }
    save_reader(reader, Path(args.out), config, training)
    print(f"saved {args.out}")
    return 0


def _mel_of(clip: tuple[np.ndarray, np.ndarray, np.ndarray], config: MelConfig):
    """(audio, f0, voiced) → (mel, f0, voiced)."""
    audio, f0, voiced = clip
    return mel_spectrogram(audio, config), f0, voiced


def _licences(root: Path) -> dict[str, str]:
    """Each voice's licence from the manifest `vocoscope trainset` writes beside the set's folders, where there is one."""
    manifest = root.parent / "manifest.json"
    if not manifest.exists():
        return {}
    voices = json.loads(manifest.read_text()).get("voices", {})
    return {name: voice.get("licence", "") for name, voice in voices.items() if (root / name).is_dir()}
