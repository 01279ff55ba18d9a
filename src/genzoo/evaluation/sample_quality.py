"""Sample quality of any model that samples: FID, KID, precision/recall and density/coverage on the
features of a per-dataset network, next to the same metrics for real images (the floor).

:func:`evaluate_sample_quality` is the procedure behind ``genzoo eval`` (and behind ``genzoo
train``'s final evaluation of models without a density). Every number it returns is labelled with
what it depends on:

1. **Reference set** (``real``): the dataset's test images — all of them up to ``num_reference``
   (default 10,000), else a subset drawn with the fixed seed :data:`REFERENCE_SEED`, independent
   of the caller's ``seed``: every model of a dataset is compared with the very same real images.
2. **Samples** (``fake``): ``num_samples`` images (default: as many as reference images, so FID
   and precision/recall compare equal counts) from ``model.sample`` in batches of ``batch_size``,
   all drawn from one ``torch.Generator`` seeded with ``seed``. A class-conditional model gets the
   labels of the floor's training images, i.e. the training set's class frequencies.
3. **Floor**: the same metrics for ``num_samples`` real *training* images (a subset fixed by
   :data:`REFERENCE_SEED`; all of them if there are fewer, which ``floor["num_fake"]`` shows)
   against the same reference set. FID and KID of real images are not 0
   at finite counts (FID is biased upwards, roughly like ``1 / N``), and precision/recall are not
   1, so a model's numbers are read against this floor, not against 0 and 1. (A model that
   reproduced its training images would score the floor; the floor is not an upper limit of
   quality for a model that generalises.)
4. **Features**: :func:`~genzoo.evaluation.features.load_features` — by default the dataset's own
   classifier (``features.py``), whose **test accuracy** is reported beside the metrics; numbers
   are comparable only with the same network (``feature_network.key``), the same counts and the
   same data. Metrics: :func:`~genzoo.evaluation.feature_metrics.sample_quality`.

A class-conditional model is also scored on whether its samples show the requested class: the
classifier's agreement with the labels the samples were drawn for (``label_agreement``), next to
the classifier's accuracy on the floor's training images with their true labels.

Cost: sampling dominates for autoregressive models (one network pass per sub-pixel, or one
incremental step with cached sampling); GANs and VAEs draw in one pass. The first use of a
dataset trains and caches its classifier. Measured costs are in the docs (results, speed).
"""

from __future__ import annotations

import time
from typing import Any

import torch
from torch import Tensor

from genzoo.core.progress import progress
from genzoo.data.dataset import Dataset
from genzoo.errors import ConfigError
from genzoo.evaluation.feature_metrics import sample_quality
from genzoo.evaluation.features import FeatureNetwork, load_features
from genzoo.models.base import GenerativeModel

#: Seed of the reference (test) subset and of the floor's training images; fixed, so every model
#: of a dataset is compared with the same real images whatever ``seed`` it is evaluated with.
REFERENCE_SEED = 0
#: Largest reference set (test images) used by default.
DEFAULT_REFERENCE = 10_000
#: Neighbour ranks of precision/recall (Kynkäänniemi et al.) and density/coverage (Naeem et al.).
K_PR, K_DC = 3, 5
#: KID: subsets and their size (Bińkowski et al.), capped at the sample counts.
KID_SUBSETS, KID_SUBSET_SIZE = 100, 1000
METRICS = ("fid", "kid", "precision", "recall", "density", "coverage")


def subset(n: int, count: int, seed: int = REFERENCE_SEED) -> Tensor:
    """Indices of ``min(count, n)`` of ``n`` items: all of them in order when ``count >= n``, else a
    sorted random subset drawn with ``seed``. LongTensor ``[min(count, n)]``."""
    if count >= n:
        return torch.arange(n)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return perm[:count].sort().values


@torch.no_grad()
def draw_samples(
    model: GenerativeModel,
    n: int,
    y: Tensor | None = None,
    *,
    generator: torch.Generator | None = None,
    batch_size: int = 256,
) -> Tensor:
    """``n`` samples of ``model`` in batches, LongTensor ``[n, C, H, W]`` on the CPU.

    Args:
        model: any model that samples.
        n: number of images.
        y: labels ``[n]`` for a class-conditional model (``None``: the model's default labels).
        generator: the one source of randomness, used by every batch in turn.
        batch_size: images per ``model.sample`` call.
    """
    if int(n) < 1 or int(batch_size) < 1:
        raise ConfigError(f"need n >= 1 and batch_size >= 1, got n={n}, batch_size={batch_size}")
    if y is None:
        y = model.default_labels(n)
    parts = []
    with progress(n, f"{model.name}: sampling", unit="image") as bar:
        for start in range(0, n, batch_size):
            yb = None if y is None else y[start : start + batch_size]
            parts.append(model.sample(min(batch_size, n - start), yb, generator=generator).cpu())
            bar.update(parts[-1].shape[0])
    return torch.cat(parts)


