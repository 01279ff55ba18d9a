"""Images to vectors: raw pixels, a model's label-free features, an untrained control."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from genzoo.errors import ConfigError, UnsupportedError
from genzoo.models.base import GenerativeModel

#: images on which :func:`model_features` checks that the features ignore the label
_LABEL_CHECK_IMAGES = 64


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


def untrained_copy(model: GenerativeModel, seed: int = 0) -> GenerativeModel:
    """A new model with ``model``'s configuration and freshly initialised weights (the global
    torch RNG is seeded with ``seed`` inside a fork, so the caller's random state is unchanged),
    on the same device and dtype, in eval mode."""
    from genzoo.models import create_model

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        fresh = create_model(model.name, **model.config)
    return fresh.to(model.device, model.dtype).eval()
