"""Audio in, mel out: loading, resampling, the model's mel and its STFT/mel analysis, mu-law and the 16-bit
coarse/fine split.

Everything here works on numpy arrays; the models turn them into tensors. Every problem with an input file
is raised as an `InputError` that names the file, what was found, what was expected and the fix.
"""

from __future__ import annotations

import dataclasses
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile

from engine.errors import InputError

ABSURD_MEL = 1e4  # beyond any mel: normalised ones lie in [0, 1], decibels within ±300, magnitudes far below this
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".mp3", ".aiff", ".aif")
MEL_SUFFIXES = (".npy", ".pt")


@dataclass(frozen=True)
class MelConfig:
    """How a model's mel spectrogram is made from audio; stored in every checkpoint.

    `normalisation` is ``"db_minmax"``: magnitude mel → ``20·log10(max(m, 1e-5)) − ref_db`` → scaled from
    ``[min_db, 0]`` dB to ``[0, 1]`` and clipped. A model trained on that range expects values in ``[0, 1]``.
    ``"db_symmetric"`` is the same scaled to ``[-1, 1]`` (Real-Time-Voice-Cloning's vocoder). ``"log10_meanvar"`` is
    ``log10(max(m, 1e-10))`` less `mel_mean`, divided by `mel_scale` (one value per band: the training set's mean and
    standard deviation, r9y9's wavenet_vocoder); `min_db` and `ref_db` are then unused.

    The rest describe models imported from other projects (engine/importers/) and are off by default: `peak`, the
    audio scaled to this peak before analysis; `preemphasis`, the audio filtered by 1 − k·z⁻¹ before the STFT;
    `output_preemphasis`, the model generates audio pre-emphasised by this k, which generation de-emphasises
    (engine/emphasis.py); `highpass_hz`, the audio filtered by r9y9's low-cut FIR (255 taps, this cut-off) before
    everything else.
    """

    sample_rate: int = 16000
    n_fft: int = 1024
    hop_length: int = 200
    win_length: int = 800
    window: str = "hann"
    n_mels: int = 80
    fmin: float = 40.0
    fmax: float = 8000.0
    normalisation: str = "db_minmax"
    min_db: float = -100.0
    ref_db: float = 20.0
    peak: float = 0.0
    preemphasis: float = 0.0
    output_preemphasis: float = 0.0
    highpass_hz: float = 0.0
    mel_mean: tuple[float, ...] = ()
    mel_scale: tuple[float, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "MelConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items() if k in known})

    def frames_for(self, num_samples: int) -> int:
        """Mel frames librosa makes (centred frames) from `num_samples` samples."""
        return 1 + num_samples // self.hop_length


@dataclass
class Conditioning:
    """What a model is conditioned on: the mel, how it was made, and the audio it came from if any.

    mel: (n_mels, T) float32, normalised as `mel_config` says; for a long recording read in blocks
        (engine.streamed_mel.stream_input) a FrameSource of one row (engine/mel_frames.py) that computes its frames as
        they are asked for.
    audio: (num_samples,) float32 at `mel_config.sample_rate`, or None for a mel file and for a long recording read
        in blocks, whose length is then `length`.
    """

    mel: Any
    mel_config: MelConfig
    source: Path | None = None
    audio: np.ndarray | None = None
    source_rate: int | None = None
    transposed: bool = False
    length: int | None = None

    @property
    def frames(self) -> int:
        return int(self.mel.shape[-1])  # (n_mels, T), or a FrameSource's (1, n_mels, T)

    @property
    def num_samples(self) -> int:
        """Samples to generate: the source's length when there is one, else frames × hop."""
        if self.audio is not None:
            return int(len(self.audio))
        if self.length is not None:
            return self.length
        return self.frames * self.mel_config.hop_length


# --- audio files -------------------------------------------------------------------------------------------


def _check_wav_header(path: Path) -> None:
    """Refuse a RIFF/WAVE file whose header announces more data than the file holds.

    libsndfile quietly reads what is there from a truncated or lying header; a person should hear about it.
    """
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return
        offset = 12
        while offset + 8 <= size:
            f.seek(offset)
            chunk_id, chunk_size = struct.unpack("<4sI", f.read(8))
            if chunk_id == b"data":
                available = size - offset - 8
                if chunk_size > available and chunk_size != 0xFFFFFFFF:
                    raise InputError(
                        path,
                        f"a WAV header announcing {chunk_size} bytes of samples but only {available} bytes in the file",
                        "a complete WAV file",
                        "The file is truncated or its header is wrong; export or copy it again.",
                    )
                return
            offset += 8 + chunk_size + (chunk_size & 1)


def read_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """Read any file libsndfile reads (wav, flac, ogg, mp3, ...; any bit depth, rate and channel count).

    Returns (samples (num_samples, channels) float32, sample rate).
    """
    path = Path(path)
    with _open_audio(path) as f:
        rate = f.samplerate
        samples = _read(path, f, -1)
    if samples.shape[0] == 0:
        raise InputError(
            path, "an audio file with no samples", "at least one sample", "Choose a file that holds sound."
        )
    _check_finite(path, samples)
    return samples, rate


def _open_audio(path: Path) -> soundfile.SoundFile:
    """`path` opened for reading by libsndfile, after the checks every audio input gets (exists, a file, readable, not
    empty, a WAV header that does not lie)."""
    if not path.exists():
        raise InputError(path, "no such file", "an audio or mel file", "Check the path.")
    if path.is_dir():
        raise InputError(path, "a folder", "an audio or mel file", "Choose a file inside the folder.")
    try:
        size = path.stat().st_size
        if size == 0:
            raise InputError(path, "an empty file (0 bytes)", "audio samples", "Choose a file that holds a recording.")
        _check_wav_header(path)
        return soundfile.SoundFile(str(path))
    except OSError as error:
        raise InputError(
            path,
            f"a file that cannot be read ({error.strerror or error})",
            "a file you may read",
            "Check the file's permissions (chmod u+r), or copy it somewhere readable.",
        ) from None
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError) as error:
        raise _unreadable(path, error) from None


