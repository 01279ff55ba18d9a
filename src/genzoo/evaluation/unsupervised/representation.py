"""Representations: a model's features, its untrained control, raw pixels, PCA of the pixels."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from genzoo.data import Dataset
from genzoo.errors import ConfigError, GenzooError
from genzoo.evaluation.unsupervised.featurize import model_features, pixel_features, untrained_copy
from genzoo.evaluation.unsupervised.subsets import train_subset
from genzoo.models.base import GenerativeModel

#: PCA dimension of the pixel baseline when no model fixes it
DEFAULT_PCA_DIM = 16


@dataclass
class Representation:
    """One way of describing images: training and test vectors.

    Attributes:
        name: e.g. ``"vae features"``, ``"raw pixels"``, ``"PCA of pixels"``.
        train: float array ``[N_train, F]``; test: float array ``[N_test, F]``.
        note: how it was made, for reports.
    """

    name: str
    train: np.ndarray = field(repr=False)
    test: np.ndarray = field(repr=False)
    note: str = ""

    @property
    def dim(self) -> int:
        return int(self.train.shape[1])


def feature_representation(
    dataset: Dataset,
    model: GenerativeModel,
    *,
    max_train: int | None = None,
    seed: int = 0,
    batch_size: int = 256,
) -> Representation:
    """The model's label-free features (:func:`model_features`) of the training and test images.

    ``max_train``: a seeded random subset of this many training images (``None``: all), the same
    rows as :func:`pixel_representations` and :func:`training_labels` with the same seed.
    """
    train = model_features(model, train_subset(dataset, max_train, seed), batch_size=batch_size)
    test = model_features(model, dataset.test, batch_size=batch_size)
    name = f"{model.name} features"
    if model.num_classes is not None:
        name += " (conditional model: trained with labels)"
    return Representation(name, train, test, "model.features")


def pixel_representations(
    dataset: Dataset,
    *,
    pca_dims: tuple[int, ...] = (DEFAULT_PCA_DIM,),
    max_train: int | None = None,
    seed: int = 0,
) -> list[Representation]:
    """Raw pixels, then PCA of the pixels for each dimension in ``pca_dims``.

    Each PCA is fitted on the training images only; its dimension is capped at the number of
    pixels and of training images (the note says so).
    """
    train_x = train_subset(dataset, max_train, seed)
    raw_train = pixel_features(train_x, dataset.levels)
    raw_test = pixel_features(dataset.test, dataset.levels)
    reps = [Representation("raw pixels", raw_train, raw_test, "levels / (K - 1)")]
    for wanted in pca_dims:
        if int(wanted) < 1:
            raise ConfigError(f"the PCA dimension must be positive, got {wanted}")
        dim = min(int(wanted), raw_train.shape[1], raw_train.shape[0])
        fitted = pca(dim, seed).fit(raw_train)
        note = f"{dim} components fitted on the training images"
        if dim < int(wanted):
            note += f" (capped from {wanted})"
        train, test = fitted.transform(raw_train), fitted.transform(raw_test)
        reps.append(Representation("PCA of pixels", train, test, note))
    return reps


def representations(
    dataset: Dataset,
    model: GenerativeModel | None = None,
    *,
    pca_dim: int | None = None,
    max_train: int | None = None,
    seed: int = 0,
    batch_size: int = 256,
    untrained: bool = True,
) -> list[Representation]:
    """The model's features (if any), raw pixels and PCA of the pixels, on train and test.

    Labels are never read (:func:`training_labels` gives the training labels of the same rows).

    Args:
        dataset: the data (the model's shape and levels).
        model: a model with features, or ``None`` for the pixel baselines only.
        pca_dim: PCA dimension; default: the model's feature dimension, else
            :data:`DEFAULT_PCA_DIM`. Capped at the number of pixels and of training images.
        max_train: use a seeded random subset of this many training images (``None``: all).
        seed: seed of that subset and of the randomized PCA solver.
        batch_size: images per forward pass of the model.
        untrained: add the features of the same architecture with its initial weights
            (:func:`untrained_copy`), the control that tells what training added: random
            convolutional features alone often make good linear probes.

    Returns:
        ``[features, untrained features, raw pixels, PCA of pixels]`` (the first two only with
        a model, the second only with ``untrained`` and when the untrained model has features).
    """
    reps: list[Representation] = []
    if model is not None:
        options = {"max_train": max_train, "seed": seed, "batch_size": batch_size}
        reps.append(feature_representation(dataset, model, **options))
        if pca_dim is None:
            pca_dim = reps[0].dim
        if untrained:
            try:
                control = feature_representation(dataset, untrained_copy(model, seed), **options)
            except GenzooError:  # e.g. a classic model that has no features before fitting
                pass
            else:
                control.name = f"{model.name} features, untrained"
                control.note = f"same architecture, initial weights of seed {seed}"
                reps.append(control)
    dims = (DEFAULT_PCA_DIM if pca_dim is None else int(pca_dim),)
    return reps + pixel_representations(dataset, pca_dims=dims, max_train=max_train, seed=seed)


def pca(dim: int, seed: int) -> Any:
    """An unfitted scikit-learn ``PCA`` of ``dim`` components (``seed``: its solver's state)."""
    from sklearn.decomposition import PCA

    return PCA(n_components=dim, random_state=seed)
