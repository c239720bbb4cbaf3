"""The paper's sparse WaveRNN (engine/models/wavernn_dual/pruning.py, sparse.py, sparse_kernel.py): the block-sparse
step computes what the dense step computes on the same pruned weights, the pruning schedule reaches its target
during training, and a checkpoint keeps the masks."""

import numpy as np
import pytest
import torch

from engine import checkpoints
from engine.errors import ConfigError
from engine.features import MelConfig
from engine.models import loading, registry
from engine.models.wavernn_dual import kernel, sparse_kernel
from engine.models.wavernn_dual.model import DualSoftmaxConfig, DualSoftmaxWaveRNN
from engine.models.wavernn_dual.pruning import BLOCK, SparsityConfig, block_magnitudes
from engine.models.wavernn_dual.sparse import BlockSparse, SparseStream, sparse_kernel_weights
from engine.models.wavernn_dual.stream import kernel_weights

EVERY_LAYER = ("R", "O1", "O2", "O3", "O4")


def pruned_model(fraction: float = 0.9, hidden_size: int = 64, seed: int = 0) -> DualSoftmaxWaveRNN:
    """A dual-softmax WaveRNN with every prunable matrix pruned to `fraction` of its blocks, in eval mode."""
    torch.manual_seed(seed)
    config = DualSoftmaxConfig(hidden_size=hidden_size, sparsity=SparsityConfig(target=fraction, layers=EVERY_LAYER))
    model = DualSoftmaxWaveRNN(config, MelConfig()).eval()
    model.pruning.prune_to(fraction)
    return model


def dense_twin(model: DualSoftmaxWaveRNN) -> DualSoftmaxWaveRNN:
    """The same pruned weights in a dense model (no masks: the dense stream and the dense compiled loop)."""
    config = DualSoftmaxConfig(hidden_size=model.config.hidden_size)
    twin = DualSoftmaxWaveRNN(config, model.mel_config).eval()
    twin.load_state_dict({key: value for key, value in model.state_dict().items() if not key.endswith("block_mask")})
    return twin


def samples(model, mel, seed=5, **options) -> torch.Tensor:
    return torch.cat(
        [block.samples for block in model.stream(mel, generator=torch.Generator().manual_seed(seed), **options)], dim=1
    )


def test_the_block_sparse_form_holds_the_kept_blocks_only():
    model = pruned_model(0.75)
    weight, mask = model.R.weight, model.R.block_mask
    form = BlockSparse.from_dense(weight, mask)
    kept = int(mask.bool().sum())
    assert kept == round(0.25 * mask.numel())
    assert kept <= len(form.columns) < kept + sparse_kernel.UNROLL * mask.shape[0]  # padding: under 4 per row block
    np.testing.assert_array_equal(form.dense(tuple(weight.shape)), weight.detach().numpy())
    zero_blocks = block_magnitudes(weight)[mask == 0]
    assert zero_blocks.numel() and float(zero_blocks.max()) == 0.0


def test_the_sparse_step_equals_the_dense_step_on_the_same_pruned_weights():
    """The two compiled loops on the same inputs: equal draws, logits equal to float rounding, fed back and taught."""
    model = pruned_model(0.9)
    H, steps = model.config.hidden_size, 300
    rng = np.random.default_rng(0)
    conditioning = rng.normal(0, 0.5, (steps, 1, 3 * H)).astype(np.float32)
    uniforms = rng.random((2, steps, 1), dtype=np.float32)
    taught = rng.integers(0, 256, (steps, 1, 2))
    for fed in (np.empty((0, 0, 0), np.int64), taught):
        results = []
        for loop, weights in (
            (kernel.run_block, kernel_weights(model)),
            (sparse_kernel.run_block, sparse_kernel_weights(model)),
        ):
            h, x_prev = np.zeros((1, H), np.float32), np.zeros((1, 2), np.float32)
            drawn, logits = np.empty((steps, 1, 2), np.int64), np.empty((steps, 1, 512), np.float32)
            loop(conditioning, uniforms, fed, *weights, h, x_prev, drawn, logits)
            results.append((drawn, logits, h))
        (dense_drawn, dense_logits, dense_h), (sparse_drawn, sparse_logits, sparse_h) = results
        np.testing.assert_array_equal(sparse_drawn, dense_drawn)
        np.testing.assert_allclose(sparse_logits, dense_logits, atol=1e-5, rtol=0)
        np.testing.assert_allclose(sparse_h, dense_h, atol=1e-6, rtol=0)
        assert len(np.unique(dense_drawn[:, 0, 0])) > 10  # the draws vary: the comparison means something


