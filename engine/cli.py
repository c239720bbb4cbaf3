"""The `vocoscope` command's headless commands (vocode, inspect, models, devices, import, train, trainset,
train-pitch).

`vocoscope` itself (app/__main__.py, above the engine) runs them, and opens the window for anything else. Exit
status: 0 done; 2 the input or the arguments are wrong (one message on stderr naming the file, what was found, what
was expected and the fix; never a traceback); 1 an internal error. torch and numba are imported only by the
commands that compute, so that --help, --version, `models` and the argument checks answer at once
(benchmarks/cli_start.py).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from engine.errors import AudioDeviceError, InputError, VocoscopeError
from engine.importers.command import add_import_command
from engine.models import DEFAULT_MODEL
from engine.module_options import add_module_arguments
from engine.sampling import SETTINGS, Sampling

SEED_RANGE = (-(2**63), 2**64 - 1)  # what torch.Generator.manual_seed takes

_VOCODE_EPILOG = """\
OUT defaults to INPUT's name with ".vocoded.wav" in place of its suffix, in the folder INPUT is in
(song.flac -> song.vocoded.wav). The suffix of OUT picks the format: .wav or .flac (16-bit).
With several INPUTs, OUT is a folder (made if missing) that receives each one's NAME.vocoded.wav;
the model is loaded once, and a bad input is reported without stopping the others.
An existing OUT is never overwritten unless --force is given.
"""

# Commands whose module imports torch as it loads: listed with their one-line help here (a test compares it with
# theirs), their parsers built by their module only when one of them runs.
_TRAINING_COMMANDS = {
    "train": "train a vocoder on a folder of recordings",
    "trainset": "build a speech training set from offline sources",
    "train-pitch": "train the pitch reader on recordings and synthetic tones",
}


class ArgumentParser(argparse.ArgumentParser):
    """argparse with the command line's errors: one line on stderr, what was wrong and where the help is, exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message}. See `{self.prog} --help`.\n")


def build_command_parser(command: str | None = None) -> ArgumentParser:
    """The parser of `vocoscope COMMAND ...`; `command` names the one about to run (train's parsers are only
    built for train and trainset, whose module imports torch)."""
    parser = ArgumentParser(prog="vocoscope", description="Run a vocoder headless.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    vocode = commands.add_parser(
        "vocode",
        help="turn audio or a mel file into audio with a vocoder",
        epilog=_VOCODE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    vocode.add_argument("inputs", nargs="+", metavar="INPUT", help="audio (wav, flac, ogg, mp3) or a mel (.npy, .pt)")
    vocode.add_argument(
        "-o",
        "--output",
        "--out",
        metavar="OUT",
        help="where to write the audio (.wav or .flac; a "
        "folder for several INPUTs); --out as train and trainset spell it",
    )
    vocode.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        metavar="NAME|PATH",
        help=f"a built-in model (see `vocoscope models`) or a .safetensors checkpoint ({DEFAULT_MODEL})",
    )
    vocode.add_argument("--device", default="auto", help="auto (CUDA when available), cpu or cuda")
    vocode.add_argument("--seed", type=_seed, default=None, help="seed for sampling: the same seed, the same audio")
    for setting in SETTINGS:  # engine/sampling.py
        vocode.add_argument(setting.flag, type=setting.kind, default=None, metavar=setting.metavar, help=setting.help)
    vocode.add_argument(
        "--fold",
        action="store_true",
        help="generate overlapping segments at once: side by side on the CPU's cores, or as one batch "
        "on a GPU (faster for a long input)",
    )
    vocode.add_argument("--play", action="store_true", help="play the audio while it is generated")
    vocode.add_argument(
        "--output-device",
        default=None,
        metavar="NAME",
        help="sound output for --play (name, part of one, or index; see `vocoscope devices`)",
    )
    vocode.add_argument("--force", action="store_true", help="overwrite OUT if it exists")
    vocode.set_defaults(run=_vocode)

    inspect = commands.add_parser("inspect", help="check an input against a model and show every module's shapes")
    inspect.add_argument("input", metavar="INPUT")
    inspect.add_argument("--model", default=DEFAULT_MODEL, metavar="NAME|PATH", help=f"as for vocode ({DEFAULT_MODEL})")
    add_module_arguments(inspect)
    inspect.set_defaults(run=_inspect)

    models = commands.add_parser("models", help="list the built-in models")
    models.add_argument("--json", action="store_true", help="print a JSON list")
    models.set_defaults(run=_models)

    devices = commands.add_parser("devices", help="list compute devices and sound outputs")
    devices.set_defaults(run=_devices)

    add_import_command(commands)

    if command in _TRAINING_COMMANDS:
        from engine import pitch_reader_training, train

        train.add_cli(commands)
        pitch_reader_training.add_cli(commands)
    else:
        for name, help_line in _TRAINING_COMMANDS.items():
            commands.add_parser(name, help=help_line)  # listed only: runs go through the branch above
    return parser


