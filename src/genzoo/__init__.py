"""genzoo: deep generative models of images behind one contract.

Quick start::

    import genzoo
    data = genzoo.load_dataset("digits")
    model = genzoo.create_model("gated_pixelcnn", shape=data.shape, levels=data.levels)
    print(model.log_prob(data.test[:4]))          # nats per image
"""

from __future__ import annotations

__version__ = "0.1.0"

from genzoo import apps, evaluation
from genzoo.data import Dataset, available_datasets, load_dataset
from genzoo.errors import (
    ConfigError,
    DatasetError,
    GenzooError,
    ModelError,
    TrainingError,
    UnsupportedError,
)
from genzoo.models import available_models, create_model, load_model

__all__ = [
    "ConfigError",
    "Dataset",
    "DatasetError",
    "GenzooError",
    "ModelError",
    "TrainingError",
    "UnsupportedError",
    "__version__",
    "apps",
    "available_datasets",
    "available_models",
    "create_model",
    "evaluation",
    "load_dataset",
    "load_model",
]
