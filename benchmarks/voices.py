"""How the vocoders hold on voices they never heard: per held-out voice, against Griffin-Lim and a no-network control.

--data is a folder with one subfolder per voice (by default DIR/heldout of `vocoscope trainset --source voices`:
whole speakers used for nothing else, see engine/voice_set.py). Each recording is turned into the model's mel, and
every method resynthesises it from that mel alone:
- Griffin-Lim (librosa, 32 iterations, random initial phases from --seed);
- "no network": the pitch read from the mel (engine/pitch.py) drives a harmonic-plus-noise source
  (engine/excitation.py) that goes through the same post-filters as the shipped models (each model's own pitch,
  envelope and envelope passes, once per different set): what the post-filters make without any network; and the
  same source (at unit RMS) through each synthesis filter
  of engine/models/synthesis_filter.py (the mel's all-pole fit of order 16, the mel's own envelope), alone and then
  through the post-filters: what a waveform WaveNet with `lpc_order` 16 or `mel_synthesis` makes before its network
  has learned anything;
- each model "raw" (one draw per sample, no mel guidance, no post-filters: the network alone) and "shipped" (its
  own configuration: temperature, mel guidance, post-filters), from the same seed.
Per voice and method, averaged over the voice's recordings:
- PESQ wide band (ITU-T P.862.2, package `pesq`), STOI (`pystoi`), log-mel distance in dB (as benchmarks/quality.py);
- voicing: of the recordings' voiced frames (librosa's pyin, 60-500 Hz), the fraction voiced in the resynthesis,
  counted over all of the voice's frames together (a recording pyin finds no voice in adds nothing);
- F0 error: mean |difference| in cents between the two pyin tracks, over all the frames voiced in both;
- HNR: in the recording's voiced frames, harmonics up to 3 kHz at the recording's F0 (each the strongest bin within
  a quarter of F0) over the mean power halfway between them, in dB; the recording's own row shows what speech has.
The last table averages the voices. Times are whole resyntheses on this machine (x real: audio seconds per second).

    python benchmarks/voices.py [--data data/voices/heldout] [--models wavenet wavernn] [--seed 1] [--json FILE]

pesq and pystoi are benchmark-only dependencies: pip install pesq pystoi.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from quality import Scores, load_recordings, postfiltered, resynthesise, score  # noqa: E402

from engine.datasets import audio_files  # noqa: E402
from engine.excitation import excitation  # noqa: E402
from engine.features import MelConfig, denormalise, griffin_lim, mel_spectrogram  # noqa: E402
from engine.excitation import LEVEL  # noqa: E402
from engine.models.loading import load_model  # noqa: E402
from engine.models.synthesis_filter import SynthesisFilter  # noqa: E402
from engine.pitch import estimate_pitch  # noqa: E402
from engine.pitch_reader_training import PYIN_FRAME, pyin_labels  # noqa: E402
from engine.pitch_source import per_sample  # noqa: E402
from engine.sampling import Sampling  # noqa: E402

SYNTHESES = {"LPC 16 synthesis": 16, "mel-envelope synthesis": 0}  # the synthesised controls: SynthesisFilter's order
CONTROL_POSTFILTERS = (0.8, 1.0, 1)  # pitch, envelope, passes: the controls' without a model to take them from
HNR_TOP = 3000.0


def pyin_track(audio: np.ndarray, sample_rate: int, hop_length: int) -> tuple[np.ndarray, np.ndarray]:
    """audio (N,) → (f0 (F,) Hz with NaN where unvoiced, voiced (F,) bool), frames centred every hop_length: the
    reading the pitch reader is trained to (engine/pitch_reader_training.py), so scored by the same settings."""
    return pyin_labels(audio, sample_rate, hop_length)


def hnr_db(audio: np.ndarray, f0: np.ndarray, voiced: np.ndarray, sample_rate: int, hop_length: int) -> float:
    """Harmonic-to-noise ratio of `audio` in dB at a given track (frames centred every hop_length), see the module
    docstring; NaN when no frame is voiced."""
    window = np.hanning(PYIN_FRAME)
    padded = np.pad(audio, PYIN_FRAME // 2)
    bin_hz = sample_rate / PYIN_FRAME
    harmonic, between = [], []
    for frame in np.flatnonzero(voiced):
        start = frame * hop_length
        segment = padded[start : start + PYIN_FRAME]
        if len(segment) < PYIN_FRAME:
            break
        power = np.abs(np.fft.rfft(segment * window)) ** 2
        for k in range(1, int(HNR_TOP // f0[frame]) + 1):
            centre, reach = k * f0[frame] / bin_hz, max(1, int(f0[frame] / 4 / bin_hz))
            peak = power[max(0, int(round(centre)) - reach) : int(round(centre)) + reach + 1].max()
            middle = int(round(centre + f0[frame] / 2 / bin_hz))
            harmonic.append(peak)
            between.append(power[max(0, middle - reach // 2) : middle + reach // 2 + 1].mean())
    if not harmonic:
        return float("nan")
    return float(10.0 * np.log10(np.mean(harmonic) / max(np.mean(between), 1e-20)))


class VoiceScores(Scores):
    """Scores with the pitch figures beside PESQ, STOI and the log-mel distance."""

    def __init__(self) -> None:
        super().__init__()
        self.voiced_frames: list[tuple[int, int]] = []  # per recording: (voiced in both, voiced in the recording)
        self.f0_cents: list[np.ndarray] = []  # per recording: the cents off in each frame voiced in both
        self.hnr_db: list[float] = []

    def add_pitch(self, reference: tuple[np.ndarray, np.ndarray], estimate: np.ndarray, config: MelConfig) -> None:
        ref_f0, ref_voiced = reference
        f0, voiced = pyin_track(estimate, config.sample_rate, config.hop_length)
        frames = min(len(f0), len(ref_f0))
        ref_f0, ref_voiced, f0, voiced = ref_f0[:frames], ref_voiced[:frames], f0[:frames], voiced[:frames]
        both = ref_voiced & voiced
        self.voiced_frames.append((int(both.sum()), int(ref_voiced.sum())))
        self.f0_cents.append(np.abs(1200.0 * np.log2(f0[both] / ref_f0[both])))
        self.hnr_db.append(hnr_db(estimate, ref_f0, ref_voiced, config.sample_rate, config.hop_length))

    def voicing(self) -> float:
        """Of the voiced frames of all the recordings, the fraction voiced in the resyntheses (NaN: none voiced)."""
        both, voiced = np.sum(self.voiced_frames, axis=0) if self.voiced_frames else (0, 0)
        return float(both / voiced) if voiced else float("nan")

    def figures(self) -> dict[str, float]:
        return {
            "pesq": float(np.mean(self.pesq)) if self.pesq else float("nan"),
            "stoi": float(np.mean(self.stoi)) if self.stoi else float("nan"),
            "log_mel_db": float(np.mean(self.log_mel_db)) if self.log_mel_db else float("nan"),
            "voicing": self.voicing(),
            "f0_cents": float(np.mean(np.concatenate(self.f0_cents))) if self.f0_cents else float("nan"),
            "hnr_db": float(np.nanmean(self.hnr_db)),
            "seconds": self.seconds,
        }


def no_network(
    mel: np.ndarray, config: MelConfig, seed: int, postfilters: tuple[float, float, int] = CONTROL_POSTFILTERS
) -> np.ndarray:
    """The control: mel (n_mels, F) → (F · hop,) from the mel's pitch, a harmonic-plus-noise source brought to
    each frame's loudness in the mel, and the post-filters (pitch, envelope, passes) alone."""
    num_samples = mel.shape[1] * config.hop_length
    source = excitation(estimate_pitch(mel, config), config.hop_length, config.sample_rate, num_samples, seed)
    wanted = np.linalg.norm(denormalise(mel, config), axis=0)
    made = np.linalg.norm(denormalise(mel_spectrogram(source, config)[:, : mel.shape[1]], config), axis=0)
    gain = per_sample(torch.from_numpy(wanted / np.maximum(made, 1e-9))[None], config.hop_length)[0].numpy()
    return postfiltered((source * gain).astype(np.float32), mel, config, *postfilters)


