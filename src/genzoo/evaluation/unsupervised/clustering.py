"""Clustering: k-means and a Gaussian mixture fitted without labels, scored by NMI and ARI.

Both are fitted on the *training* representations; the test images are assigned to the fitted
clusters and scored against their labels. Representations are not standardized: pixels share
one unit, and standardizing a VAE's collapsed (near-constant) latent units would blow their
noise up.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from torch import Tensor

from genzoo.data import Dataset
from genzoo.errors import ConfigError
from genzoo.evaluation.unsupervised.representation import Representation, representations
from genzoo.evaluation.unsupervised.subsets import as_numpy, require_labels
from genzoo.models.base import GenerativeModel

CLUSTER_METHODS = ("kmeans", "gmm")
COVARIANCES = ("diag", "full", "tied", "spherical")


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

    y = as_numpy(labels)
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
    test_y = require_labels(dataset, "test")
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
