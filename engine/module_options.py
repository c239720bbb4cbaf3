"""The command-line options of `vocoscope inspect --module` (no torch here: `--help` answers at once).

The layouts a user's forward may take its mel and audio in are listed here, with what each means; the tensors are
made by engine.module_inputs.
"""

from __future__ import annotations

import argparse

MEL_LAYOUTS = {
    "N,n_mels,F": "(N, n_mels, F): batch, bands, frames (fatchord, r9y9, Vocoscope)",
    "N,1,n_mels,F": "(N, 1, n_mels, F): with a channel axis (torchaudio's specgram)",
    "N,F,n_mels": "(N, F, n_mels): time-major",
}
AUDIO_LAYOUTS = {
    "N,T": "(N, T) float samples in [-1, 1] (fatchord)",
    "N,1,T": "(N, 1, T) float samples (torchaudio, r9y9 with scalar_input)",
    "N,C,T-onehot": "(N, C, T) one-hot mu-law classes, C classes (r9y9's default input)",
    "N,T-classes": "(N, T) int64 mu-law classes",
}
# Frames traced by default: enough for a conditioning network's context (fatchord's pad 2 eats 4 frames).
DEFAULT_FRAMES = 8

EPILOG = """\
--module runs YOUR code: the file is imported (executed) with your rights, NAME is called with --kwargs, and its
forward is called on the first frames of INPUT. Open only code you trust. Checkpoints are read with
torch.load(weights_only=True): tensors only, never pickled code.

NAME is an nn.Module class or a function returning one. The mel is made from INPUT with the band count, hop and
rate read from the constructor's arguments (n_mels/feat_dims/n_freq, hop_length or the upsampling factors,
sample_rate; each guess is printed), --mel overriding them. The forward's mel and audio arguments are guessed
from their names (mels, c, specgram...; x, audio, waveform...) and printed; name them with --mel-arg/--audio-arg.
Example: vocoscope inspect song.wav --module WaveRNN/models/fatchord_version.py:WaveRNN --kwargs '{"rnn_dims": 512,
"fc_dims": 512, "bits": 9, "pad": 2, "upsample_factors": [5, 5, 11], "feat_dims": 80, "compute_dims": 128,
"res_out_dims": 128, "res_blocks": 10, "hop_length": 275, "sample_rate": 22050, "mode": "RAW"}'
"""


def add_module_arguments(parser: argparse.ArgumentParser) -> None:
    """--module and its companions, on `inspect`'s parser."""
    group = parser.add_argument_group("your own model code (runs your code: see below)")
    group.add_argument(
        "--module", metavar="FILE.py:NAME", help="inspect the nn.Module that NAME in FILE.py builds instead of --model"
    )
    group.add_argument("--kwargs", metavar="JSON", help="NAME's constructor arguments as a JSON object")
    group.add_argument("--checkpoint", metavar="F", help="a state_dict to load (torch.load with weights_only=True)")
    group.add_argument("--mel-arg", metavar="NAME", help="forward's parameter that takes the mel")
    group.add_argument("--audio-arg", metavar="NAME", help="forward's parameter that takes the audio")
    group.add_argument(
        "--mel", metavar="JSON", help="MelConfig settings over the guessed ones, e.g. '{\"hop_length\": 256}'"
    )
    group.add_argument(
        "--mel-layout",
        choices=list(MEL_LAYOUTS),
        default="N,n_mels,F",
        metavar="LAYOUT",
        help="how forward takes the mel: " + "; ".join(f"{k} {v}" for k, v in MEL_LAYOUTS.items()),
    )
    group.add_argument(
        "--audio-layout",
        choices=list(AUDIO_LAYOUTS),
        default="N,T",
        metavar="LAYOUT",
        help="how forward takes the audio: " + "; ".join(f"{k} {v}" for k, v in AUDIO_LAYOUTS.items()),
    )
    group.add_argument(
        "--frames", type=int, default=DEFAULT_FRAMES, metavar="N", help=f"mel frames to run (default {DEFAULT_FRAMES})"
    )
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
