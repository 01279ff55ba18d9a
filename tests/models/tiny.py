"""Tiny configurations of every registered model, used by the shared contract tests.

Every model registered in genzoo must have an entry here (a test enforces it), so a new model is
automatically run through the whole contract.
"""

from __future__ import annotations

from typing import Any

import torch

from genzoo.models import create_model, get_model_class
from genzoo.models.base import GenerativeModel

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
    "pixelsnail": {"channels": 6, "key_channels": 4, "num_heads": 2, "num_resnets": 1},
    "gan": {"latent_dim": 3, "hidden": 8, "layers": 1},
    "dcgan": {"latent_dim": 3, "channels": 4},
    "wgan_gp": {"latent_dim": 3, "channels": 4, "critic_steps": 2},
    "sngan": {"latent_dim": 3, "channels": 4},
    "vae": {"latent_dim": 2, "channels": 4, "hidden": 8},
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


def tiny_model(
    name: str,
    shape: tuple[int, int, int],
    levels: int,
    num_classes: int | None = None,
    seed: int = 0,
) -> GenerativeModel:
    torch.manual_seed(seed)
    levels = supported_levels(name, levels)
    model = create_model(name, shape=shape, levels=levels, num_classes=num_classes, **TINY[name])
    return model.double().eval()


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
    if model.trained_by_fit:  # EM models: their own algorithm
        model.fit(x, y, generator=g)
        return model.eval()
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    model.train()
    for _ in range(steps):
        opt.zero_grad()
        model.loss(x, y)["loss"].backward()
        opt.step()
    return model.eval()


def all_images(shape: tuple[int, int, int], levels: int) -> torch.Tensor:
    """Every image of the space ``levels ** (C*H*W)``, LongTensor ``[levels**D, C, H, W]``."""
    d = shape[0] * shape[1] * shape[2]
    grids = (
        torch.cartesian_prod(*[torch.arange(levels)] * d)
        if d > 1
        else torch.arange(levels)[:, None]
    )
    return grids.reshape(-1, *shape)
