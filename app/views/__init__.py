"""The window's views: waveform, spectrogram, transport and status widgets, messages (one file each)."""
