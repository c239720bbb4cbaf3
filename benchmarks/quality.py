"""Resynthesis quality of the default models against Griffin-Lim, on held-out recordings.

Every recording under --data (by default the held-out part of `vocoscope trainset`, never trained on) is
turned into the model's mel; each model resynthesises it by sampling, and Griffin-Lim (librosa, 32 iterations)
inverts the very same mel, its random initial phases drawn from the same seed. Printed per method, averaged
over the recordings:
- PESQ, wide band at 16 kHz (ITU-T P.862.2, package `pesq`), MOS-LQO 1.0–4.6, higher is better;
- STOI (package `pystoi`), 0–1, higher is better;
- log-mel distance: mean |difference| of the two mels in dB (the model's mel settings), lower is better.
For each model that draws mu-law classes, a row "<model>: true classes" scores the recording coded the way the
model codes it, every class the right one (`true_classes`): the ceiling its coding allows, so that the distance
from it to the model's own row is the network's, not the coding's.

    python benchmarks/quality.py [--data data/asterisk-en/heldout] [--models wavernn wavenet] [--seed 1]
                                 [--temperatures 0.6 0.8] [--candidates 1 8] [--postfilters 0 0.8] [--envelopes 0 1]

A model's resynthesis goes through its pitch post-filter (engine/postfilter.py) and then its envelope post-filter
(engine/envelope.py) when its config has them, as generation does; a WaveRNN with mel-guided sampling chooses
among its candidates (engine/models/wavernn/mel_guide.py). --temperatures scores each model at each temperature instead of
its own, --candidates each WaveRNN with each number of candidates (1: every draw kept), --postfilters and
--envelopes each resynthesis at each pitch and envelope post-filter strength (0: none) instead of the model's own:
choose them on training recordings, never on the held-out ones, then report them here.

pesq and pystoi are benchmark-only dependencies: pip install pesq pystoi.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.datasets import aligned_audio_and_mel, audio_files  # noqa: E402
from engine.envelope import envelope_postfilter  # noqa: E402
from engine.errors import ConfigError  # noqa: E402
from engine.features import MelConfig, griffin_lim, load_audio, mel_distance_db, mel_spectrogram, resample  # noqa: E402
from engine.models.coding import mulaw_classes, mulaw_expand  # noqa: E402
from engine.models.loading import load_model  # noqa: E402  # noqa: E402
from engine.postfilter import pitch_postfilter  # noqa: E402
from engine.sampling import Sampling  # noqa: E402

METRIC_RATE = 16000  # PESQ wide band is defined at 16 kHz


@dataclass
class Scores:
    pesq: list[float] = field(default_factory=list)
    stoi: list[float] = field(default_factory=list)
    log_mel_db: list[float] = field(default_factory=list)
    seconds: float = 0.0

    def row(self, name: str, audio_seconds: float, width: int) -> str:
        timing = f"{self.seconds:>9.1f}{audio_seconds / self.seconds:>9.2f}" if self.seconds else f"{'—':>9}{'—':>9}"
        return (
            f"{name:<{width}}{np.mean(self.pesq):>8.3f}{standard_error(self.pesq):>7.3f}{np.mean(self.stoi):>8.3f}"
            f"{standard_error(self.stoi):>7.3f}{np.mean(self.log_mel_db):>12.2f}{timing}"
        )


def standard_error(values: list[float]) -> float:
    """The standard error of the mean over recordings (0 for one): differences well inside it are noise."""
    return float(np.std(values, ddof=1) / np.sqrt(len(values))) if len(values) > 1 else 0.0


def score(scores: Scores, reference: np.ndarray, estimate: np.ndarray, config: MelConfig) -> None:
    from pesq import pesq
    from pystoi import stoi

    ref16 = resample(reference, config.sample_rate, METRIC_RATE)
    est16 = resample(estimate, config.sample_rate, METRIC_RATE)
    scores.pesq.append(float(pesq(METRIC_RATE, ref16, est16, "wb")))
    scores.stoi.append(float(stoi(ref16, est16, METRIC_RATE, extended=False)))
    scores.log_mel_db.append(
        mel_distance_db(mel_spectrogram(reference, config), mel_spectrogram(estimate, config), config)
    )


def load_recordings(files: list[Path], config: MelConfig) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each file → (audio (F · hop,), mel (n_mels, F)): frame f conditions samples [f · hop, (f + 1) · hop)."""
    return [aligned_audio_and_mel(load_audio(path, config.sample_rate)[0], config) for path in files]


