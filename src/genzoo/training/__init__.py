"""Training on Lightning Fabric: :func:`train` with a :class:`TrainConfig` recipe.

Quick start::

    import genzoo
    from genzoo.training import TrainConfig, train

    data = genzoo.load_dataset("digits")
    model = genzoo.create_model("gated_pixelcnn", shape=data.shape, levels=data.levels)
    result = train(model, data, TrainConfig(steps=500), "runs/digits")
    genzoo.load_model("runs/digits")   # the EMA weights, ready for evaluation and sampling

Device, precision and distribution live only here; models stay CPU/fp32 and never create
optimizers. The names below are imported on first use, so that a module needing only
``genzoo.training.batches`` does not load Lightning Fabric.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from genzoo.core.lazy import lazy_exports

if TYPE_CHECKING:
    from genzoo.training.batches import BatchOrder
    from genzoo.training.checkpoint import CHECKPOINT_NAME, hold_run, load_checkpoint
    from genzoo.training.config import DEFAULT_STEPS, TrainConfig
    from genzoo.training.ema import ExponentialMovingAverage
    from genzoo.training.engine import TrainingInterrupted
    from genzoo.training.metrics import METRICS_NAME
    from genzoo.training.schedule import LRSchedule
    from genzoo.training.trainer import TRAIN_CONFIG_NAME, TrainResult, train

_LAZY: dict[str, str] = {
    "BatchOrder": "genzoo.training.batches",
    "CHECKPOINT_NAME": "genzoo.training.checkpoint",
    "hold_run": "genzoo.training.checkpoint",
    "load_checkpoint": "genzoo.training.checkpoint",
    "DEFAULT_STEPS": "genzoo.training.config",
    "TrainConfig": "genzoo.training.config",
    "ExponentialMovingAverage": "genzoo.training.ema",
    "TrainingInterrupted": "genzoo.training.engine",
    "METRICS_NAME": "genzoo.training.metrics",
    "LRSchedule": "genzoo.training.schedule",
    "TRAIN_CONFIG_NAME": "genzoo.training.trainer",
    "TrainResult": "genzoo.training.trainer",
    "train": "genzoo.training.trainer",
}

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)

__all__ = [
    "CHECKPOINT_NAME",
    "DEFAULT_STEPS",
    "METRICS_NAME",
    "TRAIN_CONFIG_NAME",
    "BatchOrder",
    "ExponentialMovingAverage",
    "LRSchedule",
    "TrainConfig",
    "TrainResult",
    "TrainingInterrupted",
    "hold_run",
    "load_checkpoint",
    "train",
]
