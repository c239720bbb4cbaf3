"""Torch errors from a model's forward, told in words: which module failed and the likely cause.

`watch(model)` records the modules entered and not yet left while a forward runs; when an exception escapes,
the innermost one is the module that failed and is stored on the exception. `explain(exception, model)` reads
that record (or, without it, the deepest frame of the traceback whose `self` is one of the model's modules)
and matches the message against the error families that shape mistakes produce:

- a layer given the wrong number of features ("mat1 and mat2 shapes cannot be multiplied", conv channels);
- tensors of different lengths meeting ("Sizes of tensors must match", broadcasting);
- integer tensors where float32 is needed (and float targets where class indices are);
- cross_entropy's target size errors (time-major (N, T, C) logits);
- an initial hidden state whose batch differs from the input's.
"""

from __future__ import annotations

import contextlib
import re
from typing import Any, Callable, Iterator

from torch import nn

from engine.models.upsample import UpsampleNetwork

FAILED_MODULE_ATTRIBUTE = "vocoscope_failed_module"


@contextlib.contextmanager
def watch(model: nn.Module) -> Iterator[None]:
    """Record which of `model`'s modules is running; an exception leaving the block carries the innermost one.

    The name (dotted path from `named_modules`, "" for the model itself) is set as the exception's
    `vocoscope_failed_module` attribute, which `explain` reads.
    """
    entered: list[str] = []

    def enter(name: str):
        def hook(_module, _args) -> None:
            entered.append(name)

        return hook

    def leave(_module, _args, _output) -> None:  # a forward hook that returned a value would replace the output
        entered.pop()

    handles = []
    for name, module in model.named_modules():
        handles.append(module.register_forward_pre_hook(enter(name)))
        handles.append(module.register_forward_hook(leave))
    try:
        yield
    except Exception as error:
        if entered and not hasattr(error, FAILED_MODULE_ATTRIBUTE):
            setattr(error, FAILED_MODULE_ATTRIBUTE, entered[-1])
        raise
    finally:
        for handle in handles:
            handle.remove()


def failed_module(exception: BaseException, model: nn.Module) -> str | None:
    """Dotted name of the module that raised `exception` ("" for the model itself), or None when unknown."""
    recorded = getattr(exception, FAILED_MODULE_ATTRIBUTE, None)
    if recorded is not None:
        return recorded
    names = {id(module): name for name, module in model.named_modules()}
    found = None
    tb = exception.__traceback__
    while tb is not None:
        owner = tb.tb_frame.f_locals.get("self")
        if owner is not None and id(owner) in names:
            found = names[id(owner)]
        tb = tb.tb_next
    return found


def explain(exception: BaseException, model: nn.Module, mel_config=None) -> str:
    """One paragraph for a person: the module that failed, what it was given, the likely cause and the fix.

    mel_config: the mel the model was built for (band count, hop), for a model that does not carry its own
    `mel_config` (a user's module); default: the model's.
    """
    name = failed_module(exception, model)
    return f"{_describe_module(model, name)}: {cause(exception, model, mel_config)}"


def cause(exception: BaseException, model: nn.Module, mel_config=None) -> str:
    """`explain` without the module: what went wrong, the likely cause and the fix."""
    config = mel_config if mel_config is not None else getattr(model, "mel_config", None)
    name = failed_module(exception, model)
    message = str(exception).strip()
    first_line = message.splitlines()[0] if message else type(exception).__name__
    for pattern, reason in _FAMILIES:
        match = pattern.search(message)
        if match:
            return f"{reason(match, model, name, config)} (torch: {first_line})"
    return f"{type(exception).__name__}: {first_line}"


def _describe_module(model: nn.Module, name: str | None) -> str:
    if name is None:
        return f"In {type(model).__name__} (the failing module is unknown)"
    if name == "":
        return f"In {type(model).__name__} itself (not in a submodule)"
    module = model.get_submodule(name)
    return f"In module '{name}' ({type(module).__name__})"


# --- the error families --------------------------------------------------------------------------------------


