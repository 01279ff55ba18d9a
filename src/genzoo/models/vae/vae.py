"""Variational autoencoder — Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014.

A convolutional encoder outputs the mean and log-variance of a diagonal Gaussian ``q(z | x)``; the
prior is ``N(0, I)``; ``z = mean + exp(log_var / 2) * eps`` (the reparameterization trick) feeds a
convolutional decoder whose output parameterises a discrete pixel likelihood ``p(x | z)``. The
training loss is ``-E_q[log p(x | z)] + beta * KL(q(z | x) || p(z))`` with the KL in closed form
(``beta = 1``: the ELBO; ``beta > 1``: the beta-VAE of Higgins et al. 2017). Estimators, sampling
and completion live in :class:`~genzoo.models.vae.base.LatentVariableModel`.

Deviations from the paper: convolutional networks (:mod:`genzoo.nn.convnets`) instead of MLPs;
the likelihood is over discrete pixels — Bernoulli (``levels == 2``), a per-sub-pixel categorical,
or PixelCNN++'s discretized logistic mixture — instead of Bernoulli/Gaussian on ``[0, 1]``, so the
bound is on the discrete ``log p(x)`` and comparable with the autoregressive models.
Class-conditional (``num_classes``): a label embedding enters both encoder and decoder
(Sohn et al. 2015's conditional VAE with the prior kept at ``N(0, I)``).
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from genzoo.core.params import Constraint, Float, Int
from genzoo.distributions.gaussian import (
    kl_standard_normal,
    standard_normal,
    standard_normal_log_prob,
)
from genzoo.distributions.pixel import PixelLikelihood, wide
from genzoo.models.registry import register_model
from genzoo.models.vae.base import CONV_PARAMS, LatentVariableModel, resolve_likelihood
from genzoo.nn.convnets import ConvDecoder, ConvEncoder

LOG_VAR_RANGE = (-16.0, 8.0)


@register_model("vae")
class VAE(LatentVariableModel):
    """Gaussian-latent VAE with a convolutional encoder and decoder.

    Args:
        latent_dim: size of ``z``.
        channels: features of the first convolution stage (doubled at every stride-2 stage).
        stages: stride-2 stages of encoder and decoder (default: down to a side of 4-7 pixels).
        hidden: width of the fully-connected layers.
        likelihood: ``"bernoulli"`` (levels 2), ``"categorical"``, ``"logistic"`` or ``"auto"``
            (Bernoulli for 2 levels, categorical up to 64, logistic above).
        num_mixtures: logistic components per pixel (``likelihood="logistic"``).
        beta: weight of the KL term in the loss (1: the ELBO).
    """

    #: one latent vector with prior N(0, I): AIS of the decoder applies
    gaussian_latent = True
    params: ClassVar[dict[str, Constraint]] = {
        "latent_dim": Int(min=1),
        **CONV_PARAMS,
        "beta": Float(min=0.0),
    }

    def __init__(
        self,
        *,
        shape: tuple[int, int, int] | list[int],
        levels: int,
        num_classes: int | None = None,
        latent_dim: int = 32,
        channels: int = 32,
        stages: int | None = None,
        hidden: int = 256,
        likelihood: str = "auto",
        num_mixtures: int = 5,
        beta: float = 1.0,
    ) -> None:
        super().__init__(shape=shape, levels=levels, num_classes=num_classes)
        self.latent_dim, self.beta = int(latent_dim), float(beta)
        kind = resolve_likelihood(likelihood, self.levels)
        self.likelihood = PixelLikelihood(kind, self.shape[0], self.levels, num_mixtures)
        nets = {"channels": channels, "stages": stages, "hidden": hidden}
        self.encoder = ConvEncoder(
            self.shape, self.encoder_features, num_classes=self.num_classes, **nets
        )
        self.decoder = ConvDecoder(
            self.shape,
            self.latent_dim,
            self.likelihood.param_channels,
            num_classes=self.num_classes,
            **nets,
        )

    @property
    def encoder_features(self) -> int:
        """Outputs of the encoder: mean and log-variance (subclasses may add a context)."""
        return 2 * self.latent_dim

    # -------------------------------------------------------------- public interface
    def encode(self, x: Tensor, y: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Mean and log-variance of ``q(z | x)``, each ``[B, latent_dim]``."""
        self.check_input(x, y)
        mean, log_var, _ = self.posterior(x.to(self.device), y)
        return mean, log_var

    def embed(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """The posterior mean ``[B, latent_dim]``."""
        return self.encode(x, y)[0]

    # -------------------------------------------------------------- hooks
    def posterior(self, x: Tensor, y: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
        h = wide(self.encoder(self.scale(x), y))
        mean, log_var = h[:, : self.latent_dim], h[:, self.latent_dim : 2 * self.latent_dim]
        return mean, log_var.clamp(*LOG_VAR_RANGE), h[:, 2 * self.latent_dim :]

    def sample_posterior(
        self, q: tuple[Tensor, ...], k: int, generator: torch.Generator | None
    ) -> tuple[Tensor, Tensor]:
        mean, log_var = q[0], q[1]
        eps = standard_normal((k, *mean.shape), generator, mean.device).to(mean.dtype)
        z = mean + torch.exp(0.5 * log_var) * eps
        log_q = standard_normal_log_prob(eps) - 0.5 * log_var.sum(-1)
        return z, log_q

    def log_prior(self, z: Tensor, y: Tensor | None) -> Tensor:
        return standard_normal_log_prob(z)

    def sample_prior(self, n: int, y: Tensor | None, generator: torch.Generator | None) -> Tensor:
        return standard_normal((n, self.latent_dim), generator, self.device).to(self.dtype)

    def decoder_params(self, z: Tensor, y: Tensor | None) -> Tensor:
        return self.decoder(z.to(self.dtype), y)

    def kl(self, q: tuple[Tensor, ...], y: Tensor | None) -> Tensor | None:
        return kl_standard_normal(q[0], q[1])