def no_network_synthesised(mel: np.ndarray, config: MelConfig, seed: int, order: int) -> np.ndarray:
    """The control's source, at unit RMS, through the mel's synthesis filter of this order (0: the mel's own
    envelope): mel (n_mels, F) → (F · hop,)."""
    num_samples = mel.shape[1] * config.hop_length
    source = excitation(estimate_pitch(mel, config), config.hop_length, config.sample_rate, num_samples, seed) / LEVEL
    shaping = SynthesisFilter(config, order)
    with torch.no_grad():
        made = shaping.synthesised(torch.from_numpy(source)[None], torch.from_numpy(mel)[None].float())
    return made[0].numpy()


def shipped_postfilters(models: list, config: MelConfig) -> list[tuple[float, float, int]]:
    """The (pitch, envelope, passes) post-filters the models of this mel ship with, each once, in order; the
    controls go through each. CONTROL_POSTFILTERS where no model is given."""
    found = []
    for _, model in models:
        own = model.sampling()
        shipped = (own.pitch_postfilter, own.envelope_postfilter, own.envelope_passes)
        if model.mel_config == config and shipped not in found:
            found.append(shipped)
    return found or [CONTROL_POSTFILTERS]


def postfilter_label(postfilters: tuple[float, float, int]) -> str:
    """(pitch, envelope, passes) → e.g. "pitch 0.8, envelope 1 ×8" (no "×1")."""
    pitch, envelope, passes = postfilters
    return f"pitch {pitch:g}, envelope {envelope:g}" + (f" ×{passes}" if passes > 1 else "")


