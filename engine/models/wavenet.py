"""WaveNet (van den Oord et al. 2016) as a mel-conditioned vocoder, with Fast WaveNet generation.

Per layer l (dilation d_l, kernel size k), on the residual stream x (N, R, T):
    a = W_l ⊛_d x + V_l c + U_l s            one causal dilated conv gives filter and gate together
    z = tanh(a_filter) ⊙ σ(a_gate)
    x ← (x + W_res z) · √½,   skip ← skip + W_skip z
c is the local conditioning (the mel through the shared `UpsampleNetwork`), s the optional speaker embedding.
Output: ReLU → 1×1 → ReLU → 1×1 on the skip sum: 2^bits mu-law logits ("mulaw") or the 3·M parameters of a
discretized mixture of logistics ("mol").

Input coding: column t is fed the mu-law class (2^bits classes) of the previous sample, audio[:, t − 1]
(silence at t = 0), through an embedding table (a one-hot input times a 1×1 convolution). So column t depends
only on audio[:, :t], and on audio[:, t − receptive_field : t] only.

With linear prediction (`lpc_order` p > 0, "mulaw" output; engine/models/linear_prediction.py, as in LPCNet)
the mel's all-pole envelope predicts each sample, p_t = −Σ a_k x_{t−k}; the softmax is over the excitation
e_t = x_t − p_t, the sample is x_t = p_t + e_t, and column t's input adds a linear map of [e_{t−1}, p_t] (mu-law
compressed) to the embedding. The sampling noise then follows the speech's envelope instead of being white.
Through p_t and e_{t−1}, column t also sees the p samples before that span; `receptive_field` counts them.

Generation keeps, per layer, a ring buffer of its last (k − 1) · d inputs (Paine et al. 2016, "Fast WaveNet"),
so one sample costs O(layers) small matrix products instead of a pass over the receptive field. On the CPU in
"mulaw" mode those steps run compiled (engine/models/wavenet_kernel.py: the same arithmetic and draws, about 30×
faster for the bundled model, whose torch loop spends nearly all its time dispatching small ops).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from engine.errors import ConfigError, InputError
from engine.features import MelConfig
from engine.models.base import StreamBlock, Vocoder, block_ranges, config_from_dict
from engine.models.coding import MulawSampler, describe_draws, mulaw_classes, mulaw_compress
from engine.models.dilated import IMPLEMENTATIONS, CausalConv1d, make_causal_conv
from engine.models.frame_windows import FrameWindows
from engine.models.linear_prediction import LinearPredictor, excited_sample, next_prediction, pushed
from engine.models.mixture import MixtureSampler, mixture_log_prob
from engine.models.upsample import UpsampleConfig, UpsampleNetwork

SQRT_HALF = math.sqrt(0.5)
OUTPUTS = ("mulaw", "mol")


@dataclass
class WaveNetConfig:
    """A WaveNet: `blocks` × `layers` residual layers with dilation dilation_base^layer.

    bits: mu-law classes 2^bits of the input coding, and of the output when output == "mulaw".
    mixtures, mol_bits: the logistic mixture size and the sample grid (2^mol_bits levels) when output == "mol".
    speakers: size of the global-conditioning table (0: no speaker conditioning).
    lpc_order: 0, or the order of the linear prediction from the mel (output "mulaw" only).
    temperature: mu-law classes are drawn from softmax(logits / temperature) (below 1 favours the likelier ones).
    pitch_postfilter: 0, or the strength of the pitch post-filter that generation applies to the output
        (engine/postfilter.py; the bundled model's was chosen on training recordings, like its temperature).
    envelope_postfilter: 0, or the strength (up to 1) of the mel-envelope post-filter applied after it
        (engine/envelope.py).
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
    speakers: int = 0
    dilated_conv: str = "conv1d"
    lpc_order: int = 0
    temperature: float = 1.0
    pitch_postfilter: float = 0.0
    envelope_postfilter: float = 0.0
    upsample: UpsampleConfig = field(default_factory=lambda: UpsampleConfig(resnet_channels=64, aux_channels=32))

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "WaveNetConfig":
        return config_from_dict(cls, values)

    @property
    def dilations(self) -> tuple[int, ...]:
        return tuple(self.dilation_base**layer for layer in range(self.layers)) * self.blocks

    @property
    def output_channels(self) -> int:
        return 2**self.bits if self.output == "mulaw" else 3 * self.mixtures


def check_config(config: WaveNetConfig) -> None:
    """Raise `ConfigError` for a configuration that cannot be built."""
    problems = []
    if config.kernel_size < 2:
        problems.append(f"kernel_size is {config.kernel_size}; a causal dilated convolution needs 2 or more")
    if config.blocks < 1 or config.layers < 1 or config.dilation_base < 1:
        problems.append(f"blocks={config.blocks}, layers={config.layers}, dilation_base={config.dilation_base}; each must be 1 or more")
    if config.output not in OUTPUTS:
        problems.append(f"output is {config.output!r}; expected one of {OUTPUTS}")
    if config.dilated_conv not in IMPLEMENTATIONS:
        problems.append(f"dilated_conv is {config.dilated_conv!r}; expected one of {IMPLEMENTATIONS}")
    if config.lpc_order < 0 or (config.lpc_order and config.output != "mulaw"):
        problems.append(f"lpc_order is {config.lpc_order} with output {config.output!r}; it must be 0, or more than 0 "
                        'with output "mulaw" (linear prediction draws a mu-law excitation)')
    if not config.temperature > 0:
        problems.append(f"temperature is {config.temperature}; it must be more than 0")
    if not 0 <= config.pitch_postfilter <= 4:
        problems.append(f"pitch_postfilter is {config.pitch_postfilter}; it must be 0 (off) to 4")
    if not 0 <= config.envelope_postfilter <= 1:
        problems.append(f"envelope_postfilter is {config.envelope_postfilter}; it must be 0 (off) to 1")
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
        filt, gate = (self.filter_gate(x) + cond).chunk(2, dim=1)
        z = torch.tanh(filt) * torch.sigmoid(gate)
        return (x + self.residual(z)) * SQRT_HALF, z


class WaveNet(Vocoder):
    """Mel-conditioned WaveNet. forward: mel (N, n_mels, F), audio (N, F · hop) → (N, C, F · hop)."""

    family = "wavenet"
    # Sampling in mu-law mode on the CPU runs the compiled loop of engine/models/wavenet_kernel.py; False runs the
    # torch loop there too (the one CUDA runs), for comparing the two.
    compiled_cpu_loop = True

    def __init__(self, config: WaveNetConfig, mel_config: MelConfig):
        super().__init__(config, mel_config)
        check_config(config)
        r, s = config.residual_channels, config.skip_channels
        n_layers = len(config.dilations)
        self.upsample = UpsampleNetwork(mel_config.n_mels, mel_config.hop_length, config.upsample)
        self.embed = nn.Embedding(2**config.bits, r)
        self.predictor = LinearPredictor(mel_config, config.lpc_order) if config.lpc_order else None
        self.lpc_input = nn.Linear(2, r) if config.lpc_order else None  # [e_{t−1}, p_t] → added to the embedding
        # every layer's V_l c in one 1×1 convolution: (N, n_mels + aux, T) → (N, layers · 2R, T)
        self.condition = nn.Conv1d(mel_config.n_mels + config.upsample.aux_channels, n_layers * 2 * r, 1)
        self.speaker = nn.Embedding(config.speakers, n_layers * 2 * r) if config.speakers > 0 else None
        self.layers = nn.ModuleList(ResidualLayer(r, config.kernel_size, d, config.dilated_conv) for d in config.dilations)
        # every layer's W_skip in one 1×1 convolution over the stacked gated activations, so skip = Σ_l W_skip,l z_l
        self.skip = nn.Conv1d(n_layers * r, s, 1)
        self.post = nn.Conv1d(s, s, 1)
        self.out = nn.Conv1d(s, config.output_channels, 1)

    @property
    def receptive_field(self) -> int:
        return (self.config.kernel_size - 1) * sum(self.config.dilations) + 1 + self.config.lpc_order

    @property
    def min_frames(self) -> int:
        return self.upsample.min_frames

    @property
    def draws(self) -> str:
        config = self.config
        mixtures = config.mixtures if config.output == "mol" else 0
        return describe_draws(mixtures, config.bits, config.lpc_order, config.temperature, config.pitch_postfilter,
                              config.envelope_postfilter)

    def compiled_on(self, device: torch.device) -> bool:
        return self.compiled_cpu_loop and self.config.output == "mulaw" and device.type == "cpu"

    @property
    def temperature(self) -> float | None:
        config = self.config
        return config.temperature if config.output == "mulaw" else None

    def grown_weights(self, source: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Growing from a WaveNet of fewer layers (more blocks; the same channels): the layers it had keep their
        conditioning rows (layers · 2R) and skip columns (layers · R); the added layers come after them, with
        their skip columns and residual convolutions zero, so they change nothing until training moves them."""
        r = self.config.residual_channels
        had = sum(name.startswith("layers.") and name.endswith(".residual.weight") for name in source)
        if not 0 < had < len(self.layers) or source["skip.weight"].shape[0] != self.config.skip_channels:
            return {}
        fresh = self.state_dict()
        grown = {name: torch.cat([source[name], fresh[name][had * 2 * r:]])  # rows of layer l: [2Rl, 2R(l + 1))
                 for name in ("condition.weight", "condition.bias")}
        if "speaker.weight" in source and "speaker.weight" in fresh:
            grown["speaker.weight"] = torch.cat([source["speaker.weight"], fresh["speaker.weight"][:, had * 2 * r:]], 1)
        grown["skip.weight"] = torch.cat([source["skip.weight"], torch.zeros_like(fresh["skip.weight"][:, had * r:])], 1)
        for layer in range(had, len(self.layers)):
            for name in (f"layers.{layer}.residual.weight", f"layers.{layer}.residual.bias"):
                grown[name] = torch.zeros_like(fresh[name])
        return grown

    def conditioning(self, mel_up: torch.Tensor, aux: torch.Tensor, speaker: torch.Tensor | None) -> torch.Tensor:
        """Every layer's V_l c + U_l s. mel_up (N, T, n_mels), aux (N, T, aux), speaker (N,) or None → (N, layers · 2R, T)."""
        cond = self.condition(torch.cat([mel_up, aux], dim=-1).transpose(1, 2))
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

    def stack(self, inputs: torch.Tensor, cond: torch.Tensor, lpc_features: torch.Tensor | None = None) -> torch.Tensor:
        """The network on given input classes. inputs (N, T) long, cond (N, layers · 2R, T), and with linear
        prediction `lpc_features` (N, T, 2) → (N, C, T)."""
        x = self.embed(inputs)
        if lpc_features is not None:
            x = x + self.lpc_input(lpc_features)
        x = x.transpose(1, 2)
        layer_conds = cond.chunk(len(self.layers), dim=1)
        gated = []
        for layer, layer_cond in zip(self.layers, layer_conds):
            x, z = layer(x, layer_cond)
            gated.append(z)
        skip = self.skip(torch.cat(gated, dim=1))
        return self.out(F.relu(self.post(F.relu(skip))))

    def forward(self, mel: torch.Tensor, audio: torch.Tensor, speaker: torch.Tensor | None = None) -> torch.Tensor:
        """mel (N, n_mels, F), audio (N, F · hop) in [-1, 1], speaker (N,) or None → output (N, C, F · hop).

        Column t is computed from audio[:, t − receptive_field : t] and the mel: mu-law logits (C = 2^bits)
        or mixture parameters (C = 3·M).
        """
        expected = mel.shape[-1] * self.hop_length
        if audio.shape[-1] != expected:
            raise InputError(
                "audio", f"{audio.shape[-1]} samples for {mel.shape[-1]} mel frames",
                f"frames · hop_length = {expected} samples", "Trim or pad the audio to a whole number of hops.",
            )
        mel_up, aux = self.upsample(mel)
        lpc_features = None if self.predictor is None else self.lpc_features(mel, audio)
        return self.stack(previous_classes(audio, self.config.bits), self.conditioning(mel_up, aux, speaker), lpc_features)

    def training_target(self, mel: torch.Tensor, audio: torch.Tensor, fed: torch.Tensor | None = None) -> torch.Tensor:
        """The values the output is scored against (N, F·hop): the audio, or with linear prediction its excitation
        (from the predictions made from `fed`, when training feeds a noisy past; see Vocoder.training_target)."""
        return audio if self.predictor is None else self.predictor.split(mel, audio, fed)[1].float()

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """output (N, C, T) from `forward`, `training_target` (N, T) → cross-entropy on mu-law classes, or MoL NLL."""
        if self.config.output == "mulaw":
            return F.cross_entropy(output, mulaw_classes(target, self.config.bits))
        return -mixture_log_prob(output, target, self.config.mol_bits).mean()

    def stream(
        self,
        mel: torch.Tensor,
        *,
        block_frames: int | Iterator[int] = 2,
        teacher: torch.Tensor | None = None,
        return_logits: bool = False,
        generator: torch.Generator | None = None,
        speaker: torch.Tensor | None = None,
    ) -> Iterator[StreamBlock]:
        """Fast WaveNet generation; see `Vocoder.stream`. mel (N, n_mels, F), teacher (N, F · hop) or None."""
        frames = mel.shape[-1]
        if teacher is not None and tuple(teacher.shape) != (mel.shape[0], frames * self.hop_length):
            raise InputError(
                "teacher", f"samples of shape {tuple(teacher.shape)} for {mel.shape[0]} × {frames} mel frames",
                f"({mel.shape[0]}, {frames * self.hop_length})", "Pass one row of frames · hop_length samples per mel.",
            )
        with torch.inference_mode():
            generation = IncrementalGeneration(self, mel, speaker)
        for start, stop in block_ranges(frames, block_frames):
            # inference mode only around the work, never across a yield, so the caller's grad mode is untouched
            with torch.inference_mode():
                block = generation.block(start, stop, teacher, return_logits, generator)
            yield block


class IncrementalGeneration:
    """The state of one Fast WaveNet generation: ring buffers, the weights as matrices, the padded mel.

    Layer l keeps its last (k − 1) · d_l inputs in ring[l] ((k − 1) · d_l, N, R); the input of step t goes to
    slot t mod (k − 1) · d_l after the taps t − d_l, …, t − (k − 1) · d_l were read (the oldest slot is free).
    The torch loop keeps one tensor per layer (`rings`); the compiled loop all of them in one array (`ring`).
    """

    def __init__(self, model: WaveNet, mel: torch.Tensor, speaker: torch.Tensor | None):
        config = model.config
        self.model = model
        self.speaker = speaker
        self.batch = mel.shape[0]
        self.hop = model.hop_length
        self.padded_mel = model.upsample.pad_mel(mel)
        self.windows = FrameWindows(self._block_inputs, mel.shape[-1], model.hop_length, mel.shape[0])
        self.kernel_size = config.kernel_size
        self.step = 0
        r = config.residual_channels
        self.embed = model.embed.weight
        self.dilations = [layer.dilation for layer in model.layers]
        # filter_gate weight (2R, R, k) → (k · R, 2R): rows of tap j multiply the input at t − (k − 1 − j) · d
        self.filter_gate = [layer.filter_gate.weight.permute(2, 1, 0).reshape(-1, 2 * r).contiguous() for layer in model.layers]
        self.filter_gate_bias = torch.cat([layer.filter_gate.bias for layer in model.layers])
        self.residual = [layer.residual.weight.squeeze(-1).t().contiguous() for layer in model.layers]
        self.residual_bias = [layer.residual.bias for layer in model.layers]
        self.skip = model.skip.weight.squeeze(-1).t().contiguous()
        self.skip_bias = model.skip.bias
        self.post = model.post.weight.squeeze(-1).t().contiguous()
        self.post_bias = model.post.bias
        self.out = model.out.weight.squeeze(-1).t().contiguous()
        self.out_bias = model.out.bias
        self.queue_sizes = [(self.kernel_size - 1) * d for d in self.dilations]
        self.previous = previous_classes(torch.zeros(self.batch, 1), config.bits)[:, 0]
        self.predictor = model.predictor
        if self.predictor is not None:  # the last p samples, oldest first, and e_{t−1} mu-law compressed
            self.history = torch.zeros(self.batch, config.lpc_order, dtype=torch.float64)
            self.previous_excitation = torch.zeros(self.batch, 1)
            self.lpc_input = model.lpc_input.weight.t().contiguous()
            self.lpc_input_bias = model.lpc_input.bias
        self.sampler = MulawSampler(config.bits, config.temperature) if config.output == "mulaw" else MixtureSampler()
        self.compiled = model.compiled_on(mel.device)
        if self.compiled:
            self._compiled_state()
        else:
            self.rings = [torch.zeros(size, self.batch, r, dtype=self.embed.dtype) for size in self.queue_sizes]

    def _compiled_state(self) -> None:
        """The weights and queues as `wavenet_kernel.run_block` takes them: float32 numpy, matrices as (out, in) but for
        the columns of the two prediction inputs, one ring for all layers."""
        def array(tensor: torch.Tensor) -> np.ndarray:
            return np.ascontiguousarray(tensor.detach().float().numpy())

        sizes = self.queue_sizes
        self.kernel_weights = (
            array(self.embed), array(torch.stack(self.filter_gate).transpose(1, 2)),
            array(torch.stack(self.residual).transpose(1, 2)), array(torch.stack(self.residual_bias)),
            array(self.skip.t()), array(self.skip_bias), array(self.post.t()), array(self.post_bias), array(self.out.t()),
            array(self.out_bias), np.array(self.dilations, dtype=np.int64), np.cumsum([0] + sizes[:-1]).astype(np.int64),
        )
        lpc = self.predictor is not None
        no_lpc_input = (np.zeros((0, 0), np.float32), np.zeros(0, np.float32))
        self.kernel_lpc_input = (array(self.lpc_input), array(self.lpc_input_bias)) if lpc else no_lpc_input
        self.ring = np.zeros((sum(sizes), self.batch, self.model.config.residual_channels), dtype=np.float32)
        self.kernel_step = np.zeros(1, dtype=np.int64)
        self.kernel_previous = self.previous.numpy().astype(np.int64)
        self.kernel_history = self.history.numpy().copy() if lpc else np.zeros((self.batch, 0))
        self.kernel_excitation = self.previous_excitation[:, 0].numpy().copy() if lpc else np.zeros(0, np.float32)

    def block(
        self, start: int, stop: int, teacher: torch.Tensor | None, return_logits: bool, generator: torch.Generator | None
    ) -> StreamBlock:
        """Generate the samples of mel frames [start, stop): (N, (stop − start) · hop)."""
        config = self.model.config
        cond, *lpc_weights = self.windows.get(start, stop)
        lpc_weights = lpc_weights[0] if lpc_weights else None
        n = cond.shape[0]
        first = self.step
        teacher_classes = teacher_samples = None
        if teacher is not None:
            teacher_samples = teacher[:, first : first + n].t().contiguous()
            teacher_classes = mulaw_classes(teacher_samples, config.bits)
        noise = self.sampler.noise(n, self.batch, generator, cond.device)
        if self.compiled:
            return self._compiled_block(cond, noise, teacher_classes, teacher_samples, lpc_weights, return_logits)
        logits = torch.empty(n, self.batch, config.output_channels) if return_logits else None
        drawn = []
        for i in range(n):
            if lpc_weights is None:
                output = self._step(cond[i], self.embed[self.previous])
                drawn.append(self.sampler.draw(output, noise[i]))
                self.previous = teacher_classes[i] if teacher_classes is not None else self._input_classes(drawn[-1])
            else:
                prediction = next_prediction(self.history, lpc_weights[i])
                features = torch.cat([self.previous_excitation, mulaw_compress(prediction, config.bits).float()], 1)
                output = self._step(cond[i], torch.addmm(self.lpc_input_bias, features, self.lpc_input)
                                    .add_(self.embed[self.previous]))
                drawn.append(self._lpc_sample(output, noise[i], prediction, teacher_samples, i))
            if logits is not None:
                logits[i] = output
        samples = torch.cat(drawn, dim=1)
        return StreamBlock(
            samples=samples if lpc_weights is not None else self.sampler.to_audio(samples),
            logits=logits.permute(1, 2, 0).contiguous() if logits is not None else None,
        )

    def _block_inputs(self, start: int, stop: int) -> tuple[torch.Tensor, ...]:
        """Frames [start, stop): every layer's conditioning, time-major (n, layers, N, 2R) with the conv biases
        folded in so that each step only indexes it; with linear prediction also the steps' weights (n, N, p)."""
        model = self.model
        mel_up, aux = model.upsample.upsample_range(self.padded_mel, start, stop)
        cond = model.conditioning(mel_up, aux, self.speaker) + self.filter_gate_bias.unsqueeze(-1)
        cond = cond.view(self.batch, len(self.dilations), -1, cond.shape[-1]).permute(3, 1, 0, 2).contiguous()
        if self.predictor is None:
            return (cond,)
        return cond, self.predictor.step_weights(model.upsample.unpadded(self.padded_mel, start, stop))

    def _lpc_sample(self, output, uniform, prediction, teacher_samples, i) -> torch.Tensor:
        """Draw e_t and return x_t = p_t + e_t (N, 1) float32; feed it back (or the teacher's x_t) as the next inputs."""
        bits = self.model.config.bits
        sample = excited_sample(prediction, self.sampler.draw(output, uniform), bits)
        fed = (sample if teacher_samples is None else teacher_samples[i].unsqueeze(1)).double()
        self.previous = mulaw_classes(fed[:, 0], bits)
        self.previous_excitation = mulaw_compress(fed - prediction, bits).float()
        self.history = pushed(self.history, fed)
        return sample

    def _compiled_block(self, cond, noise, teacher_classes, teacher_samples, lpc_weights, return_logits) -> StreamBlock:
        """`block`'s loop on the CPU in mu-law mode, by `wavenet_kernel.run_block` (same inputs, same draws)."""
        from engine.models import wavenet_kernel

        config, n = self.model.config, cond.shape[0]
        samples = np.empty((n, self.batch), dtype=np.float32)
        logits = np.empty((n, self.batch, config.output_channels) if return_logits else (0, 0, 0), dtype=np.float32)
        teacher = np.empty((0, 0), np.int64) if teacher_classes is None else teacher_classes.numpy()
        taught = np.empty((0, 0), np.float32) if teacher_samples is None else teacher_samples.float().numpy()
        step_weights = np.empty((0, 0, 0)) if lpc_weights is None else lpc_weights.contiguous().numpy()
        uniforms = torch.stack(noise).reshape(n, self.batch).numpy()
        wavenet_kernel.run_block(cond.float().numpy(), uniforms, teacher, taught, step_weights, config.bits,
                                 config.temperature, *self.kernel_weights, *self.kernel_lpc_input, self.ring, self.kernel_step,
                                 self.kernel_previous, self.kernel_history, self.kernel_excitation, samples, logits)
        self.step += n
        return StreamBlock(
            samples=torch.from_numpy(samples).t().contiguous(),
            logits=torch.from_numpy(logits).permute(1, 2, 0).contiguous() if return_logits else None,
        )

    def _input_classes(self, drawn: torch.Tensor) -> torch.Tensor:
        """A step's draw (N, 1), a class or (mixture output) a sample → the next step's input classes (N,)."""
        if self.model.config.output == "mulaw":
            return drawn[:, 0]
        return mulaw_classes(drawn[:, 0], self.model.config.bits)

    def _step(self, cond: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """One sample through every layer. cond (layers, N, 2R), x the input column (N, R) → output (N, C)."""
        t = self.step
        gated = []
        last = len(self.rings) - 1
        for l, (ring, d) in enumerate(zip(self.rings, self.dilations)):
            size = ring.shape[0]
            taps = [ring[(t - m * d) % size] for m in range(self.kernel_size - 1, 0, -1)]
            taps.append(x)
            filt, gate = torch.addmm(cond[l], torch.cat(taps, dim=1), self.filter_gate[l]).chunk(2, dim=1)
            z = torch.tanh(filt).mul_(torch.sigmoid(gate))
            gated.append(z)
            ring[t % size] = x
            if l != last:  # the last layer's residual output feeds nothing
                x = torch.addmm(self.residual_bias[l], z, self.residual[l], beta=SQRT_HALF, alpha=SQRT_HALF).add_(x, alpha=SQRT_HALF)
        skip = torch.addmm(self.skip_bias, torch.cat(gated, dim=1), self.skip).relu_()
        hidden = torch.addmm(self.post_bias, skip, self.post).relu_()
        self.step = t + 1
        return torch.addmm(self.out_bias, hidden, self.out)
