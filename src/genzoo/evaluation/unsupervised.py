"""Unsupervised uses of a generative model's features: feature learning, clustering, 2-D maps.

Every function works on any :class:`~genzoo.models.base.GenerativeModel` whose
:meth:`~genzoo.models.base.GenerativeModel.features` returns ``[B, F]`` (the VAE family: the
posterior mean; the GANs: the discriminator's features; the classic latent models), and on
``model=None`` for the reference numbers of raw pixels and PCA. Each learned representation is
compared with **raw pixels** (levels scaled to ``[0, 1]``) and **PCA of the pixels with the same
dimension** ``F`` (capped at the number of pixels and of training images), PCA fitted on the
training images only.

A model's features are also shown next to the **same architecture with untrained weights**
(:func:`untrained_copy`): random convolutional features of high dimension alone often make good
linear probes, so only the difference says what training added.

* **Linear probe** (feature learning): multinomial logistic regression (scikit-learn, L2) on
  standardized features. The inverse regularization strength ``C`` is chosen on a stratified
  validation split *of the training set*; the probe is then refitted on the whole training set
  with that ``C`` and scored once on the test set. :func:`fit_probe` never receives test data:
  the test labels are used only by :meth:`LinearProbe.score`.
* **Clustering**: k-means (k-means++, ``n_init`` restarts) and a Gaussian mixture
  (``covariance="diag"`` by default: a full covariance on 784 pixels is too costly and
  ill-conditioned), fitted on the *training* representations without labels; the test images are
  assigned to the fitted clusters and scored against their labels by normalized mutual
  information (NMI, arithmetic normalization) and the adjusted Rand index (ARI; 0 for chance).
  Representations are not standardized for clustering: pixels share one unit, and
  standardizing a VAE's collapsed (near-constant) latent units would blow their noise up.
* **2-D map**: the test set projected on the first two principal components of the training
  features (or the latents themselves when they are 2-D), drawn with PIL.

Class-conditional models: features that see the label ``y`` would hand it to a probe or a
clustering. :func:`model_features` calls ``features`` with two different constant labels on a few
images; if the outputs differ (a conditional VAE's encoder) it refuses with
:class:`~genzoo.errors.UnsupportedError`; if they agree (a conditional GAN's discriminator
features ignore ``y``) the features are label-free and are computed with a constant label.
Such a model was still *trained* with the labels (a projection discriminator learns
class-discriminative features), so its rows say "conditional model: trained with labels": they
are not an unsupervised feature-learning result.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from genzoo.data import Dataset
from genzoo.errors import ConfigError, GenzooError, UnsupportedError
from genzoo.models.base import GenerativeModel

#: inverse L2 strengths ``C`` tried by the linear probe (features standardized first)
DEFAULT_CS = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)
#: fraction of the training images held out to choose ``C``
DEFAULT_VALIDATION = 0.2
#: PCA dimension of the pixel baseline when no model fixes it
DEFAULT_PCA_DIM = 16
CLUSTER_METHODS = ("kmeans", "gmm")
COVARIANCES = ("diag", "full", "tied", "spherical")
#: images on which :func:`model_features` checks that the features ignore the label
_LABEL_CHECK_IMAGES = 64
#: the 10 colours of matplotlib's ``tab10``; more classes cycle through them
PALETTE = (
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
)


# --------------------------------------------------------------------------------------------
# representations


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


def pixel_features(x: Tensor, levels: int) -> np.ndarray:
    """Images as flat vectors in ``[0, 1]``: ``x [N, C, H, W]`` in ``[0, levels)`` → float32
    ``[N, C*H*W]`` equal to ``x / (levels - 1)``."""
    return (x.flatten(1).double() / (levels - 1)).float().numpy()


@torch.no_grad()
def model_features(model: GenerativeModel, x: Tensor, *, batch_size: int = 256) -> np.ndarray:
    """Label-free features of ``x`` (LongTensor ``[N, C, H, W]``): float32 ``[N, F]``.

    Runs the model in eval mode (the previous mode restored) on its device, ``batch_size`` images
    at a time.

    Raises:
        UnsupportedError: the model has no features, or its features depend on the label of a
            class-conditional model (they would leak it into a probe or a clustering).
    """
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    was_training = model.training
    model.eval()
    try:
        constant = _label_free_labels(model, x)
        parts = []
        for s in range(0, x.shape[0], batch_size):
            xb = x[s : s + batch_size].to(model.device)
            yb = None if constant is None else constant.expand(xb.shape[0])
            parts.append(model.features(xb, yb).float().cpu())
    finally:
        model.train(was_training)
    features = torch.cat(parts).numpy()
    if features.ndim != 2 or features.shape[0] != x.shape[0]:
        raise UnsupportedError(
            f"{model.name}.features returned shape {list(features.shape)}; the contract is "
            f"[B, F] (got {x.shape[0]} images)"
        )
    if not np.isfinite(features).all():
        raise UnsupportedError(
            f"{model.name}'s features are not all finite (NaN or inf); the model's weights "
            "are broken or it diverged during training: retrain it"
        )
    return features


def _label_free_labels(model: GenerativeModel, x: Tensor) -> Tensor | None:
    """``None`` for an unconditional model; a constant label ``[1]`` for a conditional one whose
    features do not depend on ``y``; else :class:`UnsupportedError`."""
    if model.num_classes is None:
        return None
    zero = torch.zeros(1, dtype=torch.long, device=model.device)
    probe = x[:_LABEL_CHECK_IMAGES].to(model.device)
    first = model.features(probe, zero.expand(probe.shape[0]))
    other = model.features(probe, (zero + 1).remainder(model.num_classes).expand(probe.shape[0]))
    if not torch.equal(first, other):
        raise UnsupportedError(
            f"{model.name} is class-conditional and its features depend on the label y: a "
            "probe or clustering on them would read the label back. Train the model without "
            "--conditional (num_classes=None) for feature learning, clustering and 2-D maps"
        )
    return zero


def _train_subset(dataset: Dataset, max_train: int | None, seed: int) -> Tensor:
    """Training images ``[N, C, H, W]``: all, or a seeded random subset of ``max_train``."""
    keep = _subset_indices(dataset.train.shape[0], max_train, seed)
    return dataset.train if keep is None else dataset.train[keep]


def _subset_indices(n: int, max_train: int | None, seed: int) -> Tensor | None:
    """Sorted indices of a seeded random subset of ``max_train`` of ``n`` images, or ``None``."""
    if max_train is None or max_train >= n:
        return None
    if max_train < 3:
        raise ConfigError(f"max_train must be at least 3 (or None for all), got {max_train}")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return order[:max_train].sort().values


def _labels(dataset: Dataset, split: str) -> Tensor:
    labels = getattr(dataset, f"{split}_labels")
    if labels is None:
        raise ConfigError(
            f"{dataset.name!r} has no labels; probing and clustering score representations "
            "against class labels: use a labelled dataset (digits, fashion-mnist, mnist, or a "
            "folder with class sub-folders)"
        )
    return labels


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
    train = model_features(model, _train_subset(dataset, max_train, seed), batch_size=batch_size)
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
    train_x = _train_subset(dataset, max_train, seed)
    raw_train = pixel_features(train_x, dataset.levels)
    raw_test = pixel_features(dataset.test, dataset.levels)
    reps = [Representation("raw pixels", raw_train, raw_test, "levels / (K - 1)")]
    for wanted in pca_dims:
        if int(wanted) < 1:
            raise ConfigError(f"the PCA dimension must be positive, got {wanted}")
        dim = min(int(wanted), raw_train.shape[1], raw_train.shape[0])
        pca = _pca(dim, seed).fit(raw_train)
        note = f"{dim} components fitted on the training images"
        if dim < int(wanted):
            note += f" (capped from {wanted})"
        train, test = pca.transform(raw_train), pca.transform(raw_test)
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


def untrained_copy(model: GenerativeModel, seed: int = 0) -> GenerativeModel:
    """A new model with ``model``'s configuration and freshly initialised weights (the global
    torch RNG is seeded with ``seed`` inside a fork, so the caller's random state is unchanged),
    on the same device and dtype, in eval mode."""
    from genzoo.models import create_model

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        fresh = create_model(model.name, **model.config)
    return fresh.to(model.device, model.dtype).eval()


def training_labels(dataset: Dataset, *, max_train: int | None = None, seed: int = 0) -> Tensor:
    """The training labels ``[N]`` aligned with :func:`representations`' training rows."""
    labels = _labels(dataset, "train")
    keep = _subset_indices(labels.shape[0], max_train, seed)
    return labels if keep is None else labels[keep]