def postfilter_words(postfilters: tuple[float, float, int], among: list) -> str:
    """How a control's label names its post-filters: "" when all the controls have the same, else e.g.
    " pitch 0.8, envelope 1 ×8"."""
    return "" if len(among) == 1 else f" {postfilter_label(postfilters)}"


def methods(
    models: list,
    mels: list[np.ndarray],
    config: MelConfig,
    seed: int,
    postfilters: list[tuple[float, float, int]] = (),
) -> dict[str, tuple[list, float]]:
    """Every method's resyntheses of `mels` and the seconds each took: {label: ([audio (F · hop,)], seconds)}; for
    each (pitch, envelope, passes) in `postfilters` also each model's raw draw post-filtered so (for choosing the
    strengths on validation voices)."""
    results: dict[str, tuple[list, float]] = {}

    def timed(label, make, before: float = 0.0):
        """Record make()'s outputs and its seconds, plus `before`, those of what it starts from."""
        started = time.perf_counter()
        outputs = make()
        results[label] = (outputs, time.perf_counter() - started + before)

    timed("Griffin-Lim (32 iter.)", lambda: [griffin_lim(mel, config, n_iter=32, seed=seed) for mel in mels])
    shipped = shipped_postfilters(models, config)
    for own in shipped:
        timed(
            f"no network (pitch from mel + post-filters{postfilter_words(own, shipped)})",
            lambda: [no_network(mel, config, seed, own) for mel in mels],
        )
    for words, order in SYNTHESES.items():
        timed(f"no network, {words}", lambda: [no_network_synthesised(mel, config, seed, order) for mel in mels])
        synthesised, seconds = results[f"no network, {words}"]
        for own in shipped:
            timed(
                f"no network, {words} + post-filters{postfilter_words(own, shipped)}",
                lambda: [postfiltered(made, mel, config, *own) for made, mel in zip(synthesised, mels)],
                before=seconds,
            )
    for name, model in models:
        if model.mel_config != config:
            continue
        timed(f"{name} raw", lambda: resynthesise(model, mels, seed, sampling=Sampling(candidates=1)))
        own = model.sampling()
        guided = own.candidates > 1
        raw, raw_seconds = results[f"{name} raw"]
        started = time.perf_counter()
        drawn = resynthesise(model, mels, seed) if guided else raw
        shipped = [
            postfiltered(samples, mel, config, own.pitch_postfilter, own.envelope_postfilter, own.envelope_passes)
            for samples, mel in zip(drawn, mels)
        ]
        results[f"{name} shipped"] = (shipped, time.perf_counter() - started + (0.0 if guided else raw_seconds))
        for strengths in postfilters:
            started = time.perf_counter()
            made = [postfiltered(samples, mel, config, *strengths) for samples, mel in zip(raw, mels)]
            results[f"{name} {postfilter_label(strengths)}"] = (
                made,
                time.perf_counter() - started + raw_seconds,
            )
    return results


