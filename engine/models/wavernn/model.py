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

Streaming (stream.py) runs the GRUs one sample at a time, in a torch loop or, on the CPU in "mulaw" mode, in a
compiled one (kernel.py); with `candidates` > 1 each block is the best of that many draws by the mel (mel_guide.py).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Iterator

import torch
from torch import nn
from torch.nn import functional as F

from engine.errors import ConfigError
from engine.features import MelConfig
from engine.models.base import StreamBlock, config_from_dict
from engine.models.coding import describe_draws, mulaw_classes, mulaw_compress
from engine.models.linear_prediction import LinearPredictor
from engine.models.mixture import LOG_SCALE_MIN, mixture_log_prob
from engine.models.recurrent import RecurrentVocoder, check_model_input
from engine.models.upsample import UpsampleConfig, UpsampleNetwork, check_factors
from engine.models.wavernn.mel_guide import guided_stream
from engine.models.wavernn.stream import WaveRNNStream
from engine.pitch_source import SOURCE_CHANNELS, PitchSource
from engine.models.wavernn import trace
from engine.models.step_view import StepView
from engine.sampling import Sampling, own_sampling

MIXTURE_BITS = 16  # "mol" mode models 16-bit samples


@dataclass
class WaveRNNConfig:
    """rnn_dims: GRU width; fc_dims: output layers' width; mode "mulaw" (2^bits classes) or "mol"
    (n_mixtures logistics, scales floored at exp(log_scale_min)); lpc_order: 0, or the order of the linear
    prediction from the mel ("mulaw" only); temperature: mu-law classes are drawn from softmax(logits / temperature)
    (below 1 favours the likelier ones); candidates: 1, or how many draws mel-guided sampling chooses among
    (mel_guide.py, "mulaw" mode); pitch_postfilter (0–4) and envelope_postfilter (0–1): 0, or the
    strength of the post-filters that generation applies to the output (engine/postfilter.py,
    engine/envelope.py); envelope_passes: how many times the envelope post-filter is applied (1–16);
    pitch_conditioning: whether I is also fed the source features of the pitch read from the mel
    (engine/pitch_source.py: a tone at the F0, its phase and the voicing, per sample), so that the network shapes a
    tone of the right period instead of inventing the period. Sizes default to a CPU-friendly model
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
    envelope_passes: int = 1
    pitch_conditioning: bool = False
    upsample: UpsampleConfig = field(default_factory=UpsampleConfig)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "WaveRNNConfig":
        return config_from_dict(cls, values)


class WaveRNN(RecurrentVocoder):
    """Single-output WaveRNN. forward: mel (N, n_mels, F), audio (N, F·hop) → output (N, C, F·hop) where
    C = 2^bits logits (mulaw) or 3·n_mixtures mixture parameters (mol: logit weights, means, log scales)."""

    family = "wavernn"
    # Sampling in mu-law mode on the CPU runs the compiled loop of kernel.py; False runs the torch loop there too (the
    # one CUDA runs), for comparing the two.
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
            raise ConfigError(
                f'WaveRNN lpc_order is {config.lpc_order} in "{config.mode}" mode; it must be 0, or '
                'more than 0 in "mulaw" mode (linear prediction draws a mu-law excitation).'
            )
        own_sampling(config)  # its settings in range
        if config.candidates != 1 and config.mode != "mulaw":
            raise ConfigError(
                f'WaveRNN candidates is {config.candidates}; it must be 1 in "mol" mode (mel-guided '
                "sampling chooses among mu-law draws)."
            )
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
        self.pitch_source = PitchSource(mel_config) if config.pitch_conditioning else None
        source_channels = SOURCE_CHANNELS if config.pitch_conditioning else 0
        self.input_layer = nn.Linear(self.n_fed + mel_config.n_mels + self.aux_part + source_channels, rnn)
        self.rnn1 = nn.GRU(rnn, rnn, batch_first=True)
        self.rnn2 = nn.GRU(rnn + self.aux_part, rnn, batch_first=True)
        self.fc1 = nn.Linear(rnn + self.aux_part, fc)
        self.fc2 = nn.Linear(fc + self.aux_part, fc)
        self.fc3 = nn.Linear(fc, self.n_classes)

    def state_shapes(self, batch: int) -> dict[str, tuple[int, ...]]:
        """The two GRUs' states h1, h2 (batch, rnn_dims)."""
        return {"h1": (batch, self.config.rnn_dims), "h2": (batch, self.config.rnn_dims)}

    def trace_step(self, mel: torch.Tensor, audio: torch.Tensor, t: int = 0) -> StepView:
        return trace.trace_step(self, mel, audio, t)

    def draws_with(self, sampling: Sampling) -> str:
        config = self.config
        mixtures = config.n_mixtures if config.mode == "mol" else 0
        return describe_draws(mixtures, config.bits, config.lpc_order, sampling)

    @property
    def own_sampling(self) -> Sampling:
        """The config's; a mixture draws without a temperature and without candidates."""
        own = own_sampling(self.config)
        return own if self.config.mode == "mulaw" else dataclasses.replace(own, temperature=None, candidates=None)

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
        return torch.stack(
            [previous, mulaw_compress(excitation, bits).float(), mulaw_compress(prediction, bits).float()], dim=-1
        )

    def training_target(self, mel: torch.Tensor, audio: torch.Tensor, fed: torch.Tensor | None = None) -> torch.Tensor:
        """The values the output is scored against (N, F·hop): the audio, or with linear prediction its excitation
        (from the predictions made from `fed`, when training feeds a noisy past; see Vocoder.training_target)."""
        return audio if self.predictor is None else self.predictor.split(mel, audio, fed)[1].float()

    def forward(self, mel: torch.Tensor, audio: torch.Tensor, pitch: torch.Tensor | None = None) -> torch.Tensor:
        """mel (N, n_mels, F), audio (N, F·hop) → output (N, C, F·hop); column t sees audio[:, :t] only. With pitch
        conditioning, `pitch` rows (N, PITCH_ROWS, F) replace the pitch read from the mel (training only)."""
        check_model_input(self, mel, audio)
        mel_up, aux = self.upsample(mel)
        a1, a2, a3, a4 = aux.split(self.aux_part, dim=-1)
        source = self.source(mel, pitch)
        conditioning = [mel_up, a1] if source is None else [mel_up, a1, source.to(mel_up.dtype)]
        x = self.input_layer(torch.cat([self.sample_inputs(mel, audio), *conditioning], dim=-1))
        x = x + self.rnn1(x)[0]
        x = x + self.rnn2(torch.cat([x, a2], dim=-1))[0]
        x = F.relu(self.fc1(torch.cat([x, a3], dim=-1)))
        x = F.relu(self.fc2(torch.cat([x, a4], dim=-1)))
        return self.fc3(x).transpose(1, 2)

    def grown_weights(self, source: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Given pitch conditioning, from a WaveRNN without it (the same sizes): its I with zero columns for the
        source features, so the model first computes exactly what the checkpoint did."""
        fresh, had = self.input_layer.weight, source.get("input_layer.weight")
        plain_shape = (fresh.shape[0], fresh.shape[1] - SOURCE_CHANNELS)
        if self.pitch_source is None or had is None or tuple(had.shape) != plain_shape:
            return {}
        return {"input_layer.weight": torch.cat([had, torch.zeros_like(fresh[:, had.shape[1] :])], dim=1)}

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """output (N, C, T), `training_target` (N, T) → cross-entropy over mu-law classes, or the mixture's NLL."""
        if self.config.mode == "mulaw":
            return F.cross_entropy(output, mulaw_classes(target, self.config.bits))
        return -mixture_log_prob(output, target, MIXTURE_BITS, self.config.log_scale_min).mean()

    def start_stream(self, mel: torch.Tensor, repeats: int = 1, sampling: Sampling | None = None) -> WaveRNNStream:
        """A generation over mel (N, n_mels, F) before its first sample (silence before it); see `RecurrentStream`."""
        return WaveRNNStream(self, mel, repeats, sampling)

    def stream(
        self,
        mel: torch.Tensor,
        *,
        block_frames: int | Iterator[int] = 2,
        teacher: torch.Tensor | None = None,
        return_logits: bool = False,
        generator: torch.Generator | None = None,
        sampling: Sampling | None = None,
    ) -> Iterator[StreamBlock]:
        """See `RecurrentVocoder.stream`; sampling with `candidates` > 1 (no teacher, no logits) yields blocks of
        GUIDE_FRAMES, each the best of that many draws by the mel (mel_guide.py)."""
        sampling = self.sampling(sampling)
        if teacher is None and not return_logits and sampling.candidates > 1:
            check_model_input(self, mel)
            yield from guided_stream(self, mel, sampling, generator)
            return
        yield from super().stream(
            mel,
            block_frames=block_frames,
            teacher=teacher,
            return_logits=return_logits,
            generator=generator,
            sampling=sampling,
        )