def _pca(dim: int, seed: int) -> Any:
    from sklearn.decomposition import PCA

    return PCA(n_components=dim, random_state=seed)


# --------------------------------------------------------------------------------------------
# linear probe


@dataclass
class LinearProbe:
    """A fitted linear probe: standardization, multinomial logistic regression, chosen ``C``.

    Attributes:
        C: the inverse regularization strength chosen on the validation split.
        validation_accuracy: ``C -> accuracy`` on the held-out training images.
        num_fit, num_validation: training images used to fit / validate during the choice;
            the final classifier is refitted on ``num_fit + num_validation`` images.
        converged: whether the final fit converged within ``max_iter`` iterations.
    """

    scaler: Any = field(repr=False)
    classifier: Any = field(repr=False)
    C: float
    validation_accuracy: dict[float, float]
    num_fit: int
    num_validation: int
    converged: bool

    def score(self, features: np.ndarray, labels: np.ndarray | Tensor) -> float:
        """Accuracy on ``features [N, F]`` against ``labels [N]``."""
        return float(self.classifier.score(self.scaler.transform(features), _numpy(labels)))


def _numpy(labels: np.ndarray | Tensor) -> np.ndarray:
    return labels.cpu().numpy() if isinstance(labels, Tensor) else np.asarray(labels)


