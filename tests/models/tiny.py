"""Tiny configurations of every registered model, used by the shared contract tests.

Every model registered in genzoo must have an entry here (a test enforces it), so a new model is
automatically run through the whole contract.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from genzoo.models import create_model, get_model_class
from genzoo.models.base import GenerativeModel, with_condition

#: levels of the tiny models' conditioning images (not the target's: a model that scales ``c``
#: by the target's levels is caught)
CONDITION_LEVELS = 3

TINY: dict[str, dict[str, Any]] = {
    "pixel_independent": {},
    "fvsbn": {},
    "nade": {"hidden": 7},
    "made": {"hidden": 9, "num_hidden_layers": 2},
    "pixelcnn": {"channels": 10, "num_blocks": 2, "head_channels": 11},
    "gated_pixelcnn": {"channels": 10, "num_layers": 3, "head_channels": 11},
    "pixelcnn_pp": {"filters": 6, "blocks": 1, "num_mixtures": 3, "dropout": 0.0},
    "pixelrnn_row": {"channels": 5, "num_layers": 2, "head_channels": 11},
    "pixelrnn_diag": {"channels": 5, "num_layers": 2, "head_channels": 11},
    "pixel_recursive_sr": {
        "channels": 6,
        "num_layers": 2,
        "head_channels": 7,
        "cond_channels": 5,
        "cond_blocks": 1,
    },
    "pixcolor": {
        "channels": 6,
        "num_layers": 2,
        "head_channels": 8,
        "cond_channels": 4,
        "cond_blocks": 2,
    },
    "l2_regression": {"cond_channels": 5, "cond_blocks": 1},
    "pixelsnail": {"channels": 6, "key_channels": 4, "num_heads": 2, "num_resnets": 1},
    "gan": {"latent_dim": 3, "hidden": 8, "layers": 1},
    "dcgan": {"latent_dim": 3, "channels": 4},
    "wgan_gp": {"latent_dim": 3, "channels": 4, "critic_steps": 2},
    "pix2pix": {"latent_dim": 2, "channels": 3, "disc_channels": 3},
    "sngan": {"latent_dim": 3, "channels": 4},
    "vae": {"latent_dim": 2, "channels": 4, "hidden": 8},
    "cvae": {"latent_dim": 2, "channels": 4, "hidden": 8, "cond_channels": 3},
    "iwae": {"latent_dim": 2, "channels": 4, "hidden": 8, "k": 3},
    "vae_hierarchical": {"latent_dim": 2, "channels": 4, "hidden": 8, "mlp_hidden": 8, "k": 3},
    "vae_iaf": {
        "latent_dim": 3,
        "channels": 4,
        "hidden": 8,
        "flow_steps": 2,
        "flow_hidden": 6,
        "flow_layers": 1,
        "context_dim": 3,
    },
    "rbm": {"hidden": 5, "chains": 8, "gibbs_steps": 50},
    # one RBM: the contract's every-parameter-gets-a-gradient test cannot hold for a stack
    # trained greedily (the frozen layers get none); tests/models/test_dbn.py covers the stack
    "dbn": {"top_hidden": 4, "num_layers": 1, "chains": 8, "gibbs_steps": 50},
    "mixture_categorical": {"components": 2, "max_iter": 20},
    "gmm": {"components": 2, "max_iter": 20, "reg_covar": 0.05},
    "autoencoder": {"code_dim": 2, "channels": 4, "hidden": 8},
    "vqvae": {
        "codebook_size": 5,
        "code_dim": 3,
        "channels": 4,
        "prior_channels": 6,
        "prior_layers": 2,
        "prior_embedding_dim": 3,
    },
}


#: models whose condition is not :func:`tiny_condition_shape`'s: name -> condition shape of a
#: target shape (a colorizer takes the gray image at the target's size)
CONDITION_SHAPES: dict[str, Callable[[tuple[int, int, int]], tuple[int, int, int]]] = {
    "pixcolor": lambda shape: (1, shape[1], shape[2]),
}


def tiny_model(
    name: str,
    shape: tuple[int, int, int],
    levels: int,
    num_classes: int | None = None,
    seed: int = 0,
) -> GenerativeModel:
    """A tiny ``name`` in float64, eval mode; an image-conditional one gets the condition of
    :func:`tiny_condition_shape` (or :data:`CONDITION_SHAPES`) with :data:`CONDITION_LEVELS`
    levels."""
    torch.manual_seed(seed)
    levels = supported_levels(name, levels)
    condition: dict[str, Any] = {}
    if get_model_class(name).image_conditional:
        condition = {
            "condition_shape": CONDITION_SHAPES.get(name, tiny_condition_shape)(shape),
            "condition_levels": CONDITION_LEVELS,
        }
    model = create_model(
        name, shape=shape, levels=levels, num_classes=num_classes, **condition, **TINY[name]
    )
    return model.double().eval()


def tiny_condition_shape(shape: tuple[int, int, int]) -> tuple[int, int, int]:
    """The tiny models' condition for targets of ``shape``: every even side halved (as
    super-resolution by 2) and one channel for an RGB target (as colorization's luminance)."""
    c, h, w = shape
    return (1 if c == 3 else c, h // 2 if h % 2 == 0 else h, w // 2 if w % 2 == 0 else w)


def condition_for(
    model: GenerativeModel,
    n: int,
    generator: torch.Generator | None = None,
    *,
    fixed: bool = False,
) -> torch.Tensor | None:
    """Random conditioning images ``[n, *condition_shape]`` for an image-conditional ``model``
    (``None`` for any other); ``fixed=True``: one image repeated ``n`` times (a fixed ``c``).

    Pass them on as ``**with_condition(c)`` so models without an image condition are called as
    before.
    """
    if model.condition_shape is None:
        return None
    g = generator if generator is not None else torch.Generator().manual_seed(0)
    levels = int(model.condition_levels or 2)
    c = torch.randint(0, levels, (1 if fixed else n, *model.condition_shape), generator=g)
    return c.expand(n, -1, -1, -1).clone() if fixed else c


def supported_levels(name: str, levels: int) -> int:
    """``levels``, or 2 for a model of binary images only (tests then draw data in
    ``[0, model.levels)``)."""
    return 2 if get_model_class(name).binary_only else levels


def peaked(model: GenerativeModel, steps: int = 40, seed: int = 0) -> GenerativeModel:
    """Fit ``model`` briefly to a fixed random batch so its distribution is far from uniform.

    A freshly initialised network is nearly uniform, which would make the sampler-vs-density and
    normalisation tests weak; a few optimizer steps give it structure (any model, no internals).
    """
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, model.levels, (6, *model.shape), generator=g)
    y = None if model.num_classes is None else torch.arange(6) % model.num_classes
    # one fixed condition (the one the likelihood tests hold fixed): six images per c keep
    # p(x | c) peaked but far from a point mass, which six (c, x) pairs would make it
    c = condition_for(model, 6, fixed=True)
    if model.trained_by_fit:  # EM models: their own algorithm
        model.fit(x, y, generator=g, **with_condition(c))
        return model.eval()
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    model.train()
    for _ in range(steps):
        opt.zero_grad()
        model.loss(x, y, **with_condition(c))["loss"].backward()
        opt.step()
    return model.eval()


def perturb(model: GenerativeModel, scale: float = 0.5, seed: int = 5) -> GenerativeModel:
    """Add ``N(0, scale^2)`` noise to every parameter (in place): weights far from
    initialisation, so that no conditional is near uniform (a model-agnostic alternative to
    :func:`peaked` when no training data is wanted)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return model


def all_images(shape: tuple[int, int, int], levels: int) -> torch.Tensor:
    """Every image of the space ``levels ** (C*H*W)``, LongTensor ``[levels**D, C, H, W]``."""
    d = shape[0] * shape[1] * shape[2]
    grids = (
        torch.cartesian_prod(*[torch.arange(levels)] * d)
        if d > 1
        else torch.arange(levels)[:, None]
    )
    return grids.reshape(-1, *shape)
