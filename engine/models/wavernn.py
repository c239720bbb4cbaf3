"""WaveRNN with one output layer (fatchord's widely used variant).

    x_in = I([x_{t−1}, mel_up_t, aux¹_t])
    h¹_t = GRU₁(x_in, h¹_{t−1});            z¹ = x_in + h¹_t                  (residual)
    h²_t = GRU₂([z¹, aux²_t], h²_{t−1});    z² = z¹ + h²_t                    (residual)
    y = relu(fc₂([relu(fc₁([z², aux³_t])), aux⁴_t]));   out_t = fc₃(y)

`out_t` is a softmax over 2^bits mu-law classes (mode "mulaw") or the parameters of a discretised mixture of
logistics over 16-bit values (mode "mol"). aux¹..aux⁴ are four equal slices of the upsampling network's aux
features. In "mulaw" mode the previous sample enters mu-law compressed (the domain the classes live in).

With linear prediction (`lpc_order` p > 0, "mulaw" mode; engine/models/linear_prediction.py, as in LPCNet) the
mel's all-pole envelope predicts each sample from the p before it, p_t = −Σ a_k x_{t−k}; the softmax is over
the excitation e_t = x_t − p_t, the sample is x_t = p_t + e_t, and I is fed [x_{t−1}, e_{t−1}, p_t] (each mu-law
compressed) instead of x_{t−1}. The sampling noise then follows the speech's envelope instead of being white.

The model is recurrent, so its receptive field is unbounded; `receptive_field` reports 0 for that.

Streaming runs the GRUs one sample at a time as cells (`gru_step`) on the GRUs' own parameters; separate
`nn.GRUCell`s sharing them would store every GRU weight twice in a checkpoint, which safetensors refuses.
Everything that does not depend on the previous sample (the conditioning's share of I and of both GRUs'
inputs, of fc₁ and fc₂, and the sampling noise) is computed for a whole block in a few matrix products, so
the per-sample loop is a few dozen small ops. On the CPU in "mulaw" mode that loop runs compiled instead
(engine/models/wavernn_kernel.py: the same arithmetic and draws, about 4× faster for the default model).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from engine.devices import cpu_cores
from engine.errors import ConfigError, InputError
from engine.features import MelConfig
from engine.models.base import StreamBlock, Vocoder, block_ranges, config_from_dict
from engine.models.coding import MulawSampler, describe_draws, mulaw_classes, mulaw_compress
from engine.models.frame_windows import FrameWindows
from engine.models.linear_prediction import LinearPredictor, excited_sample, next_prediction, pushed
from engine.models.mel_guide import guided_stream
from engine.models.mixture import LOG_SCALE_MIN, MixtureSampler, mixture_log_prob
from engine.models.upsample import UpsampleConfig, UpsampleNetwork, check_factors

MIXTURE_BITS = 16  # "mol" mode models 16-bit samples


def check_model_input(model: Vocoder, mel: torch.Tensor, audio: torch.Tensor | None = None) -> None:
    """Raise `InputError` unless mel is (N, n_mels, F ≥ min_frames) floats and audio, if given, (N, F·hop)."""
    n_mels, hop, min_frames = model.mel_config.n_mels, model.hop_length, model.min_frames
    if mel.dim() != 3 or mel.shape[1] != n_mels or not mel.is_floating_point():
        raise InputError(
            "mel", f"a {mel.dtype} tensor of shape {tuple(mel.shape)}", f"floats of shape (N, {n_mels}, frames)",
            f"Compute the mel with this model's MelConfig (n_mels={n_mels}) and add a batch axis.",
        )
    if mel.shape[2] < min_frames:
        raise InputError("mel", f"{mel.shape[2]} frames", f"at least {min_frames} frames", "Use a longer input.")
    if audio is not None and tuple(audio.shape) != (mel.shape[0], mel.shape[2] * hop):
        raise InputError(
            "audio", f"shape {tuple(audio.shape)}", f"(N, frames · hop) = ({mel.shape[0]}, {mel.shape[2] * hop})",
            f"Cut or pad the audio to frames × {hop} samples, or check the hop length and sample rate.",
        )


class RecurrentVocoder(Vocoder):
    """What both WaveRNNs share: an unbounded receptive field, the `upsample` network, and streaming block by block.

    A subclass sets `self.upsample` and provides `_stream_start(mel, teacher) -> (state, fed)`, where fed holds the
    teacher's samples as the network's inputs (N, T, …) or is None, and `_stream_block(padded, start, stop, state,
    fed, return_logits, generator) -> StreamBlock`, which runs frames [start, stop) with fed cut to those samples,
    feeds step t the sample t − 1 (the state's previous sample at t = 0) and leaves the last one in the state.

    Warm-up. Sampling (no teacher) first runs the recurrence over WARMUP_FRAMES frames of silence, under the first
    frame's conditioning, and keeps only the state. Training never scores a cold state (a segment's first
    context frame warms it), and from one the default WaveRNN drew a far-off sample that its own feedback then
    held: a DC step of up to 0.6 for the first 0.1 s in 10 of 24 seeds; after this warm-up, in none.
    """

    WARMUP_FRAMES = 4

    @property
    def receptive_field(self) -> int:
        """0: the recurrent state carries every past sample (unbounded)."""
        return 0

    @property
    def min_frames(self) -> int:
        return self.upsample.min_frames

    def _frame_windows(self, padded: torch.Tensor,
                       compute: Callable[[torch.Tensor, int, int], tuple[torch.Tensor, ...]]) -> FrameWindows:
        """The per-block inputs `compute(padded, start, stop)` of a stream over the padded mel (N, n_mels,
        F + 2 · pad), computed a window of frames at a time (engine/models/frame_windows.py)."""
        frames = padded.shape[-1] - 2 * self.upsample.pad
        return FrameWindows(lambda first, last: compute(padded, first, last), frames, self.hop_length, padded.shape[0])

    def stream(
        self,
        mel: torch.Tensor,
        *,
        block_frames: int | Iterator[int] = 2,
        teacher: torch.Tensor | None = None,
        return_logits: bool = False,
        generator: torch.Generator | None = None,
    ) -> Iterator[StreamBlock]:
        """See `Vocoder.stream`. mel (N, n_mels, F) → blocks of (N, block_frames·hop) samples. Call in eval mode."""
        check_model_input(self, mel, teacher)
        if teacher is None and not return_logits and self.candidates > 1:
            yield from guided_stream(self, mel, self.candidates, generator)
            return
        hop = self.hop_length
        blocks = block_ranges(mel.shape[-1], block_frames)
        with torch.inference_mode():
            padded = self.upsample.pad_mel(mel)
            state, fed = self._stream_start(mel, teacher)
            if teacher is None:
                self._warm_up(mel, padded, state, generator)
        for start, stop in blocks:
            fed_block = None if fed is None else fed[:, start * hop : stop * hop]
            yield self._stream_block(padded, start, stop, state, fed_block, return_logits, generator)

    def _warm_up(self, mel: torch.Tensor, padded: torch.Tensor, state: Any, generator: torch.Generator | None) -> None:
        """Run WARMUP_FRAMES frames of silence (teacher-forced) under frame 0's conditioning, updating `state`."""
        silence = torch.zeros(mel.shape[0], self.hop_length, device=mel.device)
        _, fed_silence = self._stream_start(mel, silence)
        for _ in range(self.WARMUP_FRAMES):
            self._stream_block(padded, 0, 1, state, fed_silence, False, generator)


