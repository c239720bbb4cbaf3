"""Generation reads its mel a window at a time (issue 22, item 9; docs/long-input-memory.md): the mel padded a window
at a time gives the conditioning the padded mel gives, at block boundaries and at both ends; a long recording's mel
is computed from the file as it is asked for, the same frames wherever and whenever they are asked for; the pitch's
source features made a block at a time are the whole mel's for a take of one block and join where blocks meet for a
longer one; and generating from a mel read a window at a time makes the samples the whole mel makes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.errors import InputError
from engine.features import Conditioning, MelConfig, load_input, mel_spectrogram
from engine.generate import generate
from engine.mel_frames import FrameSource, TensorFrames
from engine.models.frame_windows import padded_frames
from engine.models.upsample import PAD_MODES, UpsampleConfig, UpsampleNetwork
from engine.pitch_source import PitchSource, SourceBlocks
from engine.streamed_mel import KEPT_BLOCKS, stream_input
from tests.test_hardening_long_input import noise_file
from tests.test_wavenet import MEL, small_wavenet

PAD, HOP = 3, 16


class CountedFrames(TensorFrames):
    """A mel in memory that notes every window read from it."""

    def __init__(self, mel: torch.Tensor):
        super().__init__(mel)
        self.read: list[tuple[int, int]] = []

    def window(self, start: int, stop: int) -> torch.Tensor:
        self.read.append((start, stop))
        return super().window(start, stop)


@pytest.mark.parametrize("pad_mode", list(PAD_MODES))
def test_conditioning_from_a_mel_padded_a_window_at_a_time_is_the_padded_mels_at_boundaries_and_both_ends(pad_mode):
    torch.manual_seed(0)
    config = UpsampleConfig(
        factors=(4, 4), pad=PAD, resnet_blocks=1, resnet_channels=8, aux_channels=8, pad_mode=pad_mode
    )
    network = UpsampleNetwork(20, HOP, config).eval()
    frames = 23
    mel = torch.rand(2, 20, frames) - 0.5  # negative values too: the zeros padded must be +0, as F.pad's
    source = CountedFrames(mel)
    lazy, eager = padded_frames(network, source), network.pad_mel(mel)
    assert lazy.shape == eager.shape
    with torch.no_grad():
        whole = network(mel)
        for start, stop in [(0, 1), (0, 4), (4, 8), (8, 12), (1, 2), (19, 23), (21, 22), (22, 23), (0, 23)]:
            source.read.clear()
            from_windows = network.upsample_range(lazy, start, stop)
            for part, padded_part, whole_part in zip(from_windows, network.upsample_range(eager, start, stop), whole):
                assert torch.equal(part, padded_part)  # the same values as from the padded copy, to the bit
                torch.testing.assert_close(part, whole_part[:, start * HOP : stop * HOP], atol=1e-6, rtol=0)
            # only the frames the window reaches were read, never the whole mel
            assert sum(high - low for low, high in source.read) <= stop - start + 2 * PAD
            if PAD <= start and stop + PAD <= frames:
                assert source.read == [(start - PAD, stop + PAD)]
        for start, stop in [(0, 5), (3, 10), (frames - 2, frames + 2 * PAD), (0, frames + 2 * PAD)]:
            assert torch.equal(lazy[:, :, start:stop], eager[:, :, start:stop])
            assert torch.equal(torch.signbit(lazy[:, :, start:stop]), torch.signbit(eager[:, :, start:stop]))


def test_a_long_recordings_mel_is_computed_as_it_is_asked_for_the_same_frames_anywhere(tmp_path, warm_librosa):
    path = noise_file(tmp_path / "take.wav", 3.01, 44100, 2)
    config = MelConfig()
    whole = load_input(path, config).mel
    mel = stream_input(path, config, block_seconds=0.25).mel
    assert isinstance(mel, FrameSource) and mel.shape == (1, config.n_mels, whole.shape[1]) == (1, 80, 241)
    assert mel.block == 20
    for start, stop in [(0, 7), (5, 45), (100, 241), (241, 241), (3, 30), (0, 241)]:  # (3, 30): read again
        np.testing.assert_allclose(mel.window(start, stop)[0], whole[:, start:stop], rtol=0, atol=3e-7)
        assert len(mel.kept) <= KEPT_BLOCKS
    first = mel.window(0, 30)
    mel.window(200, 241)
    assert torch.equal(mel.window(0, 30), first)  # read again from the file's start: the same to the bit


def test_a_recording_that_shrinks_while_it_is_vocoded_is_named(tmp_path, warm_librosa):
    path = noise_file(tmp_path / "take.wav", 2.0, 16000, 1)
    mel = stream_input(path, MelConfig(), block_seconds=0.5).mel
    noise_file(path, 1.0, 16000, 1)
    with pytest.raises(InputError) as raised:
        mel.window(150, 161)
    assert str(path) in str(raised.value) and "changed while it was being vocoded" in str(raised.value)


def gliding_tone_mel(frames: int) -> torch.Tensor:
    """The mel (1, n_mels, frames) of a harmonic tone whose F0 glides between 120 and 180 Hz, at test_wavenet's MEL."""
    t = np.arange(frames * MEL.hop_length) / MEL.sample_rate
    phase = 2 * np.pi * np.cumsum(150 + 30 * np.sin(2 * np.pi * 0.5 * t)) / MEL.sample_rate
    tone = sum(np.cos(k * phase) / k for k in range(1, 20)).astype(np.float32)
    return torch.from_numpy(mel_spectrogram(0.2 * tone, MEL)[:, :frames])[None]