def main(argv: list[str] | None = None) -> int:
    """`python -m engine.cli COMMAND ...`: the headless commands alone. `vocoscope` (app/__main__.py) runs them too,
    and the window, --help, --version and --self-test besides."""
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = build_command_parser(argv[0] if argv else None)
    if argv and argv[0] in command_helps(commands):
        return run_command(commands, argv)
    if argv[:1] in (["-h"], ["--help"]):
        commands.print_help()
        return 0
    print(
        f"vocoscope: found {' '.join(argv) or 'no command'}; expected one of {', '.join(command_helps(commands))}. "
        "The window and --self-test are `vocoscope`'s (or `python -m app`).",
        file=sys.stderr,
    )
    return 2


def run_command(commands: argparse.ArgumentParser, argv: list[str]) -> int:
    """Run the headless command argv[0] with its arguments; returns the exit status."""
    return parse_and_run(commands, argv, lambda args: args.run(args))


def parse_and_run(parser: argparse.ArgumentParser, argv: list[str], run: Callable[[argparse.Namespace], int]) -> int:
    """Parse `argv` with `parser` and `run` what it gives: the command line's errors become one line on stderr and an
    exit status (2 the arguments or the input, 130 interrupted, 1 an internal error), never a traceback."""
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    try:
        return int(run(args) or 0)
    except VocoscopeError as error:
        print(f"vocoscope: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("vocoscope: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`vocoscope inspect x.wav | head`): nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit-time flush stays quiet
        return 0
    except Exception as error:  # the last line of defence: a short message, the traceback only on request
        if os.environ.get("VOCOSCOPE_DEBUG"):
            raise
        print(
            f"vocoscope: internal error: {type(error).__name__}: {error}. "
            "Run again with VOCOSCOPE_DEBUG=1 for the traceback, and report it.",
            file=sys.stderr,
        )
        return 1


def command_helps(parser: argparse.ArgumentParser) -> dict[str, str]:
    """{command: its one-line help}, train's included (argparse keeps them on its private subparsers action)."""
    actions = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    return {choice.dest: choice.help for choice in actions[0]._choices_actions}


def warn_if_untrained(model: str, trained: bool) -> None:
    """One line on stderr when the model the command line chose has random weights (engine/catalog.py)."""
    from engine.catalog import untrained_warning

    warning = untrained_warning(model, trained)
    if warning:
        print(f"vocoscope: warning: {warning}", file=sys.stderr)


# --- vocode ------------------------------------------------------------------------------------------------


def default_output(input_path: Path) -> Path:
    return input_path.with_name(input_path.stem + ".vocoded.wav")


def output_paths(inputs: list[Path], output: Path | None) -> list[Path]:
    """Where each input's audio goes: OUT itself for one input, OUT/NAME.vocoded.wav for several (OUT a folder),
    or beside each input without OUT. Raises `InputError` when two inputs would write the same file, or when OUT for
    several inputs is a file or names one."""
    from engine.export import AUDIO_FORMATS
    from engine.features import AUDIO_SUFFIXES, MEL_SUFFIXES

    file_suffixes = set(AUDIO_FORMATS) | set(AUDIO_SUFFIXES) | set(MEL_SUFFIXES)
    if (
        len(inputs) > 1
        and output is not None
        and (output.suffix.lower() in file_suffixes or (output.exists() and not output.is_dir()))
    ):
        raise InputError(
            output,
            f"one {'existing file' if output.is_file() else 'file name'} for {len(inputs)} inputs",
            "a folder for their outputs",
            f"Name a folder with -o (for example -o {output.with_suffix('')}), or vocode one input.",
        )
    if len(inputs) == 1 and output is not None:
        return [output]
    paths = [default_output(source) if output is None else output / default_output(source).name for source in inputs]
    seen: dict[Path, Path] = {}
    for source, path in zip(inputs, paths):
        if path.resolve() in seen:
            raise InputError(
                source,
                f"the same output name as {seen[path.resolve()]} ({path})",
                "one output file per input",
                "Vocode them into different folders (-o), or rename one.",
            )
        seen[path.resolve()] = source
    return paths


