"""InceptionV3 pool3 features (torch-fidelity) from a local weights file: genzoo never downloads."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from genzoo.errors import ConfigError
from genzoo.evaluation.features.cache import cache_root
from genzoo.evaluation.features.network import FeatureNetwork, batched, check_images

INCEPTION_NAME = "inception-v3 (pool3, 2048)"
INCEPTION_WEIGHTS = "weights-inception-2015-12-05-6726825d.pth"
INCEPTION_URL = (
    "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/" + INCEPTION_WEIGHTS
)


def inception_weights_path(
    weights_path: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """``weights_path``, else ``<cache>/inception/weights-inception-2015-12-05-6726825d.pth``
    with ``<cache>`` from :func:`~genzoo.evaluation.features.cache_root`."""
    if weights_path is not None:
        return Path(weights_path).expanduser()
    return cache_root(cache_dir) / "inception" / INCEPTION_WEIGHTS


class InceptionFeatures(nn.Module):
    """torch-fidelity's InceptionV3 pool3 features of integer images.

    Args:
        extractor: a ``FeatureExtractorInceptionV3`` built with ``features_list=["2048"]``.
        levels: number of intensity levels ``K`` of the inputs.
        channels: ``C`` of the inputs, 1 (grey, repeated to RGB) or 3.
    """

    def __init__(self, extractor: nn.Module, levels: int, channels: int) -> None:
        super().__init__()
        self.extractor = extractor
        self.levels = int(levels)
        self.channels = int(channels)

    def to_rgb_uint8(self, x: Tensor) -> Tensor:
        """``[B, C, H, W]`` levels → uint8 ``[B, 3, H, W]``: ``round(255 x / (K - 1))``."""
        y = torch.round(x.to(torch.float64) * (255.0 / (self.levels - 1))).to(torch.uint8)
        return y.expand(-1, 3, -1, -1) if y.shape[1] == 1 else y

    def embed(self, x: Tensor) -> Tensor:
        return self.extractor(self.to_rgb_uint8(x))[0]

    @torch.no_grad()
    def features(self, x: Tensor, *, batch_size: int = 64) -> Tensor:
        """LongTensor ``[N, C, H, W]`` in ``[0, levels)`` → float32 ``[N, 2048]``."""
        check_images(x, (self.channels, None, None), self.levels)
        return batched(self, self.embed, x, batch_size, 2048)


def inception_features(
    weights_path: str | os.PathLike[str] | None = None,
    *,
    levels: int = 256,
    channels: int = 1,
    cache_dir: str | os.PathLike[str] | None = None,
) -> FeatureNetwork:
    """InceptionV3 pool3 features from torch-fidelity with a local weights file; never downloads.

    Args:
        weights_path: the torch-fidelity weights file (default :func:`inception_weights_path`).
        levels: number of levels ``K`` of the images to be featurised.
        channels: their number of channels, 1 or 3.
        cache_dir: base directory of the default weights location.

    Returns:
        A :class:`FeatureNetwork` with ``info["name"] == "inception-v3 (pool3, 2048)"``.

    Raises:
        ConfigError: torch-fidelity is not installed, or the weights file is missing (the
            message names the exact path expected), or ``channels`` is not 1 or 3.
    """
    if channels not in (1, 3):
        raise ConfigError(
            f"InceptionV3 features need grey (1 channel) or RGB (3 channel) images, got "
            f"{channels} channels; use --feature-network classifier"
        )
    path = inception_weights_path(weights_path, cache_dir)
    problems = []
    extractor_class = _import_inception()
    if extractor_class is None:
        problems.append("the package torch-fidelity is not installed: pip install torch-fidelity")
    if not path.is_file():
        problems.append(
            f"the InceptionV3 weights file was not found at {path}; this machine cannot download "
            f"it and genzoo never does: fetch {INCEPTION_URL} elsewhere and copy it to {path} "
            "(or pass its path, or set $GENZOO_CACHE)"
        )
    if problems:
        raise ConfigError(
            "InceptionV3 features are unavailable: "
            + "; ".join(problems)
            + ". Or use the default --feature-network classifier."
        )
    extractor = extractor_class(
        "inception-v3-compat", ["2048"], feature_extractor_weights_path=str(path)
    )
    info = {
        "name": INCEPTION_NAME,
        "kind": "inception",
        "feature_dim": 2048,
        "weights": str(path),
        "path": str(path),
        "cached": True,
    }
    return FeatureNetwork(InceptionFeatures(extractor, levels, channels).eval(), info)


def _import_inception() -> Any:
    """torch-fidelity's ``FeatureExtractorInceptionV3`` class, or ``None`` if not installed."""
    try:
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
    except ImportError:
        return None
    return FeatureExtractorInceptionV3
