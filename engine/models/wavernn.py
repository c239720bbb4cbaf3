"""WaveRNN with one output layer (fatchord's widely used variant).

    x_in = I([x_{t−1}, mel_up_t, aux¹_t])
    h¹_t = GRU₁(x_in, h¹_{t−1});            z¹ = x_in + h¹_t                  (residual)
    h²_t = GRU₂([z¹, aux²_t], h²_{t−1});    z² = z¹ + h²_t                    (residual)
    y = relu(fc₂([relu(fc₁([z², aux³_t])), aux⁴_t]));   out_t = fc₃(y)

`out_t` is a softmax over 2^bits mu-law classes (mode "mulaw") or the parameters of a discretised mixture of
logistics over 16-bit values (mode "mol"). aux¹..aux⁴ are four equal slices of the upsampling network's aux
features. In "mulaw" mode the previous sample enters mu-law compressed (the domain the classes live in).

The model is recurrent, so its receptive field is unbounded; `receptive_field` reports 0 for that.

Streaming runs the GRUs one sample at a time as cells (`gru_step`) on the GRUs' own parameters; separate
`nn.GRUCell`s sharing them would store every GRU weight twice in a checkpoint, which safetensors refuses.
Everything that does not depend on the previous sample (the conditioning's share of I and of both GRUs'
inputs, of fc₁ and fc₂, and the sampling noise) is computed for a whole block in a few matrix products, so
the per-sample loop is a few dozen small ops.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Iterator, TypeVar

import torch
from torch import nn
from torch.nn import functional as F

from engine.errors import ConfigError, InputError
from engine.features import MelConfig
from engine.models.base import StreamBlock, Vocoder
from engine.models.upsample import UpsampleConfig, UpsampleNetwork, check_factors

ConfigT = TypeVar("ConfigT")


def config_from_dict(cls: type[ConfigT], values: dict[str, Any]) -> ConfigT:
    """Build a model config dataclass from JSON: a nested `upsample` dict, lists back to tuples."""
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"{cls.__name__} has no setting {unknown}; known settings are {sorted(known)}.")
    values = dict(values)
    if isinstance(values.get("upsample"), dict):
        upsample = {k: tuple(v) if isinstance(v, list) else v for k, v in values["upsample"].items()}
        upsample_known = {f.name for f in dataclasses.fields(UpsampleConfig)}
        if set(upsample) - upsample_known:
            raise ConfigError(
                f"UpsampleConfig has no setting {sorted(set(upsample) - upsample_known)}; "
                f"known settings are {sorted(upsample_known)}."
            )
        values["upsample"] = UpsampleConfig(**upsample)
    return cls(**values)


def block_ranges(frames: int, block_frames: int) -> Iterator[tuple[int, int]]:
    """Frame ranges [start, stop) of `block_frames` frames covering `frames` (the last one may be shorter)."""
    if block_frames < 1:
        raise ConfigError(f"block_frames is {block_frames}; it must be 1 or more.")
    for start in range(0, frames, block_frames):
        yield start, min(start + block_frames, frames)


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


def gumbel_noise(shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """Gumbel(0, 1) noise: argmax(logits + noise) is a draw from softmax(logits), one op per sample."""
    uniform = torch.rand(shape, generator=generator, device=device).clamp_(1e-10, 1.0 - 1e-7)
    return -torch.log(-torch.log(uniform))


def mulaw_compress(audio: torch.Tensor, bits: int) -> torch.Tensor:
    """Float samples in [-1, 1] → mu-law compressed floats in [-1, 1] (continuous, before quantising)."""
    mu = float(2**bits - 1)
    audio = audio.clamp(-1.0, 1.0)
    return torch.sign(audio) * torch.log1p(mu * audio.abs()) / math.log1p(mu)


def mulaw_classes(audio: torch.Tensor, bits: int) -> torch.Tensor:
    """Float samples (N, T) → class indices (N, T) int64; equal to `engine.features.mulaw_encode`."""
    mu = float(2**bits - 1)
    return torch.round((mulaw_compress(audio.double(), bits) + 1.0) / 2.0 * mu).long()


def mulaw_expand(classes: torch.Tensor, bits: int) -> torch.Tensor:
    """Class indices → float32 samples in [-1, 1]; equal to `engine.features.mulaw_decode`."""
    mu = float(2**bits - 1)
    compressed = 2.0 * classes.double() / mu - 1.0
    return (torch.sign(compressed) * torch.expm1(compressed.abs() * math.log1p(mu)) / mu).float()


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
    (n_mixtures logistics, scales floored at exp(log_scale_min)). Sizes default to a CPU-friendly model
    (fatchord used 512 / 512; see benchmarks/wavernn_stream.py for the speed of each)."""

    rnn_dims: int = 256
    fc_dims: int = 256
    mode: str = "mulaw"
    bits: int = 9
    n_mixtures: int = 10
    log_scale_min: float = -7.0
    upsample: UpsampleConfig = field(default_factory=UpsampleConfig)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "WaveRNNConfig":
        return config_from_dict(cls, values)


