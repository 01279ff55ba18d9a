"""The classifier feature network (a small CNN) and the object handed to the metrics."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genzoo.errors import ConfigError, ModelError

FEATURE_DIM = 128
WIDTHS = (32, 64, 128)
DROPOUT = 0.3


class ClassifierFeatures(nn.Module):
    """Small CNN classifier of integer images whose penultimate activations are the features.

    Args:
        shape: image shape ``(C, H, W)``.
        levels: number of intensity levels ``K`` of the inputs.
        num_classes: number of classes.
        widths: channels of the conv blocks.
        feature_dim: size ``F`` of the penultimate (feature) layer.
        dropout: dropout probability before the classifier (training only).
    """

    def __init__(
        self,
        shape: Sequence[int],
        levels: int,
        num_classes: int,
        *,
        widths: Sequence[int] = WIDTHS,
        feature_dim: int = FEATURE_DIM,
        dropout: float = DROPOUT,
    ) -> None:
        super().__init__()
        if len(shape) != 3 or min(shape) < 1:
            raise ConfigError(f"shape must be (C, H, W) of positive ints, got {shape!r}")
        if levels < 2 or num_classes < 1 or feature_dim < 1 or not widths or min(widths) < 1:
            raise ConfigError(
                f"need levels >= 2, num_classes >= 1, feature_dim >= 1 and positive widths; "
                f"got levels={levels}, num_classes={num_classes}, feature_dim={feature_dim}, "
                f"widths={list(widths)}"
            )
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(f"dropout must lie in [0, 1), got {dropout}")
        self.shape = tuple(int(s) for s in shape)
        self.levels = int(levels)
        self.num_classes = int(num_classes)
        self.feature_dim = int(feature_dim)
        self.config = {
            "shape": list(self.shape),
            "levels": self.levels,
            "num_classes": self.num_classes,
            "widths": [int(w) for w in widths],
            "feature_dim": self.feature_dim,
            "dropout": float(dropout),
        }
        blocks: list[nn.Module] = []
        channels, side = self.shape[0], min(self.shape[1:])
        for width in widths:
            # Downsample while the map is larger than 4x4: cheap on 28x28, and 8x8 keeps 4x4.
            stride = 2 if side > 4 else 1
            blocks += [
                nn.Conv2d(channels, width, 3, stride=stride, padding=1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
            ]
            channels, side = width, (side + stride - 1) // stride
        self.body = nn.Sequential(*blocks)
        self.fc = nn.Linear(channels, self.feature_dim)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(self.feature_dim, self.num_classes)

    def scale(self, x: Tensor) -> Tensor:
        """Levels ``[0, K)`` → floats in ``[-1, 1]``: ``2 x / (K - 1) - 1``."""
        return x.to(torch.float32) * (2.0 / (self.levels - 1)) - 1.0

    def embed(self, x: Tensor) -> Tensor:
        """LongTensor ``[B, C, H, W]`` → penultimate activations ``[B, F]`` (current mode)."""
        h = self.body(self.scale(x)).mean(dim=(2, 3))
        return F.relu(self.fc(h))

    def forward(self, x: Tensor) -> Tensor:
        """LongTensor ``[B, C, H, W]`` in ``[0, K)`` → logits ``[B, num_classes]``."""
        return self.head(self.dropout(self.embed(x)))

    @torch.no_grad()
    def features(self, x: Tensor, *, batch_size: int = 256) -> Tensor:
        """Penultimate activations in eval mode, batched.

        Args:
            x: LongTensor ``[N, C, H, W]`` in ``[0, levels)``.
            batch_size: images per forward pass.

        Returns:
            float32 ``[N, feature_dim]`` on the CPU.
        """
        check_images(x, self.shape, self.levels)
        return batched(self, self.embed, x, batch_size, self.feature_dim)

    @torch.no_grad()
    def predict(self, x: Tensor, *, batch_size: int = 256) -> Tensor:
        """Predicted classes, LongTensor ``[N]``, in eval mode (``x`` as in :meth:`features`)."""
        check_images(x, self.shape, self.levels)
        return batched(self, self.forward, x, batch_size, self.num_classes).argmax(dim=1)


def check_images(x: Tensor, shape: Sequence[int | None], levels: int) -> None:
    """Raise :class:`ModelError` unless ``x`` is an integer tensor ``[N, *shape]`` with values in
    ``[0, levels)``; a ``None`` in ``shape`` matches any size."""
    if (
        not isinstance(x, Tensor)
        or x.dtype.is_floating_point
        or x.dtype.is_complex
        or x.dtype == torch.bool
        or x.dim() != 4
        or any(s is not None and s != t for s, t in zip(shape, x.shape[1:]))
    ):
        got = f"{x.dtype} {tuple(x.shape)}" if isinstance(x, Tensor) else type(x).__name__
        dims = ", ".join("?" if s is None else str(s) for s in shape)
        raise ModelError(
            f"the feature network expects integer images [N, {dims}], got {got}; pass images "
            "of the dataset the network was built for"
        )
    if x.numel() and (int(x.min()) < 0 or int(x.max()) >= levels):
        raise ModelError(
            f"image values must lie in [0, {levels}), got [{int(x.min())}, {int(x.max())}]; "
            "pass images with the dataset's number of levels"
        )


def batched(
    module: nn.Module, fn: Callable[[Tensor], Tensor], x: Tensor, batch_size: int, dim: int
) -> Tensor:
    """``torch.cat([fn(batch) ...])`` ``[N, dim]`` in eval mode (mode restored), float32, CPU."""
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    device = next(module.parameters()).device
    was_training = module.training
    module.eval()
    try:
        out = [
            fn(x[s : s + batch_size].to(device)).float().cpu()
            for s in range(0, x.shape[0], batch_size)
        ]
    finally:
        module.train(was_training)
    return torch.cat(out) if out else torch.empty(0, dim)


@dataclass
class FeatureNetwork:
    """A feature network and where it came from.

    Attributes:
        module: a module with ``features(x, batch_size=...)`` (:class:`ClassifierFeatures` or
            :class:`~genzoo.evaluation.features.InceptionFeatures`).
        info: ``name``, ``kind``, ``feature_dim`` and, for the classifier, ``test_accuracy``,
            ``train_images``, ``test_images``, ``epochs``, ``seed``, ``key``, ``path`` and
            ``cached`` (``True`` when loaded from the cache rather than trained now).
    """

    module: nn.Module
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """Label to print next to every metric computed with these features."""
        return str(self.info.get("name", ""))

    @property
    def feature_dim(self) -> int:
        """Size ``F`` of a feature vector."""
        return int(self.info["feature_dim"])

    def features(self, x: Tensor, *, batch_size: int = 256) -> Tensor:
        """Images → features.

        Args:
            x: LongTensor ``[N, C, H, W]`` in ``[0, levels)``.
            batch_size: images per forward pass.

        Returns:
            float32 ``[N, F]`` on the CPU (eval mode, no gradients).
        """
        return self.module.features(x, batch_size=batch_size)
