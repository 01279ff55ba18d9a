"""Which training rows every unsupervised task uses, and their labels."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from genzoo.data import Dataset
from genzoo.errors import ConfigError


def subset_indices(n: int, max_train: int | None, seed: int) -> Tensor | None:
    """Sorted indices of a seeded random subset of ``max_train`` of ``n`` images, or ``None``."""
    if max_train is None or max_train >= n:
        return None
    if max_train < 3:
        raise ConfigError(f"max_train must be at least 3 (or None for all), got {max_train}")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return order[:max_train].sort().values


def train_subset(dataset: Dataset, max_train: int | None, seed: int) -> Tensor:
    """Training images ``[N, C, H, W]``: all, or a seeded random subset of ``max_train``."""
    keep = subset_indices(dataset.train.shape[0], max_train, seed)
    return dataset.train if keep is None else dataset.train[keep]


def require_labels(dataset: Dataset, split: str) -> Tensor:
    """``dataset.train_labels`` or ``dataset.test_labels`` (``split``); ConfigError if absent."""
    labels = getattr(dataset, f"{split}_labels")
    if labels is None:
        raise ConfigError(
            f"{dataset.name!r} has no labels; probing and clustering score representations "
            "against class labels: use a labelled dataset (digits, fashion-mnist, mnist, or a "
            "folder with class sub-folders)"
        )
    return labels


def training_labels(dataset: Dataset, *, max_train: int | None = None, seed: int = 0) -> Tensor:
    """The training labels ``[N]`` aligned with
    :func:`~genzoo.evaluation.unsupervised.representations`' training rows."""
    labels = require_labels(dataset, "train")
    keep = subset_indices(labels.shape[0], max_train, seed)
    return labels if keep is None else labels[keep]


def as_numpy(labels: np.ndarray | Tensor) -> np.ndarray:
    """Labels as a NumPy array (a tensor is moved to the CPU first)."""
    return labels.cpu().numpy() if isinstance(labels, Tensor) else np.asarray(labels)
