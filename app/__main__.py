"""`vocoscope [FILE]` and `python -m app [FILE]`: open the window, optionally with FILE loaded.

Scripted mode, for documentation and automated checks::

    vocoscope FILE --generate --screenshot OUT.png --exit-when-done

loads FILE, generates with the selected model, saves a PNG of the whole window once the last chunk is
painted, and exits 0; if anything fails it prints the message on stderr and exits 2 (the input) or 1.

This is the `vocoscope` command (`main`): a headless subcommand runs through engine/cli.py; anything else is the
window's, or --help, --version, --self-test. `vocoscope --help` lists the window's arguments and the commands, and
the arguments are checked before any window opens. Nothing here imports Qt or torch until a window or a check
needs it.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

from engine import __version__, cli
from engine.errors import VocoscopeError
from engine.self_test import Skipped, run_self_test

EXIT_OK, EXIT_INTERNAL, EXIT_INPUT = 0, 1, 2
DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")
SIZE = re.compile(r"(\d+)x(\d+)")
MIN_SIZE, MAX_SIZE = 320, 16384  # pixels: below, nothing fits; above, no screen or screenshot wants it

USAGE = """\
%(prog)s [FILE] [OPTIONS]    open the window, with FILE loaded
       %(prog)s COMMAND ...         run headless (%(prog)s COMMAND --help for its options)"""


def main(argv: list[str] | None = None) -> int:
    """`vocoscope [FILE] [OPTIONS]` or `vocoscope COMMAND ...`; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = cli.build_command_parser(argv[0] if argv else None)
    if argv and argv[0] in cli.command_helps(commands):
        return cli.run_command(commands, argv)
    if argv and not argv[0].startswith("-") and not Path(argv[0]).suffix and not Path(argv[0]).exists():
        print(
            f"vocoscope: found {argv[0]!r}, neither a command nor a file; expected one of "
            f"{', '.join(cli.command_helps(commands))}, or a FILE to open. See `vocoscope --help`.",
            file=sys.stderr,
        )
        return EXIT_INPUT
    return cli.parse_and_run(build_parser(commands), argv, run_top_level)


def build_parser(commands: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """`vocoscope [FILE] [OPTIONS]`: --version, --self-test and the window's arguments, with `commands` listed below
    them."""
    helps = cli.command_helps(commands)
    width = max(map(len, helps)) + 2
    listing = "\n".join(f"  {name:<{width}}{help_line}" for name, help_line in helps.items())
    parser = cli.ArgumentParser(
        prog="vocoscope",
        usage=USAGE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="A studio for neural vocoders: WaveRNN and WaveNet, streamed, heard and inspected live.",
        epilog=f"commands:\n{listing}",
    )
    parser.add_argument("--version", action="version", version=f"vocoscope {__version__}")
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="load each built-in model, vocode the bundled example briefly, check the compute and "
        "sound devices and the display; exit 1 if anything failed",
    )
    add_window_arguments(parser)
    return parser


def run_top_level(args: argparse.Namespace) -> int:
    """--self-test, or the window."""
    window_options = [
        "FILE" if key == "file" else "--" + key.replace("_", "-")
        for key, value in vars(args).items()
        if key != "self_test" and value
    ]
    problem = window_arguments_problem(args)
    if args.self_test and window_options:
        problem = f"--self-test runs alone; found {' and '.join(window_options)} with it. Leave them out"
    if problem:
        raise VocoscopeError(f"{problem}. See `vocoscope --help`.")
    if args.self_test:
        return run_self_test([("window", window_check)])
    if args.model:
        from engine.catalog import has_trained_weights

        cli.warn_if_untrained(args.model, has_trained_weights(args.model))
    return open_window(args)


def add_window_arguments(parser: argparse.ArgumentParser) -> None:
    """FILE and the window's options, each checked as it is parsed (argparse.ArgumentTypeError on a bad value)."""
    window = parser.add_argument_group("the window (vocoscope [FILE] [OPTIONS])")
    window.add_argument(
        "file",
        nargs="?",
        metavar="FILE",
        type=_input_file,
        help="audio (wav, flac, ogg, mp3) or mel (.npy, .pt) to open",
    )
    window.add_argument(
        "--model",
        type=_model,
        metavar="NAME|PATH",
        help="built-in model name or checkpoint path (default: the last one used)",
    )
    window.add_argument(
        "--device", type=_device, help="compute device: auto, cpu, cuda, cuda:0, ... (default: the last one used)"
    )
    window.add_argument("--generate", action="store_true", help="generate as soon as FILE is loaded")
    window.add_argument(
        "--screenshot", type=_screenshot, metavar="OUT.png", help="save a PNG of the window when generation ends"
    )
    window.add_argument("--exit-when-done", action="store_true", help="quit when generation (and screenshot) ends")
    window.add_argument(
        "--settings", type=_settings, metavar="FILE.ini", help="keep settings in this ini file (scripts, tests)"
    )
    window.add_argument("--size", type=_size, metavar="WxH", help="window size for screenshots, e.g. 1400x900")


def window_arguments_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with the window's arguments taken together, or None."""
    if (args.generate or args.screenshot) and not args.file:
        return "--generate and --screenshot need a FILE to open; name one before them"
    return None


def _input_file(value: str) -> str:
    path = Path(value)
    if not path.is_file():
        raise argparse.ArgumentTypeError(
            f"found {value!r}, {'a folder' if path.is_dir() else 'which does not exist'}; expected an audio file (wav, "
            "flac, ogg, mp3) or a mel (.npy, .pt) to open. Check the path"
        )
    return value


