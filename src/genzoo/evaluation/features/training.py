"""Training the classifier feature network: its own short loop, apart from ``genzoo.training``.

Adam on cross-entropy, the learning rate decayed linearly to 0, batches of :data:`BATCH_SIZE`
(the last partial batch dropped), no augmentation, deterministic from ``seed``; the caller's
global RNG is left untouched.
"""

from __future__ import annotations

import time
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from genzoo.core.progress import progress
from genzoo.data.dataset import Dataset
from genzoo.errors import ConfigError, TrainingError
from genzoo.evaluation.features.network import ClassifierFeatures
from genzoo.training.batches import derive_seed

#: Version of the classifier's architecture and training recipe; part of every cache key, so
#: bumping it invalidates every cached classifier.
RECIPE_VERSION = 1
BATCH_SIZE = 128
LEARNING_RATE = 2e-3
#: Default training length: about this many images seen, at most ``MAX_EPOCHS`` epochs.
TARGET_IMAGES = 240_000
MAX_EPOCHS = 15


def default_epochs(num_train: int) -> int:
    """About ``TARGET_IMAGES`` images seen: ``clip(ceil(240,000 / N), 1, 15)`` epochs.

    Digits (1,500 images): 15 epochs (test accuracy 0.99); Fashion-MNIST (60,000): 4 epochs
    (test accuracy ~0.90).
    """
    return max(1, min(MAX_EPOCHS, -(-TARGET_IMAGES // max(1, num_train))))


def require_labels(dataset: Dataset) -> Tensor:
    """``dataset.train_labels``; ConfigError when there are none or fewer than two images."""
    if dataset.train_labels is None:
        raise ConfigError(
            f"the classifier feature network is trained on the dataset's own labels, and "
            f"{dataset.name!r} has none; pass --feature-network inception (local InceptionV3 "
            "weights) or use a labelled dataset"
        )
    if dataset.train.shape[0] < 2:
        raise ConfigError(
            f"{dataset.name!r} has {dataset.train.shape[0]} training image(s); the feature "
            "network needs at least two"
        )
    return dataset.train_labels


def num_classes(dataset: Dataset, labels: Tensor) -> int:
    """The dataset's number of classes, else the largest label + 1."""
    if dataset.num_classes is not None:
        return int(dataset.num_classes)
    return int(labels.max()) + 1


def train_classifier(
    dataset: Dataset, labels: Tensor, *, seed: int, epochs: int
) -> tuple[ClassifierFeatures, dict[str, Any]]:
    """Train a :class:`ClassifierFeatures` on ``dataset.train`` [N, C, H, W] / ``labels`` [N].

    Returns:
        the module in eval mode and its ``info`` (name, test accuracy on ``dataset.test``,
        image counts, epochs, steps, seconds, ...), without ``key`` or ``path``.

    Raises:
        TrainingError: the loss became non-finite.
    """
    x = dataset.train
    n = x.shape[0]
    batch = min(BATCH_SIZE, n)
    steps_per_epoch = n // batch  # the last partial batch is dropped (batch norm needs >= 2)
    total = steps_per_epoch * epochs
    start = time.perf_counter()
    # Initialisation and dropout draw from torch's global RNG: fork it so the caller's is untouched.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(seed, 0))
        module = ClassifierFeatures(dataset.shape, dataset.levels, num_classes(dataset, labels))
        order = torch.Generator().manual_seed(derive_seed(seed, 1))
        optimizer = torch.optim.Adam(module.parameters(), lr=LEARNING_RATE)
        module.train()
        step = 0
        bar = progress(total, "training the feature network", unit="step")
        for _ in range(epochs):
            perm = torch.randperm(n, generator=order)
            for b in range(steps_per_epoch):
                idx = perm[b * batch : (b + 1) * batch]
                for group in optimizer.param_groups:
                    group["lr"] = LEARNING_RATE * (1.0 - step / total)
                loss = F.cross_entropy(module(x[idx]), labels[idx])
                if not torch.isfinite(loss):
                    raise TrainingError(
                        f"feature-network training loss became {float(loss)} at step {step}; "
                        "check the dataset's images and labels"
                    )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                step += 1
                bar.update()
        bar.close()
    module.eval()
    seconds = time.perf_counter() - start
    accuracy = None
    if dataset.test_labels is not None and dataset.test.shape[0] > 0:
        predicted = module.predict(dataset.test)
        accuracy = float((predicted == dataset.test_labels).double().mean())
    info = {
        "name": f"classifier:{dataset.name}",
        "kind": "classifier",
        "test_accuracy": accuracy,
        "train_images": int(n),
        "test_images": int(dataset.test.shape[0]),
        "epochs": int(epochs),
        "steps": int(total),
        "feature_dim": module.feature_dim,
        "seed": int(seed),
        "levels": int(dataset.levels),
        "shape": list(dataset.shape),
        "train_seconds": round(seconds, 3),
        "format_version": RECIPE_VERSION,  # the recipe version, under its genzoo 0.1 name
    }
    return module, info