def postfilter_strengths(given: str) -> tuple[float, float, int]:
    """ "PITCH,ENVELOPE[,PASSES]" → (pitch, envelope, passes); ValueError for anything else."""
    parts = given.split(",")
    if len(parts) not in (2, 3):
        raise ValueError(given)
    passes = int(parts[2]) if len(parts) == 3 else 1
    if passes < 1:
        raise ValueError(given)
    return float(parts[0]), float(parts[1]), passes


def print_table(title: str, rows: dict[str, dict[str, float]], audio_seconds: float | None) -> None:
    width = max(30, 2 + max(len(label) for label in rows))
    print(f"\n{title}")
    print(
        f"{'method':<{width}}{'PESQ-WB':>8}{'STOI':>7}{'mel dB':>8}{'voicing':>9}{'F0 cents':>10}{'HNR dB':>8}"
        f"{'x real':>8}"
    )
    for label, f in rows.items():
        speed = f"{audio_seconds / f['seconds']:>8.2f}" if audio_seconds and f.get("seconds") else f"{'—':>8}"
        print(
            f"{label:<{width}}{f['pesq']:>8.3f}{f['stoi']:>7.3f}{f['log_mel_db']:>8.2f}{f['voicing']:>9.2f}"
            f"{f['f0_cents']:>10.1f}{f['hnr_db']:>8.1f}{speed}"
        )


def check_not_trained_on(root: Path, voices: list[Path]) -> None:
    """Refuse voice folders that the set's manifest (beside `root`) lists as training voices."""
    manifest = root.parent / "manifest.json"
    if manifest.is_file():
        roles = {name: voice["role"] for name, voice in json.loads(manifest.read_text()).get("voices", {}).items()}
        trained = [folder.name for folder in voices if roles.get(folder.name) == "train"]
        if trained:
            sys.exit(
                f"{root}: {', '.join(trained)} are training voices; benchmark on DIR/heldout (or DIR/valid to "
                "choose settings)."
            )


