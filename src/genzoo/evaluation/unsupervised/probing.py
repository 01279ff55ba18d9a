"""The linear probe: logistic regression on standardized features, ``C`` chosen without the
test set.

:func:`fit_probe` never receives test data: the test labels are used only by
:meth:`LinearProbe.score`, once, after the fit.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from torch import Tensor

from genzoo.data import Dataset
from genzoo.errors import ConfigError
from genzoo.evaluation.unsupervised.representation import Representation, representations
from genzoo.evaluation.unsupervised.subsets import as_numpy, require_labels, training_labels
from genzoo.models.base import GenerativeModel

#: inverse L2 strengths ``C`` tried by the linear probe (features standardized first)
DEFAULT_CS = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)
#: fraction of the training images held out to choose ``C``
DEFAULT_VALIDATION = 0.2


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
        return float(self.classifier.score(self.scaler.transform(features), as_numpy(labels)))


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

    y = as_numpy(labels)
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
    test_y = require_labels(dataset, "test")
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
