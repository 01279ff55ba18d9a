"""Training on Lightning Fabric: :func:`train` with a :class:`TrainConfig` recipe.

Quick start::

    import genzoo
    from genzoo.training import TrainConfig, train

    data = genzoo.load_dataset("digits")
    model = genzoo.create_model("gated_pixelcnn", shape=data.shape, levels=data.levels)
    result = train(model, data, TrainConfig(steps=500), "runs/digits")
    genzoo.load_model("runs/digits")   # the EMA weights, ready for evaluation and sampling

Device, precision and distribution live only here; models stay CPU/fp32 and never create
optimizers.
"""

from genzoo.training.batches import BatchOrder
from genzoo.training.checkpoint import CHECKPOINT_NAME, hold_run, load_checkpoint
from genzoo.training.config import DEFAULT_STEPS, TrainConfig
from genzoo.training.ema import ExponentialMovingAverage
from genzoo.training.engine import TrainingInterrupted
from genzoo.training.metrics import METRICS_NAME
from genzoo.training.schedule import LRSchedule
from genzoo.training.trainer import TRAIN_CONFIG_NAME, TrainResult, train

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