def _read(path: Path, f: soundfile.SoundFile, frames: int) -> np.ndarray:
    """Up to `frames` (-1: all) frames from the open file `f`: (n, channels) float32."""
    try:
        return f.read(frames, dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError) as error:
        raise _unreadable(path, error) from None


def _unreadable(path: Path, error: BaseException) -> InputError:
    return InputError(
        path,
        f"data that is not a readable audio file ({_first_line(error)})",
        "WAV, FLAC, Ogg or MP3 audio",
        "Convert the file to WAV or FLAC, for example with `sox in.xxx out.wav`.",
    )


def _check_finite(path: Path, samples: np.ndarray) -> None:
    if not np.isfinite(samples).all():
        raise InputError(path, "NaN or infinite samples", "finite samples", "Re-export the recording.")


def to_mono(samples: np.ndarray) -> np.ndarray:
    """(num_samples, channels) → (num_samples,) by averaging the channels."""
    if samples.ndim == 1:
        return samples.astype(np.float32, copy=False)
    return samples.mean(axis=1, dtype=np.float64).astype(np.float32)


def resample(audio: np.ndarray, source_rate: int, target_rate: int) -> np.ndarray:
    """(num_samples,) at `source_rate` → (round(num_samples · target/source),) at `target_rate`."""
    if source_rate == target_rate:
        return audio.astype(np.float32, copy=False)
    import librosa

    return librosa.resample(audio, orig_sr=source_rate, target_sr=target_rate, res_type="soxr_hq").astype(np.float32)


def load_audio(path: str | Path, sample_rate: int) -> tuple[np.ndarray, int]:
    """Read a file as mono float32 at `sample_rate`. Returns (audio (num_samples,), the file's own rate)."""
    samples, rate = read_audio(path)
    return resample(to_mono(samples), rate, sample_rate), rate


# --- mel ---------------------------------------------------------------------------------------------------


NORMALISATIONS = ("db_minmax", "db_symmetric", "log10_meanvar")


def normalise(mel_magnitude: np.ndarray, config: MelConfig) -> np.ndarray:
    """Magnitude mel → values in [0, 1] (``db_minmax``), [-1, 1] (``db_symmetric``) or standardised log10 bands
    (``log10_meanvar``)."""
    _check_normalisation(config)
    if config.normalisation == "log10_meanvar":
        mean, scale = np.asarray(config.mel_mean)[:, None], np.asarray(config.mel_scale)[:, None]
        return ((np.log10(np.maximum(mel_magnitude, 1e-10)) - mean) / scale).astype(np.float32)
    db = 20.0 * np.log10(np.maximum(mel_magnitude, 1e-5)) - config.ref_db
    unit = np.clip((db - config.min_db) / -config.min_db, 0.0, 1.0)
    return (unit if config.normalisation == "db_minmax" else 2.0 * unit - 1.0).astype(np.float32)


