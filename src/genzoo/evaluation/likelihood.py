"""Test log-likelihood in nats per image and bits per dimension.

For discrete images ``x in {0..K-1}^D`` with ``D = C*H*W``:
``bits/dim = -log p(x) / (D * ln 2)`` where ``log p(x)`` is in nats. For a model whose
``density == "bound"`` the same numbers are upper bounds on the true NLL.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from genzoo.core.progress import progress
from genzoo.data.dataset import Dataset
from genzoo.errors import ConfigError, UnsupportedError
from genzoo.models.base import GenerativeModel, with_condition


def bits_per_dim(nll_nats: float | Tensor, num_dims: int) -> float | Tensor:
    """Convert a negative log-likelihood in nats per image to bits per sub-pixel."""
    return nll_nats / (num_dims * math.log(2))


@torch.no_grad()
def evaluate_likelihood(
    model: GenerativeModel,
    x: Tensor,
    y: Tensor | None = None,
    *,
    c: Tensor | None = None,
    batch_size: int = 256,
) -> dict[str, Any]:
    """Mean test NLL of ``x`` (LongTensor ``[N, C, H, W]``) under ``model``.

    ``y`` are labels (ignored by an unconditional model); ``c`` ``[N, *condition_shape]`` the
    conditions of an image-conditional model, whose NLL is then ``-log p(x | c)``.

    Runs in eval mode (restoring the previous mode afterwards) on the model's device.

    Returns:
        ``{"nll_nats", "nll_nats_stderr", "bits_per_dim", "bits_per_dim_stderr", "num_images",
        "density"}`` — the standard errors are over images.
    """
    if model.density == "none":
        raise UnsupportedError(f"{model.name} has no likelihood to evaluate (density='none')")
    if model.num_classes is None:
        y = None
    was_training = model.training
    model.eval()
    try:
        parts = []
        with progress(x.shape[0], f"{model.name}: test likelihood", unit="image") as bar:
            for start in range(0, x.shape[0], batch_size):
                part = slice(start, start + batch_size)
                yb = None if y is None else y[part]
                cb = None if c is None else c[part]
                parts.append(model.log_prob(x[part], yb, **with_condition(cb)).double().cpu())
                bar.update(parts[-1].shape[0])
    finally:
        model.train(was_training)
    return {**summarize(-torch.cat(parts), model.num_dims), "density": model.density}


def summarize(nll: Tensor, num_dims: int) -> dict[str, Any]:
    """Mean and standard error over images of per-image NLLs ``[N]`` (nats), also in bits/dim.

    Returns ``{"nll_nats", "nll_nats_stderr", "bits_per_dim", "bits_per_dim_stderr",
    "num_images"}``.
    """
    nll = nll.double().cpu()
    n = nll.numel()
    mean = float(nll.mean())
    stderr = float(nll.std() / math.sqrt(n)) if n > 1 else float("nan")
    return {
        "nll_nats": mean,
        "nll_nats_stderr": stderr,
        "bits_per_dim": bits_per_dim(mean, num_dims),
        "bits_per_dim_stderr": bits_per_dim(stderr, num_dims),
        "num_images": n,
    }


def check_matches(model: GenerativeModel, dataset: Dataset, role: str = "the model") -> None:
    """Raise :class:`ConfigError` unless ``dataset``'s images fit ``model`` (shape and levels),
    naming the ``--size`` / ``--levels`` that would make them fit."""
    shape, levels = tuple(model.shape), model.levels
    if tuple(dataset.shape) == shape and dataset.levels == levels:
        return
    fixes = []
    if tuple(dataset.shape[1:]) != shape[1:]:
        square = shape[1] == shape[2]
        fixes.append(f"--size {shape[1]}" if square else f"images of {shape[1]}x{shape[2]}")
    if dataset.levels != levels:
        fixes.append(f"--levels {levels}")
    if dataset.shape[0] != shape[0]:
        fixes = [f"{shape[0]}-channel images (no flag converts channels)"]

    def shown(s: tuple[int, ...]) -> str:
        return "x".join(str(v) for v in s)

    raise ConfigError(
        f"{role} ({model.name}) takes {shown(shape)} images with {levels} levels but "
        f"{dataset.name} has {shown(tuple(dataset.shape))} with {dataset.levels}; pass "
        f"{' '.join(fixes)}"
    )
