"""The single-output WaveRNN: model.py (config, the network, forward, loss), stream.py (the state, the torch loop,
the compiled loop's weights), kernel.py (the compiled loop, numba only), mel_guide.py (choosing among draws by the
mel)."""
