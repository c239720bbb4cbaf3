"""Vocoscope's engine: features, models, generation, playback and checks. No Qt here."""

__version__ = "0.1.0"
