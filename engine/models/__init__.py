"""Vocoder model families: WaveRNN (dual-softmax and single-output) and WaveNet."""

# The built-in model the window and the command line start with: of the bundled models it scores best on held-out
# speech (resources/README.md), and it generates faster than real time on one CPU core (docs/benchmarks.md). Here,
# not in the registry, so that naming it imports no torch.
DEFAULT_MODEL = "wavenet"
