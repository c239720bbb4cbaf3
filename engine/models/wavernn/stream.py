"""Streaming the single-output WaveRNN (model.py): the state carried between blocks, the per-sample torch loop, and
the weights of the compiled loop (kernel.py).

The GRUs run one sample at a time as cells (`gru_step`) on the GRUs' own parameters; separate `nn.GRUCell`s sharing
them would store every GRU weight twice in a checkpoint, which safetensors refuses. Everything that does not depend
on the previous sample (the conditioning's share of I and of both GRUs' inputs, of fc₁ and fc₂, and the sampling
noise) is computed for a whole block in a few matrix products, so the per-sample loop is a few dozen small ops. On
the CPU in "mulaw" mode that loop runs compiled instead (kernel.py: the same arithmetic and draws, about 4× faster
for the default model).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from engine.devices import cpu_cores
from engine.models.base import StreamBlock
from engine.models.coding import MulawSampler, mulaw_compress
from engine.models.linear_prediction import excited_sample, next_prediction, pushed
from engine.models.mixture import MixtureSampler
from engine.models.recurrent import RecurrentStream
from engine.models.wavernn import kernel
from engine.sampling import Sampling


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


def previous_weights(model) -> torch.Tensor:
    """The sample inputs' columns of I and of W_ih1·I, (n_fed, 4·rnn): one addmm adds them to x_in and GRU₁'s input."""
    w_x = model.input_layer.weight[:, : model.n_fed]
    return torch.cat([w_x, model.rnn1.weight_ih_l0 @ w_x]).t()


def kernel_weights(model) -> tuple[np.ndarray, ...]:
    """The weights `kernel.run_block` takes, from a WaveRNN on the CPU: float32 contiguous copies, (out, in) but for
    the sample inputs' columns (K, 4H)."""
    rnn, fc = model.config.rnn_dims, model.config.fc_dims

    def array(weight: torch.Tensor) -> np.ndarray:
        return np.ascontiguousarray(weight.detach().float().numpy())

    w_hh1, w_hh2, w_ih2 = model.rnn1.weight_hh_l0, model.rnn2.weight_hh_l0, model.rnn2.weight_ih_l0
    return (
        array(previous_weights(model)),
        array(w_hh1[: 2 * rnn]),
        array(w_hh1[2 * rnn :]),
        model.rnn1.bias_hh_l0[2 * rnn :].detach().numpy(),
        array(w_ih2[: 2 * rnn, :rnn]),
        array(w_ih2[2 * rnn :, :rnn]),
        array(w_hh2[: 2 * rnn]),
        array(w_hh2[2 * rnn :]),
        model.rnn2.bias_hh_l0[2 * rnn :].detach().numpy(),
        array(model.fc1.weight[:, :rnn]),
        array(model.fc2.weight[:, :fc]),
        array(model.fc3.weight),
        model.fc3.bias.detach().numpy(),
    )