class WaveRNN(Vocoder):
    """Single-output WaveRNN. forward: mel (N, n_mels, F), audio (N, F·hop) → output (N, C, F·hop) where
    C = 2^bits logits (mulaw) or 3·n_mixtures mixture parameters (mol: logit weights, means, log scales)."""

    family = "wavernn"

    def __init__(self, config: WaveRNNConfig, mel_config: MelConfig):
        super().__init__(config, mel_config)
        check_factors(config.upsample.factors, mel_config.hop_length)
        if config.mode not in ("mulaw", "mol"):
            raise ConfigError(f'WaveRNN mode is "{config.mode}"; it must be "mulaw" or "mol".')
        if not 2 <= config.bits <= 16:
            raise ConfigError(f"WaveRNN bits is {config.bits}; it must be between 2 and 16.")
        aux_channels = config.upsample.aux_channels
        if aux_channels % 4 != 0:
            raise ConfigError(
                f"aux_channels is {aux_channels}, but WaveRNN splits the aux features into 4 equal parts: "
                "choose a multiple of 4."
            )
        rnn, fc, self.aux_part = config.rnn_dims, config.fc_dims, aux_channels // 4
        self.n_classes = 2**config.bits if config.mode == "mulaw" else 3 * config.n_mixtures
        self.upsample = UpsampleNetwork(mel_config.n_mels, mel_config.hop_length, config.upsample)
        self.input_layer = nn.Linear(1 + mel_config.n_mels + self.aux_part, rnn)
        self.rnn1 = nn.GRU(rnn, rnn, batch_first=True)
        self.rnn2 = nn.GRU(rnn + self.aux_part, rnn, batch_first=True)
        self.fc1 = nn.Linear(rnn + self.aux_part, fc)
        self.fc2 = nn.Linear(fc + self.aux_part, fc)
        self.fc3 = nn.Linear(fc, self.n_classes)

    @property
    def receptive_field(self) -> int:
        """0: the recurrent state carries every past sample (unbounded)."""
        return 0

    @property
    def min_frames(self) -> int:
        return self.upsample.min_frames

    def previous_sample_input(self, audio: torch.Tensor) -> torch.Tensor:
        """audio (N, T) → the value fed back for each sample (N, T): mu-law compressed in "mulaw" mode."""
        return mulaw_compress(audio, self.config.bits) if self.config.mode == "mulaw" else audio

    def forward(self, mel: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        """mel (N, n_mels, F), audio (N, F·hop) → output (N, C, F·hop); column t sees audio[:, :t] only."""
        check_model_input(self, mel, audio)
        mel_up, aux = self.upsample(mel)
        a1, a2, a3, a4 = aux.split(self.aux_part, dim=-1)
        previous = F.pad(self.previous_sample_input(audio), (1, -1)).unsqueeze(-1)
        x = self.input_layer(torch.cat([previous, mel_up, a1], dim=-1))
        x = x + self.rnn1(x)[0]
        x = x + self.rnn2(torch.cat([x, a2], dim=-1))[0]
        x = F.relu(self.fc1(torch.cat([x, a3], dim=-1)))
        x = F.relu(self.fc2(torch.cat([x, a4], dim=-1)))
        return self.fc3(x).transpose(1, 2)

    def loss(self, output: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        """output (N, C, T), audio (N, T) → cross-entropy over mu-law classes, or the mixture's NLL."""
        if self.config.mode == "mulaw":
            return F.cross_entropy(output, mulaw_classes(audio, self.config.bits))
        return mixture_nll(output, audio, self.config.log_scale_min)

    def stream(
        self,
        mel: torch.Tensor,
        *,
        block_frames: int = 2,
        teacher: torch.Tensor | None = None,
        return_logits: bool = False,
        generator: torch.Generator | None = None,
    ) -> Iterator[StreamBlock]:
        """See `Vocoder.stream`. mel (N, n_mels, F) → blocks of (N, block_frames·hop) samples. Call in eval mode."""
        check_model_input(self, mel, teacher)
        hop, batch = self.hop_length, mel.shape[0]
        blocks = block_ranges(mel.shape[-1], block_frames)
        with torch.inference_mode():
            padded = self.upsample.pad_mel(mel)
            fed = None if teacher is None else self.previous_sample_input(F.pad(teacher, (1, -1)))
            zeros = torch.zeros(batch, self.config.rnn_dims, device=mel.device)
            state = _StreamState(self.previous_sample_input(torch.zeros(batch, 1, device=mel.device)), zeros, zeros)
        for start, stop in blocks:
            fed_block = None if fed is None else fed[:, start * hop : stop * hop]
            yield self._stream_block(padded, start, stop, state, fed_block, return_logits, generator)

    @torch.inference_mode()
    def _block_conditioning(self, padded: torch.Tensor, start: int, stop: int) -> tuple[torch.Tensor, ...]:
        """The shares of I, GRU₁, GRU₂, fc₁, fc₂ that come from the conditioning, for frames [start, stop).

        Returns time-major (L, N, ·) tensors: [x_in | gi1_rz | gi1_n] without the previous sample (4·rnn);
        gi2_rz (2·rnn) and gi2_n (rnn) without z¹; fc₁ and fc₂ pre-activations without z² / fc₁'s output.
        """
        rnn, fc = self.config.rnn_dims, self.config.fc_dims
        mel_up, aux = self.upsample.upsample_range(padded, start, stop)
        a1, a2, a3, a4 = aux.transpose(0, 1).split(self.aux_part, dim=-1)
        conditioning = torch.cat([mel_up.transpose(0, 1), a1], -1)
        x_in = F.linear(conditioning, self.input_layer.weight[:, 1:], self.input_layer.bias)
        gi1 = gru_input_split(F.linear(x_in, self.rnn1.weight_ih_l0, self.rnn1.bias_ih_l0), self.rnn1)
        gi2 = gru_input_split(F.linear(a2, self.rnn2.weight_ih_l0[:, rnn:], self.rnn2.bias_ih_l0), self.rnn2)
        fc1 = F.linear(a3, self.fc1.weight[:, rnn:], self.fc1.bias)
        fc2 = F.linear(a4, self.fc2.weight[:, fc:], self.fc2.bias)
        return torch.cat([x_in, *gi1], -1), *gi2, fc1, fc2

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

        fed: (N, L) teacher inputs for each step (teacher forcing), or None to feed back the drawn samples.
        """
        rnn = self.config.rnn_dims
        input_gi1, gi2_rz, gi2_n, fc1_cond, fc2_cond = self._block_conditioning(padded, start, stop)
        length, batch = input_gi1.shape[:2]
        sampler = MulawSampler(self.config.bits) if self.config.mode == "mulaw" else MixtureSampler(self.config)
        noise = sampler.noise(length, batch, generator, padded.device)
        fed_steps = None if fed is None else fed.t().unsqueeze(-1).unbind(0)
        drawn, outputs = [], []
        # The previous sample's column of I, and of W_ih1·I, so that one addcmul gives x_in and GRU₁'s input.
        w_x = self.input_layer.weight[:, 0]
        previous_weights = torch.cat([w_x, self.rnn1.weight_ih_l0 @ w_x])
        gru1, gru2 = gru_step_weights(self.rnn1), gru_step_weights(self.rnn2)
        w_ih2_rz_t, w_ih2_n_t = self.rnn2.weight_ih_l0[: 2 * rnn, :rnn].t(), self.rnn2.weight_ih_l0[2 * rnn :, :rnn].t()
        fc1_t, fc2_t = self.fc1.weight[:, :rnn].t(), self.fc2.weight[:, : self.config.fc_dims].t()
        fc3_t, b_fc3 = self.fc3.weight.t(), self.fc3.bias
        previous, h1, h2 = state.previous, state.h1, state.h2
        steps = zip(*(part.unbind(0) for part in (input_gi1, gi2_rz, gi2_n, fc1_cond, fc2_cond)), noise)
        for t, (input_gi1_t, gi2_rz_t, gi2_n_t, fc1_pre, fc2_pre, noise_t) in enumerate(steps):
            if fed_steps is not None:
                previous = fed_steps[t]
            x_in, gi1_rz, gi1_n = torch.addcmul(input_gi1_t, previous, previous_weights).split((rnn, 2 * rnn, rnn), 1)
            h1 = gru_step(gi1_rz, gi1_n, h1, gru1)
            z1 = x_in + h1
            h2 = gru_step(torch.addmm(gi2_rz_t, z1, w_ih2_rz_t), torch.addmm(gi2_n_t, z1, w_ih2_n_t), h2, gru2)
            z2 = z1 + h2
            y = torch.relu(torch.addmm(fc2_pre, torch.relu(torch.addmm(fc1_pre, z2, fc1_t)), fc2_t))
            out = torch.addmm(b_fc3, y, fc3_t)
            sample, previous = sampler.draw(out, noise_t)
            drawn.append(sample)
            if return_logits:
                outputs.append(out)
        state.previous, state.h1, state.h2 = previous, h1, h2
        samples = sampler.to_audio(torch.cat(drawn, dim=1))
        return StreamBlock(samples, torch.stack(outputs, dim=2) if return_logits else None)


@dataclass
class _StreamState:
    """What carries from one streamed block to the next: the last input sample (N, 1) and both GRU states."""

    previous: torch.Tensor
    h1: torch.Tensor
    h2: torch.Tensor


class MulawSampler:
    """Draws a mu-law class per step by the Gumbel-max trick; feeds back its compressed value."""

    def __init__(self, bits: int):
        self.bits = bits
        self.classes = 2**bits

    def noise(self, length: int, batch: int, generator: torch.Generator | None, device: torch.device):
        """(L, N, classes) Gumbel noise, one slice per step."""
        self.fed_back = torch.linspace(-1.0, 1.0, self.classes, device=device)
        return gumbel_noise((length, batch, self.classes), generator, device).unbind(0)

    def draw(self, logits: torch.Tensor, noise: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """logits (N, classes) → (class index (N, 1), the next step's input (N, 1))."""
        index = torch.argmax(logits + noise, dim=1, keepdim=True)
        return index, torch.take(self.fed_back, index)

    def to_audio(self, drawn: torch.Tensor) -> torch.Tensor:
        """(N, L) class indices → float32 samples."""
        return mulaw_expand(drawn.long(), self.bits)


class MixtureSampler:
    """Draws from a mixture of logistics: a component by Gumbel-max, then a logistic sample from it."""

    def __init__(self, config: WaveRNNConfig):
        self.mixtures = config.n_mixtures
        self.log_scale_min = config.log_scale_min

    def noise(self, length: int, batch: int, generator: torch.Generator | None, device: torch.device):
        """(L, N, mixtures + 1): Gumbel noise for the component choice and logistic noise for the value."""
        gumbel = gumbel_noise((length, batch, self.mixtures), generator, device)
        uniform = torch.rand((length, batch, 1), generator=generator, device=device).clamp_(1e-5, 1.0 - 1e-5)
        return torch.cat([gumbel, torch.log(uniform) - torch.log1p(-uniform)], -1).unbind(0)

    def draw(self, params: torch.Tensor, noise: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """params (N, 3·mixtures) → (sample (N, 1), the same sample as the next step's input)."""
        m = self.mixtures
        component = torch.argmax(params[:, :m] + noise[:, :m], dim=1, keepdim=True)
        mean = params[:, m : 2 * m].gather(1, component)
        log_scale = params[:, 2 * m :].gather(1, component).clamp_(min=self.log_scale_min)
        sample = torch.addcmul(mean, torch.exp(log_scale), noise[:, m:]).clamp_(-1.0, 1.0)
        return sample, sample

    def to_audio(self, drawn: torch.Tensor) -> torch.Tensor:
        return drawn


def mixture_nll(params: torch.Tensor, audio: torch.Tensor, log_scale_min: float, levels: int = 65536) -> torch.Tensor:
    """Mean negative log-likelihood of audio (N, T) under a discretised mixture of logistics (N, 3·M, T).

    Each logistic is integrated over the audio's quantisation bin (width 2 / (levels − 1)); the bins at ±1
    take the tails. Where a bin's mass underflows, the density at the centre times the bin width is used.
    """
    m = params.shape[1] // 3
    logit_weights, means = params[:, :m], params[:, m : 2 * m]
    log_scales = params[:, 2 * m :].clamp(min=log_scale_min)
    centred = audio.unsqueeze(1) - means
    inverse_scale = torch.exp(-log_scales)
    half_bin = 1.0 / (levels - 1)
    plus_in = inverse_scale * (centred + half_bin)
    minus_in = inverse_scale * (centred - half_bin)
    bin_mass = torch.sigmoid(plus_in) - torch.sigmoid(minus_in)
    log_cdf_plus = plus_in - F.softplus(plus_in)
    log_one_minus_cdf_minus = -F.softplus(minus_in)
    mid_in = inverse_scale * centred
    log_pdf_mid = mid_in - log_scales - 2.0 * F.softplus(mid_in)
    log_bin = torch.where(
        bin_mass > 1e-5, torch.log(bin_mass.clamp(min=1e-12)), log_pdf_mid - math.log((levels - 1) / 2)
    )
    x = audio.unsqueeze(1).expand_as(centred)
    log_prob = torch.where(x < -0.999, log_cdf_plus, torch.where(x > 0.999, log_one_minus_cdf_minus, log_bin))
    return -torch.logsumexp(log_prob + F.log_softmax(logit_weights, dim=1), dim=1).mean()