def _model(value: str) -> str:
    from engine.catalog import BUILTINS
    from engine.model_reference import model_problem

    if value not in BUILTINS and not Path(value).is_file():
        raise argparse.ArgumentTypeError(
            f"found {value!r}, neither a built-in model nor a file; expected one of {', '.join(BUILTINS)} or a "
            ".safetensors checkpoint. Run `vocoscope models` for the names, or check the path"
        )
    problem = model_problem(value)
    if problem:
        raise argparse.ArgumentTypeError(
            f"found {problem}; expected a built-in model or a .safetensors checkpoint "
            "saved by Vocoscope. Run `vocoscope models` for the names"
        )
    return value


def _device(value: str) -> str:
    if not DEVICE.fullmatch(value):
        raise argparse.ArgumentTypeError(
            f"found {value!r}; expected auto, cpu, cuda or cuda:N (N: the GPU's number). "
            "Run `vocoscope devices` for this machine's"
        )
    return value


def _screenshot(value: str) -> str:
    if Path(value).suffix.lower() != ".png" or Path(value).is_dir():
        raise argparse.ArgumentTypeError(f"found {value!r}; expected a file name ending in .png. Name it OUT.png")
    return value


def _settings(value: str) -> str:
    if Path(value).is_dir():
        raise argparse.ArgumentTypeError(
            f"found {value!r}, a folder; expected an .ini file to keep the settings in. "
            "Name a file in it, e.g. settings.ini"
        )
    return value


def _size(value: str) -> tuple[int, int]:
    match = SIZE.fullmatch(value.strip().lower())
    size = (int(match[1]), int(match[2])) if match else None
    if size is None or not all(MIN_SIZE <= side <= MAX_SIZE for side in size):
        raise argparse.ArgumentTypeError(
            f"found {value!r}; expected WIDTHxHEIGHT in pixels, each from {MIN_SIZE} to {MAX_SIZE}, e.g. 1280x820"
        )
    return size


def display_problem() -> str | None:
    """Why a window cannot open here, or None. Qt aborts the process without a display; say so instead."""
    if (
        sys.platform.startswith("linux")
        and not os.environ.get("QT_QPA_PLATFORM")
        and not os.environ.get("DISPLAY")
        and not os.environ.get("WAYLAND_DISPLAY")
    ):
        return (
            "no display: found neither DISPLAY nor WAYLAND_DISPLAY; expected a desktop session. Run it on a "
            "desktop, under `xvfb-run`, or with QT_QPA_PLATFORM=offscreen for scripted mode."
        )
    return None


def window_check() -> str:
    """The self-test's check of the window: Qt starts as the window would, without showing one (skipped without a
    display)."""
    problem = display_problem()
    if problem:
        raise Skipped(problem)
    offscreen = os.environ.get("QT_QPA_PLATFORM") == "offscreen"
    return start_qt() + (" (no window can be shown in this session)" if offscreen else "")


def start_qt() -> str:
    """Start Qt's application object as the window does, showing nothing: "Qt 6.8.1 starts on xcb". Call it only
    where `display_problem` found none."""
    from PySide6 import __version__ as qt_version
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([sys.argv[0]])
    return f"Qt {qt_version} starts on {app.platformName()}"


class ScriptedRun:
    """Drives the window through load → generate → screenshot → exit, recording the exit status."""

    def __init__(self, window, args: argparse.Namespace, app):
        self.window, self.args, self.app = window, args, app
        self.status = EXIT_OK
        window.input_ready.connect(self._on_input_ready)
        window.generation_done.connect(self._on_done)
        window.error_shown.connect(self._on_error)

    def _on_input_ready(self, loaded) -> None:
        if self.args.generate:
            self.window.generate()
        else:
            self._finish()

    def _on_done(self, event) -> None:
        if event.cancelled:
            self._fail("generation was cancelled before the end", EXIT_INTERNAL)
            return
        self._finish()

    def _on_error(self, level: str, message: str) -> None:
        if level == "error":
            self._fail(message, EXIT_INPUT if self.window.loaded is None else EXIT_INTERNAL)

    def _finish(self) -> None:
        if self.args.screenshot:
            self.window.paint_now()
            self.app.processEvents()
            target = Path(self.args.screenshot)
            target.parent.mkdir(parents=True, exist_ok=True)
            if not self.window.grab().save(str(target), "PNG"):
                self._fail(f"{target}: could not write the screenshot; choose a folder you can write to", EXIT_INPUT)
                return
        if self.args.exit_when_done:
            self.window.close()
            self.app.exit(self.status)

    def _fail(self, message: str, status: int) -> None:
        print(f"vocoscope: {message}", file=sys.stderr)
        self.status = status
        if self.args.exit_when_done:
            self.window.close()
            self.app.exit(status)


def open_window(args: argparse.Namespace) -> int:
    """Open the window with `args` as `add_window_arguments` parsed them; returns the exit status."""
    problem = display_problem()
    if problem:
        print(f"vocoscope: {problem}", file=sys.stderr)
        return EXIT_INPUT
    from PySide6.QtCore import QCoreApplication
    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow
    from app.settings import APPLICATION, ORGANISATION, Settings

    QCoreApplication.setOrganizationName(ORGANISATION)
    QCoreApplication.setApplicationName(APPLICATION)
    app = QApplication.instance() or QApplication([sys.argv[0]])
    settings = Settings.from_file(args.settings) if args.settings else Settings()
    if args.model:
        settings.model = args.model
    if args.device:
        settings.device = args.device
    window = MainWindow(settings)
    if args.size:
        window.resize(*args.size)
    script = ScriptedRun(window, args, app) if (args.generate or args.screenshot or args.exit_when_done) else None
    window.show()
    if args.file:
        window.open_file(args.file)
    else:
        window.open_example_if_first_run()
    status = app.exec()
    return script.status if script is not None else status


if __name__ == "__main__":
    sys.exit(main())
