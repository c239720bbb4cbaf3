"""Fast WaveNet generation (model.py) one block at a time: the queues, the per-sample torch loop, and the weights and
queues of the compiled loop (kernel.py), which runs instead on the CPU in "mulaw" mode.
"""

from __future__ import annotations

import numpy as np
import torch

from engine.models.base import StreamBlock
from engine.models.coding import MulawSampler, mulaw_classes, mulaw_compress
from engine.models.frame_windows import FrameWindows, padded_frames
from engine.models.linear_prediction import excited_sample, next_prediction, pushed
from engine.models.mixture import MixtureSampler
from engine.models.wavenet import kernel
from engine.models.wavenet.kernel import SQRT_HALF


class IncrementalGeneration:
    """The state of one Fast WaveNet generation: ring buffers, the weights as matrices, the padded mel.

    Layer l keeps its last (k − 1) · d_l inputs in ring[l] ((k − 1) · d_l, N, R); the input of step t goes to
    slot t mod (k − 1) · d_l after the taps t − d_l, …, t − (k − 1) · d_l were read (the oldest slot is free).
    The torch loop keeps one tensor per layer (`rings`); the compiled loop all of them in one array (`ring`).
    """

    def __init__(self, model, mel: torch.Tensor, speaker: torch.Tensor | None, temperature: float | None):
        """model: a WaveNet; mel (N, n_mels, F), a tensor or a FrameSource; speaker (N,) or None; temperature: the
        mu-law draws' (None for a mixture)."""
        config = model.config
        self.model = model
        self.temperature = temperature
        self.speaker = speaker
        self.batch = mel.shape[0]
        self.hop = model.hop_length
        self.padded_mel = padded_frames(model.upsample, mel)  # padded a window at a time
        self.source = model.source_blocks(mel)  # the pitch's source features, made a block at a time, or None
        self.windows = FrameWindows(self._block_inputs, mel.shape[-1], model.hop_length, mel.shape[0])
        self.kernel_size = config.kernel_size
        self.step = 0
        r = config.residual_channels
        scalar = config.input == "scalar"  # fed the previous sample through first_conv, not a class's embedding
        self.embed = None if scalar else model.embed.weight
        self.first_conv = model.first_conv.weight[:, :, 0].t().contiguous() if scalar else None  # (1, R)
        self.first_conv_bias = model.first_conv.bias if scalar else None
        self.dilations = [layer.dilation for layer in model.layers]
        # filter_gate weight (2R, R, k) → (k · R, 2R): rows of tap j multiply the input at t − (k − 1 − j) · d
        self.filter_gate = [
            layer.filter_gate.weight.permute(2, 1, 0).reshape(-1, 2 * r).contiguous() for layer in model.layers
        ]
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
        self.previous = torch.zeros(self.batch) if scalar else mulaw_classes(torch.zeros(self.batch), config.bits)
        self.predictor = model.predictor
        if self.predictor is not None:  # the last p samples, oldest first, and e_{t−1} mu-law compressed
            self.history = torch.zeros(self.batch, config.lpc_order, dtype=torch.float64)
            self.previous_excitation = torch.zeros(self.batch, 1)
            self.lpc_input = model.lpc_input.weight.t().contiguous()
            self.lpc_input_bias = model.lpc_input.bias
        self.sampler = (
            MulawSampler(config.bits, temperature) if config.output == "mulaw" else MixtureSampler(config.log_scale_min)
        )
        self.compiled = model.compiled_on(mel.device)
        if self.compiled:
            self._compiled_state()
        else:
            self.rings = [torch.zeros(size, self.batch, r, dtype=self.out.dtype) for size in self.queue_sizes]

    def _compiled_state(self) -> None:
        """The weights and queues as `kernel.run_block` takes them: float32 numpy, matrices as (out, in) but for
        the columns of the two prediction inputs, one ring for all layers."""

        def array(tensor: torch.Tensor) -> np.ndarray:
            return np.ascontiguousarray(tensor.detach().float().numpy())

        sizes = self.queue_sizes
        self.kernel_weights = (
            array(self.embed),
            array(torch.stack(self.filter_gate).transpose(1, 2)),
            array(torch.stack(self.residual).transpose(1, 2)),
            array(torch.stack(self.residual_bias)),
            array(self.skip.t()),
            array(self.skip_bias),
            array(self.post.t()),
            array(self.post_bias),
            array(self.out.t()),
            array(self.out_bias),
            np.array(self.dilations, dtype=np.int64),
            np.cumsum([0] + sizes[:-1]).astype(np.int64),
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
        self,
        start: int,
        stop: int,
        teacher: torch.Tensor | None,
        return_logits: bool,
        generator: torch.Generator | None,
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
            teacher_classes = (
                teacher_samples.float()
                if self.first_conv is not None  # input "scalar": the samples
                else mulaw_classes(teacher_samples, config.bits)
            )
        noise = self.sampler.noise(n, self.batch, generator, cond.device)
        if self.compiled:
            return self._compiled_block(cond, noise, teacher_classes, teacher_samples, lpc_weights, return_logits)
        logits = torch.empty(n, self.batch, config.output_channels) if return_logits else None
        drawn = []
        for i in range(n):
            if lpc_weights is None:
                output = self._step(cond[i], self._input_column())
                drawn.append(self.sampler.draw(output, noise[i]))
                self.previous = teacher_classes[i] if teacher_classes is not None else self._input_classes(drawn[-1])
            else:
                prediction = next_prediction(self.history, lpc_weights[i])
                features = torch.cat([self.previous_excitation, mulaw_compress(prediction, config.bits).float()], 1)
                output = self._step(
                    cond[i], torch.addmm(self.lpc_input_bias, features, self.lpc_input).add_(self.embed[self.previous])
                )
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
        source = None if self.source is None else self.source.features(start, stop)
        cond = model.conditioning(mel_up, aux, self.speaker, source) + self.filter_gate_bias.unsqueeze(-1)
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
        """`block`'s loop on the CPU in mu-law mode, by `kernel.run_block` (same inputs, same draws)."""
        config, n = self.model.config, cond.shape[0]
        samples = np.empty((n, self.batch), dtype=np.float32)
        logits = np.empty((n, self.batch, config.output_channels) if return_logits else (0, 0, 0), dtype=np.float32)
        teacher = np.empty((0, 0), np.int64) if teacher_classes is None else teacher_classes.numpy()
        taught = np.empty((0, 0), np.float32) if teacher_samples is None else teacher_samples.float().numpy()
        step_weights = np.empty((0, 0, 0)) if lpc_weights is None else lpc_weights.contiguous().numpy()
        uniforms = torch.stack(noise).reshape(n, self.batch).numpy()
        kernel.run_block(
            cond.float().numpy(),
            uniforms,
            teacher,
            taught,
            step_weights,
            config.bits,
            self.temperature,
            *self.kernel_weights,
            *self.kernel_lpc_input,
            self.ring,
            self.kernel_step,
            self.kernel_previous,
            self.kernel_history,
            self.kernel_excitation,
            samples,
            logits,
        )
        self.step += n
        return StreamBlock(
            samples=torch.from_numpy(samples).t().contiguous(),
            logits=torch.from_numpy(logits).permute(1, 2, 0).contiguous() if return_logits else None,
        )

    def _input_column(self) -> torch.Tensor:
        """This step's input column (N, R): the embedding of the previous class, or the previous sample through
        first_conv."""
        if self.first_conv is None:
            return self.embed[self.previous]
        return torch.addmm(self.first_conv_bias, self.previous.unsqueeze(1), self.first_conv)

    def _input_classes(self, drawn: torch.Tensor) -> torch.Tensor:
        """A step's draw (N, 1), a class or (mixture output) a sample → the next step's input classes (N,), or the
        sample itself with input "scalar"."""
        if self.model.config.output == "mulaw" or self.first_conv is not None:
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
                x = torch.addmm(self.residual_bias[l], z, self.residual[l], beta=SQRT_HALF, alpha=SQRT_HALF).add_(
                    x, alpha=SQRT_HALF
                )
        skip = torch.addmm(self.skip_bias, torch.cat(gated, dim=1), self.skip).relu_()
        hidden = torch.addmm(self.post_bias, skip, self.post).relu_()
        self.step = t + 1
        return torch.addmm(self.out_bias, hidden, self.out)