def _fit_logistic(x: np.ndarray, y: np.ndarray, C: float, max_iter: int) -> tuple[Any, Any, bool]:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = LogisticRegression(C=C, max_iter=max_iter).fit(scaler.transform(x), y)
    return scaler, clf, bool(np.all(clf.n_iter_ < max_iter))


def fit_probe(
    features: np.ndarray,
    labels: np.ndarray | Tensor,
    *,
    Cs: tuple[float, ...] = DEFAULT_CS,
    validation: float = DEFAULT_VALIDATION,
    seed: int = 0,
    max_iter: int = 1000,
) -> LinearProbe:
    """Choose ``C`` on a validation split of the *training* data, then refit on all of it.

    Args:
        features: training features ``[N, F]``; labels: their classes ``[N]``.
        Cs: inverse L2 strengths to try; ties go to the smallest (strongest regularization).
        validation: fraction of the training images held out, stratified by class when every
            class has two or more images.
        seed: seed of the split.
        max_iter: L-BFGS iterations per fit.

    Returns:
        the fitted :class:`LinearProbe`.
    """
    from sklearn.model_selection import train_test_split

    y = _numpy(labels)
    if features.ndim != 2 or features.shape[0] != y.shape[0]:
        raise ConfigError(
            f"features must be [N, F] with one label each, got {list(features.shape)} and "
            f"{list(y.shape)} labels"
        )
    if not 0.0 < validation < 1.0:
        raise ConfigError(f"validation must be a fraction in (0, 1), got {validation}")
    if not Cs or min(Cs) <= 0:
        raise ConfigError(f"Cs must be positive inverse regularization strengths, got {Cs}")
    if np.unique(y).shape[0] < 2:
        raise ConfigError("the training labels hold a single class; a probe needs two or more")
    counts = np.unique(y, return_counts=True)[1]
    stratify = y if counts.min() >= 2 else None
    try:
        fit_x, val_x, fit_y, val_y = train_test_split(
            features, y, test_size=validation, random_state=seed, stratify=stratify
        )
    except ValueError as exc:
        raise ConfigError(
            f"cannot hold out {validation:.0%} of {y.shape[0]} training images to choose the "
            f"regularization ({exc}); use more training images"
        ) from None
    scores: dict[float, float] = {}
    for C in sorted(float(c) for c in Cs):
        scaler, clf, _ = _fit_logistic(fit_x, fit_y, C, max_iter)
        scores[C] = float(clf.score(scaler.transform(val_x), val_y))
    best = max(scores, key=lambda c: (scores[c], -c))  # ties: the smallest C
    scaler, clf, converged = _fit_logistic(features, y, best, max_iter)
    return LinearProbe(scaler, clf, best, scores, fit_x.shape[0], val_x.shape[0], converged)


