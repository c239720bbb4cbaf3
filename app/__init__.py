"""The Vocoscope window: PySide6 + pyqtgraph over the engine.

Qt only. Nothing here imports torch; every computation goes through `engine` on its worker thread.
"""
