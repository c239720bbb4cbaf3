"""WaveNet (van den Oord et al. 2016) as a mel-conditioned vocoder, with Fast WaveNet generation.

Per layer l (dilation d_l, kernel size k), on the residual stream x (N, R, T):
    a = W_l ⊛_d x + V_l c + U_l s            one causal dilated conv gives filter and gate together
    z = tanh(a_filter) ⊙ σ(a_gate)
    x ← (x + W_res z) · √½,   skip ← skip + W_skip z
c is the local conditioning (the mel through the shared `UpsampleNetwork`), s the optional speaker embedding.
Output: ReLU → 1×1 → ReLU → 1×1 on the skip sum: 2^bits mu-law logits ("mulaw") or the 3·M parameters of a
discretized mixture of logistics ("mol"), or the sample itself ("waveform", below).

Input coding: column t is fed the mu-law class (2^bits classes) of the previous sample, audio[:, t − 1]
(silence at t = 0), through an embedding table (a one-hot input times a 1×1 convolution); or with input "scalar"
(r9y9's "raw" WaveNet, output "mol") the sample audio[:, t − 1] itself (0 at t = 0) through a 1×1 convolution. So
column t depends only on audio[:, :t], and on audio[:, t − receptive_field : t] only.

With linear prediction (`lpc_order` p > 0, "mulaw" output; engine/models/linear_prediction.py, as in LPCNet)
the mel's all-pole envelope predicts each sample, p_t = −Σ a_k x_{t−k}; the softmax is over the excitation
e_t = x_t − p_t, the sample is x_t = p_t + e_t, and column t's input adds a linear map of [e_{t−1}, p_t] (mu-law
compressed) to the embedding. The sampling noise then follows the speech's envelope instead of being white.
Through p_t and e_{t−1}, column t also sees the p samples before that span; `receptive_field` counts them.

With output "waveform" (pitch conditioning needed) the network is not autoregressive, as in neural source-filter
models (Wang et al. 2019): column t's input is the source at t (the source features of engine/pitch_source.py and
white noise, through a 1×1 convolution), its one output the sample x_t, scored by a multi-resolution STFT loss
(engine/models/spectral_loss.py). It shapes a tone of the pitch read from the mel, and noise, into the voice;
generation (block_stream.py) runs whole blocks through the convolutions, each layer continuing from its last inputs.
With `lpc_order` p > 0 as well, that output is an excitation e_t, and the sample is e through each frame's synthesis
filter, the mel's all-pole envelope of order p (engine/models/synthesis_filter.py), or with `mel_synthesis` the mel's
own envelope as a minimum-phase filter: the envelope and level come from the mel, and the network is left the
harmonics and noise. Column t then sees the excitation of the filter's taps − 1 columns before it too. The
excitation is the layers' output plus a direct path from the source, a learned mix of [tone · v, noise · (1 − v),
noise · v] (v the voicing) that starts as the unit-RMS source of engine/excitation.py (the tone where voiced, noise
where not, VOICED_NOISE of noise under the tone), with the output layer starting at zero: an untrained network is the
no-network control through the filter, and training learns what that source lacks.

Generation (stream.py) keeps, per layer, a ring buffer of its last (k − 1) · d inputs (Paine et al. 2016, "Fast
WaveNet"), so one sample costs O(layers) small matrix products instead of a pass over the receptive field. On the
CPU in "mulaw" mode those steps run compiled (kernel.py: the same arithmetic and draws, about 30× faster for the
bundled model, whose torch loop spends nearly all its time dispatching small ops).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Iterator

import torch
from torch import nn
from torch.nn import functional as F

from engine.errors import ConfigError, InputError
from engine.features import MelConfig
from engine.models.base import StreamBlock, Vocoder, block_ranges, config_from_dict
from engine.models.coding import describe_draws, mulaw_classes, mulaw_compress
from engine.models.dilated import IMPLEMENTATIONS, CausalConv1d, make_causal_conv
from engine.excitation import VOICED_NOISE
from engine.models.linear_prediction import LinearPredictor
from engine.models.mixture import LOG_SCALE_MIN, mixture_log_prob
from engine.models.envelope_passes import EnvelopePasses
from engine.models.spectral_loss import MelLoss, spectral_loss
from engine.models.synthesis_filter import SynthesisFilter
from engine.models.conv_in_upsample import upsample_network
from engine.models.upsample import UpsampleConfig
from engine.pitch_source import SOURCE_CHANNELS, TONE_CHANNEL, VOICING_CHANNEL, PitchSource
from engine.models.wavenet import trace
from engine.models.step_view import StepView
from engine.sampling import Sampling, own_sampling
from engine.models.wavenet.block_stream import BlockGeneration
from engine.models.wavenet.stream import IncrementalGeneration

SQRT_HALF = math.sqrt(0.5)
OUTPUTS = ("mulaw", "mol", "waveform")
INPUTS = ("mulaw", "scalar")
WAVEFORM_LOSSES = ("stft", "mel")
EXCITATION_CHANNELS = SOURCE_CHANNELS + 1  # a "waveform" WaveNet's input column: the source features and noise
DIRECT_START = (1.0, 1.0, VOICED_NOISE)  # the direct path's first weights on [tone · v, noise · (1 − v), noise · v]


@dataclass
class WaveNetConfig:
    """A WaveNet: `blocks` × `layers` residual layers with dilation dilation_base^layer.

    bits: mu-law classes 2^bits of the input coding, and of the output when output == "mulaw".
    mixtures, mol_bits: the logistic mixture size and the sample grid (2^mol_bits levels) when output == "mol".
    log_scale_min: the floor on the mixture's log scales, in the loss and in the draws (output "mol").
    input: "mulaw" (the previous sample's mu-law class through an embedding) or "scalar" (the sample through a 1×1
        convolution; output "mol" only).
    output: "mulaw", "mol" or "waveform" (not autoregressive: the sample itself from the source and noise; needs
        pitch_conditioning; see the module's docstring).
    speakers: size of the global-conditioning table (0: no speaker conditioning).
    lpc_order: 0, or the order of the mel's all-pole envelope: the linear prediction of the "mulaw" output, the
        synthesis filter of the "waveform" output (not with "mol").
    mel_synthesis: with output "waveform" and lpc_order 0, a synthesis filter made of the mel's own envelope
        (minimum phase; engine/models/synthesis_filter.py) instead of none.
    waveform_loss: what output "waveform" is trained on (engine/models/spectral_loss.py): "stft", the
        multi-resolution STFT loss, or "mel", the log-mel distance in the model's own mel bands.
    loss_envelope_passes: with output "waveform", the loss scores the output after this many passes of the envelope
        post-filter (engine/models/envelope_passes.py; up to 16), as it is heard from a model that ships with them;
        0: the output itself. Only training reads it.
    temperature: mu-law classes are drawn from softmax(logits / temperature) (below 1 favours the likelier ones).
    pitch_postfilter: 0, or the strength of the pitch post-filter that generation applies to the output
        (engine/postfilter.py; the bundled model's was chosen on training recordings, like its temperature).
    envelope_postfilter: 0, or the strength (up to 1) of the mel-envelope post-filter applied after it
        (engine/envelope.py); envelope_passes: how many times, one after another (1–16).
    pitch_conditioning: whether the conditioning also holds the source features of the pitch read from the mel
        (engine/pitch_source.py: a tone at the F0, its phase and the voicing, per sample), so that the network shapes
        a tone of the right period instead of inventing the period.
    dilated_conv: "conv1d" or "fold" (engine/models/dilated.py). Default "conv1d": benchmarks/dilated_conv.py
        measured its forward + backward over all 20 layers about 1.6× faster than folding (CPU, 1 thread).
    """

    blocks: int = 2
    layers: int = 10
    dilation_base: int = 2
    kernel_size: int = 2
    residual_channels: int = 64
    skip_channels: int = 128
    output: str = "mulaw"
    bits: int = 8
    mixtures: int = 10
    mol_bits: int = 16
    log_scale_min: float = LOG_SCALE_MIN
    input: str = "mulaw"
    speakers: int = 0
    dilated_conv: str = "conv1d"
    lpc_order: int = 0
    mel_synthesis: bool = False
    waveform_loss: str = "stft"
    loss_envelope_passes: int = 0
    temperature: float = 1.0
    pitch_postfilter: float = 0.0
    envelope_postfilter: float = 0.0
    envelope_passes: int = 1
    pitch_conditioning: bool = False
    upsample: UpsampleConfig = field(default_factory=lambda: UpsampleConfig(resnet_channels=64, aux_channels=32))

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "WaveNetConfig":
        return config_from_dict(cls, values)

    @property
    def dilations(self) -> tuple[int, ...]:
        return tuple(self.dilation_base**layer for layer in range(self.layers)) * self.blocks

    @property
    def output_channels(self) -> int:
        return {"mulaw": 2**self.bits, "mol": 3 * self.mixtures, "waveform": 1}[self.output]

    @property
    def autoregressive(self) -> bool:
        """Whether column t is fed the previous sample (every output but "waveform")."""
        return self.output != "waveform"


def check_config(config: WaveNetConfig) -> None:
    """Raise `ConfigError` for a configuration that cannot be built."""
    problems = []
    if config.kernel_size < 2:
        problems.append(f"kernel_size is {config.kernel_size}; a causal dilated convolution needs 2 or more")
    if config.blocks < 1 or config.layers < 1 or config.dilation_base < 1:
        problems.append(
            f"blocks={config.blocks}, layers={config.layers}, dilation_base={config.dilation_base}; each must be 1 or more"
        )
    if config.output not in OUTPUTS:
        problems.append(f"output is {config.output!r}; expected one of {OUTPUTS}")
    if config.input not in INPUTS or (config.input == "scalar" and (config.output != "mol" or config.lpc_order)):
        problems.append(
            f"input is {config.input!r} with output {config.output!r} and lpc_order {config.lpc_order}; "
            f'expected one of {INPUTS}, and "scalar" only with output "mol" and lpc_order 0'
        )
    if config.dilated_conv not in IMPLEMENTATIONS:
        problems.append(f"dilated_conv is {config.dilated_conv!r}; expected one of {IMPLEMENTATIONS}")
    if config.lpc_order < 0 or (config.lpc_order and config.output == "mol"):
        problems.append(
            f"lpc_order is {config.lpc_order} with output {config.output!r}; it must be 0, or more than 0 "
            'with output "mulaw" (linear prediction draws a mu-law excitation) or "waveform" (the excitation goes '
            "through the synthesis filter)"
        )
    if config.mel_synthesis and (config.output != "waveform" or config.lpc_order):
        problems.append(
            f"mel_synthesis is true with output {config.output!r} and lpc_order {config.lpc_order}; the mel's own "
            'envelope is the synthesis filter of output "waveform" with lpc_order 0 (lpc_order > 0 is the all-pole '
            "one)"
        )
    if config.loss_envelope_passes and (config.output != "waveform" or not 0 <= config.loss_envelope_passes <= 16):
        problems.append(
            f"loss_envelope_passes is {config.loss_envelope_passes} with output {config.output!r}; it takes 0 to 16 "
            'passes, with output "waveform"'
        )
    if config.waveform_loss not in WAVEFORM_LOSSES:
        problems.append(f"waveform_loss is {config.waveform_loss!r}; expected one of {WAVEFORM_LOSSES}")
    if config.output == "waveform" and not config.pitch_conditioning:
        problems.append(
            'output is "waveform" without pitch_conditioning; a waveform WaveNet shapes the source of the pitch: '
            "set pitch_conditioning true"
        )
    try:
        own_sampling(config)
    except ConfigError as error:
        problems.append(str(error).rstrip("."))
    if problems:
        raise ConfigError("WaveNet configuration: " + "; ".join(problems) + ".")


def previous_classes(audio: torch.Tensor, bits: int) -> torch.Tensor:
    """audio (N, T) → the network's input (N, T): the mu-law class of audio[:, t − 1], silence at t = 0."""
    classes = mulaw_classes(audio, bits)
    silence = classes.new_full((audio.shape[0], 1), int(mulaw_classes(torch.zeros(()), bits)))
    return torch.cat([silence, classes[:, :-1]], dim=1)


class ResidualLayer(nn.Module):
    """One gated residual layer. x (N, R, T), cond (N, 2R, T) → (x_next (N, R, T), z (N, R, T)).

    z is the gated activation; the model applies all layers' skip convolutions to it at once.
    """

    def __init__(self, channels: int, kernel_size: int, dilation: int, implementation: str):
        super().__init__()
        self.dilation = dilation
        self.filter_gate: CausalConv1d = make_causal_conv(implementation, channels, 2 * channels, kernel_size, dilation)
        self.residual = nn.Conv1d(channels, channels, 1)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.gated(self.filter_gate(x), x, cond)

    def continued(
        self, x: torch.Tensor, cond: torch.Tensor, past: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """`forward` on a block that follows earlier ones (see CausalConv1d.continued): also past (N, R, (k − 1) · d)
        in, and the next block's past out."""
        convolved, past = self.filter_gate.continued(x, past)
        return *self.gated(convolved, x, cond), past

    def gated(self, convolved: torch.Tensor, x: torch.Tensor, cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        filt, gate = (convolved + cond).chunk(2, dim=1)
        z = torch.tanh(filt) * torch.sigmoid(gate)
        return (x + self.residual(z)) * SQRT_HALF, z


class WaveNet(Vocoder):
    """Mel-conditioned WaveNet. forward: mel (N, n_mels, F), audio (N, F · hop) → (N, C, F · hop)."""

    family = "wavenet"
    # Sampling in mu-law mode on the CPU runs the compiled loop of kernel.py; False runs the torch loop there too (the
    # one CUDA runs), for comparing the two.
    compiled_cpu_loop = True
    reads_frame_sources = True  # stream's generations read the mel a window at a time (frame_windows.PaddedFrames)

    def __init__(self, config: WaveNetConfig, mel_config: MelConfig):
        super().__init__(config, mel_config)
        check_config(config)
        r, s = config.residual_channels, config.skip_channels
        n_layers = len(config.dilations)
        self.upsample = upsample_network(mel_config.n_mels, mel_config.hop_length, config.upsample)
        if config.input == "scalar":
            self.first_conv = nn.Conv1d(1, r, 1)
        elif config.autoregressive:
            self.embed = nn.Embedding(2**config.bits, r)
        else:  # the source features and noise of column t → its input (N, R, T)
            self.excitation = nn.Conv1d(EXCITATION_CHANNELS, r, 1)
        predicts = config.lpc_order > 0 and config.autoregressive
        self.predictor = LinearPredictor(mel_config, config.lpc_order) if predicts else None
        self.lpc_input = nn.Linear(2, r) if predicts else None  # [e_{t−1}, p_t] → added to the embedding
        # output "waveform": the excitation it outputs → the samples
        shapes = (config.lpc_order > 0 or config.mel_synthesis) and not config.autoregressive
        self.synthesis = SynthesisFilter(mel_config, config.lpc_order) if shapes else None
        # with it, the source's direct path into the excitation: [tone · v, noise · (1 − v), noise · v] → e
        self.direct = nn.Conv1d(len(DIRECT_START), 1, 1, bias=False) if shapes else None
        # every layer's V_l c in one 1×1 convolution: (N, n_mels + aux, T) → (N, layers · 2R, T)
        source = SOURCE_CHANNELS if config.pitch_conditioning else 0
        self.pitch_source = PitchSource(mel_config) if config.pitch_conditioning else None
        self.condition = nn.Conv1d(mel_config.n_mels + config.upsample.aux_channels + source, n_layers * 2 * r, 1)
        self.speaker = nn.Embedding(config.speakers, n_layers * 2 * r) if config.speakers > 0 else None
        self.layers = nn.ModuleList(
            ResidualLayer(r, config.kernel_size, d, config.dilated_conv) for d in config.dilations
        )
        # every layer's W_skip in one 1×1 convolution over the stacked gated activations, so skip = Σ_l W_skip,l z_l
        self.skip = nn.Conv1d(n_layers * r, s, 1)
        self.post = nn.Conv1d(s, s, 1)
        self.out = nn.Conv1d(s, config.output_channels, 1)
        scores_mel = config.output == "waveform" and config.waveform_loss == "mel"
        self.mel_loss = MelLoss(mel_config) if scores_mel else None
        passes = config.loss_envelope_passes  # check_config allows it with output "waveform" alone
        self.heard = EnvelopePasses(mel_config, passes) if passes else None
        if self.direct is not None:  # an untrained network outputs the source through the filter
            with torch.no_grad():
                self.direct.weight.copy_(torch.tensor(DIRECT_START).reshape(1, -1, 1))
                self.out.weight.zero_()
                self.out.bias.zero_()

    @property
    def receptive_field(self) -> int:
        """Samples of the past that column t sees (its own input included): of the audio when autoregressive, of the
        source and noise with output "waveform" (through the synthesis filter's taps too, when it has one)."""
        convolutions = (self.config.kernel_size - 1) * sum(self.config.dilations) + 1
        if self.config.autoregressive:
            return convolutions + self.config.lpc_order
        return convolutions + (self.synthesis.taps - 1 if self.synthesis is not None else 0)

    @property
    def min_frames(self) -> int:
        return self.upsample.min_frames

    def trace_step(self, mel: torch.Tensor, audio: torch.Tensor, t: int = 0) -> StepView:
        return trace.trace_step(self, mel, audio, t)

    def draws_with(self, sampling: Sampling) -> str:
        config = self.config
        mixtures = config.mixtures if config.output == "mol" else 0
        return describe_draws(
            mixtures,
            config.bits,
            config.lpc_order,
            sampling,
            waveform=not config.autoregressive,
            mel_synthesis=config.mel_synthesis,
        )

    def compiled_on(self, device: torch.device) -> bool:
        return self.compiled_cpu_loop and self.config.output == "mulaw" and device.type == "cpu"

    @property
    def own_sampling(self) -> Sampling:
        """The config's, without a temperature unless it draws mu-law classes."""
        own = own_sampling(self.config)
        return own if self.config.output == "mulaw" else dataclasses.replace(own, temperature=None)

    def grown_weights(self, source: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Growing from a WaveNet of fewer layers (more blocks; the same channels): the layers it had keep their
        conditioning rows (layers · 2R) and skip columns (layers · R); the added layers come after them, with
        their skip columns and residual convolutions zero, so they change nothing until training moves them.
        Given pitch conditioning, from one without it (the same layers): its conditioning weights with zero columns
        for the source features, so again the model first computes exactly what the checkpoint did."""
        fresh_condition, had_condition = self.state_dict()["condition.weight"], source.get("condition.weight")
        if (
            had_condition is not None
            and had_condition.shape[0] == fresh_condition.shape[0]
            and had_condition.shape[1] + SOURCE_CHANNELS == fresh_condition.shape[1]
        ):
            zeros = torch.zeros_like(fresh_condition[:, had_condition.shape[1] :])
            return {"condition.weight": torch.cat([had_condition, zeros], dim=1)}
        r = self.config.residual_channels
        had = sum(name.startswith("layers.") and name.endswith(".residual.weight") for name in source)
        if not 0 < had < len(self.layers) or source["skip.weight"].shape[0] != self.config.skip_channels:
            return {}
        fresh = self.state_dict()
        grown = {
            name: torch.cat([source[name], fresh[name][had * 2 * r :]])  # rows of layer l: [2Rl, 2R(l + 1))
            for name in ("condition.weight", "condition.bias")
        }
        if "speaker.weight" in source and "speaker.weight" in fresh:
            grown["speaker.weight"] = torch.cat(
                [source["speaker.weight"], fresh["speaker.weight"][:, had * 2 * r :]], 1
            )
        grown["skip.weight"] = torch.cat(
            [source["skip.weight"], torch.zeros_like(fresh["skip.weight"][:, had * r :])], 1
        )
        for layer in range(had, len(self.layers)):
            for name in (f"layers.{layer}.residual.weight", f"layers.{layer}.residual.bias"):
                grown[name] = torch.zeros_like(fresh[name])
        return grown

    def conditioning(
        self, mel_up: torch.Tensor, aux: torch.Tensor, speaker: torch.Tensor | None, source: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Every layer's V_l c + U_l s. mel_up (N, T, n_mels), aux (N, T, aux), speaker (N,) or None, and with pitch
        conditioning the source features (N, T, SOURCE_CHANNELS) → (N, layers · 2R, T)."""
        inputs = [mel_up, aux] if source is None else [mel_up, aux, source.to(mel_up.dtype)]
        cond = self.condition(torch.cat(inputs, dim=-1).transpose(1, 2))
        if self.speaker is not None:
            if speaker is None:
                raise ConfigError(f"this WaveNet is conditioned on {self.config.speakers} speakers: pass speaker ids.")
            cond = cond + self.speaker(speaker).unsqueeze(-1)
        return cond

    def lpc_features(self, mel: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        """With linear prediction: column t's [e_{t−1}, p_t], mu-law compressed (N, T, 2) (silence before t = 0)."""
        prediction, excitation = self.predictor.split(mel, audio)
        compressed = mulaw_compress(torch.stack([F.pad(excitation, (1, -1)), prediction], dim=-1), self.config.bits)
        return compressed.float()

    def previous_inputs(self, audio: torch.Tensor) -> torch.Tensor:
        """audio (N, T) → what column t is fed (N, T): the mu-law class of audio[:, t − 1], or with input "scalar"
        the sample itself (0 at t = 0)."""
        if self.config.input == "scalar":
            return F.pad(audio, (1, -1))
        return previous_classes(audio, self.config.bits)

    def stack(self, inputs: torch.Tensor, cond: torch.Tensor, lpc_features: torch.Tensor | None = None) -> torch.Tensor:
        """The network on given inputs (`previous_inputs`). inputs (N, T) long classes, or float samples with input
        "scalar"; cond (N, layers · 2R, T), and with linear prediction `lpc_features` (N, T, 2) → (N, C, T)."""
        if self.config.input == "scalar":
            return self.layers_and_output(self.first_conv(inputs.unsqueeze(1)), cond)[0]
        x = self.embed(inputs)
        if lpc_features is not None:
            x = x + self.lpc_input(lpc_features)
        return self.layers_and_output(x.transpose(1, 2), cond)[0]

    def layers_and_output(
        self, x: torch.Tensor, cond: torch.Tensor, pasts: list[torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, list[torch.Tensor] | None]:
        """Every residual layer, the skip sum and the output: x (N, R, T) the first layer's input, cond
        (N, layers · 2R, T) → (N, C, T). Given `pasts` (each layer's last (k − 1) · d inputs, see
        ResidualLayer.continued), the block continues from them, and the next block's pasts come back too."""
        layer_conds = cond.chunk(len(self.layers), dim=1)
        gated, next_pasts = [], []
        for l, (layer, layer_cond) in enumerate(zip(self.layers, layer_conds)):
            if pasts is None:
                x, z = layer(x, layer_cond)
            else:
                x, z, past = layer.continued(x, layer_cond, pasts[l])
                next_pasts.append(past)
            gated.append(z)
        skip = self.skip(torch.cat(gated, dim=1))
        return self.out(F.relu(self.post(F.relu(skip)))), (next_pasts if pasts is not None else None)

    def excitation_input(self, source: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Output "waveform": source (N, T, SOURCE_CHANNELS), noise (N, T) → the first layer's input (N, R, T)."""
        return self.excitation(torch.cat([source, noise.unsqueeze(-1).to(source.dtype)], dim=-1).transpose(1, 2))

    def waveform_output(
        self, source: torch.Tensor, noise: torch.Tensor, cond: torch.Tensor, pasts: list[torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, list[torch.Tensor] | None]:
        """Output "waveform": source (N, T, SOURCE_CHANNELS), noise (N, T), cond (N, layers · 2R, T) → the layers'
        output (N, 1, T), plus the source's direct path when a synthesis filter follows (the excitation), and the
        next block's pasts as `layers_and_output` gives them."""
        output, next_pasts = self.layers_and_output(self.excitation_input(source, noise), cond, pasts)
        if self.direct is None:
            return output, next_pasts
        voicing, noise = source[..., VOICING_CHANNEL], noise.to(source.dtype)
        mix = torch.stack([source[..., TONE_CHANNEL], noise * (1.0 - voicing), noise * voicing], dim=1)  # (N, 3, T)
        return output + self.direct(mix), next_pasts

    def forward(
        self,
        mel: torch.Tensor,
        audio: torch.Tensor,
        speaker: torch.Tensor | None = None,
        noise: torch.Tensor | None = None,
        pitch: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """mel (N, n_mels, F), audio (N, F · hop) in [-1, 1], speaker (N,) or None → output (N, C, F · hop). With
        pitch conditioning, `pitch` rows (N, PITCH_ROWS, F) replace the pitch read from the mel (training only).

        Column t is computed from audio[:, t − receptive_field : t] and the mel: mu-law logits (C = 2^bits)
        or mixture parameters (C = 3·M). With output "waveform" the audio only gives the length: column t is the
        sample (C = 1) made from the mel and the source and `noise` (N, F · hop; standard normal drawn when None)
        of columns t − receptive_field + 1 … t; with a synthesis filter, the network's excitation through it.
        """
        expected = mel.shape[-1] * self.hop_length
        if audio.shape[-1] != expected:
            raise InputError(
                "audio",
                f"{audio.shape[-1]} samples for {mel.shape[-1]} mel frames",
                f"frames · hop_length = {expected} samples",
                "Trim or pad the audio to a whole number of hops.",
            )
        mel_up, aux = self.upsample(mel)
        source = self.source(mel, pitch)
        cond = self.conditioning(mel_up, aux, speaker, source)
        if not self.config.autoregressive:
            noise = torch.randn_like(audio) if noise is None else noise
            output = self.waveform_output(source, noise, cond)[0]
            return output if self.synthesis is None else self.synthesis.synthesised(output[:, 0], mel)[:, None]
        lpc_features = None if self.predictor is None else self.lpc_features(mel, audio)
        return self.stack(self.previous_inputs(audio), cond, lpc_features)

    def training_target(self, mel: torch.Tensor, audio: torch.Tensor, fed: torch.Tensor | None = None) -> torch.Tensor:
        """The values the output is scored against (N, F·hop): the audio, or with linear prediction its excitation
        (from the predictions made from `fed`, when training feeds a noisy past; see Vocoder.training_target)."""
        return audio if self.predictor is None else self.predictor.split(mel, audio, fed)[1].float()

    def scored_output(self, output: torch.Tensor, mel: torch.Tensor) -> torch.Tensor:
        """With `loss_envelope_passes`, the output (N, 1, F · hop) after those passes over the mel (N, n_mels, F)."""
        return output if self.heard is None else self.heard(output[:, 0], mel)[:, None]

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """output (N, C, T) from `forward`, `training_target` (N, T) → cross-entropy on mu-law classes, MoL NLL, or
        the "waveform" output's multi-resolution STFT loss (T > 128) or log-mel distance (`waveform_loss`)."""
        if self.config.output == "mulaw":
            return F.cross_entropy(output, mulaw_classes(target, self.config.bits))
        if self.config.output == "waveform":
            return spectral_loss(output[:, 0], target) if self.mel_loss is None else self.mel_loss(output[:, 0], target)
        return -mixture_log_prob(output, target, self.config.mol_bits, self.config.log_scale_min).mean()

    def stream(
        self,
        mel: torch.Tensor,
        *,
        block_frames: int | Iterator[int] = 2,
        teacher: torch.Tensor | None = None,
        return_logits: bool = False,
        generator: torch.Generator | None = None,
        sampling: Sampling | None = None,
        speaker: torch.Tensor | None = None,
    ) -> Iterator[StreamBlock]:
        """Fast WaveNet generation; see `Vocoder.stream`. mel (N, n_mels, F), teacher (N, F · hop) or None (with
        output "waveform" nothing is fed back, so a teacher changes nothing; the "logits" are the samples (N, 1, n))."""
        frames = mel.shape[-1]
        if teacher is not None and tuple(teacher.shape) != (mel.shape[0], frames * self.hop_length):
            raise InputError(
                "teacher",
                f"samples of shape {tuple(teacher.shape)} for {mel.shape[0]} × {frames} mel frames",
                f"({mel.shape[0]}, {frames * self.hop_length})",
                "Pass one row of frames · hop_length samples per mel.",
            )
        temperature = self.sampling(sampling).temperature
        with torch.inference_mode():
            generation = (
                IncrementalGeneration(self, mel, speaker, temperature)
                if self.config.autoregressive
                else BlockGeneration(self, mel, speaker)
            )
        for start, stop in block_ranges(frames, block_frames):
            # inference mode only around the work, never across a yield, so the caller's grad mode is untouched
            with torch.inference_mode():
                block = generation.block(start, stop, teacher, return_logits, generator)
            yield block