def _check_inputs_survive(inputs: list[Path], outputs: list[Path]) -> None:
    """Raise `InputError` when an output would replace another input: with several inputs it could be written before
    that input is read (`vocode a.wav a.vocoded.wav --force`). An input replaced by its own output (-o a.wav --force)
    is read whole before anything is written."""
    from engine.atomic_write import same_file

    for index, (source, output) in enumerate(zip(inputs, outputs)):
        for other_index, other in enumerate(inputs):
            if other_index != index and same_file(output, other):
                raise InputError(
                    output,
                    f"the output of {source}, which is also input {other_index + 1} ({other})",
                    "outputs that are not inputs",
                    "Leave the output out of the inputs, or name another output with -o (a folder for several inputs).",
                )


def _vocode(args: argparse.Namespace) -> int:
    from engine.atomic_write import write_error
    from engine.export import check_audio_output
    from engine.models.loading import load_model

    inputs = [Path(name) for name in args.inputs]
    requested = Sampling(**{setting.name: getattr(args, setting.name) for setting in SETTINGS})
    if args.play and len(inputs) > 1:
        raise InputError(
            inputs[1],
            f"{len(inputs)} inputs with --play",
            "one input to play",
            "Leave out --play, or vocode and play one input at a time.",
        )
    folder = Path(args.output) if args.output and len(inputs) > 1 else None
    outputs = output_paths(inputs, Path(args.output) if args.output else None)
    _check_inputs_survive(inputs, outputs)
    if folder is not None:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise write_error(folder / default_output(inputs[0]).name, error) from None
    for path in outputs:  # before any work: a run of many files must not stop at the tenth for a name
        check_audio_output(path, args.force)
    from engine.threads import use_engine_threads

    use_engine_threads()
    model, info = load_model(args.model, device="cpu")
    warn_if_untrained(info.name, info.trained)
    sampling = model.sampling(requested)  # refuses what the model cannot take, before any work
    failed = []
    for source, output in zip(inputs, outputs):
        try:
            _vocode_one(args, model, info, sampling, source, output)
        except InputError as error:
            if len(inputs) == 1:
                raise
            print(f"vocoscope: {error}", file=sys.stderr)
            failed.append(source)
    if failed:
        print(
            f"vocoscope: {len(failed)} of {len(inputs)} inputs failed ({', '.join(map(str, failed))}); "
            "the others were written.",
            file=sys.stderr,
        )
        return 2
    return 0


def _vocode_one(args: argparse.Namespace, model, info, sampling: Sampling, source: Path, output: Path) -> None:
    """Vocode one input into `output` (checked already), printing what was written. A long recording's mel is read
    in blocks as generation asks for it and its audio written as it is made (engine.streamed_mel.stream_input,
    engine.export.audio_writer), so memory never holds the recording, its mel or the take whole."""
    import numpy as np

    from engine.export import audio_writer, check_audio_output, take_comment
    from engine.fold import InOrder
    from engine.generate import generate, new_seed
    from engine.streamed_mel import stream_input

    seed = args.seed if args.seed is not None else new_seed()
    conditioning = stream_input(source, model.mel_config, model.min_frames)
    rate = model.mel_config.sample_rate
    total = conditioning.num_samples
    check_audio_output(output, args.force, num_samples=total)
    player = _open_player(rate, args.output_device) if args.play else None
    in_order = InOrder()
    stats = None
    show_progress = sys.stderr.isatty()
    try:
        if player is not None:
            player.expect(total)
        with audio_writer(
            output,
            rate,
            overwrite=args.force,
            comment=take_comment(info.name, model.draws_with(sampling), seed, source),
        ) as writer:
            for chunk in generate(
                model, conditioning, device=args.device, seed=seed, fold=args.fold or None, sampling=sampling
            ):
                stats = chunk.stats
                if show_progress:
                    print(_progress_line(stats, rate), end="", file=sys.stderr, flush=True)
                for samples in in_order.add(chunk.start, chunk.samples):
                    writer.write(samples)
                    if player is not None:
                        player.feed(samples, stats.samples_per_second)
            if writer.frames < total:  # a take is as long as its input, as it always was
                writer.write(np.zeros(total - writer.frames, dtype=np.float32))
            if show_progress:
                print(file=sys.stderr)
        if player is not None:
            player.finish()
            player.wait()
            summary = player.summary()
    finally:
        if player is not None:
            player.close()
    speed = f", {stats.real_time_factor:.2f}x real time" if stats is not None else ""
    print(f"wrote {output}: {total} samples, {total / rate:.2f} s at {rate} Hz with {info.name}, seed {seed}{speed}")
    if stats is not None and stats.warning:
        print(f"vocoscope: warning: {output}: {stats.warning}", file=sys.stderr)
    if player is not None:
        print(summary.line())


