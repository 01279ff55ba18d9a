"""What every part of genzoo shares: atomic files, configured artifacts, registries, parameter
tables and run folders.

* :mod:`genzoo.core.atomic` — the one way to write a file or a directory so that a crash, a full
  disk or a second writer never leaves a half-written one;
* :mod:`genzoo.core.params` — declarative parameter tables and their one validator;
* :mod:`genzoo.core.registry` — the one registry type (models, forecasters, tasks, procedures);
* :mod:`genzoo.core.artifact` — the one save/load of anything configured: ``config.json``
  (kind, name, format version, config) beside ``model.safetensors``;
* :mod:`genzoo.core.run` — :class:`~genzoo.core.run.RunFolder`, which owns a run's file names,
  and the typed, versioned ``metrics.json`` schema (:mod:`genzoo.core.metrics`).
"""