def linear_probe(
    train: np.ndarray,
    train_labels: np.ndarray | Tensor,
    test: np.ndarray,
    test_labels: np.ndarray | Tensor,
    **kwargs: Any,
) -> dict[str, Any]:
    """:func:`fit_probe` on the training data, then one score on the test data.

    Returns:
        ``{"accuracy", "accuracy_stderr" (binomial), "C", "validation_accuracy",
        "converged", "dim", "num_train", "num_validation", "num_test"}``.
    """
    probe = fit_probe(train, train_labels, **kwargs)
    accuracy = probe.score(test, test_labels)
    n = int(test.shape[0])
    return {
        "accuracy": accuracy,
        "accuracy_stderr": math.sqrt(accuracy * (1 - accuracy) / n) if n else float("nan"),
        "C": probe.C,
        "validation_accuracy": probe.validation_accuracy[probe.C],
        "validation_curve": {f"{c:g}": a for c, a in probe.validation_accuracy.items()},
        "converged": probe.converged,
        "dim": int(train.shape[1]),
        "num_train": int(train.shape[0]),
        "num_validation": probe.num_validation,
        "num_test": n,
    }


def probe_rows(
    reps: list[Representation],
    train_labels: np.ndarray | Tensor,
    test_labels: np.ndarray | Tensor,
    **probe_kwargs: Any,
) -> list[dict[str, Any]]:
    """:func:`linear_probe` of each representation: ``[{"representation", "note", ...}]``."""
    return [
        {"representation": r.name, "note": r.note}
        | linear_probe(r.train, train_labels, r.test, test_labels, **probe_kwargs)
        for r in reps
    ]


def probe(
    dataset: Dataset,
    model: GenerativeModel | None = None,
    *,
    pca_dim: int | None = None,
    max_train: int | None = None,
    seed: int = 0,
    batch_size: int = 256,
    untrained: bool = True,
    **probe_kwargs: Any,
) -> dict[str, Any]:
    """Linear-probe test accuracy of the model's features, raw pixels and PCA of the pixels.

    Keyword arguments as :func:`representations` and :func:`fit_probe`.

    Returns:
        ``{"dataset", "model", "rows": [{"representation", "note", **linear_probe}]}``.
    """
    train_y = training_labels(dataset, max_train=max_train, seed=seed)
    test_y = _labels(dataset, "test")
    reps = representations(
        dataset,
        model,
        pca_dim=pca_dim,
        max_train=max_train,
        seed=seed,
        batch_size=batch_size,
        untrained=untrained,
    )
    rows = probe_rows(reps, train_y, test_y, seed=seed, **probe_kwargs)
    return {"dataset": dataset.name, "model": None if model is None else model.name, "rows": rows}


