"""Vocoder model families: WaveRNN (dual-softmax and single-output) and WaveNet."""
