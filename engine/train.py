"""Training for both model families: `vocoscope train --data DIR --model FAMILY --out CKPT [--steps N] [--resume]
[--valid DIR] [--nproc-per-node N]`, in one process or as one of several ranks (engine/distributed.py) under
torchrun, or started on this machine's ranks by --nproc-per-node (engine/launcher.py).

Each step draws a batch of random segments (aligned to hops) from the recordings under DIR, runs the model's
teacher-forced `forward` and its `loss` on the (N, C, T) output, and takes an Adam step with the gradient norm
clipped. The checkpoint (one safetensors file) is written every `checkpoint_every` steps, at the end and on
Ctrl+C (or SIGTERM) after the step in progress; it holds, besides the model, everything an exact resume needs:
the step, Adam's state, and the states of the random generators that draw the batches.

With --valid DIR (recordings held out of training), every `valid_every` steps and at the end the same loss is
computed, in eval mode and without gradients, on a fixed set of segments from DIR, drawn once with a seed of their
own: training is the same with or without it, and so is a resumed run.

On several ranks, batch_size is the global batch, split evenly over them; rank 0 alone writes the checkpoint and
the logs and validates, and the checkpoint holds every rank's random state. The arguments are checked before
anything is computed (engine/train_checks.py).

--config FILE is JSON with any of {"model": {...}, "mel": {...}, "train": {...}}; missing keys take defaults.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import errno
import inspect
import json
import math
import shlex
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self, TextIO

import numpy as np
import torch

from engine import checkpoints, distributed
from engine.audio_pitch import audio_phase_rows, audio_pitch_rows
from engine.pitch_source import pitch_of_mels
from engine.datasets import CACHE_FOLDER, SegmentDataset, audio_files
from engine.devices import where_trained
from engine.distributed import ONE_PROCESS, World
from engine.errors import ConfigError, InputError
from engine.features import MelConfig
from engine.generate import choose_device
from engine.models.base import Vocoder
from engine.models.noise_injection import noise_classes, noisy_past
from engine.train_checks import check_train_arguments
from engine.weight_average import WeightAverage

TRAINABLE_FAMILIES = ("wavernn", "wavernn-dual", "wavenet")

TRAINED_PREFIX = "trained/"  # the extra tensors holding the trained weights when the model saved is their average

# The validation segments' own seed: the same folder gives every run the same segments, so their losses compare.
VALIDATION_SEED = 2024


@dataclass
class TrainConfig:
    """How a model is trained.

    segment_frames: mel frames per training segment (segment_frames · hop samples).
    context_frames: frames at each end of a segment that are run but left out of the loss: there the
        conditioning network sees reflect padding instead of the real neighbours, and a recurrent state starts
        cold, neither of which happens inside a whole recording at generation time.
    learning_rate: Adam's step size at step 0.
    lr_halving_steps: the learning rate halves every this many steps, smoothly: step k uses
        learning_rate · 0.5^(k / lr_halving_steps), a function of the step alone, so a resumed run follows the same
        curve. 0 keeps it constant.
    grad_clip: the largest gradient norm (L2 over all parameters) an update may use.
    valid_every: steps between two validation losses (only with held-out recordings, --valid).
    valid_segments: the most validation segments (fewer if the held-out recordings hold fewer whole segments).
    input_noise: 0, or for a model with linear prediction the largest standard deviation, in mu-law classes, of
        the noise injected into the past it is fed (engine/models/noise_injection.py; LPCNet uses 4); each
        segment draws its own, mostly smaller. The validation loss is always on the clean past.
    audio_pitch_cents: 0, or train a pitch-conditioned WaveNet or WaveRNN on the recording's own F0 (librosa's YIN)
        wherever it lies within this many cents of the F0 read from the mel (engine/audio_pitch.py); validation reads
        the mel.
    audio_phase: 0, or 1 to also put the source's phase on the recording's fundamental (needs audio_pitch_cents;
        engine/audio_pitch.py), so that under teacher forcing the source tells when the next pulse comes.
    ema_decay: 0, or the decay of an exponential moving average of the weights (engine/weight_average.py; 0.999
        averages over about the last 1,000 steps). The checkpoint's model, the one that generates, is then the
        average, and the validation loss is the average's; the trained weights are kept beside it for resuming.
    """

    batch_size: int = 16
    segment_frames: int = 12
    context_frames: int = 2
    learning_rate: float = 1e-3
    lr_halving_steps: int = 0
    grad_clip: float = 4.0
    checkpoint_every: int = 500
    log_every: int = 50
    seed: int = 1234
    valid_every: int = 500
    valid_segments: int = 64
    input_noise: float = 0.0
    ema_decay: float = 0.0
    audio_pitch_cents: float = 0.0
    audio_phase: int = 0

    @classmethod
    def check_types(cls, values: dict[str, Any], source: str | Path = "train config") -> None:
        """Raise `ConfigError` for a setting this class does not know, or of the wrong type (a whole number where
        one is expected, a number for the others; true and false are neither)."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(fields))
        if unknown:
            raise ConfigError(
                f"{source}: unknown training setting {unknown[0]!r}; known settings are {', '.join(sorted(fields))}."
            )
        for name, value in values.items():
            whole = fields[name].type == "int"
            if isinstance(value, bool) or not isinstance(value, int if whole else (int, float)):
                kind = "a whole number" if whole else "a number"
                raise ConfigError(
                    f"{source}: training setting {name} is {json.dumps(value, default=repr)} (a "
                    f"{type(value).__name__}); it must be {kind}. Write it as one, without quotes, "
                    f'such as "{name}": {fields[name].default}.'
                )

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str | Path = "train config") -> TrainConfig:
        cls.check_types(values, source)
        config = cls(**values)
        if config.segment_frames - 2 * config.context_frames < 1:
            raise ConfigError(
                f"{source}: segment_frames={config.segment_frames} leaves no frame for the loss after "
                f"{config.context_frames} context frames at each end; make segment_frames at least "
                f"{2 * config.context_frames + 1}."
            )
        counts = ("batch_size", "checkpoint_every", "log_every", "valid_every", "valid_segments")
        if any(getattr(config, name) < 1 for name in counts):
            raise ConfigError(f"{source}: {', '.join(counts[:-1])} and {counts[-1]} must be 1 or more.")
        if config.lr_halving_steps < 0:
            raise ConfigError(
                f"{source}: lr_halving_steps={config.lr_halving_steps}; it must be 0 (a constant "
                "learning rate) or more."
            )
        if not config.audio_pitch_cents >= 0:
            raise ConfigError(
                f"{source}: audio_pitch_cents={config.audio_pitch_cents}; it must be 0 (the pitch read from the mel) "
                "or more."
            )
        if config.audio_phase not in (0, 1) or (config.audio_phase and not config.audio_pitch_cents):
            raise ConfigError(
                f"{source}: audio_phase={config.audio_phase} with audio_pitch_cents={config.audio_pitch_cents}; "
                "audio_phase is 0 (the source's phase runs free) or 1 (on the recording's fundamental), and 1 needs "
                "audio_pitch_cents above 0, such as 100."
            )
        if not config.input_noise >= 0:
            raise ConfigError(f"{source}: input_noise={config.input_noise}; it must be 0 (no noise injection) or more.")
        if not 0 <= config.ema_decay < 1:
            raise ConfigError(
                f"{source}: ema_decay={config.ema_decay}; it must be 0 (no weight average) or between 0 "
                "and 1, such as 0.999."
            )
        return config

    def learning_rate_at(self, step: int) -> float:
        """The learning rate that step `step` (counting from 0) takes."""
        if not self.lr_halving_steps:
            return self.learning_rate
        return self.learning_rate * 0.5 ** (step / self.lr_halving_steps)


