"""Block inputs cut from windows of frames equal the blocks computed one by one, with fewer computations."""

import torch

from engine.models.frame_windows import WINDOW_ROWS, FrameWindows
from engine.models.upsample import UpsampleConfig, UpsampleNetwork


def test_blocks_cut_from_windows_equal_blocks_computed_alone():
    torch.manual_seed(0)
    config = UpsampleConfig(factors=(4, 4), resnet_blocks=1, resnet_channels=8, aux_channels=8)
    network = UpsampleNetwork(20, 16, config).eval()
    for batch in (1, 3, 16):
        padded = network.pad_mel(torch.rand(batch, 20, 21))

        def compute(start, stop):  # the conditioning of frames [start, stop), time-major
            return tuple(part.transpose(0, 1) for part in network.upsample_range(padded, start, stop))

        windows_computed = []

        def compute_window(start, stop):
            windows_computed.append((start, stop))
            return compute(start, stop)

        windows = FrameWindows(compute_window, frames=21, hop=16, batch=batch)
        with torch.no_grad():
            for start in range(21):
                for cut, alone in zip(windows.get(start, start + 1), compute(start, start + 1)):
                    torch.testing.assert_close(cut, alone, atol=1e-6, rtol=0)
        window = max(1, WINDOW_ROWS // batch)
        assert windows_computed == [(start, min(start + window, 21)) for start in range(0, 21, window)]
