"""The feature network by name: ``"classifier"`` (the default) or ``"inception"``."""

from __future__ import annotations

from typing import Any

from genzoo.data.dataset import Dataset
from genzoo.errors import ConfigError
from genzoo.evaluation.features.cache import feature_network
from genzoo.evaluation.features.inception import inception_features
from genzoo.evaluation.features.network import FeatureNetwork

FEATURE_NETWORKS = ("classifier", "inception")


def load_features(name: str, dataset: Dataset, **kwargs: Any) -> FeatureNetwork:
    """Feature network ``name`` (``"classifier"``, the default, or ``"inception"``) for ``dataset``.

    ``kwargs`` go to :func:`~genzoo.evaluation.features.feature_network` or
    :func:`~genzoo.evaluation.features.inception_features`.
    """
    kind = (name or "classifier").strip().lower()
    if kind == "classifier":
        return feature_network(dataset, **kwargs)
    if kind == "inception":
        return inception_features(levels=dataset.levels, channels=dataset.shape[0], **kwargs)
    raise ConfigError(
        f"unknown feature network {name!r}; choose one of {', '.join(FEATURE_NETWORKS)}"
    )