def test_a_sparse_stream_generates_what_the_dense_stream_generates():
    """Whole streams, conditioning included: the same samples at a seed, the same teacher-forced logits, and the
    torch loop (the one CUDA runs) agrees with the sparse compiled loop."""
    model = pruned_model(0.9)
    twin = dense_twin(model)
    torch.manual_seed(1)
    mel = torch.rand(1, model.mel_config.n_mels, 8)
    teacher = torch.rand(1, 8 * model.hop_length) * 0.4 - 0.2
    assert isinstance(model.start_stream(mel), SparseStream)
    assert torch.equal(samples(model, mel), samples(twin, mel))
    logits = torch.cat([b.logits for b in model.stream(mel, teacher=teacher, return_logits=True)], dim=2)
    dense_logits = torch.cat([b.logits for b in twin.stream(mel, teacher=teacher, return_logits=True)], dim=2)
    torch.testing.assert_close(logits, dense_logits, atol=1e-5, rtol=0)
    model.compiled_cpu_loop = False
    torch_logits = torch.cat([b.logits for b in model.stream(mel, teacher=teacher, return_logits=True)], dim=2)
    torch.testing.assert_close(torch_logits, logits, atol=1e-5, rtol=0)


def test_the_schedule_grows_to_the_target_as_the_paper_writes_it():
    config = SparsityConfig(target=0.96, start_step=1000, span=200_000, every=500)
    assert config.fraction_at(0) == config.fraction_at(1000) == 0.0
    assert config.fraction_at(101_000) == pytest.approx(0.96 * (1 - 0.5**3))
    assert config.fraction_at(201_000) == config.fraction_at(500_000) == 0.96
    fractions = [config.fraction_at(step) for step in range(0, 210_000, 500)]
    assert fractions == sorted(fractions)


@pytest.mark.slow
def test_training_prunes_on_the_schedule_and_keeps_masked_weights_zero():
    """Adam steps on the model's loss, the trainer's call after each (engine/train.py): the masks update on the
    schedule, only grow, reach the target at its end, and the optimizer never revives a masked weight."""
    torch.manual_seed(0)
    sparsity = SparsityConfig(target=0.8, start_step=2, span=10, every=4, layers=("R", "O1"))
    model = DualSoftmaxWaveRNN(DualSoftmaxConfig(hidden_size=64, sparsity=sparsity), MelConfig()).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    mel, audio = torch.rand(2, 80, 3), torch.rand(2, 3 * 200) * 0.5 - 0.25
    seen = {}
    previous = {name: torch.ones_like(getattr(model, name).block_mask) for name in sparsity.layers}
    for step in range(1, 14):
        optimizer.zero_grad()
        model.loss(model(mel, audio), audio).backward()
        optimizer.step()
        model.after_step(step)
        seen[step] = model.pruning.sparsity()["R"]
        for name in sparsity.layers:
            layer = getattr(model, name)
            assert not bool((previous[name] < layer.block_mask).any()), f"a masked block of {name} came back"
            previous[name] = layer.block_mask.clone()
            masked = (layer.block_mask == 0).repeat_interleave(BLOCK, dim=0)
            assert not bool(layer.weight.detach()[masked].any()), f"a masked weight of {name} is not zero"
    blocks = model.R.block_mask.numel()
    assert seen[5] == 0.0  # z(2) = 0: the first update that masks anything is at step 6
    assert seen[6] == pytest.approx(sparsity.fraction_at(6), abs=1 / blocks) and seen[6] == seen[9]
    assert seen[10] == pytest.approx(sparsity.fraction_at(10), abs=1 / blocks) and seen[10] < seen[12]
    assert seen[12] == pytest.approx(0.8, abs=1 / blocks) and seen[13] == seen[12]  # the span's end, off `every`
    assert model.sparsity_note == "R 80%, O1 80% zero in 16x1 blocks"


def test_a_checkpoint_keeps_the_masks_and_the_samples(tmp_path):
    model = pruned_model(0.96, hidden_size=64, seed=3)
    mel = torch.rand(1, model.mel_config.n_mels, 4)
    expected = samples(model, mel)
    with torch.no_grad():  # an average of weights lets masked blocks drift from zero; loading zeroes them again
        model.R.weight[(model.R.block_mask == 0).repeat_interleave(BLOCK, dim=0)] += 0.5
    path = checkpoints.save(model, tmp_path / "sparse.safetensors")
    loaded = checkpoints.load(path).model
    assert loaded.config.sparsity == model.config.sparsity
    for name in EVERY_LAYER:
        assert torch.equal(getattr(loaded, name).block_mask, getattr(model, name).block_mask)
    assert loaded.pruning.sparsity() == model.pruning.sparsity()
    assert loaded.pruning.sparsity() == pytest.approx(dict.fromkeys(EVERY_LAYER, 0.96), abs=1 / 64)  # O1: 64 blocks
    assert torch.equal(samples(loaded, mel), expected)
    info = loading.info_for(loaded, "sparse", True, path)
    assert info.sparsity == model.sparsity_note == "R 96%, O1 95%, O2 96%, O3 95%, O4 96% zero in 16x1 blocks"
    assert loading.info_for(dense_twin(loaded), "dense", True, path).sparsity == ""


@pytest.mark.parametrize(
    "settings, words",
    [
        ({"hidden_size": 40, "sparsity": {"target": 0.9}}, "multiple of 16"),
        ({"sparsity": {"target": 1.0}}, "below 1"),
        ({"sparsity": {"target": 0.5, "layers": ["R", "I_fine"]}}, "O1"),
    ],
)
def test_a_sparsity_that_cannot_be_built_is_refused_at_construction(settings, words):
    with pytest.raises(ConfigError, match=words):
        registry.build("wavernn-dual", settings)
