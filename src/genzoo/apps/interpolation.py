"""Latent-space interpolation figures: one row per pair of images, ``steps`` columns."""

from __future__ import annotations

import torch
from torch import Tensor

from genzoo.errors import UnsupportedError
from genzoo.models.base import GenerativeModel


def interpolation_rows(
    model: GenerativeModel,
    start: Tensor,
    end: Tensor,
    *,
    steps: int = 10,
    y: Tensor | None = None,
) -> Tensor:
    """Decoded straight lines between the latents of ``start[i]`` and ``end[i]``.

    Args:
        model: a model with an encoder (``capabilities.latent == "encoder"``), e.g. a VAE.
        start, end: LongTensor ``[P, C, H, W]`` image pairs.
        steps: images per line, endpoints included.
        y: labels ``[P]`` for a conditional model (each line keeps its label).

    Returns:
        LongTensor ``[P * steps, C, H, W]``, row-major: row ``i`` walks from ``start[i]`` to
        ``end[i]``.
    """
    if model.capabilities.latent != "encoder":
        raise UnsupportedError(
            f"{model.name} has no latent space with an encoder to interpolate in; use a "
            "latent-variable model (e.g. vae, iwae, vqvae), or latent_walk_rows for a GAN"
        )
    path = model.interpolate(start, end, steps=steps, y=y)  # [steps, P, C, H, W]
    return path.transpose(0, 1).flatten(0, 1).cpu()


def latent_walk_rows(
    model: GenerativeModel,
    rows: int,
    *,
    steps: int = 10,
    y: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Decoded great circles between random latents (a GAN's ``latent_walk``; models whose
    ``capabilities.latent == "generator"``).

    Returns LongTensor ``[rows * steps, C, H, W]``, row-major like :func:`interpolation_rows`.
    """
    if model.capabilities.latent != "generator":
        raise UnsupportedError(
            f"{model.name} has no latent space to walk in; use a latent-variable model "
            "(vae, iwae, vqvae, ...) or a GAN (gan, dcgan, wgan_gp, sngan)"
        )
    path = model.latent_walk(rows, steps, y, generator=generator)  # [steps, rows, C, H, W]
    return path.transpose(0, 1).flatten(0, 1).cpu()