def denormalise(mel: np.ndarray, config: MelConfig) -> np.ndarray:
    """Inverse of `normalise` (exact inside the clipping range)."""
    _check_normalisation(config)
    mel = np.asarray(mel, dtype=np.float64)
    if config.normalisation == "log10_meanvar":
        return np.power(
            10.0, mel * np.asarray(config.mel_scale)[:, None] + np.asarray(config.mel_mean)[:, None]
        ).astype(np.float32)
    unit = mel if config.normalisation == "db_minmax" else (mel + 1.0) / 2.0
    db = unit * -config.min_db + config.min_db + config.ref_db
    return np.power(10.0, db / 20.0).astype(np.float32)


def _check_normalisation(config: MelConfig) -> None:
    if config.normalisation not in NORMALISATIONS:
        raise InputError(
            "mel settings",
            f"normalisation {config.normalisation!r}",
            f"one of {', '.join(NORMALISATIONS)}",
            "Rebuild the model's MelConfig with a known normalisation.",
        )
    if config.normalisation == "log10_meanvar" and not (
        len(config.mel_mean) == len(config.mel_scale) == config.n_mels and min(config.mel_scale) > 0
    ):
        raise InputError(
            "mel settings",
            f"{len(config.mel_mean)} band means and {len(config.mel_scale)} scales "
            f"(the smallest {min(config.mel_scale, default=0):g})",
            f"{config.n_mels} of each, every scale above 0",
            "Import the model again with its mean-variance statistics.",
        )


def _librosa_mel_settings(config: MelConfig) -> dict:
    """The STFT and mel-filter settings `config` fixes, as librosa's keyword arguments: one place, so the mel
    that is analysed and the mel that Griffin-Lim inverts can never drift apart."""
    return dict(
        sr=config.sample_rate,
        n_fft=config.n_fft,
        hop_length=config.hop_length,
        win_length=config.win_length,
        window=config.window,
        center=True,
        power=1.0,
        fmin=config.fmin,
        fmax=config.fmax,
    )


@dataclass(frozen=True, eq=False)  # arrays: compared and hashed by identity
class MelAnalysis:
    """The analysis behind one frame of `mel_spectrogram` before `normalise`: basis · |rfft(window · frame)|, frame f
    being the n_fft samples centred on sample f · hop.

    basis: (n_mels, n_fft // 2 + 1) mel filters; window: (n_fft,) the config's window padded to n_fft; both of one
    dtype (float64, or float32 for the live spectrogram), which the spectra of frames of that dtype keep.
    """

    basis: np.ndarray
    window: np.ndarray
    hop_length: int

    @property
    def n_fft(self) -> int:
        return len(self.window)

    def frames(self, signal: np.ndarray, origin: int, start: int, stop: int) -> np.ndarray:
        """Frames [start, stop) of `signal` (..., L), whose sample 0 is absolute sample `origin`: a view
        (..., stop − start, n_fft) in which frame f holds samples [f · hop − n_fft // 2, f · hop + n_fft // 2)."""
        first = start * self.hop_length - self.n_fft // 2 - origin
        last = first + (stop - start - 1) * self.hop_length  # the last frame's first sample, in `signal`
        if first < 0 or last + self.n_fft > signal.shape[-1]:
            raise ValueError(f"frames [{start}, {stop}) reach past samples [{origin}, {origin + signal.shape[-1]})")
        windows = np.lib.stride_tricks.sliding_window_view(signal, self.n_fft, axis=-1)
        return windows[..., first : last + 1 : self.hop_length, :]

    def spectra(self, frames: np.ndarray) -> np.ndarray:
        """Frames (..., n_fft) → their windowed rfft (..., n_fft // 2 + 1), complex."""
        return np.fft.rfft(frames * self.window, axis=-1)

    def magnitudes(self, frames: np.ndarray) -> np.ndarray:
        """Frames (..., n_fft) → |windowed rfft| (..., n_fft // 2 + 1)."""
        return np.abs(self.spectra(frames))

    def mel_of(self, magnitudes: np.ndarray) -> np.ndarray:
        """Magnitudes (..., frames, n_fft // 2 + 1) → the mel (..., n_mels, frames), before `normalise`."""
        return self.basis @ np.swapaxes(magnitudes, -1, -2)