def probe_table(result: dict[str, Any]) -> str:
    """A Markdown table of :func:`probe`'s rows, with the image counts above it."""
    first = result["rows"][0]
    lines = [
        f"linear probe on {result['dataset']}: fitted on {first['num_train']:,} training images "
        f"(C chosen on {first['num_validation']:,} of them held out), accuracy on "
        f"{first['num_test']:,} test images",
        "",
        "| representation | dim | test accuracy ± s.e. | C | validation accuracy |",
        "|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        flag = "" if r["converged"] else " (not converged)"
        lines.append(
            f"| {r['representation']} | {r['dim']} | {r['accuracy']:.4f} ± "
            f"{r['accuracy_stderr']:.4f} | {r['C']:g}{flag} | {r['validation_accuracy']:.4f} |"
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# clustering


def cluster_assignments(
    train: np.ndarray,
    test: np.ndarray,
    *,
    k: int,
    method: str = "kmeans",
    covariance: str = "diag",
    n_init: int = 4,
    seed: int = 0,
) -> np.ndarray:
    """Fit ``k`` clusters on ``train [N, F]`` (no labels) and assign ``test [M, F]``: ``[M]``.

    Args:
        method: ``"kmeans"`` (k-means++, ``n_init`` restarts) or ``"gmm"`` (EM, k-means
            initialisation, ``covariance`` in :data:`COVARIANCES`).
    """
    from sklearn.cluster import KMeans

    if method not in CLUSTER_METHODS:
        raise ConfigError(f"method must be one of {CLUSTER_METHODS}, got {method!r}")
    if covariance not in COVARIANCES:
        raise ConfigError(f"covariance must be one of {COVARIANCES}, got {covariance!r}")
    if not 2 <= int(k) <= train.shape[0]:
        raise ConfigError(f"k must lie in [2, {train.shape[0]}] (training images), got {k}")
    if method == "kmeans":
        fitted = KMeans(n_clusters=int(k), n_init=n_init, random_state=seed).fit(train)
    else:
        fitted = _gaussian_mixture(train, int(k), covariance, seed)
    return fitted.predict(test)


def _gaussian_mixture(train: np.ndarray, k: int, covariance: str, seed: int) -> Any:
    """scikit-learn's mixture as is; if a component collapses (large, float32 or near-duplicate
    features: the covariance loses all precision), again in float64 with ``reg_covar`` raised
    to 1e-6, 1e-4, then 1e-2 of the mean feature variance."""
    from sklearn.mixture import GaussianMixture

    def fit(x: np.ndarray, reg: float | None) -> Any:
        extra = {} if reg is None else {"reg_covar": reg}
        return GaussianMixture(
            n_components=k, covariance_type=covariance, random_state=seed, **extra
        ).fit(x)

    try:
        return fit(train, None)
    except ValueError as exc:
        first = exc
    wide = train.astype(np.float64)
    scale = max(float(wide.var(0).mean()), np.finfo(np.float64).tiny)
    for relative in (1e-6, 1e-4, 1e-2):
        try:
            return fit(wide, relative * scale)
        except ValueError:
            continue
    hint = (
        "fewer clusters"
        if covariance == "spherical"
        else "covariance='spherical' or fewer clusters"
    )
    raise ConfigError(
        f"the {covariance}-covariance Gaussian mixture failed even in float64 with reg_covar up "
        f"to 1e-2 of the feature variance ({first}); try {hint}"
    )


def clustering_scores(labels: np.ndarray | Tensor, assignments: np.ndarray) -> dict[str, float]:
    """``{"nmi", "ari"}`` of cluster ``assignments [M]`` against class ``labels [M]``."""
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    y = _numpy(labels)
    return {
        "nmi": float(normalized_mutual_info_score(y, assignments)),
        "ari": float(adjusted_rand_score(y, assignments)),
    }


def cluster_rows(
    reps: list[Representation],
    test_labels: np.ndarray | Tensor,
    *,
    k: int,
    methods: tuple[str, ...] = CLUSTER_METHODS,
    covariance: str = "diag",
    seed: int = 0,
) -> list[dict[str, Any]]:
    """NMI and ARI of each method on each representation:
    ``[{"representation", "dim", "note", "kmeans": {"nmi", "ari"}, "gmm": {...}}]``."""
    for method in methods:
        if method not in CLUSTER_METHODS:
            raise ConfigError(f"methods must be among {CLUSTER_METHODS}, got {method!r}")
    rows = []
    for r in reps:
        row: dict[str, Any] = {"representation": r.name, "dim": r.dim, "note": r.note}
        for method in methods:
            assigned = cluster_assignments(
                r.train, r.test, k=k, method=method, covariance=covariance, seed=seed
            )
            row[method] = clustering_scores(test_labels, assigned)
        rows.append(row)
    return rows


def cluster(
    dataset: Dataset,
    model: GenerativeModel | None = None,
    *,
    k: int | None = None,
    methods: tuple[str, ...] = CLUSTER_METHODS,
    covariance: str = "diag",
    pca_dim: int | None = None,
    max_train: int | None = None,
    seed: int = 0,
    batch_size: int = 256,
    untrained: bool = True,
) -> dict[str, Any]:
    """NMI and ARI on the test set of k-means / GMM clusters of each representation.

    Args:
        k: number of clusters (default: the dataset's number of classes).
        methods: subset of :data:`CLUSTER_METHODS`.
        Other arguments as :func:`representations` and :func:`cluster_assignments`.

    Returns:
        ``{"dataset", "model", "k", "covariance", "methods", "num_train", "num_test", "rows"}``
        with the rows of :func:`cluster_rows`.
    """
    test_y = _labels(dataset, "test")
    if k is None:
        k = dataset.num_classes or int(test_y.max()) + 1
    reps = representations(
        dataset,
        model,
        pca_dim=pca_dim,
        max_train=max_train,
        seed=seed,
        batch_size=batch_size,
        untrained=untrained,
    )
    rows = cluster_rows(reps, test_y, k=k, methods=methods, covariance=covariance, seed=seed)
    return {
        "dataset": dataset.name,
        "model": None if model is None else model.name,
        "k": int(k),
        "covariance": covariance,
        "methods": list(methods),
        "num_train": int(reps[0].train.shape[0]),
        "num_test": int(reps[0].test.shape[0]),
        "rows": rows,
    }


def cluster_table(result: dict[str, Any]) -> str:
    """A Markdown table of :func:`cluster`'s rows, with the setting above it."""
    methods = result["methods"]
    names = {"kmeans": "k-means", "gmm": f"GMM ({result['covariance']})"}
    head = " | ".join(f"{names[m]} NMI | {names[m]} ARI" for m in methods)
    lines = [
        f"clustering on {result['dataset']}: k = {result['k']}, fitted on "
        f"{result['num_train']:,} training images (no labels), NMI / ARI against the labels of "
        f"{result['num_test']:,} test images",
        "",
        f"| representation | dim | {head} |",
        "|---|---|" + "---|---|" * len(methods),
    ]
    for r in result["rows"]:
        cells = " | ".join(f"{r[m]['nmi']:.4f} | {r[m]['ari']:.4f}" for m in methods)
        lines.append(f"| {r['representation']} | {r['dim']} | {cells} |")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# 2-D maps


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
    x = _train_subset(dataset, max_train, seed)
    train = (
        pixel_features(x, dataset.levels)
        if model is None
        else model_features(model, x, batch_size=batch_size)
    )
    pca = _pca(2, seed).fit(train)
    ratio = tuple(float(v) for v in pca.explained_variance_ratio_)
    return Embedding(
        pca.transform(test).astype(np.float64), labels, "pca", name, ratio, test.shape[1], len(x)
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


def plot_embedding(
    embedding: Embedding,
    path: str | os.PathLike[str],
    *,
    class_names: list[str] | None = None,
    title: str = "",
    size: tuple[int, int] = (800, 640),
    seed: int = 0,
) -> Path:
    """Draw the 2-D map as a PNG (PIL only): one dot per test image coloured by label, a legend.

    Points are drawn in a seeded random order so that no class hides the others. Returns the
    path.
    """
    from PIL import Image, ImageDraw

    width, height = size
    legend_width, margin, top = 150, 40, 36
    if width < legend_width + 2 * margin + 50 or height < top + 2 * margin + 50:
        raise ConfigError(f"size {size} is too small for a map; use at least (290, 170)")
    xy = embedding.coords
    labels = embedding.labels
    classes = [] if labels is None else sorted(int(c) for c in np.unique(labels))
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    left, right, bottom = margin, width - legend_width, height - margin
    lo, hi = xy.min(0), xy.max(0)
    span = np.where(hi > lo, hi - lo, 1.0)
    u = left + 6 + (right - left - 12) * (xy[:, 0] - lo[0]) / span[0]
    v = bottom - 6 - (bottom - top - 12) * (xy[:, 1] - lo[1]) / span[1]
    order = np.random.default_rng(seed).permutation(xy.shape[0])
    for i in order.tolist():
        colour = (40, 40, 40) if labels is None else PALETTE[int(labels[i]) % len(PALETTE)]
        draw.ellipse([u[i] - 2, v[i] - 2, u[i] + 2, v[i] + 2], fill=colour)
    draw.rectangle([left, top, right, bottom], outline=(120, 120, 120))
    x_name, y_name = embedding.axis_names()
    draw.text((left, 10), title or f"{embedding.representation}: {xy.shape[0]:,} test images",
              fill="black")  # fmt: skip
    draw.text((left, bottom + 8), f"x: {x_name}   [{lo[0]:.3g}, {hi[0]:.3g}]", fill="black")
    draw.text((left, bottom + 22), f"y: {y_name}   [{lo[1]:.3g}, {hi[1]:.3g}]", fill="black")
    for row, c in enumerate(classes):
        y0 = top + 8 + 18 * row
        if y0 + 12 > bottom:
            draw.text((right + 12, y0), f"... {len(classes) - row} more", fill="black")
            break
        draw.rectangle([right + 12, y0, right + 24, y0 + 12], fill=PALETTE[c % len(PALETTE)])
        name = class_names[c] if class_names and c < len(class_names) else str(c)
        draw.text((right + 30, y0), name[:18], fill="black")
    out = Path(path)
    image.save(out, format="PNG")
    return out
