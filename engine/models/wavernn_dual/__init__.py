"""The paper's dual-softmax WaveRNN: model.py (config, the network, forward, loss), cell.py (the byte coding and the
GRU step that forward and the torch loop share), stream.py (the state, the torch loop, the compiled loop's weights),
kernel.py (the compiled loop, numba only). The sparse WaveRNN of the paper's §4: pruning.py (the schedule and the
block masks), sparse.py (the block-sparse form and its stream), sparse_kernel.py (the compiled loop over the kept
blocks, numba only)."""