def _features(match: re.Match, model: nn.Module, name: str | None, config) -> str:
    rows, found, expected, _out = (int(g) for g in match.groups())
    text = f"this layer takes {expected} input features per row but was given {found} (a {rows}×{found} input)."
    bands = getattr(config, "n_mels", None)
    short = expected - found
    if bands is not None and 0 < short < bands:
        text += (
            f" Likely cause: the mel has {bands - short} bands where the model was trained on {bands}"
            f" ({short} features short). Recompute the mel with n_mels={bands}, or choose a model trained"
            f" on {bands - short} bands."
        )
    else:
        text += (
            " Likely cause: the features reaching it (mel bands, upsampled conditioning, previous samples)"
            " do not add up to what the model was built with; check the input against the model's MelConfig."
        )
    return text


def _channels(match: re.Match, model: nn.Module, name: str | None, config) -> str:
    given = tuple(int(v) for v in match.group(1).split(","))
    expected, found = int(match.group(2)), int(match.group(3))
    text = f"this convolution takes {expected} channels but was given {found} (an input of shape {given})."
    bands = getattr(config, "n_mels", None)
    # the conditioning network reflect-pads the time axis by `pad` frames on each side before this convolution
    padding = {2 * module.pad for module in model.modules() if isinstance(module, UpsampleNetwork)}
    if bands is not None and expected == bands and any(given[-1] - extra == bands for extra in padding | {0}):
        text += (
            f" Likely cause: the mel is time-major (N, T, n_mels={bands}). Transpose it to (N, n_mels, T):"
            " mel.transpose(1, 2)."
        )
    elif bands is not None and expected == bands:
        text += (
            f" Likely cause: the mel has {found} bands where the model was trained on {bands}. Recompute the"
            f" mel with n_mels={bands}, or choose a model trained on {found} bands."
        )
    else:
        text += " Likely cause: the tensor reaching it was built with a different channel count than the model."
    return text


def _lengths(match: re.Match, model: nn.Module, name: str | None, config) -> str:
    first, second = int(match.group("a")), int(match.group("b"))
    text = f"two tensors meet with lengths {first} and {second} along an axis where they must agree."
    hop = getattr(config, "hop_length", None)
    if hop:
        text += (
            f" Likely cause: the upsampled conditioning and the audio disagree in length. The model's hop is"
            f" {hop} samples, so F mel frames must come with exactly F × {hop} samples"
            f" ({first} samples = {first / hop:g} frames, {second} samples = {second / hop:g} frames)."
            " Check that the mel was made with the model's hop length and sample rate, that the upsampling"
            " factors multiply to the hop, and trim or pad the audio to frames × hop."
        )
    else:
        text += " Likely cause: a length computed from one setting (hop, sample rate) and used with another."
    return text


_INTEGER = re.compile(r"long|int|byte|short|bool", re.IGNORECASE)


def _dtype(match: re.Match, model: nn.Module, name: str | None, config) -> str:
    found, expected = match.group("found"), match.group("expected")
    if _INTEGER.search(expected) and not _INTEGER.search(found):
        # torch words some of these messages from the weight's side: the integer one is the input
        found, expected = expected, found
    text = f"a tensor of type {found} met weights of type {expected}."
    if _INTEGER.search(found):
        text += (
            " Likely cause: an integer tensor (a quantised mel, class indices, int16 audio) where float32 is"
            " needed. Convert it: tensor.float(), or numpy.astype(numpy.float32) before making the tensor;"
            " int16 audio also needs dividing by 32768."
        )
    elif re.search(r"double|float64", found, re.IGNORECASE):
        text += " Likely cause: a float64 array from numpy. Convert it: tensor.float()."
    else:
        text += f" Convert the input to the model's type ({expected})."
    return text


def _target_dtype(match: re.Match, model: nn.Module, name: str | None, config) -> str:
    return (
        "cross_entropy was given a float target, but its target holds class indices (N, T) of type long."
        " Likely cause: the audio samples were passed instead of their classes. Quantise them first (for"
        " example engine.features.mulaw_encode) and make the target a long tensor: target.long()."
    )