def read_config_file(path: str | Path | None) -> dict[str, dict[str, Any]]:
    """--config FILE → {"model": {...}, "mel": {...}, "train": {...}} (each possibly empty)."""
    sections: dict[str, dict[str, Any]] = {"model": {}, "mel": {}, "train": {}}
    if path is None:
        return sections
    path = Path(path)
    try:
        values = json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(path, "no such file", "a JSON training config", "Check --config.") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InputError(
            path,
            f"text that is not JSON ({error})",
            'a JSON object such as {"train": {"batch_size": 16}}',
            "Fix the JSON syntax.",
        ) from None
    if not isinstance(values, dict) or set(values) - set(sections):
        found = sorted(set(values) - set(sections)) if isinstance(values, dict) else type(values).__name__
        raise InputError(
            path,
            f"top-level keys {found}",
            'a JSON object with "model", "mel" and/or "train"',
            'Put model settings under "model", mel settings under "mel", training under "train".',
        )
    for key, value in values.items():
        if not isinstance(value, dict):
            raise InputError(
                path,
                f'"{key}" holding a {type(value).__name__}',
                f'"{key}" holding an object',
                f'Write "{key}": {{...}}.',
            )
        sections[key] = value
    return sections


def data_description(root: Path) -> dict[str, Any]:
    """What the training data is and its licence: from a manifest.json written by `vocoscope trainset`, if any."""
    for folder in (root, root.parent):
        manifest = folder / "manifest.json"
        if manifest.is_file():
            values = json.loads(manifest.read_text())
            if "voices" in values:  # a set of many voices (engine/voice_set.py): those of this part
                voices = [v for v in values["voices"].values() if v["role"] == root.name]
                return {
                    "source": values["source"],
                    "speaker": "; ".join(v["speaker"] for v in voices),
                    "licence": ", ".join(sorted({v["licence"] for v in voices})),
                    "attribution": "; ".join(dict.fromkeys(v["attribution"] for v in voices)),
                    "part": root.name,
                }
            return {
                "source": values.get("source", ""),
                "speaker": values.get("speaker", ""),
                "licence": values.get("licence", ""),
                "attribution": values.get("attribution", ""),
                "part": root.name,
            }
    return {
        "source": str(root),
        "speaker": "",
        "licence": "unknown (no manifest.json beside the data)",
        "attribution": "",
        "part": root.name,
    }


def check_held_out(valid_root: str | Path, data_root: str | Path) -> None:
    """Refuse a validation folder that is the training folder, lies inside it, or holds any of its files."""
    valid, data = Path(valid_root).resolve(), Path(data_root).resolve()
    fix = (
        f"Hold those recordings out: move them out of {data_root}, or point --valid at a folder of recordings "
        "never trained on (such as DIR/heldout from `vocoscope trainset --out DIR`)."
    )
    expected = "recordings held out of training"
    if valid == data or data in valid.parents:
        where = "the training folder" if valid == data else "a folder inside the training folder"
        raise InputError(valid_root, f"{where} --data {data_root}", expected, fix)
    if not (valid.is_dir() and data.is_dir()):
        return  # a missing folder is reported where it is read
    training = {path.resolve() for path in audio_files(data)}
    shared = [path for path in audio_files(valid) if path.resolve() in training]
    if shared:
        raise InputError(
            valid_root,
            f"{len(shared)} recording(s) that are also under --data {data_root} (e.g. {shared[0].relative_to(valid)})",
            expected,
            fix,
        )


@dataclass
class ValidationSet:
    """Held-out segments, drawn once: mel (S, n_mels, frames), audio (S, frames · hop), on the CPU."""

    root: Path
    mel: torch.Tensor
    audio: torch.Tensor
    data: dict[str, Any]

    @classmethod
    def load(
        cls,
        root: str | Path,
        data_root: str | Path,
        mel_config: MelConfig,
        train_config: TrainConfig,
        cache_root: str | Path | None = None,
    ) -> ValidationSet:
        """At most `valid_segments` segments of `segment_frames` frames from the recordings under `root`, chosen
        by `SegmentDataset.fixed_segments` with VALIDATION_SEED; `root` must hold nothing of `data_root`."""
        check_held_out(root, data_root)
        # a folder of its own in a shared cache: a held-out file may have the same name as a training file
        cache = None if cache_root is None else Path(cache_root) / "valid"
        dataset = SegmentDataset(root, mel_config, train_config.segment_frames, cache, option="--valid")
        mel, audio = dataset.fixed_segments(train_config.valid_segments, VALIDATION_SEED)
        return cls(Path(root), mel, audio, data_description(Path(root)))

    @property
    def segments(self) -> int:
        return int(self.mel.shape[0])


