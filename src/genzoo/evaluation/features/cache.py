"""The on-disk cache of classifier feature networks, keyed by a SHA-256 of the training data.

An entry ``<cache>/feature-networks/<key>/`` is an artifact (:mod:`genzoo.core.artifact`, kind
``"feature-network"``: ``config.json`` + ``model.safetensors``) plus ``info.json`` (what
:func:`feature_network` reports, with the SHA-256 of the weights, which catches damage inside
the tensor data that safetensors would not notice). The entry is built in full, then renamed
into place (:func:`genzoo.core.atomic.atomic_directory`).

Entries written by genzoo 0.1 (``config.json`` = ``{"format": "genzoo-feature-network",
"version": 1, "config"}``, the same weights and ``info.json``) sit under the same keys and are
still read; a missing, half-written or corrupt entry is retrained.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

import torch

from genzoo.core.artifact import (
    CONFIG_NAME,
    WEIGHTS_NAME,
    load_weights,
    read_artifact,
    read_tensors,
    save_artifact,
)
from genzoo.core.atomic import atomic_directory, atomic_write_json
from genzoo.data.dataset import Dataset
from genzoo.data.idx import default_cache_dir
from genzoo.errors import ConfigError, GenzooError, ModelError, StorageError
from genzoo.evaluation.features.network import (
    DROPOUT,
    FEATURE_DIM,
    WIDTHS,
    ClassifierFeatures,
    FeatureNetwork,
)
from genzoo.evaluation.features.training import (
    BATCH_SIZE,
    LEARNING_RATE,
    RECIPE_VERSION,
    default_epochs,
    num_classes,
    require_labels,
    train_classifier,
)

#: ``kind`` of the artifact; ``name`` of the classifier in it
KIND = "feature-network"
CLASSIFIER = "classifier"
#: the recipe's name in every cache key (and the ``format`` of the genzoo 0.1 layout)
FORMAT = "genzoo-feature-network"
INFO_NAME = "info.json"
CACHE_SUBDIR = "feature-networks"


def cache_root(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """``cache_dir``, else ``$GENZOO_CACHE``, else ``~/.cache/genzoo``."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get("GENZOO_CACHE")
    return Path(env).expanduser() if env else default_cache_dir()


def feature_network_key(dataset: Dataset, *, seed: int = 0, epochs: int | None = None) -> str:
    """Cache key ``<dataset-name>-<16 hex digits>`` of the classifier for ``dataset``.

    The digits are a SHA-256 over :data:`RECIPE_VERSION`, the recipe (widths, feature_dim,
    dropout, batch size, learning rate, epochs, seed), ``shape``, ``levels``, ``num_classes``,
    and the bytes of ``train`` and ``train_labels``: any change of the training data (another
    dataset, a subset, a re-quantisation) gives another key.
    """
    labels = require_labels(dataset)
    n_epochs = default_epochs(dataset.train.shape[0]) if epochs is None else int(epochs)
    recipe = {
        "format": FORMAT,
        "version": RECIPE_VERSION,
        "widths": list(WIDTHS),
        "feature_dim": FEATURE_DIM,
        "dropout": DROPOUT,
        "batch_size": BATCH_SIZE,
        "learning_rate": LEARNING_RATE,
        "epochs": n_epochs,
        "seed": int(seed),
        "shape": list(dataset.shape),
        "levels": int(dataset.levels),
        "num_classes": num_classes(dataset, labels),
        "train": list(dataset.train.shape),
    }
    digest = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode())
    # uint8 when it fits: hashing Fashion-MNIST's 47 MB instead of 376 MB of int64.
    dtype = torch.uint8 if dataset.levels <= 256 else torch.int64
    digest.update(dataset.train.to(dtype).contiguous().numpy().data)
    digest.update(labels.to(torch.int64).contiguous().numpy().data)
    slug = re.sub(r"[^A-Za-z0-9._]+", "-", Path(dataset.name).name or dataset.name)
    return f"{slug.strip('-')[:40] or 'data'}-{digest.hexdigest()[:16]}"


