"""2-D maps: the test set on the first two principal components of the training features (or
the latents themselves when they are 2-D), or a t-SNE map of its features (van der Maaten &
Hinton 2008, scikit-learn's ``TSNE``), and its coordinates written as ``.csv`` / ``.npz``."""

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

EMBED_METHODS = ("pca", "tsne")


@dataclass
class Embedding:
    """The test set in two dimensions.

    Attributes:
        coords: float array ``[N_test, 2]``.
        labels: int array ``[N_test]`` or ``None`` (unlabelled data).
        method: ``"latents"`` (2-D features used as they are), ``"pca"`` or ``"tsne"``.
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
        if self.method == "tsne":
            return "t-SNE 1", "t-SNE 2"
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
    method: str = "pca",
) -> Embedding:
    """2-D coordinates of the test set: the model's 2-D latents, else a map of its features.

    Without a model: a map of the raw pixels. ``method="pca"``: the PCA is fitted on the training
    images' features (a ``max_train`` subset if given) and applied to the test images;
    ``"tsne"``: a seeded t-SNE of the test features themselves (t-SNE has no out-of-sample map;
    distances between far clusters mean little, van der Maaten & Hinton 2008).
    """
    if method not in EMBED_METHODS:
        raise ConfigError(f"unknown map {method!r}; choose one of {', '.join(EMBED_METHODS)}")
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
    if method == "tsne":
        return Embedding(tsne(test, seed), labels, "tsne", name, None, test.shape[1], 0)
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


def tsne(features: np.ndarray, seed: int) -> np.ndarray:
    """A seeded 2-D t-SNE (scikit-learn) of ``features [N, D]``; PCA initialisation, perplexity
    30 or less for a small set."""
    from sklearn.manifold import TSNE

    n = features.shape[0]
    if n < 5:
        raise ConfigError(f"a t-SNE map needs at least 5 images, got {n}")
    perplexity = min(30.0, (n - 1) / 3)
    model = TSNE(2, perplexity=perplexity, init="pca", random_state=seed)
    return model.fit_transform(features.astype(np.float64)).astype(np.float64)


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
