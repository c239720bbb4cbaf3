"""`python -m app [FILE]` and `vocoscope [FILE]`: open the window, optionally with FILE loaded.

Scripted mode, for documentation and automated checks::

    vocoscope FILE --generate --screenshot OUT.png --exit-when-done

loads FILE, generates with the selected model, saves a PNG of the whole window once the last chunk is
painted, and exits 0; if anything fails it prints the message on stderr and exits 2 (the input) or 1.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

EXIT_OK, EXIT_INTERNAL, EXIT_INPUT = 0, 1, 2


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="vocoscope", description="Vocoscope: a studio for neural vocoders.")
    parser.add_argument("file", nargs="?", help="audio (wav, flac, ogg, mp3) or mel (.npy, .pt) to open")
    parser.add_argument("--model", help="built-in model name or checkpoint path (default: the last one used)")
    parser.add_argument("--device", help="compute device: auto, cpu, cuda:0, ... (default: the last one used)")
    parser.add_argument("--generate", action="store_true", help="generate as soon as FILE is loaded")
    parser.add_argument("--screenshot", metavar="OUT.png", help="save a PNG of the window when generation ends")
    parser.add_argument("--exit-when-done", action="store_true", help="quit when generation (and screenshot) ends")
    parser.add_argument("--settings", metavar="FILE.ini", help="keep settings in this ini file (scripts, tests)")
    parser.add_argument("--size", metavar="WxH", help="window size for screenshots, e.g. 1400x900")
    args = parser.parse_args(argv)
    if (args.generate or args.screenshot) and not args.file:
        parser.error("--generate and --screenshot need a FILE to open")
    return args


def _needs_display() -> str | None:
    """Why a window cannot open here, or None. Qt aborts the process without a display; say so instead."""
    if sys.platform.startswith("linux") and not os.environ.get("QT_QPA_PLATFORM") \
            and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        return ("no display: found neither DISPLAY nor WAYLAND_DISPLAY; expected a desktop session. Run it on a "
                "desktop, under `xvfb-run`, or with QT_QPA_PLATFORM=offscreen for scripted mode.")
    return None


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


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else list(argv))
    problem = _needs_display()
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
        width, _, height = args.size.partition("x")
        window.resize(int(width), int(height))
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
