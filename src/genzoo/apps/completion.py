"""Image completion: fill in the unknown part of images with a model's sampler."""

from __future__ import annotations

import torch
from torch import Tensor

from genzoo.errors import ConfigError
from genzoo.models.base import GenerativeModel

#: Names of the built-in masks; True marks *given* pixels.
COMPLETION_MASKS = ("top-half", "left-half", "center")


def completion_mask(kind: str, shape: tuple[int, int, int]) -> Tensor:
    """BoolTensor ``[C, H, W]``, True where the pixel is given.

    ``top-half``: the upper ``H // 2`` rows are given (exact completion for raster-scan models);
    ``left-half``: the left ``W // 2`` columns; ``center``: everything except a centred square of
    half the size is given. The last two are approximate for raster-scan models (see
    :mod:`genzoo.models.autoregressive.base`).
    """
    _, h, w = shape
    mask = torch.zeros(shape, dtype=torch.bool)
    if kind == "top-half":
        mask[:, : h // 2] = True
    elif kind == "left-half":
        mask[:, :, : w // 2] = True
    elif kind == "center":
        mask[:] = True
        mask[:, h // 4 : h // 4 + max(1, h // 2), w // 4 : w // 4 + max(1, w // 2)] = False
    else:
        raise ConfigError(f"unknown mask {kind!r}; choose one of {', '.join(COMPLETION_MASKS)}")
    return mask


def complete(
    model: GenerativeModel,
    images: Tensor,
    mask: Tensor,
    *,
    y: Tensor | None = None,
    samples_per_image: int = 1,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Complete ``images`` ``[N, C, H, W]`` where ``mask`` (``[C, H, W]``) is False.

    Returns ``[N * samples_per_image, C, H, W]``, the completions of image ``i`` at rows
    ``i * samples_per_image ...``; given pixels are copied unchanged.
    """
    if samples_per_image < 1:
        raise ConfigError(f"samples_per_image must be positive, got {samples_per_image}")
    known = images.repeat_interleave(samples_per_image, dim=0)
    labels = None if y is None else y.repeat_interleave(samples_per_image, dim=0)
    return model.sample(known.shape[0], labels, generator=generator, known=known, mask=mask)


def completion_captions(
    mask: str, samples_per_image: int = 3, first: str = "original"
) -> list[str]:
    """Row captions of a :func:`completion_rows` figure: ``first``, the given part (named by
    its ``mask``), then one per completion row."""
    return [first, f"given ({mask})", *(f"completion {i + 1}" for i in range(samples_per_image))]


def completion_rows(
    model: GenerativeModel,
    images: Tensor,
    mask: Tensor,
    *,
    y: Tensor | None = None,
    samples_per_image: int = 3,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Images for a completion figure: ``[(2 + samples_per_image) * N, C, H, W]``.

    Row-major with ``N`` images per row: the originals, the given part (unknown pixels set to 0),
    then ``samples_per_image`` rows of completions.
    """
    n = images.shape[0]
    out = complete(
        model, images, mask, y=y, samples_per_image=samples_per_image, generator=generator
    )
    masked = torch.where(mask, images, torch.zeros_like(images))
    completions = out.view(n, samples_per_image, *images.shape[1:]).transpose(0, 1).flatten(0, 1)
    return torch.cat([images, masked, completions])
