"""Importers of other projects' vocoder checkpoints: each reads a source's file without running its code and
builds the Vocoscope model of the same function (engine/models), with the source's mel conventions in its MelConfig.

`import_checkpoint(path, source, hparams_files)` → `Imported` (model, metadata, notes); `detect_source(path)`
names the source a file's structure points to, or None.
"""