class Trainer:
    """A model, its optimizer and the random state of its batches; `step()` trains on one batch, `validate()` scores
    the held-out segments, if any. On several ranks (`world`), each trainer is one rank's: `network` is the model
    wrapped to average gradients over the ranks, and every rank must call `step()` and `save()` alike."""

    def __init__(
        self,
        model: Vocoder,
        train_config: TrainConfig,
        dataset: SegmentDataset,
        device: torch.device,
        data: dict[str, Any],
        validation: ValidationSet | None = None,
        world: World = ONE_PROCESS,
    ):
        if train_config.input_noise and getattr(model, "predictor", None) is None:
            raise ConfigError(
                f"input_noise={train_config.input_noise} needs a model with linear prediction; this "
                f"{model.family} has none. Set lpc_order in the model config, or input_noise to 0."
            )
        takes_pitch = (
            getattr(model, "pitch_source", None) is not None and "pitch" in inspect.signature(model.forward).parameters
        )
        if train_config.audio_pitch_cents and not takes_pitch:
            raise ConfigError(
                f"audio_pitch_cents={train_config.audio_pitch_cents} needs a pitch-conditioned model that takes the "
                f"pitch in training (a WaveNet or WaveRNN with pitch_conditioning); this {model.family} does not. Set "
                "audio_pitch_cents to 0."
            )
        world.check_batch(train_config.batch_size)
        self.world = world
        if world.distributed:
            distributed.use_global_batch_norm(model)
        self.model = model.to(device).train()
        self.network = distributed.parallel(self.model, device) if world.distributed else self.model
        self.average = WeightAverage(self.model, train_config.ema_decay) if train_config.ema_decay else None
        self.config = train_config
        self.dataset = dataset
        self.device = device
        self.data = data
        self.validation = validation
        self.last_validation: dict[str, Any] | None = None  # {"data", "segments", "step", "loss"}: kept in the meta
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=train_config.learning_rate)
        self.batch_rng = np.random.default_rng(train_config.seed)
        self.step_count = 0
        self.seconds = 0.0
        self.skipped_steps = 0
        self.commands: list[str] = []
        self.parts: list[dict[str, Any]] = []  # the commands that trained the run before this one: see `part`
        self.part: dict[str, Any] | None = None  # this command's, once `begin_part` is called
        self.part_seconds_from = 0.0  # seconds_trained when this command's part began
        self.initialised_from: dict[str, Any] | None = None
        self.saved_step: int | None = None  # the step the checkpoint on disk holds, once this run has written one
        self.resumed_from_ranks: int | None = None  # the ranks of the run resumed, if any

    @classmethod
    def new(
        cls,
        family: str,
        data_root: str | Path,
        *,
        sections: dict[str, dict[str, Any]] | None = None,
        device: str | torch.device = "auto",
        cache_root: str | Path | None = None,
        init: str | Path | None = None,
        valid_root: str | Path | None = None,
        world: World = ONE_PROCESS,
    ) -> Trainer:
        """A freshly initialised model of `family` (torch seeded from the training seed); with `init`, a checkpoint
        whose weights it starts from where they fit (see `initialise_from`); with `valid_root`, held-out recordings
        to validate on (see `ValidationSet`). On several ranks every rank builds the same model, and rank r > 0
        then seeds its own torch generator with seed + r."""
        from engine.models.registry import build

        sections = sections or {"model": {}, "mel": {}, "train": {}}
        train_config = TrainConfig.from_dict(sections["train"])
        world.check_batch(train_config.batch_size)
        torch.manual_seed(train_config.seed)
        model = build(family, sections["model"], sections["mel"])
        initialised_from = None if init is None else initialise_from(model, init)
        dataset, validation = _load_data(data_root, valid_root, model.mel_config, train_config, cache_root, world)
        trainer = cls(
            model, train_config, dataset, choose_device(device), data_description(Path(data_root)), validation, world
        )
        trainer.initialised_from = initialised_from
        if world.rank:
            torch.manual_seed(train_config.seed + world.rank)
        return trainer

    @classmethod
    def resume(
        cls,
        path: str | Path,
        data_root: str | Path,
        *,
        family: str | None = None,
        train_overrides: dict[str, Any] | None = None,
        device: str | torch.device = "auto",
        cache_root: str | Path | None = None,
        valid_root: str | Path | None = None,
        world: World = ONE_PROCESS,
    ) -> Trainer:
        """Continue the run saved in `path` exactly where it stopped. `train_overrides` (e.g. a lower learning
        rate) change the run from here on; without them the continuation equals an uninterrupted run, with or
        without held-out recordings (`valid_root`) to validate on, on as many ranks (`world`) as the run had. On
        another number of ranks the batches still continue exactly; a rank the run did not have starts its torch
        generator afresh (seed + rank)."""
        loaded = checkpoints.load(path)
        if family is not None and loaded.model.family != family:
            raise InputError(
                path,
                f"a {loaded.model.family} checkpoint",
                f"a {family} checkpoint (--model {family})",
                f"Resume with --model {loaded.model.family}, or choose another --out.",
            )
        training = loaded.meta.get("training", {})
        state = training.get("resume")
        if state is None:
            raise InputError(
                path,
                "a checkpoint without training state",
                "a checkpoint written by `vocoscope train`",
                "Start a new run with another --out.",
            )
        train_config = TrainConfig.from_dict({**training["config"], **(train_overrides or {})})
        world.check_batch(train_config.batch_size)
        dataset, validation = _load_data(
            data_root, valid_root, loaded.model.mel_config, train_config, cache_root, world
        )
        trainer = cls(
            loaded.model,
            train_config,
            dataset,
            choose_device(device),
            data_description(Path(data_root)),
            validation,
            world,
        )
        trainer._restore(loaded.meta, loaded.extra_tensors)
        return trainer

    # --- one step ------------------------------------------------------------------------------------------

    def teacher_forced_loss(
        self,
        mel: torch.Tensor,
        audio: torch.Tensor,
        fed: torch.Tensor | None = None,
        *,
        network: torch.nn.Module | None = None,
        pitch: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The model's loss on a batch of segments, mel (N, n_mels, F), audio (N, F · hop), leaving out the
        context frames at each end (see TrainConfig): a mean over the N segments and their samples. `fed`
        (N, F · hop) is the past the model is fed, when not the audio itself (see `noisy_past`). `network` runs
        the forward pass: the model itself by default, its gradient-averaging wrapper in a distributed step.
        `pitch` (N, PITCH_ROWS, F): the pitch rows to make the source of, instead of the mel's reading."""
        mel, audio = mel.to(self.device), audio.to(self.device)
        fed = None if fed is None else fed.to(self.device)
        extra = {} if pitch is None else {"pitch": pitch.to(self.device)}
        output = self.model.scored_output((network or self.model)(mel, audio if fed is None else fed, **extra), mel)
        target = self.model.training_target(mel, audio, fed)
        context = self.config.context_frames * self.model.hop_length
        if context:
            output, target = output[..., context:-context], target[:, context:-context]
        return self.model.loss(output, target)

    def step(self) -> float:
        """Train on one batch; return its loss. A non-finite loss or gradient skips the update (and is counted).
        On several ranks, this rank trains on its rows of the global batch, and the loss returned (and judged) is
        the global batch's; the gradients, and so the norm, are already the same on every rank."""
        rows = self.world.rows(self.config.batch_size)
        mel, audio = self.dataset.sample(self.batch_rng, self.config.batch_size, rows)
        fed = self.noisy_past(mel, audio, rows) if self.config.input_noise else None
        pitch = None
        if self.config.audio_pitch_cents:  # the recording's own F0 near the mel's reading (engine/audio_pitch.py)
            read = pitch_of_mels(mel, self.model.mel_config)
            pitch = audio_pitch_rows(read, audio, self.model.mel_config, self.config.audio_pitch_cents)
            if self.config.audio_phase:
                pitch = audio_phase_rows(pitch, audio, self.model.mel_config)
        loss = self.teacher_forced_loss(mel, audio, fed, network=self.network, pitch=pitch)
        for group in self.optimizer.param_groups:
            group["lr"] = self.config.learning_rate_at(self.step_count)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        loss = distributed.mean_over_ranks(self.world, loss.detach())
        if torch.isfinite(loss) and torch.isfinite(norm):
            self.optimizer.step()
            if hasattr(self.model, "after_step"):  # a model's own schedule, e.g. the sparse WaveRNN's pruning
                self.model.after_step(self.step_count + 1)
            if self.average is not None:
                self.average.update(self.model)
        else:
            self.skipped_steps += 1
        self.step_count += 1
        return float(loss.detach())

    def noisy_past(self, mel: torch.Tensor, audio: torch.Tensor, rows: slice = slice(None)) -> torch.Tensor:
        """mel (N, n_mels, F), audio (N, F · hop), rows `rows` of the global batch → the past to feed with noise
        injected (N, F · hop), its noise drawn for the whole batch from the batch generator (so a resumed run, and
        every rank, draws the same) and cut to those rows."""
        with torch.no_grad():
            coefficients = self.model.predictor(mel.to(self.device))
        noise = noise_classes(self.batch_rng, self.config.batch_size, audio.shape[1], self.config.input_noise)[rows]
        return noisy_past(audio, coefficients, noise, self.model.hop_length, self.model.config.bits)

    def validate(self) -> float:
        """The loss on the validation segments, each weighing the same, in batches of batch_size; recorded as the
        latest validation. Eval mode (BatchNorm uses its running statistics and leaves them alone), no gradients
        and no training generator touched: training goes on exactly as it would have without it. A model that draws
        noise in its forward pass (a WaveNet with output "waveform") draws the same noise at every validation."""
        validation = self.validation
        if validation is None:
            raise ValueError("validate() needs held-out recordings: build the trainer with valid_root")
        batch = self.config.batch_size
        total = 0.0
        self.model.eval()
        try:
            devices = [self.device] if self.device.type == "cuda" else []
            with self._generating_weights(), torch.no_grad(), torch.random.fork_rng(devices):
                torch.manual_seed(VALIDATION_SEED)
                for start in range(0, validation.segments, batch):
                    mel, audio = validation.mel[start : start + batch], validation.audio[start : start + batch]
                    # every segment has as many samples, so a batch's mean counts once per segment
                    total += float(self.teacher_forced_loss(mel, audio)) * mel.shape[0]
        finally:
            self.model.train()
        loss = total / validation.segments
        self.last_validation = {
            "data": validation.data,
            "segments": validation.segments,
            "step": self.step_count,
            "loss": loss,
        }
        return loss

    def _generating_weights(self) -> contextlib.AbstractContextManager:
        """Inside: the model holds the weights it generates with, the average when there is one."""
        return contextlib.nullcontext({}) if self.average is None else self.average.swapped_in(self.model)

    # --- checkpoints ---------------------------------------------------------------------------------------

    def random_state(self) -> dict[str, Any]:
        """This rank's random generators: torch's on the CPU (and on its GPU) and the batch generator's."""
        state = {
            "torch": torch.get_rng_state(),
            "batch_rng": json.loads(json.dumps(self.batch_rng.bit_generator.state)),
        }
        if self.device.type == "cuda":
            state["cuda"] = torch.cuda.get_rng_state(self.device)
        return state

    def save(self, path: str | Path, *, command: str = "", loss: float | None = None) -> Path | None:
        """Write the model (with a weight average: the average, and the trained weights as extra tensors), Adam's
        state and the random states to `path` (atomically). On several ranks every rank calls it: each hands its
        random state (and a digest of its weights, which must be the same everywhere) to rank 0, which alone writes
        and returns the path; the others return None.

        Rank 0's torch states are rng/torch (and rng/cuda), as one process writes them; rank r's rng/rank<r>/...
        The batch generator's state is stored once: every rank draws the same global batches."""
        ranks = distributed.gather(
            self.world,
            {
                **self.random_state(),
                "weights": distributed.weights_digest(self.model) if self.world.distributed else "",
            },
        )
        if not self.world.main:
            self.saved_step = self.step_count
            return None
        if any(rank["batch_rng"] != ranks[0]["batch_rng"] or rank["weights"] != ranks[0]["weights"] for rank in ranks):
            raise RuntimeError(
                f"the {self.world.size} ranks disagree on the weights or the batch generator at step "
                f"{self.step_count}: the run is no longer one run; nothing was saved"
            )
        optimizer_state = self.optimizer.state_dict()
        extra = {}
        for rank, state in enumerate(ranks):
            prefix = "rng/" if rank == 0 else f"rng/rank{rank}/"
            extra.update({prefix + name: state[name] for name in ("torch", "cuda") if name in state})
        for index, values in optimizer_state["state"].items():
            for name, value in values.items():
                extra[f"adam/{index}/{name}"] = value if torch.is_tensor(value) else torch.tensor(value)
        data = self.data
        meta = {
            "training_note": (
                f"{data['source']} ({data['part']}): {data['speaker']}; "
                f"{self.dataset.seconds / 60:.1f} min of audio, {len(self.dataset.recordings)} files"
            ),
            "licence": f"{data['licence']}: {data['attribution']}" if data["attribution"] else data["licence"],
            "steps": self.step_count,
            "training": {
                "config": dataclasses.asdict(self.config),
                "data": {**data, "files": len(self.dataset.recordings), "seconds": round(self.dataset.seconds, 2)},
                "seconds_trained": round(self.seconds, 1),
                "loss": loss,
                "skipped_steps": self.skipped_steps,
                "commands": self.commands + ([command] if command else []),
                "parts": self.parts + ([self.part_so_far()] if self.part is not None else []),
                "initialised_from": self.initialised_from,
                "valid": self.last_validation,
                "resume": {
                    "param_groups": optimizer_state["param_groups"],
                    # JSON keeps Python's big integers exactly; the PCG64 state is 128-bit
                    "batch_rng": ranks[0]["batch_rng"],
                    "world_size": self.world.size,
                },
            },
        }
        with self._generating_weights() as trained:
            extra.update({f"{TRAINED_PREFIX}{name}": value for name, value in trained.items()})
            written = checkpoints.save(self.model, path, meta=meta, extra_tensors=extra)
        self.saved_step = self.step_count
        return written

    def begin_part(self, command: str) -> None:
        """Start recording where and how long this command trains: the checkpoint's "parts" then end with
        {"command", "where" (`where_trained`), "steps": [first, last], "seconds"} for it."""
        self.part = {
            "command": command,
            "where": where_trained(self.device, self.world.size),
            "steps": [self.step_count],
        }
        self.part_seconds_from = self.seconds

    def part_so_far(self) -> dict[str, Any]:
        """This command's part, as far as it has trained."""
        part = dict(self.part)
        part["steps"] = [part["steps"][0], self.step_count]
        part["seconds"] = round(self.seconds - self.part_seconds_from, 1)
        return part

    def _restore(self, meta: dict[str, Any], extra: dict[str, torch.Tensor]) -> None:
        training = meta["training"]
        state = training["resume"]
        self.step_count = int(meta["steps"])
        adam: dict[int, dict[str, torch.Tensor]] = {}
        for key, value in extra.items():
            if key.startswith("adam/"):
                _, index, name = key.split("/")
                adam.setdefault(int(index), {})[name] = value  # load_state_dict puts each on its parameter's device
        self.optimizer.load_state_dict({"state": adam, "param_groups": state["param_groups"]})
        with torch.no_grad():  # a checkpoint's model is its weight average, if it kept one: train on from its weights
            for name, parameter in self.model.named_parameters():
                if TRAINED_PREFIX + name in extra:
                    parameter.copy_(extra[TRAINED_PREFIX + name])
        self.batch_rng.bit_generator.state = state["batch_rng"]
        self.saved_step = self.step_count
        self.resumed_from_ranks = int(state.get("world_size", 1))  # runs before several ranks were one process
        rank = self.world.rank
        prefix = "rng/" if rank == 0 else f"rng/rank{rank}/"
        if prefix + "torch" in extra:
            torch.set_rng_state(extra[prefix + "torch"].cpu())
        else:  # a rank the resumed run did not have
            torch.manual_seed(self.config.seed + rank)
        if self.device.type == "cuda" and prefix + "cuda" in extra:
            torch.cuda.set_rng_state(extra[prefix + "cuda"].cpu(), self.device)
        self.seconds = float(training.get("seconds_trained", 0.0))
        self.commands = list(training.get("commands", []))
        self.parts = list(training.get("parts", []))
        self.skipped_steps = int(training.get("skipped_steps", 0))
        self.initialised_from = training.get("initialised_from")
        self.last_validation = training.get("valid")


def _load_data(
    data_root: str | Path,
    valid_root: str | Path | None,
    mel_config: MelConfig,
    train_config: TrainConfig,
    cache_root: str | Path | None,
    world: World,
) -> tuple[SegmentDataset, ValidationSet | None]:
    """The training recordings, and the held-out ones with `valid_root`. On several ranks local rank 0 of each
    machine reads them first, computing and caching the mels not cached yet; the other ranks then read the cache."""
    cache = Path(cache_root) if cache_root is not None else Path(data_root) / CACHE_FOLDER
    with distributed.local_main_first(world):
        try:
            dataset = SegmentDataset(data_root, mel_config, train_config.segment_frames, cache_root)
            validation = (
                None
                if valid_root is None
                else ValidationSet.load(valid_root, data_root, mel_config, train_config, cache_root)
            )
        except OSError as error:
            if (
                error.errno not in (errno.EACCES, errno.EPERM, errno.EROFS)
                or not error.filename
                or not Path(error.filename).resolve().is_relative_to(cache.resolve())
            ):
                raise
            raise InputError(
                cache,
                f"a mel cache folder that cannot be written ({error.strerror})",
                "a writable folder for the mels computed from the recordings",
                "Give --cache DIR, a folder you can write (the mels are computed once and kept there).",
            ) from None
    return dataset, validation


def initialise_from(model: Vocoder, path: str | Path) -> dict[str, Any]:
    """Start `model` from the checkpoint at `path` (fine-tuning): copy every weight of the same name and shape,
    take the family's `grown_weights` for a larger model of it; the others (e.g. a new input layer) keep their
    fresh initialisation. Returns the record of it that the new checkpoints keep. The mel settings must be the
    same, since the copied weights were trained on them."""
    loaded = checkpoints.load(path)
    if loaded.model.mel_config != model.mel_config:
        raise InputError(
            path,
            f"a model of mel settings {loaded.model.mel_config.to_dict()}",
            f"the new model's mel settings {model.mel_config.to_dict()}",
            'Give the config file the checkpoint\'s "mel" settings, or leave out --init.',
        )
    source, fresh = loaded.model.state_dict(), model.state_dict()
    copied = [name for name, value in fresh.items() if name in source and source[name].shape == value.shape]
    if not copied:
        raise InputError(
            path,
            f"a {loaded.model.family} model with no weight of the new model's names and shapes",
            f"a checkpoint of a {model.family} like the one being trained",
            "Initialise from a checkpoint of the same family, or leave out --init.",
        )
    grown = model.grown_weights(source) if loaded.model.family == model.family else {}
    model.load_state_dict({**fresh, **{name: source[name] for name in copied}, **grown})
    return {
        "path": str(path),
        "family": loaded.model.family,
        "steps": int(loaded.meta.get("steps", 0)),
        "copied": copied,
        "grown": sorted(grown),
        "fresh": [name for name in fresh if name not in copied and name not in grown],
    }


# --- the run: progress, log, interruption ---------------------------------------------------------------------


class Progress:
    """A one-line progress bar (step, loss, steps/s, time left) on a terminal; a line per interval otherwise;
    nothing with no `stream` (the ranks but rank 0)."""

    def __init__(self, total: int, stream: TextIO | None, every: int, width: int = 24):
        self.total = total
        self.stream = stream
        self.every = every
        self.width = width
        self.interactive = hasattr(stream, "isatty") and stream.isatty()
        self.last_draw = 0.0
        self.last_step = -1
        self.drawn = 0  # characters of the bar on the terminal's current line

    def update(self, step: int, loss: float, steps_per_second: float, *, final: bool = False) -> None:
        """Redraw at most 10 times a second on a terminal; elsewhere print every `every` steps and the last."""
        if self.stream is None:
            return
        now = time.monotonic()
        if self.interactive:
            if not final and now - self.last_draw < 0.1:
                return
        elif step == self.last_step or not (final or step % self.every == 0):
            return
        self.last_draw, self.last_step = now, step
        done = min(1.0, step / self.total) if self.total else 1.0
        filled = int(done * self.width)
        remaining = (self.total - step) / steps_per_second if steps_per_second > 0 else math.inf
        eta = f"{remaining / 60:5.1f} min left" if math.isfinite(remaining) else "      "
        line = (
            f"step {step:>7d}/{self.total} |{'█' * filled}{'·' * (self.width - filled)}| "
            f"loss {loss:7.4f}  {steps_per_second:6.2f} steps/s  {eta}"
        )
        if self.interactive:
            self.stream.write("\r" + line + ("\n" if final else ""))
            self.drawn = 0 if final else len(line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def note(self, text: str) -> None:
        """A line of its own (e.g. a validation loss); on a terminal it replaces the bar, redrawn at the next step."""
        if self.stream is None:
            return
        if self.interactive:
            self.stream.write("\r" + text.ljust(self.drawn) + "\n")
            self.drawn = 0
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


class StopRequest:
    """Turns Ctrl+C (SIGINT) and SIGTERM into a flag read between steps, so a step is never cut in half."""

    def __init__(self):
        self.requested = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> Self:
        try:
            for number in (signal.SIGINT, signal.SIGTERM):
                self._previous[number] = signal.signal(number, self._handle)
        except ValueError:  # not the main thread: signals stay with their owner
            self._previous.clear()
        return self

    def _handle(self, number: int, frame: Any) -> None:
        self.requested = True

    def __exit__(self, *exc: object) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)


@dataclass
class RunResult:
    steps: int
    interrupted: bool
    losses: list[tuple[int, float, float]]  # (step, mean loss over the interval, steps/s)
    valid_losses: list[tuple[int, float]] = dataclasses.field(default_factory=list)  # (step, validation loss)


def valid_log_path(log_path: str | Path) -> Path:
    """The validation log beside the loss log: runs/m.csv → runs/m.valid.csv."""
    log_path = Path(log_path)
    return log_path.with_name(log_path.stem + ".valid.csv")


def _open_log(path: Path, header: list[str], fresh: bool) -> TextIO:
    """A CSV log to write rows to: a new one with its header, or (continuing a run) the old one to append to."""
    new_log = fresh or not path.exists()
    log_file = path.open("w" if new_log else "a", newline="")
    if new_log:
        csv.writer(log_file).writerow(header)
    return log_file


def run_training(
    trainer: Trainer,
    out: str | Path,
    steps: int,
    *,
    log_path: str | Path | None = None,
    stream: TextIO | None = None,
    command: str = "",
    should_stop: Callable[[], bool] | None = None,
) -> RunResult:
    """Train until `steps` steps in all (counting those of a resumed run), saving to `out` as it goes. With held-out
    recordings, validate every `valid_every` steps and at the end, logged to `valid_log_path(log_path)`. Progress
    goes to `stream` (default: sys.stderr as it is when called).

    On several ranks every rank calls it alike: rank 0 alone reports, logs, validates and writes `out`; a stop
    asked for on any rank (Ctrl+C, SIGTERM, `should_stop`) stops every rank after the same step, and the checkpoint
    is then written as at the end. When a rank is lost, the others raise and nothing more is written: the last
    checkpoint stays as it was."""
    config = trainer.config
    main = trainer.world.main
    progress = Progress(steps, (sys.stderr if stream is None else stream) if main else None, config.log_every)
    log_file = writer = valid_file = valid_writer = None
    if log_path is not None and main:
        log_file = _open_log(
            Path(log_path), ["step", "loss", "steps_per_second", "seconds_trained"], trainer.step_count == 0
        )
        writer = csv.writer(log_file)
        if trainer.validation is not None:
            valid_file = _open_log(
                valid_log_path(log_path), ["step", "valid_loss", "seconds_trained"], trainer.step_count == 0
            )
            valid_writer = csv.writer(valid_file)
    losses: list[tuple[int, float, float]] = []
    valid_losses: list[tuple[int, float]] = []
    trainer.begin_part(command)

    def validate() -> float:
        """Score the held-out segments; return the seconds it took (not training time)."""
        started = time.monotonic()
        loss = trainer.validate()
        valid_losses.append((trainer.step_count, loss))
        validation = trainer.validation
        progress.note(
            f"step {trainer.step_count}: validation loss {loss:.4f} "
            f"({validation.segments} segments from {validation.root})"
        )
        if valid_writer is not None:
            valid_writer.writerow([trainer.step_count, f"{loss:.5f}", f"{trainer.seconds:.1f}"])
            valid_file.flush()
        return time.monotonic() - started

    interval_losses: list[float] = []
    interval_start = time.monotonic()
    last_loss = float("nan")
    interrupted = False
    ended_together = False  # every rank reached the end of the loop (always so for one process)
    with StopRequest() as stop:
        try:
            while trainer.step_count < steps:
                started = time.monotonic()
                last_loss = trainer.step()
                trainer.seconds += time.monotonic() - started
                interval_losses.append(last_loss)
                elapsed = time.monotonic() - interval_start
                rate = len(interval_losses) / elapsed if elapsed > 0 else 0.0
                progress.update(trainer.step_count, float(np.mean(interval_losses)), rate)
                if trainer.step_count % config.log_every == 0 or trainer.step_count == steps:
                    mean = float(np.mean(interval_losses))
                    losses.append((trainer.step_count, mean, rate))
                    if writer is not None:
                        writer.writerow([trainer.step_count, f"{mean:.5f}", f"{rate:.3f}", f"{trainer.seconds:.1f}"])
                        log_file.flush()
                    interval_losses, interval_start = [], time.monotonic()
                if main and trainer.validation is not None and trainer.step_count % config.valid_every == 0:
                    interval_start += validate()  # the steps/s are training's alone
                if trainer.step_count % config.checkpoint_every == 0:
                    trainer.save(out, command=command, loss=losses[-1][1] if losses else last_loss)
                if distributed.any_rank(trainer.world, (should_stop is not None and should_stop()) or stop.requested):
                    interrupted = trainer.step_count < steps
                    break
            ended_together = True
            latest = trainer.last_validation
            if (
                main
                and trainer.validation is not None
                and not (latest and latest["step"] == trainer.step_count and latest["data"] == trainer.validation.data)
            ):
                validate()
        finally:
            recent = losses[-1][1] if losses else last_loss
            if ended_together or not trainer.world.distributed:  # a lost rank would never answer the save's gather
                trainer.save(out, command=command, loss=None if math.isnan(recent) else recent)
            for file in (log_file, valid_file):
                if file is not None:
                    file.close()
    progress.update(
        trainer.step_count, losses[-1][1] if losses else last_loss, losses[-1][2] if losses else 0.0, final=True
    )
    return RunResult(trainer.step_count, interrupted, losses, valid_losses)


def run(args: argparse.Namespace) -> int:
    """`vocoscope train`: one process; one rank of several under torchrun; or, with --nproc-per-node N, the
    launcher of N ranks on this machine."""
    world = World.from_environment()
    check_train_arguments(args, world)
    sections = read_config_file(args.config)
    source = args.config or "train config"
    TrainConfig.check_types(sections["train"], source)
    if args.resume and (sections["model"] or sections["mel"]):
        raise InputError(
            args.config,
            "model or mel settings while resuming",
            'only "train" settings',
            "The model and its mel are fixed by the checkpoint; remove them from the config.",
        )
    if args.nproc_per_node is not None and args.nproc_per_node > 1:
        from engine.launcher import launch

        if not args.resume:  # a resumed run's batch is the checkpoint's, checked by the ranks
            World(size=args.nproc_per_node).check_batch(
                TrainConfig.from_dict(sections["train"], source).batch_size, source
            )
        return launch(args.nproc_per_node, worker_arguments(args), Path(args.out))
    if args.threads:
        torch.set_num_threads(args.threads)
    if not world.distributed:
        return _train(args, sections, world, args.device)
    with distributed.joined(world, args.device) as device:
        return _train(args, sections, world, device)


def worker_arguments(args: argparse.Namespace) -> list[str]:
    """`args` as the command line of one rank: train's arguments but --nproc-per-node."""
    words = [
        "train",
        "--data",
        str(args.data),
        "--model",
        args.model,
        "--out",
        str(args.out),
        "--steps",
        str(args.steps),
        "--device",
        args.device,
        "--threads",
        str(args.threads),
    ]
    for option, value in (
        ("--valid", args.valid),
        ("--config", args.config),
        ("--init", args.init),
        ("--log", args.log),
        ("--cache", args.cache),
        ("--minutes", args.minutes),
    ):
        if value:
            words += [option, str(value)]
    return words + (["--resume"] if args.resume else [])


def _command(args: argparse.Namespace, world: World) -> str:
    """The command the checkpoint records for this part of the run."""
    words = (
        [
            "vocoscope",
            "train",
            "--data",
            str(args.data),
            "--model",
            args.model,
            "--out",
            str(args.out),
            "--steps",
            str(args.steps),
        ]
        + (["--config", str(args.config)] if args.config else [])
        + (["--resume"] if args.resume else [])
        + (["--init", str(args.init)] if args.init else [])
        + (["--valid", str(args.valid)] if args.valid else [])
    )
    if world.distributed and world.machines == 1:
        words += ["--nproc-per-node", str(world.size)]
    elif world.distributed:
        words = [
            "torchrun",
            "--nnodes",
            str(world.machines),
            "--nproc-per-node",
            str(world.local_size),
            "-m",
            "engine.cli",
        ] + words[1:]
    return shlex.join(words)


def _train(
    args: argparse.Namespace, sections: dict[str, dict[str, Any]], world: World, device: str | torch.device
) -> int:
    """Build the trainer (this rank's) and run it; rank 0 reports. --minutes counts from here: loading the data
    (and computing the mels not cached yet) is part of the time a lent machine gives."""
    deadline = None if args.minutes is None else time.monotonic() + 60.0 * args.minutes
    out = Path(args.out)

    def report(text: str) -> None:
        if world.main:
            print(text, file=sys.stderr)

    if args.resume:
        trainer = Trainer.resume(
            out,
            args.data,
            family=args.model,
            train_overrides=sections["train"],
            device=device,
            cache_root=args.cache,
            valid_root=args.valid,
            world=world,
        )
    else:
        trainer = Trainer.new(
            args.model,
            args.data,
            sections=sections,
            device=device,
            cache_root=args.cache,
            init=args.init,
            valid_root=args.valid,
            world=world,
        )
    model = trainer.model
    if trainer.initialised_from:
        started = trainer.initialised_from
        grown = started.get("grown")  # runs started before growing existed did not record it
        grown = f"{len(grown)} grown (added layers or inputs start by changing nothing), " if grown else ""
        report(
            f"from {started['path']} ({started['steps']} steps): {len(started['copied'])} weights copied, {grown}"
            f"{len(started['fresh'])} fresh: {', '.join(started['fresh']) or 'none'}"
        )
    report(
        f"{model.family}: {model.parameter_count():,} parameters on {trainer.device}; "
        f"{len(trainer.dataset.recordings)} recordings, {trainer.dataset.seconds / 60:.1f} min "
        f"({trainer.dataset.skipped} shorter than a segment left out); from step {trainer.step_count} to {args.steps}"
    )
    if world.distributed:
        batch = trainer.config.batch_size
        report(
            f"{world.size} ranks ({world.machines} machine(s) × {world.local_size}, {distributed.backend()} on "
            f"{trainer.device.type}, {torch.get_num_threads()} torch thread(s) each): each step trains on a global "
            f"batch of {batch} segments, {batch // world.size} per rank; rank 0 writes {out} and the logs"
        )
    if trainer.resumed_from_ranks not in (None, world.size):
        report(
            f"resuming on {world.size} rank(s) a run saved on {trainer.resumed_from_ranks}: the batches continue "
            "exactly; a rank the run did not have starts its own torch generator afresh"
        )
    if trainer.validation is not None:
        report(
            f"validation: {trainer.validation.segments} segments of {trainer.config.segment_frames} frames from "
            f"{trainer.validation.root}, every {trainer.config.valid_every} steps and at the end"
        )
    log_path = args.log if args.log else out.with_suffix(".csv")
    try:
        result = run_training(
            trainer,
            out,
            args.steps,
            log_path=log_path,
            command=_command(args, world),
            should_stop=None if deadline is None else lambda: time.monotonic() >= deadline,
        )
    except RuntimeError as error:
        if not (world.distributed and distributed.is_lost_rank(error)):
            raise
        saved = (
            f"the last checkpoint, {out}, holds step {trainer.saved_step}: continue with the same command and --resume"
            if trainer.saved_step is not None
            else f"no checkpoint was written yet (the first comes at step {trainer.config.checkpoint_every})"
        )
        print(
            f"vocoscope: rank {world.rank} of {world.size} lost the other ranks during step "
            f"{trainer.step_count + 1} ({distributed.lost_rank_cause(error)}); {saved}.",
            file=sys.stderr,
        )
        return 1
    if result.interrupted and deadline is not None and time.monotonic() >= deadline:
        report(
            f"--minutes {args.minutes:g} used at step {result.steps}; saved {out}. Continue with the same command "
            "and --resume."
        )
        return 0
    if result.interrupted:
        report(f"stopped at step {result.steps}; saved {out}. Continue with the same command and --resume.")
        return 130
    valid_log = f", validation log {valid_log_path(log_path)}" if trainer.validation is not None else ""
    report(f"done: {result.steps} steps; saved {out}; loss log {log_path}{valid_log}")
    return 0


def add_cli(subparsers: argparse._SubParsersAction) -> None:
    """Register `train` (and `trainset`, which builds a training set from offline sources)."""
    from engine import trainset

    parser = subparsers.add_parser(
        "train",
        help="train a vocoder on a folder of recordings",
        description="Train a WaveRNN or WaveNet on the audio files under DIR (mels are computed once and cached "
        "in DIR/.vocoscope-cache). Ctrl+C saves the checkpoint; --resume continues exactly.",
    )
    parser.add_argument("--data", required=True, metavar="DIR", help="folder of audio files (any depth)")
    parser.add_argument(
        "--valid",
        metavar="DIR",
        help="folder of recordings held out of --data: a validation loss "
        "on fixed segments of them every valid_every steps (500) and at the end, logged beside the "
        "loss log (--log CSV with .valid.csv in place of .csv)",
    )
    parser.add_argument("--model", required=True, choices=TRAINABLE_FAMILIES, help="model family")
    parser.add_argument("--config", metavar="FILE", help='JSON: {"model": {...}, "mel": {...}, "train": {...}}')
    parser.add_argument("--out", required=True, metavar="CKPT", help="checkpoint to write (.safetensors)")
    parser.add_argument("--steps", type=int, default=10000, metavar="N", help="train until N steps in all (10000)")
    parser.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    parser.add_argument(
        "--init",
        metavar="CKPT",
        help="start a new run from this checkpoint's weights (fine-tuning): "
        "those of the same name and shape are copied, a WaveNet given more blocks grows (its added layers "
        "start by changing nothing), the rest start fresh",
    )
    parser.add_argument(
        "--minutes",
        type=float,
        metavar="M",
        help="stop and save after the step that ends M minutes of this command (loading the data "
        "included), as Ctrl+C does: for a machine lent for a fixed time; --resume continues",
    )
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--threads", type=int, default=0, metavar="N", help="CPU threads for torch (default: torch's)")
    parser.add_argument("--log", metavar="CSV", help="loss log (default: CKPT with .csv)")
    parser.add_argument("--cache", metavar="DIR", help="mel cache folder (default: DIR/.vocoscope-cache)")
    parser.add_argument(
        "--nproc-per-node",
        type=int,
        metavar="N",
        help="train on N processes (ranks) of this "
        "machine, started through torch.distributed.run: one GPU each on CUDA, gloo on the CPU; "
        "batch_size is the global batch, split evenly over them. Across machines, launch with "
        "torchrun instead (docs/training.md)",
    )
    parser.set_defaults(run=run)
    trainset.add_cli(subparsers)