def test_source_features_made_a_block_at_a_time_are_the_whole_mels_within_a_block_and_join_across(warm_librosa):
    frames = 300
    mel = gliding_tone_mel(frames)
    whole = PitchSource(MEL)(mel)
    one_block = SourceBlocks(TensorFrames(mel), MEL)  # a minute of frames: this mel is one block
    assert one_block.block == 60_000
    assert torch.equal(one_block.features(0, frames), whole)
    assert torch.equal(one_block.features(10, 57), whole[:, 10 * HOP : 57 * HOP])
    blocks = SourceBlocks(TensorFrames(mel), MEL, block=70, overlap=20)
    joined = torch.cat([blocks.features(start, min(start + 9, frames)) for start in range(0, frames, 9)], dim=1)
    assert joined.shape == whole.shape
    # every block's pitch read with 20 frames either side finds the whole reading's track: the features (the tone,
    # its phase carried from block to block, the voicing) are the whole mel's, at the blocks' edges too
    torch.testing.assert_close(joined, whole, atol=1e-6, rtol=0)
    for edge in (70, 140, 210, 280):
        torch.testing.assert_close(
            joined[:, (edge - 1) * HOP : (edge + 1) * HOP],
            whole[:, (edge - 1) * HOP : (edge + 1) * HOP],
            atol=1e-6,
            rtol=0,
        )
    assert torch.equal(blocks.features(75, 80), joined[:, 75 * HOP : 80 * HOP])  # a block made again


def test_generating_from_a_recordings_mel_read_a_window_at_a_time_makes_the_whole_mels_samples(tmp_path, warm_librosa):
    path = noise_file(tmp_path / "take.wav", 1.5, 16000, 1)
    model = small_wavenet(pitch_conditioning=True, envelope_postfilter=1.0)
    streamed = stream_input(path, MEL, model.min_frames, block_seconds=0.4)
    assert isinstance(streamed.mel, FrameSource)
    whole = Conditioning(mel=streamed.mel.whole()[0].numpy(), mel_config=MEL, length=streamed.length)

    def take(conditioning: Conditioning) -> np.ndarray:
        return np.concatenate([chunk.samples for chunk in generate(model, conditioning, device="cpu", seed=3)])

    from_windows = take(streamed)
    assert len(from_windows) == 24000 and np.abs(from_windows).max() > 0
    np.testing.assert_array_equal(from_windows, take(whole))  # the model, its pitch and the envelope post-filter
    assert len(streamed.mel.kept) <= KEPT_BLOCKS


def test_a_waveform_wavenet_streams_the_same_from_a_mel_read_a_window_at_a_time(tmp_path, warm_librosa):
    """(generate paces a waveform WaveNet's blocks by the clock, and blocks of other lengths round differently:
    streamed here at a fixed block length.)"""
    path = noise_file(tmp_path / "take.wav", 1.2, 16000, 1)
    model = small_wavenet(pitch_conditioning=True, output="waveform")
    mel = stream_input(path, MEL, model.min_frames, block_seconds=0.3).mel

    def take(source) -> torch.Tensor:
        return torch.cat(
            [
                block.samples
                for block in model.stream(source, block_frames=7, generator=torch.Generator().manual_seed(1))
            ],
            1,
        )

    assert torch.equal(take(mel), take(mel.whole()))
