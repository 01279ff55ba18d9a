"""2-D maps: the test set on the first two principal components of the training features (or
the latents themselves when they are 2-D), and its coordinates written as ``.csv`` / ``.npz``."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from genzoo.data import Dataset
from genzoo.errors import ConfigError, UnsupportedError
from genzoo.evaluation.unsupervised.featurize import model_features, pixel_features
from genzoo.evaluation.unsupervised.representation import pca
from genzoo.evaluation.unsupervised.subsets import train_subset
from genzoo.models.base import GenerativeModel


@dataclass
class Embedding:
    """The test set in two dimensions.

    Attributes:
        coords: float array ``[N_test, 2]``.
        labels: int array ``[N_test]`` or ``None`` (unlabelled data).
        method: ``"latents"`` (2-D features used as they are) or ``"pca"``.
        representation: what was projected (``"vae features"``, ``"raw pixels"``).
        explained_variance: fraction of the training variance on each axis (PCA only).
        feature_dim: dimension before the projection.
        num_train: training images the PCA was fitted on (0 for ``"latents"``).
    """

    coords: np.ndarray = field(repr=False)
    labels: np.ndarray | None = field(repr=False)
    method: str
    representation: str
    explained_variance: tuple[float, float] | None
    feature_dim: int
    num_train: int

    def axis_names(self) -> tuple[str, str]:
        if self.explained_variance is None:
            return "z1", "z2"
        a, b = self.explained_variance
        return f"PC 1 ({a:.0%} of variance)", f"PC 2 ({b:.0%} of variance)"


def embed(
    dataset: Dataset,
    model: GenerativeModel | None = None,
    *,
    max_train: int | None = None,
    seed: int = 0,
    batch_size: int = 256,
) -> Embedding:
    """2-D coordinates of the test set: the model's 2-D latents, else PCA of its features.

    Without a model: PCA of the raw pixels. The PCA is fitted on the training images' features
    (a ``max_train`` subset if given) and applied to the test images.
    """
    if model is not None:
        test = model_features(model, dataset.test, batch_size=batch_size)
        name = f"{model.name} features"
    else:
        test = pixel_features(dataset.test, dataset.levels)
        name = "raw pixels"
    labels = None if dataset.test_labels is None else dataset.test_labels.numpy()
    if test.shape[1] < 2:
        raise UnsupportedError(f"{name} are {test.shape[1]}-D; a 2-D map needs at least 2")
    if test.shape[1] == 2:
        return Embedding(test.astype(np.float64), labels, "latents", name, None, 2, 0)
    x = train_subset(dataset, max_train, seed)
    train = (
        pixel_features(x, dataset.levels)
        if model is None
        else model_features(model, x, batch_size=batch_size)
    )
    fitted = pca(2, seed).fit(train)
    ratio = tuple(float(v) for v in fitted.explained_variance_ratio_)
    return Embedding(
        fitted.transform(test).astype(np.float64), labels, "pca", name, ratio, test.shape[1], len(x)
    )


def save_coordinates(embedding: Embedding, path: str | os.PathLike[str]) -> Path:
    """Write the coordinates: ``.npz`` (arrays ``coords [N, 2]``, ``labels [N]``, ``index [N]``)
    or ``.csv`` (columns ``index,x,y,label``; ``index`` is the test image's position)."""
    out = Path(path)
    n = embedding.coords.shape[0]
    labels = np.full(n, -1) if embedding.labels is None else embedding.labels
    if out.suffix.lower() == ".npz":
        np.savez(out, coords=embedding.coords, labels=labels, index=np.arange(n))
    elif out.suffix.lower() == ".csv":
        table = np.column_stack([np.arange(n), embedding.coords, labels])
        np.savetxt(out, table, delimiter=",", header="index,x,y,label", comments="",
                   fmt=["%d", "%.9g", "%.9g", "%d"])  # fmt: skip
    else:
        raise ConfigError(f"coordinates file must end in .csv or .npz, got {out.name}")
    return out