def gru_step(
    gi_rz: torch.Tensor, gi_n: torch.Tensor, h: torch.Tensor, weights: tuple[torch.Tensor, ...]
) -> torch.Tensor:
    """One step of `nn.GRU`: h (N, H) → h' (N, H).

    gi_rz = W_ir,z·x + b_ir,z + b_hr,z (N, 2H) and gi_n = W_in·x + b_in (N, H) come in precomputed;
    weights = `gru_step_weights(gru)`. r, z = σ(gi_rz + W_hr,z·h); n = tanh(gi_n + r ∘ (W_hn·h + b_hn));
    h' = (1 − z) ∘ n + z ∘ h, written as lerp(n, h, z).
    """
    w_hh_rz_t, w_hh_n_t, b_hh_n = weights
    r, z = torch.sigmoid(torch.addmm(gi_rz, h, w_hh_rz_t)).chunk(2, 1)
    n = torch.tanh(torch.addcmul(gi_n, r, torch.addmm(b_hh_n, h, w_hh_n_t)))
    return torch.lerp(n, h, z)


def gru_step_weights(gru: nn.GRU) -> tuple[torch.Tensor, ...]:
    """The recurrent weights of a one-layer `nn.GRU` as `gru_step` takes them: (W_hr,z^T, W_hn^T, b_hn)."""
    hidden = gru.hidden_size
    return gru.weight_hh_l0[: 2 * hidden].t(), gru.weight_hh_l0[2 * hidden :].t(), gru.bias_hh_l0[2 * hidden :]


