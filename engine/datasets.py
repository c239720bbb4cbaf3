"""A training set: the audio files under a folder, their mels computed once and cached, random aligned segments
(and, for validation, a fixed set of them).

Every recording is loaded mono at the model's rate and cut to F · hop samples, where F = num_samples // hop,
so that mel frame f and samples [f · hop, (f + 1) · hop) belong together (as at generation time, where sample t
is conditioned on frame t // hop). A segment is `frames` consecutive frames and the samples they cover.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from engine.errors import InputError
from engine.export import atomic_path
from engine.features import AUDIO_SUFFIXES, MelConfig, load_audio, mel_spectrogram

CACHE_FOLDER = ".vocoscope-cache"


@dataclass
class Recording:
    """One file of the set. mel: (n_mels, F) float32; audio: (F · hop,) float32 in [-1, 1]."""

    name: str
    mel: np.ndarray
    audio: np.ndarray

    @property
    def frames(self) -> int:
        return int(self.mel.shape[1])


def audio_files(root: Path) -> list[Path]:
    """Audio files under `root` (any depth), sorted, skipping hidden folders such as the mel cache."""
    return sorted(
        path
        for path in root.rglob("*")
        if path.suffix.lower() in AUDIO_SUFFIXES
        and path.is_file()
        and not any(part.startswith(".") for part in path.relative_to(root).parts)
    )


def _cache_key(config: MelConfig) -> str:
    return hashlib.sha1(json.dumps(config.to_dict(), sort_keys=True).encode()).hexdigest()[:12]


def aligned_audio_and_mel(audio: np.ndarray, config: MelConfig) -> tuple[np.ndarray, np.ndarray]:
    """audio (n,) → (audio cut to F · hop samples, its mel (n_mels, F)), F = n // hop: frame f goes with samples
    [f · hop, (f + 1) · hop), as at generation time."""
    frames = len(audio) // config.hop_length
    audio = audio[: frames * config.hop_length]
    return audio, mel_spectrogram(audio, config)[:, :frames]


def load_recording(path: Path, root: Path, config: MelConfig, cache_root: Path) -> Recording:
    """Read one file and its mel, from the cache when the file has not changed since it was cached."""
    name = str(path.relative_to(root))
    cached = cache_root / _cache_key(config) / (name + ".npz")
    stat = path.stat()
    stamp = np.array([stat.st_size, stat.st_mtime_ns], dtype=np.int64)
    if cached.exists():
        with np.load(cached, allow_pickle=False) as stored:
            if np.array_equal(stored["stamp"], stamp):
                return Recording(name, stored["mel"], stored["audio"])
    audio, _ = load_audio(path, config.sample_rate)
    audio, mel = aligned_audio_and_mel(np.clip(audio, -1.0, 1.0), config)
    cached.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(cached) as temporary:
        np.savez(temporary, mel=mel, audio=audio, stamp=stamp)
    return Recording(name, mel, audio)


class SegmentDataset:
    """The recordings under `root` and a sampler of random segments aligned to hops.

    Recordings shorter than `frames` are left out; each segment is drawn uniformly over all the audio.
    """

    def __init__(
        self,
        root: str | Path,
        mel_config: MelConfig,
        frames: int,
        cache_root: str | Path | None = None,
        option: str = "--data",
    ):
        """`option` is the command-line option that named `root`, for the messages of a folder that cannot be used."""
        self.root = Path(root)
        self.mel_config = mel_config
        self.frames = frames
        if not self.root.is_dir():
            raise InputError(
                self.root,
                "no such folder",
                "a folder of audio files",
                f"Check {option}, or build a set with `vocoscope trainset --out DIR`.",
            )
        files = audio_files(self.root)
        if not files:
            raise InputError(
                self.root,
                "a folder with no audio files",
                f"audio files ({', '.join(AUDIO_SUFFIXES)})",
                f"Point {option} at a folder of recordings, e.g. one made by `vocoscope trainset --out DIR`.",
            )
        cache = Path(cache_root) if cache_root is not None else self.root / CACHE_FOLDER
        recordings = [load_recording(path, self.root, mel_config, cache) for path in files]
        self.recordings = [r for r in recordings if r.frames >= frames]
        self.skipped = len(recordings) - len(self.recordings)
        if not self.recordings:
            longest = max(r.frames for r in recordings)
            raise InputError(
                self.root,
                f"recordings of at most {longest} mel frames",
                f"at least one recording of {frames} frames ({frames * mel_config.hop_length} samples)",
                "Add longer recordings or train on shorter segments (segment_frames in --config).",
            )
        starts = np.array([r.frames - frames + 1 for r in self.recordings], dtype=np.float64)
        self._weights = starts / starts.sum()

    @property
    def seconds(self) -> float:
        return sum(len(r.audio) for r in self.recordings) / self.mel_config.sample_rate

    def sample(
        self, rng: np.random.Generator, batch_size: int, rows: slice = slice(None)
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """A batch of random segments: (mel (N, n_mels, frames), audio (N, frames · hop)), float32. With `rows`
        (a rank's share, engine/distributed.py), only those rows of the batch: the generator draws the whole batch
        either way, so every rank's generator advances alike."""
        picks = rng.choice(len(self.recordings), size=batch_size, p=self._weights)
        return self._cut(
            [(int(index), int(rng.integers(0, self.recordings[index].frames - self.frames + 1))) for index in picks][
                rows
            ]
        )

    def fixed_segments(self, count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Up to `count` segments that do not overlap, the same ones for the same files, `count` and `seed`.

        Each recording is cut into whole segments from its first frame on; `count` of them (all, if there are no
        more) are chosen at random without repeats and returned in file order:
        (mel (S, n_mels, frames), audio (S, frames · hop)), float32, S = min(count, segments available).
        """
        tiles = [
            (index, start)
            for index, recording in enumerate(self.recordings)
            for start in range(0, recording.frames - self.frames + 1, self.frames)
        ]
        chosen = np.random.default_rng(seed).choice(len(tiles), size=min(count, len(tiles)), replace=False)
        return self._cut([tiles[i] for i in sorted(chosen)])

    def _cut(self, segments: list[tuple[int, int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """(recording index, first frame) pairs → (mel (N, n_mels, frames), audio (N, frames · hop))."""
        hop = self.mel_config.hop_length
        mels, audios = [], []
        for index, start in segments:
            recording = self.recordings[index]
            mels.append(recording.mel[:, start : start + self.frames])
            audios.append(recording.audio[start * hop : (start + self.frames) * hop])
        return torch.from_numpy(np.stack(mels)), torch.from_numpy(np.stack(audios))