class WaveRNNStream(RecurrentStream):
    """One generation of a WaveRNN (see `RecurrentStream`). Carried from block to block: the last step's sample inputs
    `previous` (rows, 1), or (rows, 2) with linear prediction (x_{t−1}, e_{t−1}); both GRU states `h1`, `h2`
    (rows, rnn); with linear prediction the last p samples `history` (rows, p) float64, oldest first; and the
    compiled loop's weights (`kernel_weights`), copied at its first block."""

    def __init__(self, model, mel: torch.Tensor, repeats: int = 1, sampling: Sampling | None = None):
        super().__init__(model, mel, repeats, sampling)
        device, rnn = mel.device, model.config.rnn_dims
        self.previous = torch.zeros(self.rows, 1 if model.predictor is None else 2, device=device)
        self.h1 = self.h2 = torch.zeros(self.rows, rnn, device=device)
        self.history = None
        if model.predictor is not None:
            self.history = torch.zeros(self.rows, model.config.lpc_order, dtype=torch.float64, device=device)
        self.kernel_weights: tuple[np.ndarray, ...] | None = None
        self.source = model.source_blocks(mel)  # the pitch's source features, made a block at a time, or None

    def fed(self, teacher: torch.Tensor) -> torch.Tensor:
        """The teacher's samples (rows, T) as the loop takes them: compressed as inputs, or as they are with linear
        prediction (the loop derives e and p)."""
        return teacher if self.model.predictor is not None else self.model.previous_sample_input(teacher)

    @torch.inference_mode()
    def block_conditioning(self, start: int, stop: int) -> tuple[torch.Tensor, ...]:
        """The shares of I, GRU₁, GRU₂, fc₁, fc₂ that come from the conditioning, for frames [start, stop).

        Returns time-major (L, N, ·) tensors: [x_in | gi1_rz | gi1_n] without the sample inputs (4·rnn);
        gi2_rz (2·rnn) and gi2_n (rnn) without z¹; fc₁ and fc₂ pre-activations without z² / fc₁'s output.
        """
        model = self.model
        rnn, fc = model.config.rnn_dims, model.config.fc_dims
        mel_up, aux = model.upsample.upsample_range(self.padded, start, stop)
        a1, a2, a3, a4 = aux.transpose(0, 1).split(model.aux_part, dim=-1)
        parts = [mel_up.transpose(0, 1), a1]
        if self.source is not None:
            parts.append(self.source.features(start, stop).transpose(0, 1).to(a1.dtype))
        conditioning = torch.cat(parts, -1)
        x_in = F.linear(conditioning, model.input_layer.weight[:, model.n_fed :], model.input_layer.bias)
        gi1 = gru_input_split(F.linear(x_in, model.rnn1.weight_ih_l0, model.rnn1.bias_ih_l0), model.rnn1)
        gi2 = gru_input_split(F.linear(a2, model.rnn2.weight_ih_l0[:, rnn:], model.rnn2.bias_ih_l0), model.rnn2)
        fc1 = F.linear(a3, model.fc1.weight[:, rnn:], model.fc1.bias)
        fc2 = F.linear(a4, model.fc2.weight[:, fc:], model.fc2.bias)
        return torch.cat([x_in, *gi1], -1), *gi2, fc1, fc2

    def block_inputs(self, start: int, stop: int) -> tuple[torch.Tensor, ...]:
        """`block_conditioning`, and with linear prediction each step's prediction weights (L, N, p) after it."""
        conditioning = self.block_conditioning(start, stop)
        predictor = self.model.predictor
        if predictor is None:
            return conditioning
        return *conditioning, predictor.step_weights(self.model.upsample.unpadded(self.padded, start, stop))

    @torch.inference_mode()
    def block(
        self, start: int, stop: int, fed: torch.Tensor | None, return_logits: bool, generator: torch.Generator | None
    ) -> StreamBlock:
        """Run the recurrence over frames [start, stop). fed: (rows, L) the teacher's samples as `fed` gives them, or
        None to feed back the drawn samples."""
        model = self.model
        config = model.config
        rnn, bits = config.rnn_dims, config.bits
        input_gi1, gi2_rz, gi2_n, fc1_cond, fc2_cond, *lpc_weights = self.windows.get(start, stop)
        lpc_weights = lpc_weights[0] if lpc_weights else None
        length, batch = input_gi1.shape[:2]
        mulaw, lpc = config.mode == "mulaw", model.predictor is not None
        sampler = MulawSampler(bits, self.sampling.temperature) if mulaw else MixtureSampler(config.log_scale_min)
        device = self.padded.device
        noise = sampler.noise(length, batch, generator, device)
        if model.compiled_on(device):
            return self._compiled_block(
                input_gi1, gi2_rz, gi2_n, fc1_cond, fc2_cond, noise, lpc_weights, fed, return_logits
            )
        # A drawn class is fed back as its compressed value, 2·class / (2^bits − 1) − 1; a mixture draw as itself.
        compressed_levels = torch.linspace(-1.0, 1.0, model.n_classes, device=device) if mulaw else None
        fed_steps = None if fed is None else fed.t().unsqueeze(-1).unbind(0)
        drawn, outputs = [], []
        sample_weights = previous_weights(model)
        gru1, gru2 = gru_step_weights(model.rnn1), gru_step_weights(model.rnn2)
        w_ih2 = model.rnn2.weight_ih_l0
        w_ih2_rz_t, w_ih2_n_t = w_ih2[: 2 * rnn, :rnn].t(), w_ih2[2 * rnn :, :rnn].t()
        fc1_t, fc2_t = model.fc1.weight[:, :rnn].t(), model.fc2.weight[:, : config.fc_dims].t()
        fc3_t, b_fc3 = model.fc3.weight.t(), model.fc3.bias
        previous, h1, h2 = self.previous, self.h1, self.h2
        steps = zip(*(part.unbind(0) for part in (input_gi1, gi2_rz, gi2_n, fc1_cond, fc2_cond)), noise)
        for t, (input_gi1_t, gi2_rz_t, gi2_n_t, fc1_pre, fc2_pre, noise_t) in enumerate(steps):
            inputs = previous
            if lpc:
                prediction = next_prediction(self.history, lpc_weights[t])
                inputs = torch.cat([previous, mulaw_compress(prediction, bits).float()], 1)
            x_in, gi1_rz, gi1_n = torch.addmm(input_gi1_t, inputs, sample_weights).split((rnn, 2 * rnn, rnn), 1)
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
                self.history = pushed(self.history, fed_sample)
            elif fed_steps is not None:
                previous = fed_steps[t]
            else:
                previous = sample if compressed_levels is None else torch.take(compressed_levels, sample)
            drawn.append(sample)
            if return_logits:
                outputs.append(out)
        self.previous, self.h1, self.h2 = previous, h1, h2
        samples = torch.cat(drawn, dim=1)
        samples = samples if lpc else sampler.to_audio(samples)
        return StreamBlock(samples, torch.stack(outputs, dim=2) if return_logits else None)

    def _compiled_block(
        self, input_gi1, gi2_rz, gi2_n, fc1_cond, fc2_cond, noise, lpc_weights, fed, return_logits
    ) -> StreamBlock:
        """`block`'s loop on the CPU in mu-law mode, by `kernel.run_block` (same inputs, same draws)."""
        model = self.model
        length, batch = input_gi1.shape[:2]
        previous = self.previous.float().numpy().copy()
        h1, h2 = self.h1.numpy().copy(), self.h2.numpy().copy()
        lpc = lpc_weights is not None
        history = self.history.numpy().copy() if lpc else np.empty((batch, 0))
        samples = np.empty((length, batch), dtype=np.float32)
        logits = np.empty((length, batch, model.n_classes) if return_logits else (0, 0, 0), dtype=np.float32)
        taught = np.empty((0, 0), dtype=np.float32) if fed is None else fed.t().float().contiguous().numpy()
        conditioning = (part.contiguous().numpy() for part in (input_gi1, gi2_rz, gi2_n, fc1_cond, fc2_cond))
        uniforms = torch.stack(noise).reshape(length, batch).numpy()
        step_weights = lpc_weights.contiguous().numpy() if lpc else np.empty((0, 0, 0))
        if self.kernel_weights is None:
            self.kernel_weights = kernel_weights(model)
        kernel.run_rows_in_threads(
            model.row_threads or cpu_cores(),
            *conditioning,
            uniforms,
            taught,
            step_weights,
            model.config.bits,
            self.sampling.temperature,
            self.kernel_weights,
            previous,
            history,
            h1,
            h2,
            samples,
            logits,
        )
        self.previous, self.h1, self.h2 = torch.from_numpy(previous), torch.from_numpy(h1), torch.from_numpy(h2)
        if lpc:
            self.history = torch.from_numpy(history)
        return StreamBlock(
            torch.from_numpy(samples).t().contiguous(),
            torch.from_numpy(logits).permute(1, 2, 0) if return_logits else None,
        )

    def carried(self) -> tuple[torch.Tensor | None, ...]:
        """Copies of what the next sample depends on, for `keep`."""
        return tuple(None if part is None else part.clone() for part in (self.previous, self.h1, self.h2, self.history))

    def keep(self, carried: tuple[torch.Tensor | None, ...], rows: torch.Tensor) -> None:
        """Continue from `carried` (from `carried()`), row i taking that of row rows[i] (mel-guided sampling)."""
        self.previous, self.h1, self.h2, self.history = (None if part is None else part[rows] for part in carried)