def mel_analysis(config: MelConfig, dtype: type = np.float64) -> MelAnalysis:
    """`config`'s MelAnalysis, its filters and window in `dtype`: those librosa makes for `mel_spectrogram`."""
    import librosa

    basis = librosa.filters.mel(
        sr=config.sample_rate, n_fft=config.n_fft, n_mels=config.n_mels, fmin=config.fmin, fmax=config.fmax
    )
    window = librosa.filters.get_window(config.window, config.win_length, fftbins=True)
    window = librosa.util.pad_center(window, size=config.n_fft)
    return MelAnalysis(basis.astype(dtype), window.astype(dtype), config.hop_length)


def mel_spectrogram(audio: np.ndarray, config: MelConfig) -> np.ndarray:
    """(num_samples,) float at config.sample_rate → normalised mel (n_mels, 1 + num_samples // hop) float32."""
    return normalise(mel_magnitude(audio, config), config)


def mel_magnitude(audio: np.ndarray, config: MelConfig) -> np.ndarray:
    """(num_samples,) float at config.sample_rate → magnitude mel (n_mels, 1 + num_samples // hop) float32 (float64
    with `highpass_hz`), before `normalise`.

    The frames are centred: the signal is padded by n_fft // 2 at both ends, reflected (or with zeros when it is too
    short to reflect). The padding is done here, as librosa would do it, because librosa warns on stderr about any
    signal shorter than n_fft that it pads itself; the mel is the same to the bit. With `peak` or `preemphasis` set,
    the audio is first scaled to that peak, then pre-emphasised; with `highpass_hz`, low-cut filtered before both
    (and kept in float64 from there, as r9y9's preprocessing keeps it)."""
    import librosa

    audio = np.asarray(audio, dtype=np.float32)
    if config.highpass_hz:
        from scipy.signal import firwin, lfilter

        taps = firwin(255, config.highpass_hz / (config.sample_rate // 2), pass_zero=False)
        audio = lfilter(taps, 1, audio)
    if config.peak and np.abs(audio).max() > 0:
        audio = audio * np.float32(config.peak / np.abs(audio).max())
    if config.preemphasis:
        from scipy.signal import lfilter

        audio = lfilter([1.0, -config.preemphasis], [1.0], audio).astype(np.float32)
    half = config.n_fft // 2
    padded = np.pad(audio, half, mode="reflect" if len(audio) > half else "constant")
    settings = _librosa_mel_settings(config) | {"center": False}
    return librosa.feature.melspectrogram(y=padded, n_mels=config.n_mels, **settings)


def warm_mel() -> None:
    """Make one mel now: the first in a process imports librosa and loads its numba code (1–3 s once
    packaging/warm_caches.py has filled numba's disk cache, 14 s before), holding the GIL for up to 200 ms at a
    time; later ones take milliseconds."""
    config = MelConfig()
    mel_spectrogram(np.zeros(config.sample_rate, dtype=np.float32), config)


def mel_distance_db(reference: np.ndarray, estimate: np.ndarray, config: MelConfig) -> float:
    """Mean absolute difference in dB of two normalised mels (n_mels, ·) over the frames both have: the log-mel
    distance of benchmarks/quality.py, lower is closer."""
    frames = min(reference.shape[1], estimate.shape[1])
    return float(np.mean(np.abs(reference[:, :frames] - estimate[:, :frames])) * -config.min_db)


def griffin_lim(mel: np.ndarray, config: MelConfig, n_iter: int = 32, seed: int = 0) -> np.ndarray:
    """Normalised mel (n_mels, T) → audio (T · hop,) by Griffin-Lim: the baseline neural vocoders must beat.

    The initial phases are random, drawn from `seed`: the same mel and seed give the same audio.
    """
    import librosa

    settings = _librosa_mel_settings(config)
    stft_settings = {key: settings.pop(key) for key in ("hop_length", "win_length", "window", "center")}
    magnitude = librosa.feature.inverse.mel_to_stft(denormalise(mel, config), **settings)
    audio = librosa.griffinlim(
        magnitude,
        n_iter=n_iter,
        n_fft=config.n_fft,
        **stft_settings,
        # T centred frames span (T − 1) · hop samples (librosa re-analyses that length on every iteration);
        # the last hop, past the last frame's centre, is silence.
        length=(mel.shape[1] - 1) * config.hop_length,
        random_state=seed,
    )
    return np.pad(audio, (0, config.hop_length)).astype(np.float32)


# --- mel files ---------------------------------------------------------------------------------------------


def read_mel_file(path: str | Path) -> np.ndarray:
    """Read a .npy or .pt file as an array without judging its shape or values. Never runs pickled code."""
    import torch

    path = Path(path)
    if not path.exists():
        raise InputError(path, "no such file", "a .npy or .pt mel file", "Check the path.")
    if path.stat().st_size == 0:
        raise InputError(path, "an empty file (0 bytes)", "a saved mel array", "Save the mel again.")
    try:
        if path.suffix.lower() == ".npy":
            return np.load(path, allow_pickle=False)
        value = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # numpy and torch raise many types for a file that is not theirs
        raise InputError(
            path,
            f"a file that is not a saved array ({_first_line(error)})",
            f"a {path.suffix.lower()} file holding one 2-D float array",
            "Save it with numpy.save(path, mel) or torch.save(mel_tensor, path).",
        ) from None
    if not hasattr(value, "detach"):
        raise InputError(
            path, f"a {type(value).__name__}", "one tensor", "Save the mel tensor itself: torch.save(mel, path)."
        )
    tensor = value.detach().cpu()
    if tensor.dtype == torch.bfloat16:  # numpy has no bfloat16
        tensor = tensor.float()
    return tensor.numpy()


def mel_problems(array: np.ndarray, config: MelConfig, min_frames: int, source: str | Path | None) -> list[InputError]:
    """Every reason `array` cannot be used as a mel for a model with `config` (empty when it can).

    Accepts (n_mels, T) or, when unambiguous, time-major (T, n_mels).
    """
    problems: list[InputError] = []
    if array.ndim != 2:
        fix = "Squeeze the batch axis: mel[0]." if array.ndim == 3 and array.shape[0] == 1 else "Save one 2-D mel."
        problems.append(
            InputError(
                source,
                f"a {array.ndim}-D array of shape {tuple(array.shape)}",
                f"a 2-D array (n_mels={config.n_mels}, frames)",
                fix,
            )
        )
        return problems
    if not np.issubdtype(array.dtype, np.floating):
        problems.append(
            InputError(
                source,
                f"dtype {array.dtype}",
                "a floating-point mel (float32)",
                "Convert it: mel.astype(numpy.float32); an integer mel is usually a mistake upstream.",
            )
        )
    bands = config.n_mels
    if bands not in array.shape:
        problems.append(
            InputError(
                source,
                f"a mel of shape {tuple(array.shape)}, with no axis of {bands} bands",
                f"{bands} mel bands (shape ({bands}, frames))",
                f"Recompute the mel with n_mels={bands}, or choose a model trained on {array.shape[0]} bands.",
            )
        )
    else:
        frames = array.shape[1] if array.shape[0] == bands else array.shape[0]
        if frames < min_frames:
            problems.append(
                InputError(
                    source,
                    f"{frames} frame{'s' if frames != 1 else ''}",
                    f"at least {min_frames} frames (the conditioning network's padding)",
                    "Use a longer input.",
                )
            )
    if np.issubdtype(array.dtype, np.floating) and array.size and not np.isfinite(array).all():
        bad = int(np.size(array) - np.isfinite(array).sum())
        problems.append(
            InputError(
                source,
                f"{bad} NaN or infinite value{'s' if bad != 1 else ''}",
                "finite values",
                "Recompute the mel; check for log(0) upstream.",
            )
        )
    else:
        absurd = absurd_mel_values(array, config, source)
        if absurd is not None:
            problems.append(absurd)
    return problems


def absurd_mel_values(array: Any, config: MelConfig, source: str | Path | None) -> InputError | None:
    """The `InputError` for a mel (any shape; an array or a tensor) whose values lie beyond any mel (±`ABSURD_MEL`),
    else None: a model fed 1e30 makes full-scale DC, and nothing about it can be traced."""
    if hasattr(array, "detach"):
        array = array.detach().cpu().float().numpy()
    array = np.asarray(array)
    if not np.issubdtype(array.dtype, np.number) or not array.size:
        return None
    finite = array[np.isfinite(array)] if np.issubdtype(array.dtype, np.floating) else array
    if not finite.size:
        return None
    low, high = float(np.min(finite)), float(np.max(finite))
    if max(abs(low), abs(high)) <= ABSURD_MEL:
        return None
    expected = "[-1, 1]" if config.normalisation == "db_symmetric" else "[0, 1]"
    return InputError(
        source,
        f"values from {low:.3g} to {high:.3g}, beyond any mel",
        f"values within ±{ABSURD_MEL:g}; for this model's {config.normalisation} normalisation, within {expected}",
        "Normalise the mel the model's way (engine.features.normalise), or give the audio and let "
        "Vocoscope make the mel.",
    )


def validate_mel(
    array: np.ndarray, config: MelConfig, min_frames: int, source: str | Path | None = None
) -> tuple[np.ndarray, bool]:
    """Check a mel and bring it to (n_mels, T) float32. Returns (mel, whether it was transposed).

    Raises the first of `mel_problems`.
    """
    problems = mel_problems(array, config, min_frames, source)
    if problems:
        raise problems[0]
    transposed = array.shape[0] != config.n_mels and array.shape[1] == config.n_mels
    mel = array.T if transposed else array
    return np.ascontiguousarray(mel, dtype=np.float32), transposed


def load_input(path: str | Path, config: MelConfig, min_frames: int = 1) -> Conditioning:
    """Any supported file → the model's conditioning.

    Audio is made mono at the model's rate and turned into its mel; a mel file is validated against it.
    """
    path = Path(path)
    if path.suffix.lower() in MEL_SUFFIXES:
        mel, transposed = validate_mel(read_mel_file(path), config, min_frames, path)
        return Conditioning(mel=mel, mel_config=config, source=path, transposed=transposed)
    audio, rate = load_audio(path, config.sample_rate)
    if config.frames_for(len(audio)) < min_frames:
        raise InputError(
            path,
            f"{len(audio)} samples ({config.frames_for(len(audio))} mel frames)",
            f"at least {min_frames} frames ({(min_frames - 1) * config.hop_length} samples)",
            "Use a longer recording.",
        )
    return Conditioning(
        mel=mel_spectrogram(audio, config), mel_config=config, source=path, audio=audio, source_rate=rate
    )


# --- sample coding -----------------------------------------------------------------------------------------


def mulaw_encode(x: np.ndarray, bits: int) -> np.ndarray:
    """Float samples in [-1, 1] → mu-law class indices in [0, 2^bits − 1] (int64), mu = 2^bits − 1."""
    mu = float(2**bits - 1)
    x = np.clip(np.asarray(x, dtype=np.float64), -1.0, 1.0)
    y = np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu)
    return np.rint((y + 1.0) / 2.0 * mu).astype(np.int64)


def mulaw_decode(classes: np.ndarray, bits: int) -> np.ndarray:
    """Inverse of `mulaw_encode`: class indices → float32 samples in [-1, 1]."""
    mu = float(2**bits - 1)
    y = 2.0 * np.asarray(classes, dtype=np.float64) / mu - 1.0
    return (np.sign(y) * np.expm1(np.abs(y) * np.log1p(mu)) / mu).astype(np.float32)


def float_to_int16(x: np.ndarray) -> np.ndarray:
    """Float samples in [-1, 1] → int16 (× 32768, rounded, clipped)."""
    return np.clip(np.rint(np.asarray(x, dtype=np.float64) * 32768.0), -32768, 32767).astype(np.int16)


def int16_to_float(samples: np.ndarray) -> np.ndarray:
    """int16 → float32 in [-1, 1) (÷ 32768)."""
    return (np.asarray(samples, dtype=np.float32) / 32768.0).astype(np.float32)


def split_coarse_fine(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """int16 samples → (coarse, fine), each int64 in [0, 255]: the high and low bytes of sample + 32768."""
    unsigned = np.asarray(samples, dtype=np.int64) + 32768
    return unsigned // 256, unsigned % 256


def combine_coarse_fine(coarse: np.ndarray, fine: np.ndarray) -> np.ndarray:
    """Inverse of `split_coarse_fine`: (coarse, fine) → int16 samples."""
    return (np.asarray(coarse, dtype=np.int64) * 256 + np.asarray(fine, dtype=np.int64) - 32768).astype(np.int16)


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0][:160] if text else type(error).__name__
