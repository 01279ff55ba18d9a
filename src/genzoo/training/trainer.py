"""The training entry point: :func:`train` runs the procedure a model declares.

Nothing here knows a model family: the model's ``capabilities.training`` names a procedure in
:data:`~genzoo.training.procedures.PROCEDURES` — ``"likelihood"`` and ``"adversarial"`` are
optimiser steps run by the gradient engine (:mod:`genzoo.training.engine`, on Lightning Fabric),
``"fit"`` is the model's own algorithm (:mod:`genzoo.training.fitting`).
"""

from __future__ import annotations

import gc
from pathlib import Path

from genzoo.data.dataset import Dataset
from genzoo.errors import ConfigError
from genzoo.models.base import GenerativeModel
from genzoo.training import engine, fitting  # noqa: F401 - they register the procedures
from genzoo.training.config import TrainConfig
from genzoo.training.procedures import PROCEDURES
from genzoo.training.result import TRAIN_CONFIG_NAME, TrainResult

__all__ = ["TRAIN_CONFIG_NAME", "TrainResult", "train"]


def train(
    model: GenerativeModel,
    dataset: Dataset,
    config: TrainConfig,
    out_dir: str | Path,
    *,
    resume: bool = False,
) -> TrainResult:
    """Train ``model`` on ``dataset.train`` following ``config``; write the run to ``out_dir``.

    Args:
        model: any :class:`GenerativeModel` with ``shape``/``levels`` matching the dataset
            (CPU, fp32, as built by :func:`genzoo.create_model`). Trained in place.
        dataset: a :class:`genzoo.data.Dataset`; labels are passed to class-conditional models,
            conditions (made by a task, :mod:`genzoo.data.tasks`) to image-conditional ones.
            Periodic evaluation uses the first ``config.eval_images`` test images.
        config: the recipe (``TrainConfig()`` for the defaults); validated here.
        out_dir: run directory (:class:`~genzoo.core.run.RunFolder`), created if needed. Holds
            ``checkpoint.pt``, the model (``config.json`` + ``model.safetensors``, loadable with
            :func:`genzoo.load_model`), ``train_config.json``, ``metrics.csv`` and ``tb/``.
        resume: continue the run saved in ``out_dir/checkpoint.pt``. The budget may be raised
            and e.g. ``lr`` lowered; ``batch_size``, ``seed``, ``binarize``, the model and the
            dataset must match.

    Returns:
        A :class:`TrainResult`. Afterwards ``model`` holds the EMA weights (the plain final
        weights when ``ema_decay == 0``), on the CPU, in fp32, contiguous memory format and eval
        mode — the same weights as the saved model. The raw weights are in the checkpoint.

    Raises:
        ConfigError: an invalid config, or a model/dataset/config mismatch.
        TrainingError: a non-finite loss or weights (the last good checkpoint is left intact
            and named), a missing or incompatible checkpoint on resume, an existing run in
            ``out_dir`` without ``resume``, or another process training into ``out_dir``.

    Note:
        ``train`` seeds the global ``torch``/``random``/``numpy`` RNGs. With ``devices > 1``
        every rank must call ``train`` (Fabric starts ranks >= 1 by re-running the script);
        every rank returns (check :attr:`TrainResult.global_rank` before doing rank-0 work
        such as the final evaluation) and the process group is destroyed on return.
    """
    if not isinstance(config, TrainConfig):
        raise ConfigError(f"config must be a TrainConfig, got {type(config).__name__}")
    config.validate()
    if not isinstance(model, GenerativeModel):
        raise ConfigError(f"model must be a genzoo GenerativeModel, got {type(model).__name__}")
    procedure = PROCEDURES.get(model.capabilities.training)
    result, last_collective = procedure.run(model, dataset, config, Path(out_dir), resume)
    if last_collective is not None:
        # The DDP wrapper's reducer holds the last reference to the process group, whose
        # destructor (run with the GIL held) joins gloo's worker threads. A worker still freeing
        # a finished collective whose tensor Python no longer references needs the GIL: a
        # deadlock, seen in about 1 run of 5 at exit. So the engine pauses before tearing down,
        # and the wrapper is freed here while the last collective's tensor is still referenced.
        gc.collect()
    return result
