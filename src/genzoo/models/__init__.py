"""Generative models behind one contract (see :mod:`genzoo.models.base`)."""

from genzoo.models.autoregressive import (  # noqa: F401
    fvsbn,
    gated_pixelcnn,
    made,
    nade,
    pixcolor,
    pixel_independent,
    pixel_recursive_sr,
    pixelcnn,
    pixelcnn_pp,
    pixelrnn_diag,
    pixelrnn_row,
    pixelsnail,
)
from genzoo.models.base import GenerativeModel
from genzoo.models.classic import autoencoder, dbn, gmm, mixture_categorical, rbm  # noqa: F401
from genzoo.models.gan import dcgan, gan, pix2pix, sngan, wgan_gp  # noqa: F401
from genzoo.models.registry import (
    available_models,
    create_model,
    get_model_class,
    hyperparameters,
    load_model,
    register_model,
)
from genzoo.models.regression import l2_regression  # noqa: F401
from genzoo.models.vae import (  # noqa: F401
    cvae,
    iwae,
    vae,
    vae_hierarchical,
    vae_iaf,
    vqvae,
)

__all__ = [
    "GenerativeModel",
    "available_models",
    "create_model",
    "get_model_class",
    "hyperparameters",
    "load_model",
    "register_model",
]