def gru_input_split(gi: torch.Tensor, gru: nn.GRU) -> tuple[torch.Tensor, torch.Tensor]:
    """W_ih·x + b_ih (…, 3H) → (gi_rz with b_hr,z folded in (…, 2H), gi_n (…, H)), as `gru_step` takes them."""
    hidden = gru.hidden_size
    return gi[..., : 2 * hidden] + gru.bias_hh_l0[: 2 * hidden], gi[..., 2 * hidden :]


@dataclass
class WaveRNNConfig:
    """rnn_dims: GRU width; fc_dims: output layers' width; mode "mulaw" (2^bits classes) or "mol"
    (n_mixtures logistics, scales floored at exp(log_scale_min)); lpc_order: 0, or the order of the linear
    prediction from the mel ("mulaw" only); temperature: mu-law classes are drawn from softmax(logits / temperature)
    (below 1 favours the likelier ones); candidates: 1, or how many draws mel-guided sampling chooses among
    (engine/models/mel_guide.py, "mulaw" mode); pitch_postfilter (0–4) and envelope_postfilter (0–1): 0, or the
    strength of the post-filters that generation applies to the output (engine/postfilter.py,
    engine/envelope.py). Sizes default to a CPU-friendly model
    (fatchord used 512 / 512; see benchmarks/wavernn_stream.py for the speed of each)."""

    rnn_dims: int = 256
    fc_dims: int = 256
    mode: str = "mulaw"
    bits: int = 9
    n_mixtures: int = 10
    log_scale_min: float = LOG_SCALE_MIN
    lpc_order: int = 0
    temperature: float = 1.0
    candidates: int = 1
    pitch_postfilter: float = 0.0
    envelope_postfilter: float = 0.0
    upsample: UpsampleConfig = field(default_factory=UpsampleConfig)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "WaveRNNConfig":
        return config_from_dict(cls, values)