def _progress_line(stats, rate: int) -> str:
    """One carriage-returned terminal line: percent done, audio made, speed and ETA."""
    eta = (
        "--:--"
        if stats.eta_seconds == float("inf")
        else f"{int(stats.eta_seconds) // 60}:{int(stats.eta_seconds) % 60:02d}"
    )
    return (
        f"\r{100 * stats.samples_done / stats.total_samples:5.1f}%  {stats.samples_done / rate:7.2f} s of "
        f"{stats.total_samples / rate:.2f} s  {stats.real_time_factor:5.2f}x real time  ETA {eta} "
    )


def _open_player(rate: int, device: str | None):
    """A Player, or None (after a plain message on stderr) when there is no sound output."""
    try:
        from engine.playback import Player

        return Player(rate, _device_argument(device))
    except AudioDeviceError as error:
        print(f"vocoscope: {error}. Writing the file without playing it.", file=sys.stderr)
        return None


def _seed(value: str) -> int:
    """--seed: a whole number torch can seed with (argparse.ArgumentTypeError otherwise, so exit 2)."""
    try:
        seed = int(value)
    except ValueError:
        seed = None
    if seed is None or not SEED_RANGE[0] <= seed <= SEED_RANGE[1]:
        raise argparse.ArgumentTypeError(
            f"found {value!r}; expected a whole number from {SEED_RANGE[0]} to "
            f"{SEED_RANGE[1]} (2^64 − 1). Choose a smaller seed"
        )
    return seed


def _device_argument(device: str | None) -> str | int | None:
    return int(device) if device is not None and device.isdigit() else device


# --- inspect, models, devices ------------------------------------------------------------------------------


def _inspect(args: argparse.Namespace) -> int:
    """Print the preflight verdict and the module table; exit 2 when the verdict finds a problem."""
    if args.module:  # the user's own model code (engine/module_inspect.py)
        from engine.module_inspect import run_command

        return run_command(args)
    from engine.features import absurd_mel_values
    from engine.models.loading import load_model
    from engine.shapes import Inspection, load_raw, preflight, render_report, trace

    model, _ = load_model(args.model, device="cpu")
    raw = load_raw(Path(args.input), model)
    problem = absurd_mel_values(raw, model.mel_config, args.input) if not hasattr(raw, "mel_config") else None
    if problem is not None:  # nothing about the model can be traced on values like these
        raise problem
    inspection = Inspection(preflight(model, raw, source=args.input), trace(model, raw))
    print(render_report(inspection.verdict, inspection.trace))
    if getattr(model, "sparsity_note", ""):
        print(f"sparsity: {model.sparsity_note}")
    return 0 if inspection.verdict.ok else 2


def _models(args: argparse.Namespace) -> int:
    from engine.models.loading import list_builtins

    infos = list_builtins()
    if args.json:
        print(json.dumps([{**info.to_dict(), "default": info.name == DEFAULT_MODEL} for info in infos], indent=2))
        return 0
    print(
        f"{'name':<14}{'family':<14}{'rate':>7}{'hop':>5}{'mels':>6}{'receptive':>11}{'parameters':>12}  "
        f"{'trained':<21}draws"
    )
    for info in infos:
        receptive = str(info.receptive_field) if info.receptive_field else "unbounded"
        trained = (f"{info.steps:,} steps" if info.steps else "yes") if info.trained else "no (random weights)"
        print(
            f"{info.name:<14}{info.family:<14}{info.sample_rate:>7}{info.hop_length:>5}{info.n_mels:>6}"
            f"{receptive:>11}{info.parameters:>12,}  {trained:<21}{info.draws}"
            f"{'; ' + info.sparsity if info.sparsity else ''}"
        )
    print(f"default: {DEFAULT_MODEL} (the window's first run, and vocode and inspect without --model)")
    return 0


def _devices(args: argparse.Namespace) -> int:
    from engine.devices import compute_devices

    print("compute devices:")
    for device in compute_devices():
        print(f"  {device.name:<8}{device.label}")
    print("sound outputs:")
    try:
        from engine.playback import list_output_devices

        outputs = list_output_devices()
    except AudioDeviceError as error:
        print(f"  none: {error}")
        return 0
    if not outputs:
        print("  none: no sound server is running (or it has no outputs); generation and export still work.")
    for output in outputs:
        print(f"  {output.line()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
