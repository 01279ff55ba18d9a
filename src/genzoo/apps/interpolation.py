"""Latent-space interpolation figures: one row per pair of images, ``steps`` columns."""

from __future__ import annotations

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
        model: a model with a latent space (``model.interpolate``), e.g. a VAE.
        start, end: LongTensor ``[P, C, H, W]`` image pairs.
        steps: images per line, endpoints included.
        y: labels ``[P]`` for a conditional model (each line keeps its label).

    Returns:
        LongTensor ``[P * steps, C, H, W]``, row-major: row ``i`` walks from ``start[i]`` to
        ``end[i]``.
    """
    interpolate = getattr(model, "interpolate", None)
    if interpolate is None:
        raise UnsupportedError(
            f"{model.name} has no latent space to interpolate in; use a latent-variable model "
            "(e.g. vae, iwae, vqvae)"
        )
    path = interpolate(start, end, steps=steps, y=y)  # [steps, P, C, H, W]
    return path.transpose(0, 1).flatten(0, 1).cpu()