class WaveRNN(RecurrentVocoder):
    """Single-output WaveRNN. forward: mel (N, n_mels, F), audio (N, F·hop) → output (N, C, F·hop) where
    C = 2^bits logits (mulaw) or 3·n_mixtures mixture parameters (mol: logit weights, means, log scales)."""

    family = "wavernn"
    # Sampling in mu-law mode on the CPU runs the compiled loop of engine/models/wavernn_kernel.py; False runs the
    # torch loop there too (the one CUDA runs), for comparing the two.
    compiled_cpu_loop = True
    # The compiled loop runs a batch's rows (mel-guided candidates, a benchmark's recordings) in this many threads;
    # None: one per core. The samples do not depend on it.
    row_threads: int | None = None

    def __init__(self, config: WaveRNNConfig, mel_config: MelConfig):
        super().__init__(config, mel_config)
        check_factors(config.upsample.factors, mel_config.hop_length)
        if config.mode not in ("mulaw", "mol"):
            raise ConfigError(f'WaveRNN mode is "{config.mode}"; it must be "mulaw" or "mol".')
        if not 2 <= config.bits <= 16:
            raise ConfigError(f"WaveRNN bits is {config.bits}; it must be between 2 and 16.")
        if config.lpc_order < 0 or (config.lpc_order and config.mode != "mulaw"):
            raise ConfigError(f'WaveRNN lpc_order is {config.lpc_order} in "{config.mode}" mode; it must be 0, or '
                              'more than 0 in "mulaw" mode (linear prediction draws a mu-law excitation).')
        if not config.temperature > 0:
            raise ConfigError(f"WaveRNN temperature is {config.temperature}; it must be more than 0.")
        if not (isinstance(config.candidates, int) and config.candidates >= 1) or (
                config.candidates > 1 and config.mode != "mulaw"):
            raise ConfigError(f'WaveRNN candidates is {config.candidates}; it must be a whole number, 1 or more, and '
                              '1 in "mol" mode (mel-guided sampling chooses among mu-law draws).')
        if not 0 <= config.pitch_postfilter <= 4:
            raise ConfigError(f"WaveRNN pitch_postfilter is {config.pitch_postfilter}; it must be 0 (off) to 4.")
        if not 0 <= config.envelope_postfilter <= 1:
            raise ConfigError(f"WaveRNN envelope_postfilter is {config.envelope_postfilter}; it must be 0 (off) to 1.")
        aux_channels = config.upsample.aux_channels
        if aux_channels % 4 != 0:
            raise ConfigError(
                f"aux_channels is {aux_channels}, but WaveRNN splits the aux features into 4 equal parts: "
                "choose a multiple of 4."
            )
        rnn, fc, self.aux_part = config.rnn_dims, config.fc_dims, aux_channels // 4
        self.n_classes = 2**config.bits if config.mode == "mulaw" else 3 * config.n_mixtures
        self.upsample = UpsampleNetwork(mel_config.n_mels, mel_config.hop_length, config.upsample)
        self.predictor = LinearPredictor(mel_config, config.lpc_order) if config.lpc_order else None
        self.n_fed = 3 if self.predictor else 1  # the sample inputs of each step: see `sample_inputs`
        self.input_layer = nn.Linear(self.n_fed + mel_config.n_mels + self.aux_part, rnn)
        self.rnn1 = nn.GRU(rnn, rnn, batch_first=True)
        self.rnn2 = nn.GRU(rnn + self.aux_part, rnn, batch_first=True)
        self.fc1 = nn.Linear(rnn + self.aux_part, fc)
        self.fc2 = nn.Linear(fc + self.aux_part, fc)
        self.fc3 = nn.Linear(fc, self.n_classes)

    @property
    def draws(self) -> str:
        config = self.config
        mixtures = config.n_mixtures if config.mode == "mol" else 0
        return describe_draws(mixtures, config.bits, config.lpc_order, config.temperature, config.pitch_postfilter,
                              config.envelope_postfilter, config.candidates)

    @property
    def temperature(self) -> float | None:
        config = self.config
        return config.temperature if config.mode == "mulaw" else None

    def compiled_on(self, device: torch.device) -> bool:
        return self.compiled_cpu_loop and self.config.mode == "mulaw" and device.type == "cpu"

    def previous_sample_input(self, audio: torch.Tensor) -> torch.Tensor:
        """audio (N, T) → the value fed back for each sample (N, T): mu-law compressed in "mulaw" mode."""
        return mulaw_compress(audio, self.config.bits) if self.config.mode == "mulaw" else audio

    def sample_inputs(self, mel: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        """mel (N, n_mels, F), audio (N, F·hop) → what each step is fed of the samples before it (N, F·hop, n_fed):
        [x_{t−1}], or with linear prediction [x_{t−1}, e_{t−1}, p_t] mu-law compressed (silence before t = 0)."""
        previous = F.pad(self.previous_sample_input(audio), (1, -1))
        if self.predictor is None:
            return previous.unsqueeze(-1)
        prediction, excitation = self.predictor.split(mel, audio)
        excitation = F.pad(excitation, (1, -1))
        bits = self.config.bits
        return torch.stack([previous, mulaw_compress(excitation, bits).float(),
                            mulaw_compress(prediction, bits).float()], dim=-1)

    def training_target(self, mel: torch.Tensor, audio: torch.Tensor, fed: torch.Tensor | None = None) -> torch.Tensor:
        """The values the output is scored against (N, F·hop): the audio, or with linear prediction its excitation
        (from the predictions made from `fed`, when training feeds a noisy past; see Vocoder.training_target)."""
        return audio if self.predictor is None else self.predictor.split(mel, audio, fed)[1].float()

    def forward(self, mel: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        """mel (N, n_mels, F), audio (N, F·hop) → output (N, C, F·hop); column t sees audio[:, :t] only."""
        check_model_input(self, mel, audio)
        mel_up, aux = self.upsample(mel)
        a1, a2, a3, a4 = aux.split(self.aux_part, dim=-1)
        x = self.input_layer(torch.cat([self.sample_inputs(mel, audio), mel_up, a1], dim=-1))
        x = x + self.rnn1(x)[0]
        x = x + self.rnn2(torch.cat([x, a2], dim=-1))[0]
        x = F.relu(self.fc1(torch.cat([x, a3], dim=-1)))
        x = F.relu(self.fc2(torch.cat([x, a4], dim=-1)))
        return self.fc3(x).transpose(1, 2)

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """output (N, C, T), `training_target` (N, T) → cross-entropy over mu-law classes, or the mixture's NLL."""
        if self.config.mode == "mulaw":
            return F.cross_entropy(output, mulaw_classes(target, self.config.bits))
        return -mixture_log_prob(output, target, MIXTURE_BITS, self.config.log_scale_min).mean()

    def _stream_start(
        self, mel: torch.Tensor, teacher: torch.Tensor | None
    ) -> tuple["_StreamState", torch.Tensor | None]:
        """The state before the first sample (silence before it), and the teacher's samples as the loop takes them
        (N, T): compressed as inputs, or as they are with linear prediction (the loop derives e and p); or None."""
        batch, device = mel.shape[0], mel.device
        zeros = torch.zeros(batch, self.config.rnn_dims, device=device)
        if self.predictor is None:
            state = _StreamState(torch.zeros(batch, 1, device=device), zeros, zeros)
            return state, None if teacher is None else self.previous_sample_input(teacher)
        history = torch.zeros(batch, self.config.lpc_order, dtype=torch.float64, device=device)
        return _StreamState(torch.zeros(batch, 2, device=device), zeros, zeros, history), teacher

    def _previous_weights(self) -> torch.Tensor:
        """The sample inputs' columns of I and of W_ih1·I, (n_fed, 4·rnn): one addmm adds them to x_in and GRU₁'s input."""
        w_x = self.input_layer.weight[:, : self.n_fed]
        return torch.cat([w_x, self.rnn1.weight_ih_l0 @ w_x]).t()

    @torch.inference_mode()
    def _block_conditioning(self, padded: torch.Tensor, start: int, stop: int) -> tuple[torch.Tensor, ...]:
        """The shares of I, GRU₁, GRU₂, fc₁, fc₂ that come from the conditioning, for frames [start, stop).

        Returns time-major (L, N, ·) tensors: [x_in | gi1_rz | gi1_n] without the sample inputs (4·rnn);
        gi2_rz (2·rnn) and gi2_n (rnn) without z¹; fc₁ and fc₂ pre-activations without z² / fc₁'s output.
        """
        rnn, fc = self.config.rnn_dims, self.config.fc_dims
        mel_up, aux = self.upsample.upsample_range(padded, start, stop)
        a1, a2, a3, a4 = aux.transpose(0, 1).split(self.aux_part, dim=-1)
        conditioning = torch.cat([mel_up.transpose(0, 1), a1], -1)
        x_in = F.linear(conditioning, self.input_layer.weight[:, self.n_fed :], self.input_layer.bias)
        gi1 = gru_input_split(F.linear(x_in, self.rnn1.weight_ih_l0, self.rnn1.bias_ih_l0), self.rnn1)
        gi2 = gru_input_split(F.linear(a2, self.rnn2.weight_ih_l0[:, rnn:], self.rnn2.bias_ih_l0), self.rnn2)
        fc1 = F.linear(a3, self.fc1.weight[:, rnn:], self.fc1.bias)
        fc2 = F.linear(a4, self.fc2.weight[:, fc:], self.fc2.bias)
        return torch.cat([x_in, *gi1], -1), *gi2, fc1, fc2

    def _block_inputs(self, padded: torch.Tensor, start: int, stop: int) -> tuple[torch.Tensor, ...]:
        """`_block_conditioning`, and with linear prediction each step's prediction weights (L, N, p) after it."""
        conditioning = self._block_conditioning(padded, start, stop)
        if self.predictor is None:
            return conditioning
        return *conditioning, self.predictor.step_weights(self.upsample.unpadded(padded, start, stop))

    @torch.inference_mode()
    def _stream_block(
        self,
        padded: torch.Tensor,
        start: int,
        stop: int,
        state: "_StreamState",
        fed: torch.Tensor | None,
        return_logits: bool,
        generator: torch.Generator | None,
    ) -> StreamBlock:
        """Run the recurrence over frames [start, stop), updating `state`.

        fed: (N, L) the teacher's samples as `_stream_start` gives them (teacher forcing): step t is fed sample
            t − 1 (the state's previous sample at t = 0); or None to feed back the drawn samples.
        """
        rnn, bits = self.config.rnn_dims, self.config.bits
        if state.windows is None:
            state.windows = self._frame_windows(padded, self._block_inputs)
        input_gi1, gi2_rz, gi2_n, fc1_cond, fc2_cond, *lpc_weights = state.windows.get(start, stop)
        lpc_weights = lpc_weights[0] if lpc_weights else None
        length, batch = input_gi1.shape[:2]
        mulaw, lpc = self.config.mode == "mulaw", self.predictor is not None
        sampler = MulawSampler(bits, self.config.temperature) if mulaw else MixtureSampler(self.config.log_scale_min)
        noise = sampler.noise(length, batch, generator, padded.device)
        if self.compiled_on(padded.device):
            return self._compiled_block(input_gi1, gi2_rz, gi2_n, fc1_cond, fc2_cond, noise, lpc_weights, state, fed,
                                        return_logits)
        # A drawn class is fed back as its compressed value, 2·class / (2^bits − 1) − 1; a mixture draw as itself.
        compressed_levels = torch.linspace(-1.0, 1.0, self.n_classes, device=padded.device) if mulaw else None
        fed_steps = None if fed is None else fed.t().unsqueeze(-1).unbind(0)
        drawn, outputs = [], []
        previous_weights = self._previous_weights()
        gru1, gru2 = gru_step_weights(self.rnn1), gru_step_weights(self.rnn2)
        w_ih2_rz_t, w_ih2_n_t = self.rnn2.weight_ih_l0[: 2 * rnn, :rnn].t(), self.rnn2.weight_ih_l0[2 * rnn :, :rnn].t()
        fc1_t, fc2_t = self.fc1.weight[:, :rnn].t(), self.fc2.weight[:, : self.config.fc_dims].t()
        fc3_t, b_fc3 = self.fc3.weight.t(), self.fc3.bias
        previous, h1, h2 = state.previous, state.h1, state.h2
        steps = zip(*(part.unbind(0) for part in (input_gi1, gi2_rz, gi2_n, fc1_cond, fc2_cond)), noise)
        for t, (input_gi1_t, gi2_rz_t, gi2_n_t, fc1_pre, fc2_pre, noise_t) in enumerate(steps):
            inputs = previous
            if lpc:
                prediction = next_prediction(state.history, lpc_weights[t])
                inputs = torch.cat([previous, mulaw_compress(prediction, bits).float()], 1)
            x_in, gi1_rz, gi1_n = torch.addmm(input_gi1_t, inputs, previous_weights).split((rnn, 2 * rnn, rnn), 1)
            h1 = gru_step(gi1_rz, gi1_n, h1, gru1)
            z1 = x_in + h1
            h2 = gru_step(torch.addmm(gi2_rz_t, z1, w_ih2_rz_t), torch.addmm(gi2_n_t, z1, w_ih2_n_t), h2, gru2)
            z2 = z1 + h2
            y = torch.relu(torch.addmm(fc2_pre, torch.relu(torch.addmm(fc1_pre, z2, fc1_t)), fc2_t))
            out = torch.addmm(b_fc3, y, fc3_t)
            sample = sampler.draw(out, noise_t)
            if lpc:
                # x_t = p_t + e_t as the float32 sample it is output as; the teacher's x_t is fed instead
                sample = excited_sample(prediction, sample, bits)
                fed_sample = (sample if fed_steps is None else fed_steps[t]).double()
                previous = mulaw_compress(torch.cat([fed_sample, fed_sample - prediction], 1), bits).float()
                state.history = pushed(state.history, fed_sample)
            elif fed_steps is not None:
                previous = fed_steps[t]
            else:
                previous = sample if compressed_levels is None else torch.take(compressed_levels, sample)
            drawn.append(sample)
            if return_logits:
                outputs.append(out)
        state.previous, state.h1, state.h2 = previous, h1, h2
        samples = torch.cat(drawn, dim=1)
        samples = samples if lpc else sampler.to_audio(samples)
        return StreamBlock(samples, torch.stack(outputs, dim=2) if return_logits else None)

    def _compiled_block(self, input_gi1, gi2_rz, gi2_n, fc1_cond, fc2_cond, noise, lpc_weights, state, fed,
                        return_logits):
        """`_stream_block`'s loop on the CPU in mu-law mode, by `wavernn_kernel.run_block` (same inputs, same draws)."""
        from engine.models import wavernn_kernel

        length, batch = input_gi1.shape[:2]
        previous = state.previous.float().numpy().copy()
        h1, h2 = state.h1.numpy().copy(), state.h2.numpy().copy()
        lpc = lpc_weights is not None
        history = state.history.numpy().copy() if lpc else np.empty((batch, 0))
        samples = np.empty((length, batch), dtype=np.float32)
        logits = np.empty((length, batch, self.n_classes) if return_logits else (0, 0, 0), dtype=np.float32)
        taught = np.empty((0, 0), dtype=np.float32) if fed is None else fed.t().float().contiguous().numpy()
        conditioning = (part.contiguous().numpy() for part in (input_gi1, gi2_rz, gi2_n, fc1_cond, fc2_cond))
        uniforms = torch.stack(noise).reshape(length, batch).numpy()
        step_weights = lpc_weights.contiguous().numpy() if lpc else np.empty((0, 0, 0))
        if state.kernel_weights is None:
            state.kernel_weights = wavernn_kernel.as_kernel_weights(self)
        wavernn_kernel.run_rows_in_threads(self.row_threads or cpu_cores(), *conditioning, uniforms, taught,
                                           step_weights, self.config.bits, self.config.temperature,
                                           state.kernel_weights, previous, history, h1, h2, samples, logits)
        state.previous, state.h1, state.h2 = torch.from_numpy(previous), torch.from_numpy(h1), torch.from_numpy(h2)
        if lpc:
            state.history = torch.from_numpy(history)
        return StreamBlock(torch.from_numpy(samples).t().contiguous(),
                           torch.from_numpy(logits).permute(1, 2, 0) if return_logits else None)


@dataclass
class _StreamState:
    """What carries from one streamed block to the next: the last step's sample inputs (N, 1), or (N, 2) with linear
    prediction (x_{t−1}, e_{t−1}); both GRU states (N, rnn); with linear prediction the last p samples (N, p)
    float64, oldest first; the window of block inputs computed so far; the compiled loop's weights
    (`wavernn_kernel.as_kernel_weights`), copied at its first block."""

    previous: torch.Tensor
    h1: torch.Tensor
    h2: torch.Tensor
    history: torch.Tensor | None = None
    windows: FrameWindows | None = None
    kernel_weights: tuple[np.ndarray, ...] | None = None

    def carried(self) -> tuple[torch.Tensor | None, ...]:
        """Copies of what the next sample depends on, for `keep`."""
        return tuple(None if part is None else part.clone() for part in (self.previous, self.h1, self.h2, self.history))

    def keep(self, carried: tuple[torch.Tensor | None, ...], rows: torch.Tensor) -> None:
        """Continue from `carried` (from `carried()`), row i taking that of row rows[i] (mel-guided sampling)."""
        self.previous, self.h1, self.h2, self.history = (None if part is None else part[rows] for part in carried)
