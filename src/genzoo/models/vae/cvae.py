"""Conditional VAE — Sohn, Lee & Yan, "Learning Structured Output Representation using Deep
Conditional Generative Models", NeurIPS 2015.

A latent-variable model of an image ``x`` given a conditioning image ``c`` (the low-resolution
image of super-resolution, the gray image of colorization):
``p(x | c) = \\int p(x | z, c) p(z | c) dz`` with three networks, as in the paper's CVAE:

* the *recognition* network ``q(z | x, c)``: a diagonal Gaussian from a convolutional encoder of
  ``x`` and the condition's features, stacked as channels;
* the *conditional prior* ``p(z | c)``: a diagonal Gaussian from a convolutional encoder of the
  condition's features alone (the paper's "prior network");
* the *generation* network ``p(x | z, c)``: a convolutional decoder of ``z`` whose last feature map
  is stacked with the condition's features and mapped to a discrete pixel likelihood.

The condition's features come from a small convolutional network over ``c`` brought to the
target's size by nearest-neighbour upsampling (any condition whose sides divide the target's).
The training loss is the negative ELBO ``-E_q[log p(x | z, c)] + beta * KL(q(z | x, c) ||
p(z | c))`` with the KL between the two Gaussians in closed form; the IWAE bound of
``log p(x | c)`` (Burda et al. 2016), sampling ``z ~ p(z | c)``, ``x ~ p(x | z, c)`` and the
estimators come from :class:`~genzoo.models.vae.base.LatentVariableModel`.

Deviations from the paper: convolutional networks (:mod:`genzoo.nn.convnets`) instead of its
MLPs and its baseline-initialised CNNs; the likelihood is over discrete pixels (Bernoulli,
categorical or PixelCNN++'s discretized logistic mixture, as :mod:`genzoo.models.vae.vae`), so
the bound is on the discrete ``log p(x | c)``; no "hybrid" objective (the paper's weighted sum
with a deterministic prediction loss, its Gaussian stochastic neural network) and no input
noise or dropout on ``c``; the three networks share one network of condition features.
``reconstruct`` and ``interpolate`` take ``c`` but are not declared (``reconstructs``,
``latent``), since callers of those declarations call them without a condition.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor, nn

from genzoo.core.params import Constraint, Float, Int
from genzoo.distributions.gaussian import gaussian_log_prob, standard_normal
from genzoo.distributions.pixel import PixelLikelihood, wide
from genzoo.errors import ModelError
from genzoo.models.registry import register_model
from genzoo.models.vae.base import CONV_PARAMS, LatentVariableModel, resolve_likelihood
from genzoo.models.vae.vae import LOG_VAR_RANGE, VAE
from genzoo.nn.convnets import ConvDecoder, ConvEncoder


def kl_gaussians(mean: Tensor, log_var: Tensor, p_mean: Tensor, p_log_var: Tensor) -> Tensor:
    """``KL(N(mean, exp(log_var)) || N(p_mean, exp(p_log_var)))``, diagonal, summed over the last
    dimension: ``0.5 * sum(p_log_var - log_var + (exp(log_var) + (mean - p_mean)^2) /
    exp(p_log_var) - 1)``. ``[..., D]`` -> ``[...]``."""
    ratio = (torch.exp(log_var) + (mean - p_mean) ** 2) * torch.exp(-p_log_var)
    return 0.5 * (p_log_var - log_var + ratio - 1.0).sum(-1)


@register_model("cvae")
class ConditionalVAE(LatentVariableModel):
    """``q(z | x, c)``, ``p(z | c)`` and ``p(x | z, c)``: a VAE of ``x`` given an image ``c``.

    Args:
        condition_shape: ``(C_c, H_c, W_c)`` with ``H_c`` dividing ``H`` and ``W_c`` dividing ``W``.
        condition_levels: levels of the conditioning image.
        latent_dim: size of ``z``.
        channels, stages, hidden: the convolutional encoders' and decoder's (see
            :class:`~genzoo.nn.convnets.ConvEncoder`).
        cond_channels: features of the condition network (per pixel of the target).
        likelihood, num_mixtures: the pixel likelihood (as :class:`~genzoo.models.vae.vae.VAE`).
        beta: weight of the KL term in the loss (1: the ELBO).
    """

    paper = (
        "Sohn, Lee & Yan 2015, Learning Structured Output Representation using Deep "
        "Conditional Generative Models"
    )
    image_conditional = True
    # reconstruct(x, c=) and interpolate(x1, x2, c=) work, but the callers of these two
    # declarations call them without a condition
    reconstructs = False
    latent = None
    params: ClassVar[dict[str, Constraint]] = {
        "latent_dim": Int(min=1),
        **CONV_PARAMS,
        "cond_channels": Int(min=1),
        "beta": Float(min=0.0),
    }

    def __init__(
        self,
        *,
        shape: tuple[int, int, int] | list[int],
        levels: int,
        num_classes: int | None = None,
        condition_shape: tuple[int, int, int] | list[int] | None = None,
        condition_levels: int | None = None,
        latent_dim: int = 16,
        channels: int = 32,
        stages: int | None = None,
        hidden: int = 256,
        cond_channels: int = 16,
        likelihood: str = "auto",
        num_mixtures: int = 5,
        beta: float = 1.0,
    ) -> None:
        super().__init__(
            shape=shape,
            levels=levels,
            num_classes=num_classes,
            condition_shape=condition_shape,
            condition_levels=condition_levels,
        )
        colors, height, width = self.shape
        cond_colors = self.condition_shape[0]  # type: ignore[index]
        self.factor = self.condition_factor()
        self.latent_dim, self.beta = int(latent_dim), float(beta)
        kind = resolve_likelihood(likelihood, self.levels)
        self.likelihood = PixelLikelihood(kind, colors, self.levels, num_mixtures)
        nets = {"channels": channels, "stages": stages, "hidden": hidden}
        self.condition_net = nn.Sequential(
            nn.Conv2d(cond_colors, cond_channels, 3, padding=1),
            nn.SiLU(),
            nn.Conv2d(cond_channels, cond_channels, 3, padding=1),
            nn.SiLU(),
        )
        both = (colors + cond_channels, height, width)
        labels = {"num_classes": self.num_classes}
        self.encoder = ConvEncoder(both, 2 * self.latent_dim, **labels, **nets)
        self.prior_net = ConvEncoder(
            (cond_channels, height, width), 2 * self.latent_dim, **labels, **nets
        )
        self.decoder = ConvDecoder(
            self.shape, self.latent_dim, channels, num_classes=self.num_classes, **nets
        )
        self.head = nn.Sequential(
            nn.SiLU(),
            nn.Conv2d(channels + cond_channels, channels, 3, padding=1),
            nn.SiLU(),
            nn.Conv2d(channels, self.likelihood.param_channels, 1),
        )

    # -------------------------------------------------------------- networks
    def condition_features(self, c: Tensor) -> Tensor:
        """Features ``[B, cond_channels, H, W]`` of integer conditions ``c [B, *condition_shape]``,
        upsampled (nearest neighbour) to the target's size."""
        up = self.scale_condition(c)
        up = up.repeat_interleave(self.factor[0], 2).repeat_interleave(self.factor[1], 3)
        return self.condition_net(up)

    def prior(self, c: Tensor, y: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Mean and log-variance of ``p(z | c)``, each ``[B, latent_dim]``."""
        h = wide(self.prior_net(self.condition_features(c), y))
        return h[:, : self.latent_dim], h[:, self.latent_dim :].clamp(*LOG_VAR_RANGE)

    def embed(self, x: Tensor, y: Tensor | None = None, *, c: Tensor | None = None) -> Tensor:
        """The posterior mean ``[B, latent_dim]`` of ``q(z | x, c)``."""
        return self.posterior(x, y, c=c)[0]

    # -------------------------------------------------------------- hooks
    def posterior(
        self, x: Tensor, y: Tensor | None, *, c: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        both = torch.cat([self.scale(x), self.condition_features(_given(c))], dim=1)
        h = wide(self.encoder(both, y))
        return h[:, : self.latent_dim], h[:, self.latent_dim :].clamp(*LOG_VAR_RANGE)

    #: ``z = mean + exp(log_var / 2) * eps`` and its ``log q``, as the VAE's
    sample_posterior = VAE.sample_posterior

    def log_prior(self, z: Tensor, y: Tensor | None, *, c: Tensor | None = None) -> Tensor:
        mean, log_var = self.prior(_given(c), y)
        return gaussian_log_prob(z, mean, log_var)

    def sample_prior(
        self,
        n: int,
        y: Tensor | None,
        generator: torch.Generator | None,
        *,
        c: Tensor | None = None,
    ) -> Tensor:
        mean, log_var = self.prior(_given(c), y)
        eps = standard_normal((n, self.latent_dim), generator, self.device).to(mean.dtype)
        return mean + torch.exp(0.5 * log_var) * eps

    def decoder_params(self, z: Tensor, y: Tensor | None, *, c: Tensor | None = None) -> Tensor:
        h = self.decoder(z.to(self.dtype), y)
        return self.head(torch.cat([h, self.condition_features(_given(c))], dim=1))

    def kl(self, q: tuple[Tensor, Tensor], y: Tensor | None, *, c: Tensor | None = None) -> Tensor:
        return kl_gaussians(q[0], q[1], *self.prior(_given(c), y))


def _given(c: Tensor | None) -> Tensor:
    """The condition the base class hands every hook of an image-conditional model."""
    if c is None:  # the estimators check c first; only a direct call of a hook gets here
        raise ModelError("cvae is conditioned on an image: pass c")
    return c
