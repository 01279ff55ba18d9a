"""genzoo: deep generative models of images behind one contract.

Quick start::

    import genzoo
    data = genzoo.load_dataset("digits")
    model = genzoo.create_model("gated_pixelcnn", shape=data.shape, levels=data.levels)
    print(model.log_prob(data.test[:4]))          # nats per image

``import genzoo`` itself loads nothing heavy: the names below are imported on first use
(PEP 562), so ``genzoo --version`` starts without torch and ``genzoo.evaluation`` loads
Lightning Fabric only when it is touched.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"

from genzoo.core.lazy import lazy_exports
from genzoo.errors import (
    ConfigError,
    DatasetError,
    GenzooError,
    ModelError,
    TrainingError,
    UnsupportedError,
)

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time __getattr__ imports these
    from genzoo import apps, evaluation
    from genzoo.data import Dataset, available_datasets, load_dataset
    from genzoo.models import available_models, create_model, load_model

#: public name -> the module that defines it (a submodule of genzoo when the name is one)
_LAZY: dict[str, str] = {
    "apps": "genzoo.apps",
    "evaluation": "genzoo.evaluation",
    "Dataset": "genzoo.data",
    "available_datasets": "genzoo.data",
    "load_dataset": "genzoo.data",
    "available_models": "genzoo.models",
    "create_model": "genzoo.models",
    "load_model": "genzoo.models",
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)

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