def resynthesise(
    model, mels: list[np.ndarray], seed: int, block_frames: int = 40, sampling: Sampling | None = None
) -> list[np.ndarray]:
    """All mels as one batch (padded to the longest by repeating each last frame, which changes only the
    conditioning of each recording's last `pad` frames), drawn by `sampling` (None: the model's own; the stream
    applies no post-filter); returns each recording's samples."""
    longest = max(mel.shape[1] for mel in mels)
    batch = np.stack([np.pad(mel, ((0, 0), (0, longest - mel.shape[1])), mode="edge") for mel in mels])
    generator = torch.Generator().manual_seed(seed)
    blocks = [
        block.samples
        for block in model.stream(
            torch.from_numpy(batch), block_frames=block_frames, generator=generator, sampling=sampling
        )
    ]
    samples = torch.cat(blocks, dim=1).numpy()
    return [samples[i, : mel.shape[1] * model.hop_length] for i, mel in enumerate(mels)]


def postfiltered(
    samples: np.ndarray, mel: np.ndarray, config: MelConfig, pitch: float, envelope: float, passes: int = 1
) -> np.ndarray:
    """A resynthesis (T,) through the pitch and then the envelope post-filter `passes` times, as generation applies
    them (0: not that one)."""
    samples = pitch_postfilter(samples, config.sample_rate, pitch) if pitch else samples
    for _ in range(passes if envelope else 0):
        samples = envelope_postfilter(samples, mel, config, envelope)
    return samples


def true_classes(model, audio: np.ndarray, mel: np.ndarray) -> np.ndarray | None:
    """audio (F · hop,), mel (n_mels, F) → the audio in the model's coding with every class right (F · hop,): each
    sample's mu-law class, or with linear prediction x_t = p_t + e_t, e_t's class taken from the recording and p_t
    predicted from the recording's own past. None for a model that draws no mu-law classes (no temperature)."""
    if model.own_sampling.temperature is None:
        return None
    bits = model.config.bits
    mel_batch, audio_batch = torch.from_numpy(mel)[None], torch.from_numpy(audio)[None]
    predictor = getattr(model, "predictor", None)
    with torch.inference_mode():
        prediction, target = predictor.split(mel_batch, audio_batch) if predictor is not None else (0.0, audio_batch)
        coded = prediction + mulaw_expand(mulaw_classes(target, bits), bits).double()
    return coded.clamp(-1.0, 1.0)[0].float().numpy()