def vocode_speed(models: list[str], voices: list[Path], config: MelConfig) -> dict[str, float]:
    """x real time of `vocoscope vocode` (the whole command, start-up included) for each model as shipped, on one core
    (taskset -c 0 where there is one) and one torch thread, on the voices' recordings joined into one file."""
    import shutil
    import subprocess
    import tempfile

    import soundfile

    audio = np.concatenate([load_recordings(audio_files(folder), config)[i][0] for folder in voices for i in (0, 1)])
    speeds = {}
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "voices.wav"
        soundfile.write(str(source), audio, config.sample_rate, subtype="PCM_16")
        pin = ["taskset", "-c", "0"] if shutil.which("taskset") else []
        for name in models:
            command = [
                *pin,
                sys.executable,
                "-m",
                "engine.cli",
                "vocode",
                str(source),
                "-o",
                str(Path(folder) / f"{Path(name).stem}.wav"),
                "--model",
                name,
                "--seed",
                "1",
                "--force",
            ]
            started = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True, env=os.environ | {"OMP_NUM_THREADS": "1"})
            speeds[name] = len(audio) / config.sample_rate / (time.perf_counter() - started)
    print(
        f"\n`vocoscope vocode` as shipped, one core{' (taskset -c 0)' if pin else ''}, "
        f"{len(audio) / config.sample_rate:.1f} s of the voices joined, start-up included:"
    )
    for name, speed in speeds.items():
        print(f"  {name:<24}{speed:6.2f}x real time")
    return speeds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="data/voices/heldout", help="folder with a subfolder of recordings per voice")
    parser.add_argument("--models", nargs="*", default=["wavenet", "wavernn"], help="built-in names or checkpoints")
    parser.add_argument("--seed", type=int, default=1, help="sampling seed")
    parser.add_argument("--limit", type=int, default=0, help="use only the first N recordings of each voice")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--json", metavar="FILE", help="also write every voice's figures as JSON")
    parser.add_argument(
        "--postfilters",
        nargs="*",
        default=[],
        metavar="PITCH,ENVELOPE[,PASSES]",
        help="also each model's raw draw through post-filters of these strengths, the envelope's PASSES times "
        "(default 1; choose on --data data/voices/valid, never on the held-out voices)",
    )
    parser.add_argument("--speed", action="store_true", help="also time `vocoscope vocode` with each model on one core")
    args = parser.parse_args(argv)
    wrong = f"--postfilters takes PITCH,ENVELOPE[,PASSES] such as 0.8,1 or 0,1,8; got {args.postfilters}"
    try:
        postfilters = [postfilter_strengths(given) for given in args.postfilters]
    except ValueError:
        parser.error(wrong)
    warnings.filterwarnings("ignore", message="Mean of empty slice")  # a method with no voiced frame: NaN, shown
    torch.set_num_threads(args.threads)
    root = Path(args.data)
    voices = (
        sorted(path for path in root.iterdir() if path.is_dir() and not path.name.startswith("."))
        if root.is_dir()
        else []
    )
    if not voices:
        sys.exit(f"{root}: no voice folders. Build them with `vocoscope trainset --source voices --out data/voices`.")
    check_not_trained_on(root, voices)
    models = [(Path(name).stem, load_model(name)[0]) for name in args.models]
    print(
        f"machine: {platform.machine()} {platform.processor() or ''}, {os.cpu_count()} CPUs, torch "
        f"{torch.__version__} ({torch.get_num_threads()} threads); seed {args.seed}"
    )
    for name, model in models:
        print(f"  {name}: {model.family}, {sum(p.numel() for p in model.parameters()):,} parameters")

    config = models[0][1].mel_config if models else MelConfig()
    per_voice: dict[str, dict[str, dict[str, float]]] = {}
    total_seconds = 0.0
    for folder in voices:
        files = audio_files(folder)[: args.limit or None]
        recordings = load_recordings(files, config)
        audio_seconds = sum(len(audio) for audio, _ in recordings) / config.sample_rate
        total_seconds += audio_seconds
        references = [pyin_track(audio, config.sample_rate, config.hop_length) for audio, _ in recordings]
        rows: dict[str, VoiceScores] = {"recording itself": VoiceScores()}
        for audio, reference in zip((audio for audio, _ in recordings), references):
            rows["recording itself"].add_pitch(reference, audio, config)
        made = methods(models, [mel for _, mel in recordings], config, args.seed, postfilters)
        for label, (outputs, seconds) in made.items():
            scores = rows.setdefault(label, VoiceScores())
            scores.seconds = seconds
            for (audio, _), reference, estimate in zip(recordings, references, outputs):
                score(scores, audio, estimate, config)
                scores.add_pitch(reference, estimate, config)
        per_voice[folder.name] = {label: scores.figures() for label, scores in rows.items()}
        print_table(
            f"{folder.name}: {len(files)} recordings, {audio_seconds:.1f} s", per_voice[folder.name], audio_seconds
        )
        sys.stdout.flush()
    labels = list(next(iter(per_voice.values())))
    average = {
        label: {
            key: float(np.mean([per_voice[v][label][key] for v in per_voice]))
            for key in per_voice[voices[0].name][label]
        }
        for label in labels
    }
    for label in labels:
        average[label]["seconds"] = sum(per_voice[v][label]["seconds"] for v in per_voice)
    print_table(f"average over {len(per_voice)} voices ({total_seconds:.1f} s of audio)", average, total_seconds)
    speeds = vocode_speed(args.models, voices, config) if args.speed else {}
    if args.json:
        Path(args.json).write_text(
            json.dumps({"voices": per_voice, "average": average, "vocode_x_real_time": speeds}, indent=2) + "\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
