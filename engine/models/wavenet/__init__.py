"""WaveNet: model.py (config, the network, forward, loss), stream.py (Fast WaveNet generation: the queues, the torch
loop, the compiled loop's weights), kernel.py (the compiled loop, numba only)."""