def feature_network(
    dataset: Dataset,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    retrain: bool = False,
    seed: int = 0,
    epochs: int | None = None,
) -> FeatureNetwork:
    """The classifier feature network of ``dataset``: loaded from the cache, or trained and cached.

    Trained on ``dataset.train`` / ``train_labels``
    (:func:`~genzoo.evaluation.features.training.train_classifier`), evaluated on
    ``dataset.test``, and written atomically to ``<cache>/feature-networks/<key>/``
    (``config.json``, ``model.safetensors``, ``info.json``) where ``<cache>`` is
    :func:`cache_root` and ``<key>`` :func:`feature_network_key`. A missing, half-written or
    corrupt entry (weights whose SHA-256 differs from ``info.json``) is retrained.

    Args:
        dataset: a labelled dataset.
        cache_dir: base directory of the cache (default ``$GENZOO_CACHE`` or ``~/.cache/genzoo``).
        retrain: train even when a valid cache entry exists (and replace it).
        seed: seed of the initialisation, dropout and data order; the caller's global RNG state
            is left untouched.
        epochs: training epochs (``None``: :func:`default_epochs`).

    Returns:
        A :class:`FeatureNetwork` in eval mode, ``info["cached"]`` telling whether it was loaded.

    Raises:
        ConfigError: the dataset has no labels, fewer than two training images, or bad epochs.
        TrainingError: the loss became non-finite.
    """
    labels = require_labels(dataset)
    if epochs is not None and (
        isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1
    ):
        raise ConfigError(f"epochs must be a positive integer, got {epochs!r}")
    n_epochs = default_epochs(dataset.train.shape[0]) if epochs is None else int(epochs)
    key = feature_network_key(dataset, seed=seed, epochs=n_epochs)
    path = cache_root(cache_dir) / CACHE_SUBDIR / key
    if not retrain:
        loaded = _load_entry(path)
        if loaded is not None:
            return loaded
    module, info = train_classifier(dataset, labels, seed=seed, epochs=n_epochs)
    info["key"] = key
    _write_entry(path, module, info)
    return FeatureNetwork(module.eval(), {**info, "path": str(path), "cached": False})


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _write_entry(path: Path, module: ClassifierFeatures, info: dict[str, Any]) -> None:
    """Build the entry in a temporary sibling directory, then rename it onto ``path``."""
    try:
        with atomic_directory(path) as tmp:
            save_artifact(
                tmp,
                kind=KIND,
                name=CLASSIFIER,
                config=module.config,
                module=module,
                extra={"recipe_version": RECIPE_VERSION},
            )
            info = {**info, "weights_sha256": _sha256_file(tmp / WEIGHTS_NAME)}
            atomic_write_json(tmp / INFO_NAME, info)
    except StorageError:
        # Another process finished the same entry first; theirs is as good as ours.
        if _load_entry(path) is None:
            raise


def _load_entry(path: Path) -> FeatureNetwork | None:
    """The cached network at ``path``, or ``None`` when absent, incomplete or corrupt."""
    if not (path / INFO_NAME).is_file():
        return None
    try:
        info = json.loads((path / INFO_NAME).read_text())
        if _sha256_file(path / WEIGHTS_NAME) != info["weights_sha256"]:
            return None
        meta = json.loads((path / CONFIG_NAME).read_text())
        module = _read_legacy(path, meta) if meta.get("format") == FORMAT else _read(path)
    except (OSError, ValueError, KeyError, TypeError, AttributeError, GenzooError):
        return None
    return FeatureNetwork(module.eval(), {**info, "path": str(path), "cached": True})


def _read(path: Path) -> ClassifierFeatures:
    """The classifier of an artifact entry; :class:`ModelError` if it is not one of this recipe."""
    artifact = read_artifact(
        path, kind=KIND, what="a cached feature network", hint="it is retrained"
    )
    if artifact.name != CLASSIFIER or artifact.extra.get("recipe_version") != RECIPE_VERSION:
        raise ModelError(f"{path} holds another feature network or recipe; it is retrained")
    module = ClassifierFeatures(**artifact.config)
    load_weights(module, artifact.tensors, path / WEIGHTS_NAME)
    return module


def _read_legacy(path: Path, meta: dict[str, Any]) -> ClassifierFeatures:
    """The classifier of an entry written by genzoo 0.1 (same weights, another config.json)."""
    if meta.get("version") != RECIPE_VERSION:
        raise ModelError(f"{path} holds another recipe version; it is retrained")
    module = ClassifierFeatures(**meta["config"])
    load_weights(module, read_tensors(path / WEIGHTS_NAME), path / WEIGHTS_NAME)
    return module
