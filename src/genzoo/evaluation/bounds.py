"""Evaluation of latent-variable models: the ELBO, its two terms, and the IWAE bound.

For a model with ``density == "bound"`` the test likelihood is only known from below. Reported
per image in nats and in bits/dim (upper bounds on the true bits/dim):

* the ELBO (``k = 1``, KL in closed form where the model has one) and its terms
  ``reconstruction = E_q[log p(x|z)]`` and ``kl = KL(q(z|x) || p(z))``, over all images;
* the IWAE bound with ``k`` importance samples (Burda et al. 2016), usually on the first
  ``iwae_images`` images only — it costs ``k`` decoder passes per image — together with the ELBO
  on the *same* images, so the gap between the two is a paired difference.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from genzoo.core.progress import progress
from genzoo.evaluation.likelihood import summarize
from genzoo.models.base import with_condition
from genzoo.models.vae.base import DEFAULT_K, LatentVariableModel


@torch.no_grad()
def evaluate_bound(
    model: LatentVariableModel,
    x: Tensor,
    y: Tensor | None = None,
    *,
    c: Tensor | None = None,
    k: int = DEFAULT_K,
    iwae_images: int | None = None,
    batch_size: int = 64,
    seed: int = 0,
) -> dict[str, Any]:
    """ELBO, reconstruction, KL and the ``k``-sample IWAE bound of ``x`` ``[N, C, H, W]``.

    Args:
        model: a latent-variable model.
        x, y: test images and labels (labels ignored by unconditional models).
        c: conditions ``[N, *condition_shape]`` of an image-conditional model (bounds of
            ``log p(x | c)``), else ``None``.
        k: importance samples of the IWAE bound.
        iwae_images: evaluate the IWAE bound on the first this many images (``None``: all).
        batch_size: images per batch.
        seed: seed of the generator that draws every latent sample.

    Returns:
        ``{"elbo", "iwae", "elbo_on_iwae_images": {nll_nats, ..., bits_per_dim, ...},
        "reconstruction_nats", "kl_nats", "k", "iwae_images", "num_images"}``.
    """
    if model.num_classes is None:
        y = None
    generator = torch.Generator().manual_seed(seed)
    was_training = model.training
    model.eval()
    try:
        terms: dict[str, list[Tensor]] = {"elbo": [], "reconstruction": [], "kl": []}
        with progress(x.shape[0], f"{model.name}: ELBO", unit="image") as bar:
            for start in range(0, x.shape[0], batch_size):
                part = slice(start, start + batch_size)
                yb = None if y is None else y[part]
                cb = with_condition(None if c is None else c[part])
                out = model.elbo_terms(x[part], yb, k=1, generator=generator, **cb)
                for key, value in out.items():
                    terms[key].append(value.double().cpu())
                bar.update(out["elbo"].shape[0])
        m = x.shape[0] if iwae_images is None else min(int(iwae_images), x.shape[0])
        iwae = []
        with progress(m, f"{model.name}: IWAE bound (k={k})", unit="image") as bar:
            for s in range(0, m, batch_size):
                e = min(s + batch_size, m)
                yb = None if y is None else y[s:e]
                cb = with_condition(None if c is None else c[s:e])
                bound = model.iwae_bound(x[s:e], yb, k, generator=generator, **cb)
                iwae.append(bound.double().cpu())
                bar.update(e - s)
    finally:
        model.train(was_training)
    elbo = torch.cat(terms["elbo"])
    d = model.num_dims
    return {
        "elbo": summarize(-elbo, d),
        "reconstruction_nats": float(torch.cat(terms["reconstruction"]).mean()),
        "kl_nats": float(torch.cat(terms["kl"]).mean()),
        "iwae": summarize(-torch.cat(iwae), d),
        "elbo_on_iwae_images": summarize(-elbo[:m], d),
        "k": int(k),
        "iwae_images": m,
        "num_images": int(x.shape[0]),
    }
