"""`vocoscope import CHECKPOINT [--from SOURCE] [--hparams FILE ...] -o OUT.safetensors`: another project's
vocoder checkpoint as a Vocoscope checkpoint. Imports torch only when it runs."""

from __future__ import annotations

import argparse
from pathlib import Path

from engine.errors import InputError

SOURCE_NAMES = ("fatchord", "rtvc", "torchaudio", "r9y9")
_EPILOG = """\
The checkpoint is read with torch.load(weights_only=True): a file that needs code to load is refused.
The architecture comes from the tensors' shapes; sample rate, STFT and mel settings from --hparams (the source's
hparams.py, read without running it, or a JSON object), else from the source's published defaults: every such
guess is listed. The result vocodes, streams, inspects and fine-tunes (train --init) like any Vocoscope model.
Sources: fatchord (fatchord/WaveRNN), rtvc (Real-Time-Voice-Cloning's vocoder), torchaudio
(torchaudio.models.WaveRNN state dict), r9y9 (r9y9/wavenet_vocoder: pass its hparams.json and its mel statistics
as a .npz of `mean` and `var`, e.g. --hparams hparams.json --hparams meanvar.npz; see docs/importing.md).
"""


def add_import_command(commands) -> None:
    """Add `import` to the subcommands `commands` (argparse's subparsers)."""
    parser = commands.add_parser(
        "import",
        help="turn another project's vocoder checkpoint into a Vocoscope one",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("checkpoint", metavar="CHECKPOINT", help="the .pt / .pth / .pyt file the source saved")
    parser.add_argument(
        "--from",
        dest="source",
        choices=SOURCE_NAMES,
        default=None,
        help="the project that wrote it (default: detected from the tensor names)",
    )
    parser.add_argument(
        "--hparams",
        action="append",
        default=[],
        metavar="FILE",
        help="the source's hparams.py, a JSON object of its settings or a .npz of arrays; repeat "
        "for several files, later ones winning (rtvc: synthesizer/hparams.py, then "
        "vocoder/hparams.py; r9y9: hparams.json and meanvar.npz)",
    )
    parser.add_argument("-o", "--output", required=True, metavar="OUT.safetensors", help="the checkpoint to write")
    parser.add_argument("--force", action="store_true", help="overwrite OUT if it exists")
    parser.set_defaults(run=run_import)


def run_import(args: argparse.Namespace) -> int:
    output = Path(args.output)
    if output.suffix.lower() != ".safetensors":
        raise InputError(
            output,
            f"an output named {output.suffix or 'without a suffix'}",
            "a .safetensors file",
            f"Name it {output.with_suffix('.safetensors').name}.",
        )
    if output.exists() and not args.force:
        raise InputError(output, "an existing file", "a new file", "Choose another name, or pass --force.")
    from engine import checkpoints
    from engine.importers.sources import import_checkpoint

    source, imported = import_checkpoint(Path(args.checkpoint), args.source, [Path(f) for f in args.hparams])
    model, mel = imported.model, imported.model.mel_config
    print(
        f"{args.checkpoint}: {source} checkpoint → {model.family}, {model.parameter_count():,} parameters, "
        f"draws {model.draws}"
    )
    for note in imported.notes:
        print(f"  {note}")
    print(
        f"  mel: {mel.sample_rate} Hz, n_fft {mel.n_fft}, hop {mel.hop_length}, window {mel.win_length}, "
        f"{mel.n_mels} bands {mel.fmin:g}–{mel.fmax:g} Hz, {mel.normalisation}"
        + (f", low-cut {mel.highpass_hz:g} Hz" if mel.highpass_hz else "")
        + (f", pre-emphasis {mel.preemphasis:g}" if mel.preemphasis else "")
        + (f", output de-emphasised by {mel.output_preemphasis:g}" if mel.output_preemphasis else "")
    )
    checkpoints.save(model, output, meta=imported.meta)
    print(f"wrote {output}")
    return 0