def check_held_out(folder: Path, files: list[Path]) -> None:
    """Refuse recordings that a trainset manifest beside them lists as training data."""
    for manifest in (folder / "manifest.json", folder.parent / "manifest.json"):
        if manifest.is_file():
            trained_on = set(json.loads(manifest.read_text())["files"]["train"])
            overlap = sorted(path.name for path in files if path.name in trained_on)
            if overlap:
                sys.exit(
                    f"{folder}: {len(overlap)} recordings are training data (e.g. {overlap[0]}); "
                    "benchmark on the held-out part."
                )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="data/asterisk-en/heldout", help="folder of held-out recordings")
    parser.add_argument("--models", nargs="+", default=["wavernn", "wavenet"], help="built-in names or checkpoints")
    parser.add_argument("--seed", type=int, default=1, help="sampling seed")
    parser.add_argument(
        "--temperatures",
        nargs="+",
        type=float,
        metavar="T",
        help="score each model at each of these temperatures (default: the model's own)",
    )
    parser.add_argument(
        "--candidates",
        nargs="+",
        type=int,
        metavar="K",
        help="score each WaveRNN choosing among each of these numbers of draws by the mel (1: every "
        "draw kept; default: the model's own)",
    )
    parser.add_argument(
        "--postfilters",
        nargs="+",
        type=float,
        metavar="S",
        help="score each model's output with the pitch post-filter at each of these strengths (0: off; "
        "default: the model's own)",
    )
    parser.add_argument(
        "--envelopes",
        nargs="+",
        type=float,
        metavar="S",
        help="score each model's output with the envelope post-filter at each of these strengths (0: "
        "off; default: the model's own)",
    )
    parser.add_argument("--limit", type=int, default=0, help="use only the first N recordings")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads")
    parser.add_argument("--save", metavar="DIR", help="write every resynthesis as WAV for listening")
    parser.add_argument("--json", metavar="FILE", help="also write the per-recording figures as JSON")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    folder = Path(args.data)
    files = audio_files(folder) if folder.is_dir() else []
    if not files:
        sys.exit(f"{folder}: no recordings. Build them with `vocoscope trainset --out data/asterisk-en`.")
    files = files[: args.limit] if args.limit else files
    check_held_out(folder, files)

    # a checkpoint path is labelled by its file name without the suffix
    models = [(Path(name).stem, *load_model(name)) for name in args.models]
    for name, model, _ in models:  # each setting asked for, checked before any work
        for temperature, candidates in itertools.product(args.temperatures or [None], args.candidates or [None]):
            try:
                model.sampling(Sampling(temperature=temperature, candidates=candidates))
            except ConfigError as error:
                sys.exit(f"{name}: {error}")
    print(
        f"machine: {platform.machine()} {platform.processor() or ''}, {os.cpu_count()} CPUs, torch "
        f"{torch.__version__} ({torch.get_num_threads()} threads); seed {args.seed}"
    )
    print(f"held-out recordings: {len(files)} from {folder}")
    for name, model, info in models:
        training = f"{info.path}" if info.trained else "random weights (not trained)"
        print(f"  {name}: {info.family}, {info.parameters:,} parameters, {training}")

    results: dict[str, Scores] = {}
    per_file: dict[str, dict[str, dict[str, float]]] = {}
    audio_seconds = 0.0
    for config in {model.mel_config for _, model, _ in models}:
        recordings = load_recordings(files, config)
        audio_seconds = sum(len(audio) for audio, _ in recordings) / config.sample_rate
        label = "Griffin-Lim (32 iter.)"
        gl = results.setdefault(label, Scores())
        outputs: dict[str, list[np.ndarray]] = {}
        started = time.perf_counter()
        outputs[label] = [griffin_lim(mel, config, n_iter=32, seed=args.seed) for _, mel in recordings]
        gl.seconds += time.perf_counter() - started
        for name, model, _ in models:
            if model.mel_config != config:
                continue
            for temperature, candidates in itertools.product(args.temperatures or [None], args.candidates or [None]):
                label = (
                    name
                    + ("" if temperature is None else f" T {temperature:g}")
                    + ("" if candidates is None else f" K {candidates}")
                )
                started = time.perf_counter()
                sampling = model.sampling(Sampling(temperature=temperature, candidates=candidates))
                drawn = resynthesise(model, [mel for _, mel in recordings], args.seed, sampling=sampling)
                seconds = time.perf_counter() - started
                for strength in args.postfilters or [sampling.pitch_postfilter]:
                    for envelope in args.envelopes or [sampling.envelope_postfilter]:
                        key = (
                            label
                            + (f" PF {strength:g}" if args.postfilters else "")
                            + (f" env {envelope:g}" if args.envelopes else "")
                        )
                        started = time.perf_counter()
                        outputs[key] = [
                            postfiltered(samples, mel, config, strength, envelope, sampling.envelope_passes)
                            for samples, (_, mel) in zip(drawn, recordings)
                        ]
                        results.setdefault(key, Scores()).seconds = seconds + time.perf_counter() - started
            coded = [true_classes(model, audio, mel) for audio, mel in recordings]
            if coded[0] is not None:
                results.setdefault(f"{name}: true classes", Scores())
                outputs[f"{name}: true classes"] = coded
        for label, estimates in outputs.items():
            for path, (audio, _), estimate in zip(files, recordings, estimates):
                score(results[label], audio, estimate, config)
                per_file.setdefault(label, {})[path.name] = {
                    "pesq": results[label].pesq[-1],
                    "stoi": results[label].stoi[-1],
                    "log_mel_db": results[label].log_mel_db[-1],
                }
                if args.save:
                    import soundfile

                    out = Path(args.save) / re.sub(r"[^a-z0-9.]+", "-", label.split(" (")[0].lower())  # wavenet-t-0.6
                    out.mkdir(parents=True, exist_ok=True)
                    soundfile.write(str(out / path.name), estimate, config.sample_rate, subtype="PCM_16")

    width = max(28, 2 + max(len(label) for label in results))
    print(
        f"\n{'method':<{width}}{'PESQ-WB':>8}{'± se':>7}{'STOI':>8}{'± se':>7}{'log-mel dB':>12}{'time s':>9}{'x real':>9}"
    )
    for label, scores in results.items():
        print(scores.row(label, audio_seconds, width))
    print(
        f"({audio_seconds:.1f} s of audio; PESQ and STOI: higher is better, ± the standard error over recordings; "
        "log-mel distance: lower is better)"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(per_file, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
