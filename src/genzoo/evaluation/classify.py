"""Generative classification by Bayes' rule, and the discriminative baselines it is compared with.

A class-conditional model with a density gives ``log p(x | y)`` for every class; with a prior
``p(y)`` (the training set's class frequencies) Bayes' rule gives the posterior::

    log p(y | x) = log p(x | y) + log p(y) - logsumexp_c [log p(x | c) + log p(c)]

computed with log-sum-exp, one batched pass of ``log_prob`` per class. For a model whose
``density`` is a ``"bound"`` (a VAE's ELBO/IWAE) the posterior is the one of the bound's
normalised surrogate, not the exact one: say so when reporting it. Summing out ``y`` instead
gives the marginal ``log p(x)`` (:func:`marginal_log_prob`), which out-of-distribution scores use.

The comparison is Ng & Jordan's (2002, "On Discriminative vs. Generative Classifiers"): naive
Bayes reaches its (higher) asymptotic error with fewer examples than logistic regression. The
baselines here are trained on the same images: scikit-learn's multinomial
``LogisticRegression`` on pixels scaled to ``[0, 1]``, and the small CNN of
:mod:`genzoo.evaluation.features` (trained on the dataset's own labels).

Metrics: accuracy, the negative log-likelihood of the labels in nats, and the expected
calibration error (top-label ECE with 15 equal-width bins, ``torchmetrics``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor

from genzoo.data.dataset import Dataset
from genzoo.errors import ConfigError, UnsupportedError
from genzoo.evaluation.likelihood import check_matches
from genzoo.models.base import GenerativeModel, with_condition

#: bins of the expected calibration error
ECE_BINS = 15


def check_classifier(model: GenerativeModel) -> None:
    """Raise :class:`UnsupportedError` unless ``model`` is class-conditional with a density."""
    caps = model.capabilities
    if not caps.has_density:
        raise UnsupportedError(
            f"{model.name} has no density (density={model.density!r}), so Bayes' rule has no "
            "p(x | y) to use; train a class-conditional model with a density (`genzoo models`)"
        )
    if not caps.class_conditional:
        raise UnsupportedError(
            f"this {model.name} is unconditional: Bayes' rule needs p(x | y); train it with "
            "labels (genzoo train MODEL --conditional ...)"
        )


def class_log_prior(labels: Tensor, num_classes: int) -> Tensor:
    """``log p(y)``: the log class frequencies of ``labels`` (LongTensor ``[N]``), float64
    ``[num_classes]``; a class that never occurs gets ``-inf``."""
    if labels.numel() == 0:
        raise ConfigError("the class prior needs labelled training images; got none")
    counts = torch.bincount(labels.long().cpu(), minlength=num_classes)[:num_classes].double()
    return counts.log() - math.log(float(counts.sum()))


@torch.no_grad()
def class_log_likelihoods(
    model: GenerativeModel, x: Tensor, *, c: Tensor | None = None, batch_size: int = 256
) -> Tensor:
    """``log p(x | y)`` for every class: one batched pass of ``log_prob`` per class.

    Args:
        model: class-conditional, with a density (:func:`check_classifier`).
        x: LongTensor ``[N, C, H, W]`` in ``[0, levels)``.
        c: conditions ``[N, *condition_shape]`` of an image-conditional model.
        batch_size: images per ``log_prob`` call.

    Returns:
        float64 ``[N, num_classes]`` in nats, on the CPU.
    """
    check_classifier(model)
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    was_training = model.training
    model.eval()
    try:
        columns = []
        for k in range(int(model.num_classes)):  # type: ignore[arg-type]
            parts = []
            for start in range(0, x.shape[0], batch_size):
                xb = x[start : start + batch_size].to(model.device)
                yb = torch.full((xb.shape[0],), k, dtype=torch.long, device=model.device)
                cb = None if c is None else c[start : start + batch_size].to(model.device)
                parts.append(model.log_prob(xb, yb, **with_condition(cb)).double().cpu())
            columns.append(torch.cat(parts) if parts else torch.empty(0, dtype=torch.float64))
    finally:
        model.train(was_training)
    return torch.stack(columns, dim=1)


def _joint(model: GenerativeModel, x: Tensor, log_prior: Tensor, **kwargs: Any) -> Tensor:
    check_classifier(model)
    prior = torch.as_tensor(log_prior, dtype=torch.float64).cpu()
    if prior.shape != (model.num_classes,):
        raise ConfigError(
            f"log_prior must have one entry per class, shape ({model.num_classes},); got "
            f"{tuple(prior.shape)}"
        )
    return class_log_likelihoods(model, x, **kwargs) + prior


def predict_log_proba(
    model: GenerativeModel,
    x: Tensor,
    log_prior: Tensor,
    *,
    c: Tensor | None = None,
    batch_size: int = 256,
) -> Tensor:
    """``log p(y | x)`` by Bayes' rule: float64 ``[N, num_classes]`` (rows log-sum to 0).

    Args:
        model: class-conditional, with a density.
        x: LongTensor ``[N, C, H, W]``.
        log_prior: ``log p(y)``, ``[num_classes]`` (e.g. :func:`class_log_prior`).
    """
    joint = _joint(model, x, log_prior, c=c, batch_size=batch_size)
    return joint - joint.logsumexp(dim=1, keepdim=True)


def predict_proba(
    model: GenerativeModel,
    x: Tensor,
    log_prior: Tensor,
    *,
    c: Tensor | None = None,
    batch_size: int = 256,
) -> Tensor:
    """``p(y | x)``, float64 ``[N, num_classes]`` (rows sum to 1); see :func:`predict_log_proba`."""
    return predict_log_proba(model, x, log_prior, c=c, batch_size=batch_size).exp()


def predict(
    model: GenerativeModel,
    x: Tensor,
    log_prior: Tensor,
    *,
    c: Tensor | None = None,
    batch_size: int = 256,
) -> Tensor:
    """The most probable class, LongTensor ``[N]``."""
    return predict_log_proba(model, x, log_prior, c=c, batch_size=batch_size).argmax(dim=1)


def marginal_log_prob(
    model: GenerativeModel,
    x: Tensor,
    log_prior: Tensor,
    *,
    c: Tensor | None = None,
    batch_size: int = 256,
) -> Tensor:
    """``log p(x) = logsumexp_y [log p(x | y) + log p(y)]`` of a class-conditional model, in
    nats, float64 ``[N]``."""
    return _joint(model, x, log_prior, c=c, batch_size=batch_size).logsumexp(dim=1)


def classification_metrics(log_proba: Tensor, labels: Tensor) -> dict[str, float]:
    """Accuracy, NLL of the labels (nats per image) and top-label ECE of predictions.

    Args:
        log_proba: ``log p(y | x)``, ``[N, K]`` (rows log-sum to 0).
        labels: LongTensor ``[N]`` in ``[0, K)``.

    Returns:
        ``{"accuracy", "error", "nll", "ece", "num_images"}``.
    """
    from torchmetrics.functional.classification import multiclass_calibration_error

    log_proba = torch.as_tensor(log_proba, dtype=torch.float64).cpu()
    labels = torch.as_tensor(labels).long().cpu()
    if log_proba.ndim != 2 or labels.shape != log_proba.shape[:1] or labels.numel() == 0:
        raise ConfigError(
            f"need log_proba [N, K] and labels [N] with N > 0; got {tuple(log_proba.shape)} and "
            f"{tuple(labels.shape)}"
        )
    k = log_proba.shape[1]
    accuracy = float((log_proba.argmax(1) == labels).double().mean())
    nll = float(-log_proba.gather(1, labels[:, None]).mean())
    ece = float(
        multiclass_calibration_error(
            log_proba.exp().float(), labels, num_classes=k, n_bins=ECE_BINS, norm="l1"
        )
    )
    return {
        "accuracy": accuracy,
        "error": 1.0 - accuracy,
        "nll": nll,
        "ece": ece,
        "num_images": int(labels.numel()),
    }


def _require_labels(dataset: Dataset) -> None:
    if dataset.train_labels is None or dataset.test_labels is None:
        raise ConfigError(
            f"{dataset.name!r} has no labels: classification needs labelled training and test "
            "images (digits, fashion-mnist, mnist, or a folder with one sub-folder per class)"
        )


def logistic_regression(dataset: Dataset, *, seed: int = 0, max_iter: int = 2000) -> Tensor:
    """scikit-learn's (multinomial, L2, C=1) logistic regression on the pixels scaled to
    ``[0, 1]``, fitted on ``dataset.train``: ``log p(y | x)`` of the test images, float64
    ``[N_test, num_classes]`` (a class absent from training gets ``-inf``)."""
    from sklearn.linear_model import LogisticRegression

    _require_labels(dataset)
    scale = 1.0 / (dataset.levels - 1)
    xtr = dataset.train.reshape(len(dataset.train), -1).double().numpy() * scale
    xte = dataset.test.reshape(len(dataset.test), -1).double().numpy() * scale
    ytr = dataset.train_labels.numpy()  # type: ignore[union-attr]
    classifier = LogisticRegression(max_iter=max_iter, random_state=seed)
    classifier.fit(xtr, ytr)
    k = int(dataset.num_classes or int(ytr.max()) + 1)
    out = np.full((len(xte), k), -np.inf)
    out[:, classifier.classes_] = classifier.predict_log_proba(xte)
    return torch.from_numpy(out)


def cnn_classifier(
    dataset: Dataset, *, seed: int = 0, epochs: int | None = None, cache_dir: Any = None
) -> Tensor:
    """The small CNN of :func:`genzoo.evaluation.features.feature_network` (trained on the
    dataset's own labels, cached): ``log p(y | x)`` of the test images, float64
    ``[N_test, num_classes]``."""
    from genzoo.evaluation.features import feature_network

    _require_labels(dataset)
    network = feature_network(dataset, seed=seed, epochs=epochs, cache_dir=cache_dir).module
    network.eval()
    with torch.no_grad():
        logits = [network(dataset.test[s : s + 256]) for s in range(0, len(dataset.test), 256)]
    return torch.cat(logits).double().log_softmax(dim=1)


def evaluate_classifiers(
    model: GenerativeModel,
    dataset: Dataset,
    *,
    baselines: bool = True,
    seed: int = 0,
    batch_size: int = 256,
) -> dict[str, Any]:
    """The generative classifier of ``model`` on ``dataset.test``, next to the baselines.

    The prior is the class frequencies of ``dataset.train_labels``.

    Returns:
        ``{"dataset", "num_classes", "log_prior", "density", "classifiers": {name: metrics}}``
        with :func:`classification_metrics` per classifier (``model.name`` first, then
        ``"logistic_regression"`` and ``"cnn"`` when ``baselines``).
    """
    check_classifier(model)
    _require_labels(dataset)

    check_matches(model, dataset)
    prior = class_log_prior(dataset.train_labels, int(model.num_classes))  # type: ignore[arg-type]
    log_proba = predict_log_proba(
        model, dataset.test, prior, c=dataset.test_condition, batch_size=batch_size
    )
    labels = dataset.test_labels
    results = {f"{model.name} (Bayes' rule)": classification_metrics(log_proba, labels)}
    if baselines:
        results["logistic_regression"] = classification_metrics(
            logistic_regression(dataset, seed=seed), labels
        )
        results["cnn"] = classification_metrics(cnn_classifier(dataset, seed=seed), labels)
    return {
        "dataset": dataset.name,
        "num_classes": int(model.num_classes),  # type: ignore[arg-type]
        "log_prior": prior.tolist(),
        "density": model.density,
        "classifiers": results,
    }