def _target_size(match: re.Match, model: nn.Module, name: str | None, config) -> str:
    expected = [int(v) for v in match.group(1).split(",") if v.strip()]
    got = [int(v) for v in match.group(2).split(",") if v.strip()]
    text = (
        f"cross_entropy read the logits as (N, C, T) and so expected a target of size {expected}, but the"
        f" target is {got}."
    )
    if len(expected) == 2 and len(got) == 2 and expected[0] == got[0]:
        text += (
            f" Likely cause: the logits are time-major (N, T, C) = ({got[0]}, {got[1]}, {expected[1]}):"
            f" cross_entropy wants (N, C, T) and a long target (N, T). Transpose the logits to (N, C, T):"
            f" logits.transpose(1, 2)."
        )
    elif len(got) == 1:
        text += (
            " Likely cause: one label per clip. For per-step prediction give a target of shape (N, T); for"
            " one label per clip reduce the time axis of the logits first (mean over time or the last step)."
        )
    else:
        text += " The target must have the logits' shape without the class axis (axis 1)."
    return text


def _target_batch(match: re.Match, model: nn.Module, name: str | None, config) -> str:
    rows, target_rows = int(match.group(1)), int(match.group(2))
    return (
        f"cross_entropy was given {rows} rows of logits but {target_rows} target rows. Likely cause: the"
        " logits were flattened to (N·T, C) but the target was not. Flatten both (logits.reshape(-1, C),"
        " target.reshape(-1)), or keep the batch: logits (N, C, T) with a target (N, T)."
    )


def _hidden_batch(match: re.Match, model: nn.Module, name: str | None, config) -> str:
    found, expected = match.group("hidden"), match.group("input")
    return (
        f"the initial hidden state has batch size {found} but the input has batch size {expected}. Make the"
        f" state for the input's batch: torch.zeros({expected}, hidden_size) (or let the model start it)."
    )


def _hidden_size(match: re.Match, model: nn.Module, name: str | None, config) -> str:
    expected = [int(v) for v in match.group(1).split(",")]
    given = [int(v) for v in match.group(2).split(",")]
    text = (
        f"the recurrent layer expected an initial hidden state of size ({match.group(1)}) but was given"
        f" [{match.group(2)}]."
    )
    if len(expected) == len(given) == 3 and expected[1] != given[1]:
        text += f" The state has batch size {given[1]} but the input has batch size {expected[1]}."
    return text + (
        " Likely cause: a state made for another batch size or layer; build it from the input's batch:"
        " torch.zeros(layers, batch, hidden_size)."
    )


_Reason = Callable[[re.Match, nn.Module, "str | None", Any], str]  # (match, model, failed module, MelConfig)

_FAMILIES: list[tuple[re.Pattern, _Reason]] = [
    (re.compile(r"mat1 and mat2 shapes cannot be multiplied \((\d+)x(\d+) and (\d+)x(\d+)\)"), _features),
    (re.compile(r"expected input\[([\d, ]+)\] to have (\d+) channels, but got (\d+) channels"), _channels),
    (
        re.compile(
            r"Sizes of tensors must match except in dimension \d+\. Expected size (?P<a>\d+) but got size (?P<b>\d+)"
        ),
        _lengths,
    ),
    (re.compile(r"The size of tensor a \((?P<a>\d+)\) must match the size of tensor b \((?P<b>\d+)\)"), _lengths),
    (re.compile(r"expected target dtype to be Long"), _target_dtype),
    (re.compile(r"expected scalar type (?P<expected>\w+) but found (?P<found>\w+)"), _dtype),
    (re.compile(r"mat1 and mat2 must have the same dtype, but got (?P<found>\w+) and (?P<expected>\w+)"), _dtype),
    (
        re.compile(r"expected m1 and m2 to have the same dtype, but got: (?P<found>[\w ]+) != (?P<expected>[\w ]+)"),
        _dtype,
    ),
    (
        re.compile(
            r"Input type \((?P<found>[\w ]+)\) and (?:bias|weight) type \((?P<expected>[\w ]+)\) should be the same"
        ),
        _dtype,
    ),
    (re.compile(r"input dtype \((?P<found>[\w.]+)\) does not match weight dtype \((?P<expected>[\w.]+)\)"), _dtype),
    (re.compile(r"Expected target size \[([\d, ]*)\], got \[([\d, ]*)\]"), _target_size),
    (re.compile(r"Expected input batch_size \((\d+)\) to match target batch_size \((\d+)\)"), _target_batch),
    (re.compile(r"Input batch size (?P<input>\d+) doesn't match hidden\d* batch size (?P<hidden>\d+)"), _hidden_batch),
    (re.compile(r"Expected hidden size \(([\d, ]+)\), got \[([\d, ]+)\]"), _hidden_size),
]
