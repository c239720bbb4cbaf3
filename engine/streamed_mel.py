"""A long recording for the command line: checked and measured first, then its mel computed from the file as
generation asks for it (`stream_input`), so that neither the recording nor its mel is ever held whole.

The file is read in order, a block at a time, made mono, resampled by a streaming resampler and framed (`Framer`):
the same frames, to the bit, each time it is read, and the same as reading the file whole up to the order of the
filter bank's sums. Generation asks for frames in order (the model a few frames ahead of what it makes, the pitch of a
model conditioned on it up to a block ahead, the envelope post-filter a few frames behind), so the last KEPT_BLOCKS
blocks of frames are kept and the reading moves on as windows reach past them; a window before them (not something
generation asks for) reads the file again from its start.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile
import torch

from engine.errors import InputError
from engine.features import (
    MEL_SUFFIXES,
    Conditioning,
    MelConfig,
    _check_finite,
    _librosa_mel_settings,
    _open_audio,
    _read,
    load_input,
    normalise,
    to_mono,
)
from engine.mel_frames import FrameSource

STREAM_BLOCK_SECONDS = 60.0  # `stream_input` reads a recording in blocks of this length (one block: `load_input`)
KEPT_BLOCKS = 4


def stream_input(
    path: str | Path, config: MelConfig, min_frames: int = 1, block_seconds: float = STREAM_BLOCK_SECONDS
) -> Conditioning:
    """`load_input` for the command line: a recording longer than `block_seconds` is read once to check it and
    measure it (a block at a time), and its mel is then computed block by block as generation asks for it
    (`StreamedMel`), so that memory holds a few blocks of the mel and one of audio, never the whole mel, the
    recording or its STFT. The result has no `audio`, only its `length` at the model's rate, and its `mel` is a
    FrameSource; a shorter recording or a mel file is read by `load_input` (the same mel to the bit as the window's).
    Each frame's mel is computed from the same samples as `mel_spectrogram` would use; only the order of the sums in
    the filter bank's matrix product may differ, in the last bit of float32."""
    path = Path(path)
    # peak: the whole recording's; the other two filter the recording before the mel
    if path.suffix.lower() in MEL_SUFFIXES or config.peak or config.preemphasis or config.highpass_hz:
        return load_input(path, config, min_frames)
    with _open_audio(path) as f:
        if f.frames <= block_seconds * f.samplerate:
            return load_input(path, config, min_frames)
        rate = f.samplerate
        block = max(1, int(block_seconds * rate))
        length = _checked_length(path, f, config, block)
    if config.frames_for(length) < min_frames:  # a recording longer than a block is never this short
        raise InputError(path, f"{length} samples", f"at least {min_frames} frames", "Use a longer recording.")
    mel = StreamedMel(
        path, config, length, block, block_frames=max(1, round(block_seconds * config.sample_rate / config.hop_length))
    )
    return Conditioning(mel=mel, mel_config=config, source=path, source_rate=rate, length=length)


def _checked_length(path: Path, f: soundfile.SoundFile, config: MelConfig, block: int) -> int:
    """The length at `config.sample_rate` of the open file `f` read `block` frames at a time (every sample checked:
    a bad one is found before any work), as `streamed_resampler` makes it."""
    resampler = streamed_resampler(f.samplerate, config)
    length = 0
    remaining = f.frames
    while remaining > 0:
        samples = _read(path, f, min(block, remaining))
        if not len(samples):
            break
        remaining -= len(samples)
        _check_finite(path, samples)
        length += (
            len(samples) if resampler is None else len(resampler.resample_chunk(to_mono(samples), last=remaining <= 0))
        )
    return length


def streamed_resampler(rate: int, config: MelConfig):
    """A streaming soxr resampler from `rate` to the model's (the same samples as `resample` on the whole recording,
    given in pieces), or None when the rates agree."""
    import soxr

    if rate == config.sample_rate:
        return None
    return soxr.ResampleStream(rate, config.sample_rate, 1, dtype="float32", quality="HQ")


class Framer:
    """Centred mel frames of a signal that arrives in pieces: frame t spans samples [t·hop − n_fft/2, t·hop + n_fft/2)
    of the signal reflected by n_fft/2 at both ends, as `mel_spectrogram` pads it (the first n_fft/2 + 1 samples are
    held back until they have all come: a streaming resampler gives out little at first)."""

    def __init__(self, config: MelConfig):
        self.config = config
        self.half = config.n_fft // 2
        self.pending = np.zeros(0, dtype=np.float32)  # padded signal from the next frame's first sample
        self.tail = np.zeros(0, dtype=np.float32)  # the last half + 1 samples seen, for the reflection at the end
        self.head = np.zeros(0, dtype=np.float32)  # the first samples, until there are enough to reflect
        self.frames = 0
        self.length = 0

    def push(self, audio: np.ndarray, last: bool) -> np.ndarray:
        """Append `audio` (n,) and return the normalised mel (n_mels, k) of the k frames it completes."""
        import librosa

        config, half = self.config, self.half
        if self.length == 0:
            self.head = np.concatenate([self.head, audio])
            if len(self.head) <= half and not last:
                return np.zeros((config.n_mels, 0), dtype=np.float32)
            audio, self.head = self.head, self.head[:0]
            self.length = len(audio)
            start = audio[half:0:-1] if len(audio) > half else np.zeros(half, dtype=np.float32)
            audio = np.concatenate([start, audio])
        else:
            self.length += len(audio)
        self.tail = np.concatenate([self.tail, audio])[-(half + 1) :]
        pieces = [self.pending, audio]
        if last:
            pieces.append(self.tail[-2 : -half - 2 : -1])
        signal = np.concatenate(pieces)
        count = 0 if len(signal) < config.n_fft else 1 + (len(signal) - config.n_fft) // config.hop_length
        if last:
            count = min(count, 1 + self.length // config.hop_length - self.frames)
        mel = np.zeros((config.n_mels, 0), dtype=np.float32)
        if count:
            settings = _librosa_mel_settings(config) | {"center": False}
            end = (count - 1) * config.hop_length + config.n_fft
            mel = normalise(librosa.feature.melspectrogram(y=signal[:end], n_mels=config.n_mels, **settings), config)
            self.frames += count
        self.pending = signal[count * config.hop_length :]
        return mel


class StreamedMel(FrameSource):
    """The normalised mel (1, n_mels, 1 + length // hop) of the recording at `path`, whose length at the model's rate
    is `length` (measured by the first reading), read `read_frames` of the file's frames at a time and kept in
    blocks of `block_frames` mel frames."""

    rows = 1

    def __init__(self, path: Path, config: MelConfig, length: int, read_frames: int, block_frames: int):
        self.path, self.config, self.length = Path(path), config, length
        self.read_frames, self.block = read_frames, block_frames
        self.n_mels, self.frames = config.n_mels, config.frames_for(length)
        self.kept: dict[int, np.ndarray] = {}  # block index → its frames (n_mels, ≤ block_frames)
        self._file = None

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")

    def window(self, start: int, stop: int) -> torch.Tensor:
        if not 0 <= start <= stop <= self.frames:
            raise IndexError(f"frames [{start}, {stop}) of a mel of {self.frames}")
        out = np.empty((1, self.n_mels, stop - start), dtype=np.float32)
        for k in range(start // self.block, (stop - 1) // self.block + 1 if stop > start else 0):
            first = k * self.block
            low, high = max(start, first), min(stop, first + self.block)
            out[0, :, low - start : high - start] = self._block(k)[:, low - first : high - first]
        return torch.from_numpy(out)

    def _block(self, k: int) -> np.ndarray:
        if k not in self.kept:
            if self._file is None or k < self._made:  # not read yet, or read and let go: from the start
                self._start()
            while k not in self.kept:
                self._read()
        return self.kept[k]

    def _start(self) -> None:
        if self._file is not None:
            self._file.close()
        self._file = _open_audio(self.path)
        self._resampler = streamed_resampler(self._file.samplerate, self.config)
        self._framer = Framer(self.config)
        self._remaining = self._file.frames
        self._pending = np.zeros((self.n_mels, 0), dtype=np.float32)  # frames not yet in a whole block
        self._made = 0  # blocks made in this reading
        self.kept.clear()

    def _read(self) -> None:
        """Read the next block of the file and keep the blocks of frames it completes, letting the oldest go."""
        samples = _read(self.path, self._file, min(self.read_frames, self._remaining)) if self._remaining > 0 else None
        if samples is None or not len(samples):
            raise InputError(
                self.path,
                f"a recording that ends after {self._framer.length} samples at {self.config.sample_rate} Hz",
                f"the {self.length} samples it had when it was first read",
                "The file changed while it was being vocoded; vocode it again.",
            )
        self._remaining -= len(samples)
        _check_finite(self.path, samples)
        mono = to_mono(samples)
        last = self._remaining <= 0
        if self._resampler is not None:
            mono = self._resampler.resample_chunk(mono, last=last)
        self._pending = np.concatenate([self._pending, self._framer.push(mono, last=last)], axis=1)
        while self._pending.shape[1] >= self.block or (last and self._pending.shape[1]):
            self.kept[self._made] = self._pending[:, : self.block].copy()
            self._pending = self._pending[:, self.block :]
            self._made += 1
            self.kept.pop(self._made - 1 - KEPT_BLOCKS, None)
        if last:
            self._file.close()
