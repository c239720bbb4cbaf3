"""Generation by a WaveNet with output "waveform" (model.py), which is not autoregressive: each block of frames runs
through the whole network at once, every dilated convolution continuing from the last inputs of the block before
(ResidualLayer.continued), so the blocks together compute what one forward pass over the whole mel computes. With a
synthesis filter, each block's excitation goes through it, with what the blocks before reach into this one.
"""

from __future__ import annotations

import torch

from engine.models.base import StreamBlock
from engine.models.frame_windows import padded_frames
from engine.models.synthesis_filter import Synthesis


class BlockGeneration:
    """The state of one generation: the mel padded a window at a time, the source features made a block at a time,
    each layer's past inputs, and the synthesis filter's reach past the last block."""

    def __init__(self, model, mel: torch.Tensor, speaker: torch.Tensor | None):
        """model: a WaveNet with output "waveform"; mel (N, n_mels, F), a tensor or a FrameSource; speaker (N,) or
        None."""
        config = model.config
        self.model = model
        self.speaker = speaker
        self.hop = model.hop_length
        self.padded_mel = padded_frames(model.upsample, mel)
        self.source = model.source_blocks(mel)
        # layer l's inputs before the first block are zeros, as the causal padding of the forward pass
        self.pasts = [
            torch.zeros(
                mel.shape[0], config.residual_channels, (config.kernel_size - 1) * layer.dilation, device=mel.device
            )
            for layer in model.layers
        ]
        self.synthesis = None if model.synthesis is None else Synthesis(model.synthesis, mel.shape[0], mel.device)

    def block(
        self,
        start: int,
        stop: int,
        teacher: torch.Tensor | None,
        return_logits: bool,
        generator: torch.Generator | None,
    ) -> StreamBlock:
        """The samples of mel frames [start, stop): (N, (stop − start) · hop), from standard normal noise drawn from
        `generator` ((N, hop) per frame, so that the same seed gives the same noise however the frames are split
        into blocks: torch draws normals in groups, one draw of 2n is not two of n). Nothing is fed back, so
        `teacher` changes nothing."""
        model = self.model
        mel_up, aux = model.upsample.upsample_range(self.padded_mel, start, stop)
        source = self.source.features(start, stop)
        frame = (source.shape[0], self.hop)
        noise = torch.cat(
            [
                torch.randn(frame, generator=generator, device=source.device, dtype=source.dtype)
                for _ in range(start, stop)
            ],
            dim=1,
        )
        cond = model.conditioning(mel_up, aux, self.speaker, source)
        output, self.pasts = model.waveform_output(source, noise, cond, self.pasts)
        if self.synthesis is not None:
            mel = model.upsample.unpadded(self.padded_mel, start, stop)
            output = self.synthesis.block(output[:, 0], mel)[:, None]
        return StreamBlock(samples=output[:, 0].clamp(-1.0, 1.0), logits=output if return_logits else None)
