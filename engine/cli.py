"""The `vocoscope` command.

`vocoscope` alone, or `vocoscope FILE`, opens the window; subcommands run headless. Exit status: 0 done;
2 the input or the arguments are wrong (one message on stderr naming the file, what was found, what was
expected and the fix; never a traceback); 1 an internal error. Qt is imported only when the window opens.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from engine.errors import AudioDeviceError, InputError, VocoscopeError
from engine.models import DEFAULT_MODEL

_VOCODE_EPILOG = """\
OUT defaults to INPUT's name with ".vocoded.wav" in place of its suffix, in the folder INPUT is in
(song.flac -> song.vocoded.wav). The suffix of OUT picks the format: .wav or .flac (16-bit).
With several INPUTs, OUT is a folder (made if missing) that receives each one's NAME.vocoded.wav;
the model is loaded once, and a bad input is reported without stopping the others.
An existing OUT is never overwritten unless --force is given.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vocoscope",
        description="A studio for neural vocoders. Without a command (or with a FILE) it opens the window.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    vocode = commands.add_parser("vocode", help="turn audio or a mel file into audio with a vocoder",
                                 epilog=_VOCODE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    vocode.add_argument("inputs", nargs="+", metavar="INPUT", help="audio (wav, flac, ogg, mp3) or a mel (.npy, .pt)")
    vocode.add_argument("-o", "--output", "--out", metavar="OUT", help="where to write the audio (.wav or .flac; a "
                        "folder for several INPUTs); --out as train and trainset spell it")
    vocode.add_argument("--model", default=DEFAULT_MODEL, metavar="NAME|PATH",
                        help=f"a built-in model (see `vocoscope models`) or a .safetensors checkpoint ({DEFAULT_MODEL})")
    vocode.add_argument("--device", default="auto", help="auto (CUDA when available), cpu or cuda")
    vocode.add_argument("--seed", type=int, default=None, help="seed for sampling: the same seed, the same audio")
    vocode.add_argument("--temperature", type=float, default=None, metavar="T",
                        help="draw at temperature T instead of the model's own (mu-law models; below 1: less noise)")
    vocode.add_argument("--pitch-postfilter", type=float, default=None, metavar="S",
                        help="pitch post-filter at strength S instead of the model's own (0: none)")
    vocode.add_argument("--envelope-postfilter", type=float, default=None, metavar="S",
                        help="mel-envelope post-filter at strength S (up to 1) instead of the model's own (0: none; "
                             "with --pitch-postfilter 0, the model's raw output)")
    vocode.add_argument("--candidates", type=int, default=None, metavar="K",
                        help="choose among K draws by the mel instead of the model's own number (WaveRNN models; "
                             "1: every draw kept, in real time)")
    vocode.add_argument("--fold", action="store_true",
                        help="generate overlapping segments at once: side by side on the CPU's cores, or as one batch "
                             "on a GPU (faster for a long input)")
    vocode.add_argument("--play", action="store_true", help="play the audio while it is generated")
    vocode.add_argument("--output-device", default=None, metavar="NAME",
                        help="sound output for --play (name, part of one, or index; see `vocoscope devices`)")
    vocode.add_argument("--force", action="store_true", help="overwrite OUT if it exists")
    vocode.set_defaults(run=_vocode)

    inspect = commands.add_parser("inspect", help="check an input against a model and show every module's shapes")
    inspect.add_argument("input", metavar="INPUT")
    inspect.add_argument("--model", default=DEFAULT_MODEL, metavar="NAME|PATH", help=f"as for vocode ({DEFAULT_MODEL})")
    inspect.set_defaults(run=_inspect)

    models = commands.add_parser("models", help="list the built-in models")
    models.add_argument("--json", action="store_true", help="print a JSON list")
    models.set_defaults(run=_models)

    devices = commands.add_parser("devices", help="list compute devices and sound outputs")
    devices.set_defaults(run=_devices)

    from engine import train

    train.add_cli(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    commands = _subcommands(parser)
    # Anything but a subcommand or a request for help is the window's: `vocoscope FILE --generate ...`.
    if not argv or (argv[0] not in commands and argv[0] not in ("-h", "--help")):
        from app.__main__ import main as app_main

        return app_main(argv)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    if getattr(args, "run", None) is None:
        parser.print_help()
        return 0
    try:
        return int(args.run(args) or 0)
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
        print(f"vocoscope: internal error: {type(error).__name__}: {error}. "
              "Run again with VOCOSCOPE_DEBUG=1 for the traceback, and report it.", file=sys.stderr)
        return 1


def _subcommands(parser: argparse.ArgumentParser) -> set[str]:
    """The subcommand names, train's included (argparse keeps them on its private subparsers action)."""
    actions = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    return set(actions[0].choices)


# --- vocode ------------------------------------------------------------------------------------------------


def default_output(input_path: Path) -> Path:
    return input_path.with_name(input_path.stem + ".vocoded.wav")


def output_paths(inputs: list[Path], output: Path | None) -> list[Path]:
    """Where each input's audio goes: OUT itself for one input, OUT/NAME.vocoded.wav for several (OUT a folder),
    or beside each input without OUT. Raises `InputError` when two inputs would write the same file."""
    from engine.export import AUDIO_FORMATS

    if len(inputs) > 1 and output is not None and output.suffix.lower() in AUDIO_FORMATS:
        raise InputError(output, f"one file name for {len(inputs)} inputs", "a folder for their outputs",
                         f"Name a folder with -o (for example -o {output.with_suffix('')}), or vocode one input.")
    if len(inputs) == 1 and output is not None:
        return [output]
    paths = [default_output(source) if output is None else output / default_output(source).name for source in inputs]
    seen: dict[Path, Path] = {}
    for source, path in zip(inputs, paths):
        if path.resolve() in seen:
            raise InputError(source, f"the same output name as {seen[path.resolve()]} ({path})",
                             "one output file per input", "Vocode them into different folders (-o), or rename one.")
        seen[path.resolve()] = source
    return paths


def _vocode(args: argparse.Namespace) -> int:
    from engine.export import check_audio_output
    from engine.models.registry import load_model

    inputs = [Path(name) for name in args.inputs]
    if args.play and len(inputs) > 1:
        raise InputError(inputs[1], f"{len(inputs)} inputs with --play", "one input to play",
                         "Leave out --play, or vocode and play one input at a time.")
    folder = Path(args.output) if args.output and len(inputs) > 1 else None
    outputs = output_paths(inputs, Path(args.output) if args.output else None)
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    for path in outputs:  # before any work: a run of many files must not stop at the tenth for a name
        check_audio_output(path, args.force)
    model, info = load_model(args.model, device="cpu")
    # refuses what the model cannot take, before any work
    draws = model.draws_at(args.temperature, args.pitch_postfilter, args.envelope_postfilter, args.candidates)
    failed = []
    for source, output in zip(inputs, outputs):
        try:
            _vocode_one(args, model, info, draws, source, output)
        except InputError as error:
            if len(inputs) == 1:
                raise
            print(f"vocoscope: {error}", file=sys.stderr)
            failed.append(source)
    if failed:
        print(f"vocoscope: {len(failed)} of {len(inputs)} inputs failed ({', '.join(map(str, failed))}); "
              "the others were written.", file=sys.stderr)
        return 2
    return 0


def _vocode_one(args: argparse.Namespace, model, info, draws: str, source: Path, output: Path) -> None:
    """Vocode one input into `output` (checked already), printing what was written."""
    import numpy as np

    from engine.export import take_comment, write_audio
    from engine.features import load_input
    from engine.fold import finished_prefix
    from engine.generate import generate, new_seed

    seed = args.seed if args.seed is not None else new_seed()
    conditioning = load_input(source, model.mel_config, model.min_frames)
    rate = model.mel_config.sample_rate
    total = conditioning.num_samples
    audio = np.zeros(total, dtype=np.float32)
    player = _open_player(rate, args.output_device) if args.play else None
    played_until = 0
    final = np.zeros(total, dtype=bool)
    stats = None
    show_progress = sys.stderr.isatty()
    try:
        if player is not None:
            player.expect(total)
        for chunk in generate(model, conditioning, device=args.device, seed=seed, fold=args.fold or None,
                              temperature=args.temperature, pitch_postfilter=args.pitch_postfilter,
                              envelope_postfilter=args.envelope_postfilter, candidates=args.candidates):
            end = chunk.start + len(chunk.samples)
            audio[chunk.start : end] = chunk.samples
            final[chunk.start : end] = True
            stats = chunk.stats
            if show_progress:
                print(_progress_line(stats, rate), end="", file=sys.stderr, flush=True)
            if player is not None:
                ready = finished_prefix(final, played_until)
                if ready > played_until:
                    player.feed(audio[played_until:ready], stats.samples_per_second)
                    played_until = ready
        if show_progress:
            print(file=sys.stderr)
        write_audio(output, audio, rate, overwrite=args.force, comment=take_comment(info.name, draws, seed, source))
        if player is not None:
            player.finish()
            player.wait()
            summary = player.summary()
    finally:
        if player is not None:
            player.close()
    speed = f", {stats.real_time_factor:.2f}x real time" if stats is not None else ""
    print(f"wrote {output}: {total} samples, {total / rate:.2f} s at {rate} Hz with {info.name}, seed {seed}{speed}")
    if player is not None:
        print(summary.line())


def _progress_line(stats, rate: int) -> str:
    """One carriage-returned terminal line: percent done, audio made, speed and ETA."""
    eta = "--:--" if stats.eta_seconds == float("inf") else f"{int(stats.eta_seconds) // 60}:{int(stats.eta_seconds) % 60:02d}"
    return (f"\r{100 * stats.samples_done / stats.total_samples:5.1f}%  {stats.samples_done / rate:7.2f} s of "
            f"{stats.total_samples / rate:.2f} s  {stats.real_time_factor:5.2f}x real time  ETA {eta} ")


def _open_player(rate: int, device: str | None):
    """A Player, or None (after a plain message on stderr) when there is no sound output."""
    try:
        from engine.playback import Player

        return Player(rate, _device_argument(device))
    except AudioDeviceError as error:
        print(f"vocoscope: {error}. Writing the file without playing it.", file=sys.stderr)
        return None


def _device_argument(device: str | None) -> str | int | None:
    return int(device) if device is not None and device.isdigit() else device


# --- inspect, models, devices ------------------------------------------------------------------------------


def _inspect(args: argparse.Namespace) -> int:
    """Print the preflight verdict and the module table; exit 2 when the verdict finds a problem."""
    from engine.models.registry import load_model
    from engine.shapes import inspect, render_report

    model, _ = load_model(args.model, device="cpu")
    inspection = inspect(model, Path(args.input))
    print(render_report(inspection.verdict, inspection.trace))
    return 0 if inspection.verdict.ok else 2


def _models(args: argparse.Namespace) -> int:
    from engine.models.registry import list_models

    infos = list_models()
    if args.json:
        print(json.dumps([{**info.to_dict(), "default": info.name == DEFAULT_MODEL} for info in infos], indent=2))
        return 0
    print(f"{'name':<14}{'family':<14}{'rate':>7}{'hop':>5}{'mels':>6}{'receptive':>11}{'parameters':>12}  "
          f"{'trained':<21}draws")
    for info in infos:
        receptive = str(info.receptive_field) if info.receptive_field else "unbounded"
        trained = (f"{info.steps:,} steps" if info.steps else "yes") if info.trained else "no (random weights)"
        print(f"{info.name:<14}{info.family:<14}{info.sample_rate:>7}{info.hop_length:>5}{info.n_mels:>6}"
              f"{receptive:>11}{info.parameters:>12,}  {trained:<21}{info.draws}")
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