def evaluate_sample_quality(
    model: GenerativeModel,
    dataset: Dataset,
    *,
    num_samples: int | None = None,
    num_reference: int = DEFAULT_REFERENCE,
    features: str | FeatureNetwork = "classifier",
    feature_options: dict[str, Any] | None = None,
    samples: Tensor | None = None,
    sample_labels: Tensor | None = None,
    seed: int = 0,
    batch_size: int = 256,
    k_pr: int = K_PR,
    k_dc: int = K_DC,
    kid_subsets: int = KID_SUBSETS,
    kid_subset_size: int = KID_SUBSET_SIZE,
) -> dict[str, Any]:
    """FID, KID, precision/recall, density/coverage of ``model``'s samples, with the real floor.

    See the module docstring for the procedure.

    Args:
        model: any model that samples (its ``shape`` and ``levels`` those of ``dataset``).
        dataset: the data the model was trained on; its test images are the reference set, its
            training images the floor, its labels train the classifier features.
        num_samples: generated images ``M`` (``None``: as many as reference images).
        num_reference: most test images in the reference set ``N``.
        features: ``"classifier"`` (default), ``"inception"`` (local weights only), or a
            :class:`~genzoo.evaluation.features.FeatureNetwork` already loaded.
        feature_options: keywords for :func:`~genzoo.evaluation.features.load_features`
            (``cache_dir``, ``epochs``, ``weights_path``, ...).
        samples: LongTensor ``[M, C, H, W]`` of samples drawn elsewhere, instead of sampling.
        sample_labels: the labels ``[M]`` those samples were drawn for (a conditional model's
            ``label_agreement`` is reported only when they are known).
        seed: seed of the sampling generator (the real images do not depend on it).
        batch_size: images per sampling call and per feature batch.
        k_pr, k_dc, kid_subsets, kid_subset_size: as in
            :func:`~genzoo.evaluation.feature_metrics.sample_quality`.

    Returns:
        JSON-able ``{"samples": {fid, kid, kid_std, precision, recall, density, coverage,
        num_real, num_fake, ...}, "floor": {same keys, fake = training images}, "feature_network":
        {name, kind, key, test_accuracy, feature_dim}, "num_samples", "num_reference",
        "reference": "test", "floor_images": "train", "seed", "reference_seed",
        "sampling_seconds"}`` plus ``"label_agreement"`` and ``"floor_label_agreement"`` for a
        class-conditional model scored by the classifier.
    """
    test_index = subset(int(dataset.test.shape[0]), int(num_reference))
    if test_index.numel() < 2:
        raise ConfigError(
            f"the reference set needs at least 2 test images, {dataset.name} has "
            f"{dataset.test.shape[0]}; sample quality cannot be measured on it"
        )
    real = dataset.test[test_index]
    m = int(real.shape[0]) if num_samples is None else int(num_samples)
    if samples is not None:
        m = int(samples.shape[0])
    if m < 2:
        raise ConfigError(f"the number of samples must be at least 2, got {m}")
    floor_index = subset(int(dataset.train.shape[0]), m)
    floor_images = dataset.train[floor_index]
    floor_labels = None if dataset.train_labels is None else dataset.train_labels[floor_index]

    network = features
    if not isinstance(network, FeatureNetwork):
        network = load_features(str(features), dataset, **(feature_options or {}))

    y = sample_labels  # the labels the samples were drawn for (None: unknown or unconditional)
    seconds = 0.0
    if samples is None:
        y = sampling_labels(model, dataset, m)
        start = time.perf_counter()
        samples = draw_samples(
            model, m, y, generator=torch.Generator().manual_seed(seed), batch_size=batch_size
        )
        seconds = time.perf_counter() - start
    if tuple(samples.shape[1:]) != tuple(dataset.shape):
        raise ConfigError(
            f"samples have shape {list(samples.shape[1:])} but {dataset.name} images have "
            f"{list(dataset.shape)}; evaluate a model on the data it was trained on"
        )

    real_features = network.features(real, batch_size=batch_size)
    options = {
        "k_pr": k_pr,
        "k_dc": k_dc,
        "kid_subsets": kid_subsets,
        "kid_subset_size": kid_subset_size,
    }
    # one KID subset stream per comparison, identical for every model: comparable noise
    fake_metrics = sample_quality(
        real_features,
        network.features(samples, batch_size=batch_size),
        generator=torch.Generator().manual_seed(REFERENCE_SEED),
        **options,
    )
    floor_metrics = sample_quality(
        real_features,
        network.features(floor_images, batch_size=batch_size),
        generator=torch.Generator().manual_seed(REFERENCE_SEED),
        **options,
    )
    info = network.info
    out: dict[str, Any] = {
        "samples": fake_metrics,
        "floor": floor_metrics,
        "feature_network": {
            "name": network.name,
            "kind": info.get("kind"),
            "key": info.get("key"),
            "test_accuracy": info.get("test_accuracy"),
            "feature_dim": network.feature_dim,
        },
        "num_samples": int(samples.shape[0]),
        "num_reference": int(real.shape[0]),
        "reference": "test",
        "floor_images": "train",
        "seed": int(seed),
        "reference_seed": REFERENCE_SEED,
        "sampling_seconds": round(seconds, 3),
    }
    predict = getattr(network.module, "predict", None)
    if y is not None and model.num_classes is not None and predict is not None:
        if y.shape != (samples.shape[0],):
            raise ConfigError(
                f"sample_labels must have shape [{samples.shape[0]}], one per sample, got "
                f"{list(y.shape)}"
            )
        out["label_agreement"] = float((predict(samples) == y.cpu()).double().mean())
        if floor_labels is not None:
            agree = predict(floor_images) == floor_labels
            out["floor_label_agreement"] = float(agree.double().mean())
    return out


def sampling_labels(model: GenerativeModel, dataset: Dataset, m: int) -> Tensor | None:
    """Labels ``[m]`` for ``m`` samples of a class-conditional model (``None`` if unconditional).

    The labels of the training images :func:`subset` picks (the training set's class
    frequencies; the floor's images), else, without enough labelled training images, the
    classes in turn.
    """
    if model.num_classes is None:
        return None
    labels = dataset.train_labels
    if labels is not None and labels.shape[0] >= m and int(labels.max()) < model.num_classes:
        return labels[subset(int(labels.shape[0]), m)].clone()
    return model.default_labels(m).cpu()
